//! The driver of the fuzz target `ffi` (`fuzz/fuzz_targets/ffi.rs`): every
//! entry point called as C would, with arbitrary bytes, lengths, handles,
//! context bits and NULLs. Here, not in the fuzz crate, so that `unsafe`
//! stays in this crate (house rule); built only with the `fuzzing` feature.
//!
//! It checks what the header promises: no panic reaches the caller
//! (`FF_PANIC` is a finding), a store opens exactly when flags-core accepts
//! the text, error texts are bounded, one flag gives one answer however it
//! is asked for, and a closed store answers `FF_CLOSED`.

use std::ffi::CStr;
use std::os::raw::c_char;
use std::ptr;

use crate::*;

/// The longest error text a caller may get: the bounded problem report
/// (100 problems of at most ~600 bytes) and a line of context.
const MAX_ERROR_TEXT: usize = 64 * 1024 + 1024;

/// Reads the fuzzer's bytes as a sequence of choices; past the end, zeros.
struct Choices<'a>(&'a [u8]);

impl<'a> Choices<'a> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }

    fn i64(&mut self) -> i64 {
        i64::from(self.u32() as i32) * i64::from(self.byte()) + i64::from(self.byte() as i8)
    }

    /// Up to `max` bytes, their count chosen by the input.
    fn bytes(&mut self, max: usize) -> &'a [u8] {
        let want = usize::from(u16::from_le_bytes([self.byte(), self.byte()])) % (max + 1);
        let n = want.min(self.0.len());
        let (taken, rest) = self.0.split_at(n);
        self.0 = rest;
        taken
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A `(pointer, length)` pair for `bytes`, sometimes lying the way a buggy
/// caller would: NULL with a length, a length over `PTRDIFF_MAX`.
fn pointer_and_len(bytes: &[u8], how: u8) -> (*const c_char, usize) {
    match how % 8 {
        0 => (ptr::null(), bytes.len()),
        1 => (bytes.as_ptr().cast(), usize::MAX),
        2 => (bytes.as_ptr().cast(), isize::MAX as usize + 1),
        3 => (bytes.as_ptr().cast(), 0),
        _ => (bytes.as_ptr().cast(), bytes.len()),
    }
}

/// The last error text, checked to be bounded, then freed.
fn check_last_error() {
    let len = take_string(ff_last_error());
    assert!(len <= MAX_ERROR_TEXT, "an error text of {len} bytes");
}

/// An owned string result, freed; its length.
fn take_string(text: *mut c_char) -> usize {
    if text.is_null() {
        return 0;
    }
    // SAFETY: a non-NULL result is a NUL-terminated string we own.
    let len = unsafe { CStr::from_ptr(text) }.to_bytes().len();
    // SAFETY: from this library, freed once.
    unsafe { ff_string_free(text) };
    len
}

fn accepted(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_ok_and(|text| flags_core::parse_flag_file(text).is_ok())
}

