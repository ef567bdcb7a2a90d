//! Checking what C hands us: NULL pointers, lengths, UTF-8. Every check
//! that fails becomes a [`Failure`] with a text naming the argument.

use std::ffi::CStr;
use std::os::raw::c_char;
use std::ptr::NonNull;

use crate::error::Failure;
use crate::types::{FF_INVALID_ARGUMENT, FF_INVALID_UTF8, FF_NULL_ARGUMENT};

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

    /// `Some` for a non-NULL pointer, `None` for NULL (an optional output).
    #[inline]
    pub(crate) fn optional(ptr: *mut T) -> Option<Out<T>> {
        NonNull::new(ptr).map(Out)
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
