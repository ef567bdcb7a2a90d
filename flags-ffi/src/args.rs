//! Checking what C hands us: NULL pointers, lengths, UTF-8. Every check
//! that fails becomes a [`Failure`] with a text naming the argument.

use std::ffi::CStr;
use std::os::raw::c_char;
use std::ptr::NonNull;

use flags_core::Decision;

use crate::error::Failure;
use crate::types::{
    FF_BUFFER_TOO_SMALL, FF_INVALID_ARGUMENT, FF_INVALID_UTF8, FF_NULL_ARGUMENT, ff_context,
};

#[cold]
fn null(what: &str) -> Failure {
    Failure::new(FF_NULL_ARGUMENT, format!("`{what}` is NULL"))
}

#[cold]
fn not_utf8(what: &str, error: std::str::Utf8Error) -> Failure {
    Failure::new(
        FF_INVALID_UTF8,
        format!(
            "`{what}` is not valid UTF-8 (invalid byte at offset {})",
            error.valid_up_to()
        ),
    )
}

#[cold]
fn too_long(what: &str, len: usize) -> Failure {
    Failure::new(
        FF_INVALID_ARGUMENT,
        format!("`{what}` is too long ({len} elements)"),
    )
}

/// A pointer the callee writes one value through.
pub(crate) struct Out<T>(NonNull<T>);

impl<T> Clone for Out<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Out<T> {}

impl<T> Out<T> {
    /// Checks `ptr` for NULL.
    #[inline]
    pub(crate) fn new(ptr: *mut T, what: &str) -> Result<Out<T>, Failure> {
        NonNull::new(ptr).map(Out).ok_or_else(|| null(what))
    }

    /// Writes `value` without reading or dropping what was there, which may
    /// be uninitialized.
    ///
    /// # Safety
    /// The pointer given to [`Out::new`] must be valid for an aligned write
    /// of a `T`.
    #[inline]
    pub(crate) unsafe fn write(self, value: T) {
        // SAFETY: non-NULL (checked in `new`); valid and aligned per this
        // function's contract.
        unsafe { self.0.as_ptr().write(value) }
    }
}

/// Writes `value` through `ptr` unless it is NULL: an optional output.
///
/// # Safety
/// A non-NULL `ptr` must be valid for an aligned write of a `T`.
#[inline]
pub(crate) unsafe fn write_optional<T>(ptr: *mut T, value: T) {
    if let Some(out) = NonNull::new(ptr).map(Out) {
        // SAFETY: non-NULL; valid and aligned per this function's contract.
        unsafe { out.write(value) };
    }
}

/// Frees what `Box::into_raw` handed to C; NULL does nothing. The body of
/// the `*_free` functions.
///
/// # Safety
/// `ptr` must be NULL or a pointer from `Box::into_raw` (of a `Box<T>`) not
/// freed before, and used by nobody else during or after the call.
#[inline]
pub(crate) unsafe fn free_boxed<T>(ptr: *mut T) {
    if !ptr.is_null() {
        // SAFETY: from `Box::into_raw`, freed once and unused by others per
        // this function's contract.
        drop(unsafe { Box::from_raw(ptr) });
    }
}

/// Borrows `*ptr`.
///
/// # Safety
/// A non-NULL `ptr` must point to a valid, aligned `T` that nobody mutates
/// for `'a`.
#[inline]
pub(crate) unsafe fn reference<'a, T>(ptr: *const T, what: &str) -> Result<&'a T, Failure> {
    if ptr.is_null() {
        return Err(null(what));
    }
    // SAFETY: not NULL; valid and unaliased for 'a per this function's
    // contract.
    Ok(unsafe { &*ptr })
}

/// Borrows `len` elements at `ptr`; NULL is allowed when `len` is 0.
///
/// # Safety
/// A non-NULL `ptr` must point to `len` valid, aligned `T`s that nobody
/// mutates for `'a`.
#[inline]
pub(crate) unsafe fn slice<'a, T>(
    ptr: *const T,
    len: usize,
    what: &str,
) -> Result<&'a [T], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(null(what));
    }
    if len > isize::MAX as usize / size_of::<T>().max(1) {
        return Err(too_long(what, len));
    }
    // SAFETY: not NULL, the byte length fits in isize, and the elements are
    // valid and unaliased for 'a per this function's contract.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Borrows the UTF-8 string of `len` bytes at `ptr`. NULL is an error even
/// when `len` is 0, so a forgotten pointer is caught.
///
/// # Safety
/// A non-NULL `ptr` must point to `len` readable bytes unchanged for `'a`.
#[inline]
pub(crate) unsafe fn str_arg<'a>(
    ptr: *const c_char,
    len: usize,
    what: &str,
) -> Result<&'a str, Failure> {
    if ptr.is_null() {
        return Err(null(what));
    }
    // SAFETY: forwarded from this function's contract.
    let bytes = unsafe { slice(ptr.cast::<u8>(), len, what) }?;
    utf8(bytes).map_err(|e| not_utf8(what, e))
}