/// Runs one fuzz input.
pub fn exercise(data: &[u8]) {
    let mut input = Choices(data);
    let how = input.byte();
    let json = input.bytes(1 << 16);
    let (json_ptr, json_len) = pointer_and_len(json, how);
    let mut store: *mut ff_store = ptr::null_mut();
    let out = if how & 0x80 != 0 && how % 8 == 5 {
        ptr::null_mut()
    } else {
        &raw mut store
    };
    // SAFETY: the pointer is NULL or points to `json`; a lying length is
    // rejected before any read (the check under test).
    let status = unsafe { ff_store_from_json(json_ptr, json_len, out) };
    let honest = !out.is_null() && !json_ptr.is_null() && json_len == json.len();
    if honest {
        assert_eq!(status == FF_OK, accepted(json), "status {status}");
    } else {
        assert_ne!(status, FF_OK, "status {status} for a lying call");
    }
    assert_ne!(status, FF_PANIC);
    if status != FF_OK {
        check_last_error();
        assert!(store.is_null());
        return;
    }
    let store_ptr = store.cast_const();
    let mut closed = false;
    while !input.is_empty() {
        let name = input.bytes(300);
        let (name_ptr, name_len) = pointer_and_len(name, input.byte());
        let groups_bytes: Vec<&[u8]> = (0..input.byte() % 20).map(|_| input.bytes(40)).collect();
        let groups: Vec<ff_str> = groups_bytes
            .iter()
            .map(|g| {
                // An empty group may come as NULL (allowed for length 0).
                let null_if_empty = input.byte() & 1 == 1;
                ff_str {
                    ptr: if g.is_empty() && null_if_empty {
                        ptr::null()
                    } else {
                        g.as_ptr().cast()
                    },
                    len: g.len(),
                }
            })
            .collect();
        let ctx = ff_context {
            user_id: input.i64(),
            chat_id: input.i64(),
            present: u32::from(input.byte() % 5),
            chat_type: u32::from(input.byte() % 6),
            groups: if groups.is_empty() {
                ptr::null()
            } else {
                groups.as_ptr()
            },
            groups_len: groups.len(),
        };
        let ctx_ptr: *const ff_context = if input.byte() == 0xff {
            ptr::null()
        } else {
            &raw const ctx
        };
        let op = input.byte();
        // In every call below, pointers are NULL or point to live locals
        // of the stated length; lying lengths are ones the ABI must reject
        // before reading.
        let status = match op % 14 {
            0 => {
                let mut decision = ff_decision::default();
                // SAFETY: arguments are NULL or live locals of the stated length.
                let status = unsafe {
                    ff_store_evaluate(store_ptr, name_ptr, name_len, ctx_ptr, &raw mut decision)
                };
                if status == FF_OK {
                    // The same question by name and by handle: one answer.
                    let mut enabled = !decision.enabled;
                    // SAFETY: arguments are NULL or live locals of the stated length.
                    let s = unsafe {
                        ff_store_is_enabled(
                            store_ptr,
                            name_ptr,
                            name_len,
                            ctx_ptr,
                            false,
                            &raw mut enabled,
                        )
                    };
                    assert_eq!(s, FF_OK);
                    if decision.reason != FF_REASON_UNKNOWN_FLAG {
                        assert_eq!(enabled, decision.enabled);
                        let mut handle = 0u32;
                        // SAFETY: arguments are NULL or live locals of the stated length.
                        let s = unsafe {
                            ff_store_handle(store_ptr, name_ptr, name_len, &raw mut handle)
                        };
                        assert_eq!(s, FF_OK);
                        let mut again = ff_decision::default();
                        // SAFETY: arguments are NULL or live locals of the stated length.
                        let s = unsafe {
                            ff_store_evaluate_handle(store_ptr, handle, ctx_ptr, &raw mut again)
                        };
                        assert_eq!(s, FF_OK);
                        assert_eq!(again, decision);
                    }
                    assert!(decision.bucket < 100_000);
                }
                status
            }
            1 => {
                let mut enabled = false;
                // SAFETY: arguments are NULL or live locals of the stated length.
                unsafe {
                    ff_store_is_enabled(
                        store_ptr,
                        name_ptr,
                        name_len,
                        ctx_ptr,
                        op & 0x80 != 0,
                        &raw mut enabled,
                    )
                }
            }
            2 => {
                let mut handle = 0u32;
                let out = if op & 0x80 != 0 {
                    ptr::null_mut()
                } else {
                    &raw mut handle
                };
                // SAFETY: arguments are NULL or live locals of the stated length.
                unsafe { ff_store_handle(store_ptr, name_ptr, name_len, out) }
            }
            3 => {
                let mut decision = ff_decision::default();
                // SAFETY: arguments are NULL or live locals of the stated length.
                unsafe {
                    ff_store_evaluate_handle(
                        store_ptr,
                        input.u32() % 64,
                        ctx_ptr,
                        &raw mut decision,
                    )
                }
            }
            4 => {
                let handles: Vec<u32> = (0..input.byte() % 16).map(|_| input.u32() % 64).collect();
                let mut out = vec![ff_decision::default(); handles.len()];
                let handles_ptr = if handles.is_empty() && op & 0x80 != 0 {
                    ptr::null()
                } else {
                    handles.as_ptr()
                };
                // SAFETY: arguments are NULL or live locals of the stated length.
                unsafe {
                    ff_store_evaluate_handles(
                        store_ptr,
                        handles_ptr,
                        handles.len(),
                        ctx_ptr,
                        out.as_mut_ptr(),
                    )
                }
            }
            5 => {
                let words = usize::from(input.byte() % 4);
                let mut bits = vec![0u64; words];
                let (mut count, mut generation) = (0usize, 0u64);
                let bits_ptr = if words == 0 && op & 0x80 != 0 {
                    ptr::null_mut()
                } else {
                    bits.as_mut_ptr()
                };
                // SAFETY: arguments are NULL or live locals of the stated length.
                let status = unsafe {
                    ff_store_evaluate_all(
                        store_ptr,
                        ctx_ptr,
                        bits_ptr,
                        words,
                        &raw mut count,
                        &raw mut generation,
                    )
                };
                if status == FF_OK {
                    assert!(count <= words * 64);
                }
                status
            }
            6 => {
                let mut names = ptr::null_mut();
                let mut generation = 0u64;
                let status =
                    // SAFETY: arguments are NULL or live locals of the stated length.
                    unsafe { ff_store_flag_names(store_ptr, &raw mut names, &raw mut generation) };
                take_string(names);
                status
            }
            7 => {
                let text = input.bytes(1 << 14);
                let (text_ptr, text_len) = pointer_and_len(text, input.byte());
                let honest = !text_ptr.is_null() && text_len == text.len();
                // SAFETY: arguments are NULL or live locals of the stated length.
                let status = unsafe { ff_store_replace_json(store_ptr, text_ptr, text_len) };
                if honest && !closed {
                    assert_eq!(status == FF_OK, accepted(text), "replace: status {status}");
                }
                status
            }
            8 => {
                let mut generation = 0u64;
                // SAFETY: arguments are NULL or live locals of the stated length.
                unsafe { ff_store_generation(store_ptr, &raw mut generation) }
            }
            9 => {
                let mut fingerprint = 0u64;
                // SAFETY: arguments are NULL or live locals of the stated length.
                unsafe { ff_store_fingerprint(store_ptr, &raw mut fingerprint) }
            }
            10 => {
                let mut text = ptr::null_mut();
                // SAFETY: arguments are NULL or live locals of the stated length.
                let status = unsafe { ff_store_last_reload_error(store_ptr, &raw mut text) };
                assert!(take_string(text) <= MAX_ERROR_TEXT);
                status
            }
            11 => {
                let mut text = ptr::null_mut();
                // SAFETY: arguments are NULL or live locals of the stated length.
                let status = unsafe { ff_store_metrics_text(store_ptr, &raw mut text) };
                take_string(text);
                status
            }
            // SAFETY: arguments are NULL or live locals of the stated length.
            12 => unsafe { ff_store_reload(store_ptr) },
            _ => {
                closed = true;
                // SAFETY: arguments are NULL or live locals of the stated length.
                unsafe { ff_store_close(store) }
            }
        };
        assert_ne!(status, FF_PANIC, "op {}", op % 14);
        if closed && op % 14 != 13 {
            // FF_CLOSED, or an argument error found first.
            assert_ne!(status, FF_OK, "op {} on a closed store", op % 14);
        }
        if status != FF_OK {
            check_last_error();
        }
    }
    // SAFETY: from `ff_store_from_json`, freed once, nobody else uses it.
    unsafe { ff_store_free(store) };
}
