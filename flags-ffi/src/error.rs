//! Failures and the thread-local last error text behind `ff_last_error`.
//!
//! Only failing calls touch the thread-local, so the evaluation path pays
//! nothing for it: a successful call leaves the previous text in place.

use std::cell::RefCell;
use std::ffi::CString;
use std::os::raw::c_char;

use crate::boundary::ffi_boundary_or;
use crate::types::{FF_FILE_ERROR, FF_INVALID_FILE, FF_NO_FILE, ff_status};

thread_local! {
    static LAST_ERROR: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Why a call failed: its status and the text `ff_last_error` will return.
#[derive(Debug)]
pub(crate) struct Failure {
    status: ff_status,
    message: String,
}

impl Failure {
    #[cold]
    pub(crate) fn new(status: ff_status, message: impl Into<String>) -> Failure {
        Failure {
            status,
            message: message.into(),
        }
    }

    #[cold]
    pub(crate) fn map_message(self, edit: impl FnOnce(&str) -> String) -> Failure {
        Failure {
            status: self.status,
            message: edit(&self.message),
        }
    }

    /// Stores the text for `ff_last_error` and returns the status.
    #[cold]
    pub(crate) fn record(self) -> ff_status {
        set_last_error(self.message);
        self.status
    }
}

impl From<flags_core::Error> for Failure {
    #[cold]
    fn from(error: flags_core::Error) -> Failure {
        match error {
            // Exactly what `feature_flags --check` prints: one problem a line.
            flags_core::Error::Invalid(problems) => {
                Failure::new(FF_INVALID_FILE, problems.to_string())
            }
            flags_core::Error::NoFile => Failure::new(FF_NO_FILE, error.to_string()),
            // Read, Watch and whatever flags_core adds later: the file (or
            // its folder) could not be used.
            other => Failure::new(FF_FILE_ERROR, other.to_string()),
        }
    }
}

#[cold]
pub(crate) fn set_last_error(message: String) {
    // During thread teardown the slot may be gone; losing the text then is
    // better than panicking.
    let _ = LAST_ERROR.try_with(|slot| *slot.borrow_mut() = Some(message));
}

/// The last error text of this thread, for tests.
pub(crate) fn ff_last_error_text() -> Option<String> {
    LAST_ERROR
        .try_with(|slot| slot.borrow().clone())
        .ok()
        .flatten()
}

/// Copies `text` into a NUL-terminated string the caller frees with
/// `ff_string_free`. An interior NUL (from a caller's string echoed in a
/// message) is shown as `\0` rather than cutting the text short.
pub(crate) fn owned_c_string(text: &str) -> *mut c_char {
    let c_string = CString::new(text)
        .unwrap_or_else(|_| CString::new(text.replace('\0', "\\0")).unwrap_or_default());
    c_string.into_raw()
}

/// The text of the last failed call on this thread.
///
/// A successful call does not clear it, so call this only right after a
/// call returned a status other than `FF_OK`.
///
/// # Parameters
/// None.
///
/// # Returns
/// The text (UTF-8, NUL-terminated, possibly several lines), or NULL when no
/// call on this thread has failed yet.
///
/// # Memory and lifetimes
/// The returned string is a copy owned by the caller: free it with
/// `ff_string_free`. Asking again returns another copy of the same text.
#[unsafe(no_mangle)]
pub extern "C" fn ff_last_error() -> *mut c_char {
    ffi_boundary_or!("ff_last_error", std::ptr::null_mut(), {
        match ff_last_error_text() {
            Some(text) => owned_c_string(&text),
            None => std::ptr::null_mut(),
        }
    })
}

/// Frees a string this library returned (`ff_last_error`,
/// `ff_store_flag_names`, `ff_store_last_reload_error`).
///
/// # Parameters
/// - `s`: the string, or NULL (then nothing happens).
///
/// # Returns
/// Nothing.
///
/// # Memory and lifetimes
/// `s` must have been returned by this library and not freed before; it is
/// invalid after this call. Never pass `ff_version()`'s string, or memory
/// from `malloc`.
///
/// # Safety
/// `s` must be NULL or a string from this library not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ff_string_free(s: *mut c_char) {
    ffi_boundary_or!("ff_string_free", (), {
        if !s.is_null() {
            // SAFETY: the caller promises `s` came from `CString::into_raw`
            // in this library (all our owned strings do) and is freed once.
            drop(unsafe { CString::from_raw(s) });
        }
    })
}
