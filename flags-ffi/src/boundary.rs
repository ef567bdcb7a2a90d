//! The panic boundary every exported function runs inside: a panic never
//! unwinds into C (undefined behaviour); it becomes `FF_PANIC` plus a last
//! error text, and the process lives on. Modelled on rustls-ffi's
//! `ffi_panic_boundary!`.

use std::any::Any;
use std::thread;

use crate::error::{Failure, set_last_error};
use crate::types::{FF_OK, FF_PANIC, ff_status};

/// Runs `$body` (a block evaluating to `Result<(), Failure>`) and turns its
/// outcome into an `ff_status`, recording the error text of a failure or a
/// panic for `ff_last_error`.
macro_rules! ffi_boundary {
    ($function:literal, $body:block) => {{
        let outcome = ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(
            || -> ::std::result::Result<(), $crate::error::Failure> { $body },
        ));
        $crate::boundary::status_of($function, outcome)
    }};
}

/// Like `ffi_boundary!` for functions that return a value instead of a
/// status: a panic is recorded and `$on_panic` returned.
macro_rules! ffi_boundary_or {
    ($function:literal, $on_panic:expr, $body:block) => {{
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| $body)) {
            Ok(value) => value,
            Err(payload) => {
                $crate::boundary::record_panic($function, payload);
                $on_panic
            }
        }
    }};
}

pub(crate) use {ffi_boundary, ffi_boundary_or};

#[inline(always)]
pub(crate) fn status_of(
    function: &'static str,
    outcome: thread::Result<Result<(), Failure>>,
) -> ff_status {
    match outcome {
        Ok(Ok(())) => FF_OK,
        Ok(Err(failure)) => failure.record(),
        Err(payload) => record_panic(function, payload),
    }
}

#[cold]
#[inline(never)]
pub(crate) fn record_panic(function: &'static str, payload: Box<dyn Any + Send>) -> ff_status {
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    set_last_error(format!(
        "panic in {function} (a bug in flags-ffi; please report it): {message}"
    ));
    // Dropping a payload whose Drop panics would abort; leak it instead.
    std::mem::forget(payload);
    FF_PANIC
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ff_last_error_text;

    fn panicking_call() -> ff_status {
        ffi_boundary!("panicking_call", {
            if std::hint::black_box(true) {
                panic!("forced panic for the test");
            }
            Ok(())
        })
    }

    fn failing_call() -> ff_status {
        ffi_boundary!("failing_call", {
            Err(Failure::new(crate::types::FF_NULL_ARGUMENT, "`x` is NULL"))
        })
    }

    fn panicking_value() -> u32 {
        ffi_boundary_or!("panicking_value", 7, { panic!("value") })
    }

    #[test]
    fn a_panic_becomes_ff_panic_with_its_message_and_the_thread_lives_on() {
        assert_eq!(panicking_call(), FF_PANIC);
        let text = ff_last_error_text().expect("a panic leaves an error text");
        assert!(text.contains("panicking_call"), "{text}");
        assert!(text.contains("forced panic for the test"), "{text}");
        // The boundary still works after a panic on the same thread.
        assert_eq!(failing_call(), crate::types::FF_NULL_ARGUMENT);
        assert_eq!(ff_last_error_text().as_deref(), Some("`x` is NULL"));
        assert_eq!(panicking_value(), 7);
        let text = ff_last_error_text().unwrap();
        assert!(text.starts_with("panic in panicking_value"), "{text}");
        assert!(text.ends_with(": value"), "{text}");
    }
}
