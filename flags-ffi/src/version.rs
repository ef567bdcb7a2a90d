//! `ff_version`.

use std::ffi::CStr;
use std::os::raw::c_char;

const VERSION: &CStr =
    match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(version) => version,
        Err(_) => panic!("the crate version contains a NUL"),
    };

/// The library's version, like `"0.1.0"`.
///
/// # Parameters
/// None.
///
/// # Returns
/// A NUL-terminated string; never NULL.
///
/// # Memory and lifetimes
/// Static: valid for the life of the process. Never free it.
#[unsafe(no_mangle)]
pub extern "C" fn ff_version() -> *const c_char {
    VERSION.as_ptr()
}