/// `str::from_utf8` with a fast path for ASCII, which flag and group names
/// nearly always are: a word-at-a-time check instead of a per-byte decoder,
/// several times faster on short strings.
#[inline]
fn utf8(bytes: &[u8]) -> Result<&str, std::str::Utf8Error> {
    if bytes.is_ascii() {
        // SAFETY: ASCII bytes are valid UTF-8.
        Ok(unsafe { std::str::from_utf8_unchecked(bytes) })
    } else {
        std::str::from_utf8(bytes)
    }
}

/// Borrows an `ff_str`-style string: NULL is allowed when `len` is 0.
///
/// # Safety
/// As for [`str_arg`].
#[inline]
pub(crate) unsafe fn ff_str_arg<'a>(
    ptr: *const c_char,
    len: usize,
    what: &str,
) -> Result<&'a str, Failure> {
    if len == 0 {
        return Ok("");
    }
    // SAFETY: forwarded from this function's contract.
    unsafe { str_arg(ptr, len, what) }
}

/// Borrows a NUL-terminated UTF-8 string.
///
/// # Safety
/// A non-NULL `ptr` must point to a NUL-terminated string unchanged for `'a`.
pub(crate) unsafe fn c_str_arg<'a>(ptr: *const c_char, what: &str) -> Result<&'a str, Failure> {
    if ptr.is_null() {
        return Err(null(what));
    }
    // SAFETY: not NULL; NUL-terminated and unchanged for 'a per this
    // function's contract.
    let c_str = unsafe { CStr::from_ptr(ptr) };
    c_str.to_str().map_err(|e| not_utf8(what, e))
}

/// What an evaluation by name runs on: a store (the version it serves
/// now) or a message (its version; the flag is exposed).
pub(crate) trait ByName {
    /// Flag `name`'s decision for `ctx`.
    ///
    /// # Safety
    /// As for `with_context` on `ctx`.
    unsafe fn decide(self, name: &str, ctx: &ff_context) -> Result<Decision, Failure>;
}

/// The body of the evaluations by name (`ff_store_is_enabled`,
/// `ff_store_evaluate` and the message's two): checks the arguments in
/// signature order (the `receiver`, given as its check's result, then the
/// flag `name` of `name_len` UTF-8 bytes, `ctx` and `out`), decides, and
/// writes `answer(decision)` to `out`.
///
/// # Safety
/// As for [`str_arg`] on `name` and [`reference`] on `ctx`; `out` must be
/// NULL or writable.
#[inline(always)]
pub(crate) unsafe fn answer_by_name<R: ByName, T>(
    receiver: Result<R, Failure>,
    name: *const c_char,
    name_len: usize,
    ctx: *const ff_context,
    out: *mut T,
    answer: impl FnOnce(Decision) -> T,
) -> Result<(), Failure> {
    let receiver = receiver?;
    // SAFETY: the caller passes `name_len` readable bytes at `name`.
    let name = unsafe { str_arg(name, name_len, "name") }?;
    // SAFETY: the caller passes a valid context.
    let ctx = unsafe { reference(ctx, "ctx") }?;
    let out = Out::new(out, "out")?;
    // SAFETY: the caller's context points to valid groups.
    let decision = unsafe { receiver.decide(name, ctx) }?;
    // SAFETY: checked non-NULL; the caller passes a writable `T`.
    unsafe { out.write(answer(decision)) };
    Ok(())
}

/// `ctx` and the `out_bits` words of the evaluate-all calls, checked in
/// signature order (the words are overwritten, never read).
///
/// # Safety
/// As for [`reference`] on `ctx`; a non-NULL `out_bits` must have room for
/// `out_words` words.
#[inline(always)]
pub(crate) unsafe fn bits_args<'a>(
    ctx: *const ff_context,
    out_bits: *mut u64,
    out_words: usize,
) -> Result<&'a ff_context, Failure> {
    // SAFETY: the caller passes a valid context.
    let ctx = unsafe { reference(ctx, "ctx") }?;
    // Checks NULL and length only.
    // SAFETY: the caller passes `out_words` writable words at `out_bits`.
    unsafe { slice(out_bits.cast_const(), out_words, "out_bits") }?;
    Ok(ctx)
}

/// The words the bits of `flag_count` flags take, or `FF_BUFFER_TOO_SMALL`
/// when that is more than the caller's `out_words`.
#[inline]
pub(crate) fn bit_words(flag_count: usize, out_words: usize) -> Result<usize, Failure> {
    let words = flag_count.div_ceil(64);
    if words > out_words {
        return Err(too_few_words(out_words, flag_count, words));
    }
    Ok(words)
}

#[cold]
fn too_few_words(out_words: usize, flag_count: usize, words: usize) -> Failure {
    Failure::new(
        FF_BUFFER_TOO_SMALL,
        format!("`out_bits` holds {out_words} words; {flag_count} flags need {words}"),
    )
}
