//! The C ABI with arbitrary bytes, lengths, handles and NULLs; the driver
//! (and its `unsafe`) is `flags_ffi::fuzz::exercise`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flags_ffi::fuzz::exercise(data));
