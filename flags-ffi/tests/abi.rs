//! The C ABI called the way a C program calls it: raw pointers, lengths,
//! status codes, caller-owned out parameters.

use std::ffi::{CStr, CString};
use std::os::raw::c_char;
use std::ptr;
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use flags_ffi::*;
use serde_json::Value;

const WAIT_LIMIT: Duration = Duration::from_secs(20);

const SMALL_FILE: &str = r#"{
  "version": 1,
  "groups": {"beta_testers": [111]},
  "flags": {
    "alpha": {"enabled": true},
    "beta": {"enabled": true, "rollout_percentage": 0, "user_groups": ["beta_testers"]},
    "gamma": {"enabled": false}
  }
}"#;

/// Takes the calling thread's last error text (copied, then freed).
fn last_error() -> String {
    let text = ff_last_error();
    assert!(!text.is_null(), "a failed call leaves an error text");
    // SAFETY: a non-NULL `ff_last_error` result is a NUL-terminated string.
    let copy = unsafe { CStr::from_ptr(text) }.to_str().unwrap().to_owned();
    // SAFETY: returned by the library, freed once.
    unsafe { ff_string_free(text) };
    copy
}

/// Takes ownership of a string the library returned.
fn owned(text: *mut c_char) -> String {
    assert!(!text.is_null());
    // SAFETY: the library returns NUL-terminated strings.
    let copy = unsafe { CStr::from_ptr(text) }.to_str().unwrap().to_owned();
    // SAFETY: returned by the library, freed once.
    unsafe { ff_string_free(text) };
    copy
}

fn from_json(text: &str) -> *mut ff_store {
    let mut store = ptr::null_mut();
    // SAFETY: valid text and out pointer.
    let status = unsafe { ff_store_from_json(text.as_ptr().cast(), text.len(), &mut store) };
    assert_eq!(status, FF_OK, "{}", last_error());
    assert!(!store.is_null());
    store
}

fn free(store: *mut ff_store) {
    // SAFETY: a store from `from_json`/`open`, used by nobody else now.
    unsafe { ff_store_free(store) };
}

fn ff(text: &str) -> ff_str {
    ff_str {
        ptr: text.as_ptr().cast(),
        len: text.len(),
    }
}

fn context(user: Option<i64>, chat: Option<i64>, chat_type: u32, groups: &[ff_str]) -> ff_context {
    ff_context {
        user_id: user.unwrap_or(0),
        chat_id: chat.unwrap_or(0),
        present: user.map_or(0, |_| FF_HAS_USER_ID) | chat.map_or(0, |_| FF_HAS_CHAT_ID),
        chat_type,
        groups: if groups.is_empty() {
            ptr::null()
        } else {
            groups.as_ptr()
        },
        groups_len: groups.len(),
    }
}

fn evaluate(
    store: *const ff_store,
    name: &str,
    ctx: &ff_context,
) -> Result<ff_decision, ff_status> {
    let mut out = ff_decision {
        enabled: false,
        reason: 99,
        has_bucket: false,
        bucket: 0,
    };
    // SAFETY: valid pointers for the call.
    let status =
        unsafe { ff_store_evaluate(store, name.as_ptr().cast(), name.len(), ctx, &mut out) };
    if status == FF_OK {
        Ok(out)
    } else {
        Err(status)
    }
}

fn handle(store: *const ff_store, name: &str) -> u32 {
    let mut handle = u32::MAX;
    // SAFETY: valid pointers for the call.
    let status = unsafe { ff_store_handle(store, name.as_ptr().cast(), name.len(), &mut handle) };
    assert_eq!(status, FF_OK, "{}", last_error());
    handle
}

fn evaluate_handle(
    store: *const ff_store,
    handle: u32,
    ctx: &ff_context,
) -> Result<ff_decision, ff_status> {
    let mut out = ff_decision {
        enabled: false,
        reason: 99,
        has_bucket: false,
        bucket: 0,
    };
    // SAFETY: valid pointers for the call.
    let status = unsafe { ff_store_evaluate_handle(store, handle, ctx, &mut out) };
    if status == FF_OK {
        Ok(out)
    } else {
        Err(status)
    }
}

/// Bits, flag count and generation of `ff_store_evaluate_all` with `words`
/// words of room.
fn evaluate_all(
    store: *const ff_store,
    ctx: &ff_context,
    words: usize,
) -> (ff_status, Vec<u64>, usize, u64) {
    let mut bits = vec![u64::MAX; words];
    let mut count = usize::MAX;
    let mut generation = u64::MAX;
    // SAFETY: `bits` has `words` words; the others are valid out pointers.
    let status = unsafe {
        ff_store_evaluate_all(
            store,
            ctx,
            if words == 0 {
                ptr::null_mut()
            } else {
                bits.as_mut_ptr()
            },
            words,
            &mut count,
            &mut generation,
        )
    };
    (status, bits, count, generation)
}

fn reason_number(name: &str) -> u8 {
    match name {
        "unknown_flag" => FF_REASON_UNKNOWN_FLAG,
        "disabled" => FF_REASON_DISABLED,
        "chat_excluded" => FF_REASON_CHAT_EXCLUDED,
        "chat_type" => FF_REASON_CHAT_TYPE,
        "group" => FF_REASON_GROUP,
        "rollout" => FF_REASON_ROLLOUT,
        "missing_key" => FF_REASON_MISSING_KEY,
        other => panic!("unknown reason {other}"),
    }
}

fn chat_type_number(name: Option<&str>) -> u32 {
    match name {
        None => FF_CHAT_TYPE_NONE,
        Some("private") => FF_CHAT_TYPE_PRIVATE,
        Some("group") => FF_CHAT_TYPE_GROUP,
        Some("supergroup") => FF_CHAT_TYPE_SUPERGROUP,
        Some("channel") => FF_CHAT_TYPE_CHANNEL,
        Some(other) => panic!("unknown chat type {other}"),
    }
}

#[test]
fn structs_have_the_c_layout_of_the_header() {
    assert_eq!(size_of::<ff_str>(), 2 * size_of::<usize>());
    assert_eq!(std::mem::offset_of!(ff_context, user_id), 0);
    assert_eq!(std::mem::offset_of!(ff_context, chat_id), 8);
    assert_eq!(std::mem::offset_of!(ff_context, present), 16);
    assert_eq!(std::mem::offset_of!(ff_context, chat_type), 20);
    assert_eq!(std::mem::offset_of!(ff_context, groups), 24);
    assert_eq!(std::mem::offset_of!(ff_decision, enabled), 0);
    assert_eq!(std::mem::offset_of!(ff_decision, reason), 1);
    assert_eq!(std::mem::offset_of!(ff_decision, has_bucket), 2);
    assert_eq!(std::mem::offset_of!(ff_decision, bucket), 4);
    assert_eq!(size_of::<ff_decision>(), 8);
}

#[test]
fn every_golden_case_by_name_handle_batch_and_bits() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../flags-core/tests/data/evaluation_cases.json"
    );
    let data: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let store = from_json(&data["file"].to_string());
    let flag_names: Vec<&str> = data["file"]["flags"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let handles: Vec<u32> = flag_names.iter().map(|name| handle(store, name)).collect();
    let cases = data["cases"].as_array().unwrap();
    assert!(cases.len() >= 500);
    for case in cases {
        let c = &case["context"];
        let group_names: Vec<&str> = c["groups"]
            .as_array()
            .map_or(vec![], |g| g.iter().map(|s| s.as_str().unwrap()).collect());
        let groups: Vec<ff_str> = group_names.iter().map(|g| ff(g)).collect();
        let ctx = context(
            c["user_id"].as_i64(),
            c["chat_id"].as_i64(),
            chat_type_number(c["chat_type"].as_str()),
            &groups,
        );
        let flag = case["flag"].as_str().unwrap();
        let expect = &case["expect"];
        let expected = ff_decision {
            enabled: expect["enabled"].as_bool().unwrap(),
            reason: reason_number(expect["reason"].as_str().unwrap()),
            has_bucket: !expect["bucket"].is_null(),
            bucket: expect["bucket"].as_u64().map_or(0, |b| b as u32),
        };
        assert_eq!(evaluate(store, flag, &ctx), Ok(expected), "{case}");

        let mut enabled = !expected.enabled;
        // SAFETY: valid pointers for the call.
        let status = unsafe {
            ff_store_is_enabled(
                store,
                flag.as_ptr().cast(),
                flag.len(),
                &ctx,
                false,
                &mut enabled,
            )
        };
        assert_eq!((status, enabled), (FF_OK, expected.enabled), "{case}");

        if let Some(position) = flag_names.iter().position(|name| *name == flag) {
            assert_eq!(
                evaluate_handle(store, handles[position], &ctx),
                Ok(expected),
                "{case}"
            );
            let mut batch = vec![
                ff_decision {
                    enabled: false,
                    reason: 99,
                    has_bucket: false,
                    bucket: 0
                };
                handles.len()
            ];
            // SAFETY: `batch` has room for every handle.
            let status = unsafe {
                ff_store_evaluate_handles(
                    store,
                    handles.as_ptr(),
                    handles.len(),
                    &ctx,
                    batch.as_mut_ptr(),
                )
            };
            assert_eq!(status, FF_OK);
            assert_eq!(batch[position], expected, "{case}");
            let (status, bits, count, generation) = evaluate_all(store, &ctx, 1);
            assert_eq!((status, count, generation), (FF_OK, flag_names.len(), 1));
            assert_eq!(bits[0] >> position & 1 == 1, expected.enabled, "{case}");
            assert_eq!(
                bits[0] >> flag_names.len(),
                0,
                "bits past the flags are clear"
            );
        }
    }
    free(store);
}

#[test]
fn is_enabled_gives_the_default_only_for_unknown_flags() {
    let store = from_json(SMALL_FILE);
    let ctx = context(Some(5), None, FF_CHAT_TYPE_NONE, &[]);
    for (name, default, expected) in [
        ("missing", true, true),
        ("missing", false, false),
        ("gamma", true, false),
        ("alpha", false, true),
    ] {
        let mut out = !expected;
        // SAFETY: valid pointers for the call.
        let status = unsafe {
            ff_store_is_enabled(
                store,
                name.as_ptr().cast(),
                name.len(),
                &ctx,
                default,
                &mut out,
            )
        };
        assert_eq!((status, out), (FF_OK, expected), "{name} default {default}");
    }
    free(store);
}

#[test]
fn null_pointers_are_reported_not_dereferenced() {
    let store = from_json(SMALL_FILE);
    let ctx = context(Some(1), None, FF_CHAT_TYPE_NONE, &[]);
    let mut decision = ff_decision::default();
    let mut flag = false;
    let mut number = 0u64;
    let mut handle_out = 0u32;
    let mut text: *mut c_char = ptr::null_mut();
    let name = "alpha";
    let n = name.as_ptr().cast::<c_char>();
    let null_store: *const ff_store = ptr::null();
    // SAFETY: every pointer is valid or NULL; NULLs must be rejected.
    let statuses = unsafe {
        [
            (
                "store",
                ff_store_evaluate(null_store, n, 5, &ctx, &mut decision),
            ),
            (
                "name",
                ff_store_evaluate(store, ptr::null(), 0, &ctx, &mut decision),
            ),
            (
                "ctx",
                ff_store_evaluate(store, n, 5, ptr::null(), &mut decision),
            ),
            ("out", ff_store_evaluate(store, n, 5, &ctx, ptr::null_mut())),
            (
                "out",
                ff_store_is_enabled(store, n, 5, &ctx, false, ptr::null_mut()),
            ),
            (
                "ctx",
                ff_store_is_enabled(store, n, 5, ptr::null(), false, &mut flag),
            ),
            ("out_handle", ff_store_handle(store, n, 5, ptr::null_mut())),
            ("store", ff_store_handle(null_store, n, 5, &mut handle_out)),
            (
                "ctx",
                ff_store_evaluate_handle(store, 0, ptr::null(), &mut decision),
            ),
            (
                "handles",
                ff_store_evaluate_handles(store, ptr::null(), 1, &ctx, &mut decision),
            ),
            (
                "out",
                ff_store_evaluate_handles(store, &handle_out, 1, &ctx, ptr::null_mut()),
            ),
            (
                "out_bits",
                ff_store_evaluate_all(
                    store,
                    &ctx,
                    ptr::null_mut(),
                    1,
                    ptr::null_mut(),
                    ptr::null_mut(),
                ),
            ),
            (
                "ctx",
                ff_store_evaluate_all(
                    store,
                    ptr::null(),
                    ptr::null_mut(),
                    0,
                    ptr::null_mut(),
                    ptr::null_mut(),
                ),
            ),
            (
                "out",
                ff_store_flag_names(store, ptr::null_mut(), ptr::null_mut()),
            ),
            ("out", ff_store_generation(store, ptr::null_mut())),
            ("store", ff_store_generation(null_store, &mut number)),
            ("out", ff_store_fingerprint(store, ptr::null_mut())),
            ("out", ff_store_last_reload_error(store, ptr::null_mut())),
            ("store", ff_store_last_reload_error(null_store, &mut text)),
            ("store", ff_store_reload(null_store)),
            ("json", ff_store_replace_json(store, ptr::null(), 3)),
            ("store", ff_store_close(ptr::null_mut())),
            ("path", ff_store_open(ptr::null(), 0, &mut ptr::null_mut())),
            ("out", ff_store_open(c"x.json".as_ptr(), 0, ptr::null_mut())),
            (
                "json",
                ff_store_from_json(ptr::null(), 0, &mut ptr::null_mut()),
            ),
            (
                "out",
                ff_store_from_json(c"{}".as_ptr(), 2, ptr::null_mut()),
            ),
        ]
    };
    for (i, (argument, status)) in statuses.into_iter().enumerate() {
        assert_eq!(status, FF_NULL_ARGUMENT, "call #{i} ({argument})");
    }
    // The last error names the argument of the last failing call.
    assert_eq!(last_error(), "`out` is NULL");
    // SAFETY: NULL is documented as a no-op for both.
    unsafe {
        ff_store_free(ptr::null_mut());
        ff_string_free(ptr::null_mut());
    }
    // A ctx whose groups pointer is NULL with a non-zero length.
    let bad_groups = ff_context {
        groups: ptr::null(),
        groups_len: 2,
        ..ctx
    };
    assert_eq!(evaluate(store, "alpha", &bad_groups), Err(FF_NULL_ARGUMENT));
    assert_eq!(last_error(), "`ctx.groups` is NULL");
    // A group whose pointer is NULL with a non-zero length; NULL with 0 is "".
    let groups = [
        ff("ok"),
        ff_str {
            ptr: ptr::null(),
            len: 4,
        },
    ];
    assert_eq!(
        evaluate(store, "alpha", &context(None, None, 0, &groups)),
        Err(FF_NULL_ARGUMENT)
    );
    assert_eq!(last_error(), "`ctx.groups[1]` is NULL");
    let groups = [ff_str {
        ptr: ptr::null(),
        len: 0,
    }];
    assert!(evaluate(store, "alpha", &context(None, None, 0, &groups)).is_ok());
    free(store);
}

#[test]
fn invalid_utf8_and_out_of_range_arguments_are_rejected() {
    let store = from_json(SMALL_FILE);
    let ctx = context(Some(1), Some(2), FF_CHAT_TYPE_GROUP, &[]);
    let bad = b"al\xffpha";
    let mut decision = ff_decision::default();
    // SAFETY: valid pointers for the call.
    let status =
        unsafe { ff_store_evaluate(store, bad.as_ptr().cast(), bad.len(), &ctx, &mut decision) };
    assert_eq!(status, FF_INVALID_UTF8);
    assert_eq!(
        last_error(),
        "`name` is not valid UTF-8 (invalid byte at offset 2)"
    );
    let mut h = 0;
    // SAFETY: valid pointers for the call.
    let status = unsafe { ff_store_handle(store, bad.as_ptr().cast(), bad.len(), &mut h) };
    assert_eq!(status, FF_INVALID_UTF8);

    let groups = [
        ff("beta_testers"),
        ff_str {
            ptr: bad.as_ptr().cast(),
            len: bad.len(),
        },
    ];
    assert_eq!(
        evaluate(store, "beta", &context(Some(1), None, 0, &groups)),
        Err(FF_INVALID_UTF8)
    );
    assert!(last_error().starts_with("`ctx.groups[1]` is not valid UTF-8"));

    for chat_type in [5, 99, u32::MAX] {
        let ctx = context(Some(1), Some(2), chat_type, &[]);
        assert_eq!(evaluate(store, "alpha", &ctx), Err(FF_INVALID_ARGUMENT));
        assert!(last_error().contains(&format!("`ctx.chat_type` is {chat_type}")));
        assert_eq!(evaluate_all(store, &ctx, 1).0, FF_INVALID_ARGUMENT);
        // A bad context is reported before a too-small buffer.
        assert_eq!(evaluate_all(store, &ctx, 0).0, FF_INVALID_ARGUMENT);
    }
    let unknown_bit = ff_context { present: 4, ..ctx };
    assert_eq!(
        evaluate(store, "alpha", &unknown_bit),
        Err(FF_INVALID_ARGUMENT)
    );

    let json = b"{\"version\": 1, \"flags\": {\"\xff\": {}}}";
    let mut out = ptr::null_mut();
    // SAFETY: valid pointers for the call.
    let status = unsafe { ff_store_from_json(json.as_ptr().cast(), json.len(), &mut out) };
    assert_eq!((status, out), (FF_INVALID_UTF8, ptr::null_mut()));
    // SAFETY: valid pointers for the call.
    let status = unsafe { ff_store_open(c"/tmp/\xff.json".as_ptr(), FF_OPEN_NO_WATCH, &mut out) };
    assert_eq!(status, FF_INVALID_UTF8);
    free(store);
}

#[test]
fn handles_this_store_never_returned_are_rejected() {
    let store = from_json(SMALL_FILE);
    let ctx = context(Some(111), None, FF_CHAT_TYPE_NONE, &[]);
    assert_eq!(evaluate_handle(store, 0, &ctx), Err(FF_INVALID_ARGUMENT));
    let beta = handle(store, "beta");
    assert_eq!(
        evaluate_handle(store, beta, &ctx).map(|d| (d.enabled, d.reason)),
        Ok((true, FF_REASON_GROUP))
    );
    // Handles below one handed out are real slots of this store.
    assert_eq!(
        evaluate_handle(store, 0, &ctx).map(|d| d.reason),
        Ok(FF_REASON_ROLLOUT)
    );
    assert_eq!(
        evaluate_handle(store, beta + 1, &ctx),
        Err(FF_INVALID_ARGUMENT)
    );
    assert!(last_error().contains(&format!("handle {}", beta + 1)));
    assert_eq!(
        evaluate_handle(store, u32::MAX, &ctx),
        Err(FF_INVALID_ARGUMENT)
    );
    // A handle for a name the file lacks is valid and evaluates as unknown.
    let later = handle(store, "not_yet");
    assert_eq!(
        evaluate_handle(store, later, &ctx).map(|d| d.reason),
        Ok(FF_REASON_UNKNOWN_FLAG)
    );
    let handles = [beta, later + 7];
    let mut out = [ff_decision::default(); 2];
    // SAFETY: `out` has room for both handles.
    let status =
        unsafe { ff_store_evaluate_handles(store, handles.as_ptr(), 2, &ctx, out.as_mut_ptr()) };
    assert_eq!(status, FF_INVALID_ARGUMENT);
    // No handles: NULL buffers are fine.
    // SAFETY: len 0 with NULL pointers is documented as allowed.
    let status = unsafe { ff_store_evaluate_handles(store, ptr::null(), 0, &ctx, ptr::null_mut()) };
    assert_eq!(status, FF_OK);
    free(store);
}

#[test]
fn evaluate_all_reports_the_size_it_needs() {
    let flags: Vec<String> = (0..130)
        .map(|i| format!(r#""f{i}": {{"enabled": {}}}"#, i % 3 != 0))
        .collect();
    let text = format!(r#"{{"version": 1, "flags": {{{}}}}}"#, flags.join(","));
    let store = from_json(&text);
    let ctx = context(Some(1), None, FF_CHAT_TYPE_NONE, &[]);
    for words in [0, 1, 2] {
        let (status, bits, count, generation) = evaluate_all(store, &ctx, words);
        assert_eq!(
            (status, count, generation),
            (FF_BUFFER_TOO_SMALL, 130, 1),
            "{words} words"
        );
        assert!(
            bits.iter().all(|&w| w == u64::MAX),
            "out_bits untouched on error"
        );
    }
    assert!(last_error().contains("130 flags need 3"));
    let (status, bits, count, _) = evaluate_all(store, &ctx, 4);
    assert_eq!((status, count), (FF_OK, 130));
    for i in 0..256 {
        let on = bits[i / 64] >> (i % 64) & 1 == 1;
        assert_eq!(on, i < 130 && i % 3 != 0, "bit {i}");
    }
    // Count and generation are optional.
    let mut words = [0u64; 3];
    // SAFETY: `words` has 3 words; NULL optional outputs are allowed.
    let status = unsafe {
        ff_store_evaluate_all(
            store,
            &ctx,
            words.as_mut_ptr(),
            3,
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    assert_eq!(status, FF_OK);
    assert_eq!(words[0] & 0b111, 0b110);
    free(store);
}

#[test]
fn more_groups_than_fit_on_the_stack_still_evaluate() {
    let store = from_json(SMALL_FILE);
    let names: Vec<String> = (0..40).map(|i| format!("g{i}")).collect();
    let mut groups: Vec<ff_str> = names.iter().map(|n| ff(n)).collect();
    let ctx = context(Some(5), None, 0, &groups);
    assert_eq!(
        evaluate(store, "beta", &ctx).map(|d| d.reason),
        Ok(FF_REASON_ROLLOUT)
    );
    groups[33] = ff("beta_testers");
    let ctx = context(Some(5), None, 0, &groups);
    assert_eq!(
        evaluate(store, "beta", &ctx).map(|d| d.reason),
        Ok(FF_REASON_GROUP)
    );
    let bad = b"\xc3";
    groups[20] = ff_str {
        ptr: bad.as_ptr().cast(),
        len: 1,
    };
    let ctx = context(Some(5), None, 0, &groups);
    assert_eq!(evaluate(store, "beta", &ctx), Err(FF_INVALID_UTF8));
    assert!(last_error().starts_with("`ctx.groups[20]`"));
    free(store);
}

#[test]
fn a_closed_store_answers_ff_closed_until_freed() {
    let store = from_json(SMALL_FILE);
    let alpha = handle(store, "alpha");
    let ctx = context(Some(1), None, 0, &[]);
    // SAFETY: a live store.
    assert_eq!(unsafe { ff_store_close(store) }, FF_OK);
    assert_eq!(evaluate(store, "alpha", &ctx), Err(FF_CLOSED));
    assert_eq!(last_error(), "the store was closed by ff_store_close");
    assert_eq!(evaluate_handle(store, alpha, &ctx), Err(FF_CLOSED));
    assert_eq!(evaluate_all(store, &ctx, 1).0, FF_CLOSED);
    let mut number = 0;
    let mut text = ptr::null_mut();
    let mut h = 0;
    let mut flag = false;
    let mut decision = ff_decision::default();
    // SAFETY: a closed but not freed store stays a valid pointer.
    unsafe {
        assert_eq!(ff_store_generation(store, &mut number), FF_CLOSED);
        assert_eq!(ff_store_fingerprint(store, &mut number), FF_CLOSED);
        assert_eq!(ff_store_reload(store), FF_CLOSED);
        assert_eq!(
            ff_store_replace_json(store, SMALL_FILE.as_ptr().cast(), SMALL_FILE.len()),
            FF_CLOSED
        );
        assert_eq!(
            ff_store_flag_names(store, &mut text, ptr::null_mut()),
            FF_CLOSED
        );
        assert_eq!(ff_store_last_reload_error(store, &mut text), FF_CLOSED);
        assert_eq!(
            ff_store_handle(store, c"alpha".as_ptr(), 5, &mut h),
            FF_CLOSED
        );
        assert_eq!(
            ff_store_is_enabled(store, c"alpha".as_ptr(), 5, &ctx, true, &mut flag),
            FF_CLOSED
        );
        assert_eq!(
            ff_store_evaluate_handles(store, &alpha, 1, &ctx, &mut decision),
            FF_CLOSED
        );
        // Closing again is harmless.
        assert_eq!(ff_store_close(store), FF_OK);
    }
    free(store);
}

#[test]
fn names_generation_fingerprint_and_version() {
    let store = from_json(SMALL_FILE);
    let mut text = ptr::null_mut();
    let mut generation = 0;
    // SAFETY: valid pointers for the call.
    let status = unsafe { ff_store_flag_names(store, &mut text, &mut generation) };
    assert_eq!(status, FF_OK);
    assert_eq!(
        (owned(text), generation),
        ("alpha\nbeta\ngamma".to_owned(), 1)
    );
    let mut fingerprint = 0;
    // SAFETY: valid pointers for the call.
    let status = unsafe { ff_store_fingerprint(store, &mut fingerprint) };
    assert_eq!(status, FF_OK);
    let expected = flags_core::Snapshot::from_json(SMALL_FILE)
        .unwrap()
        .fingerprint();
    assert_eq!(fingerprint, expected);
    // SAFETY: ff_version returns a static NUL-terminated string.
    let version = unsafe { CStr::from_ptr(ff_version()) };
    assert_eq!(version.to_str().unwrap(), env!("CARGO_PKG_VERSION"));

    let empty = from_json(r#"{"version": 1, "flags": {}}"#);
    // SAFETY: valid pointers for the call.
    let status = unsafe { ff_store_flag_names(empty, &mut text, ptr::null_mut()) };
    assert_eq!(status, FF_OK);
    assert_eq!(owned(text), "");
    free(empty);
    free(store);
}

#[test]
fn the_last_error_is_per_thread() {
    thread::spawn(|| assert!(ff_last_error().is_null(), "a fresh thread has no error"))
        .join()
        .unwrap();
    let ctx = context(None, None, 9, &[]);
    assert_eq!(evaluate(ptr::null(), "x", &ctx), Err(FF_NULL_ARGUMENT));
    thread::spawn(|| assert!(ff_last_error().is_null()))
        .join()
        .unwrap();
    assert_eq!(last_error(), "`store` is NULL");
    // Fetching does not clear it.
    assert_eq!(last_error(), "`store` is NULL");
}

fn temp_file(dir: &tempfile::TempDir, text: &str) -> CString {
    let path = dir.path().join("flags.json");
    std::fs::write(&path, text).unwrap();
    CString::new(path.to_str().unwrap()).unwrap()
}

#[test]
fn open_maps_every_load_error_to_its_status_and_text() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = ptr::null_mut();
    let missing = CString::new(dir.path().join("missing.json").to_str().unwrap()).unwrap();
    // SAFETY: valid pointers for the call.
    let status = unsafe { ff_store_open(missing.as_ptr(), FF_OPEN_NO_WATCH, &mut store) };
    assert_eq!(status, FF_FILE_ERROR);
    assert!(store.is_null());
    assert!(last_error().starts_with("cannot read flag file"));

    let invalid =
        r#"{"version": 1, "flags": {"a": {"enabled": "yes", "rollout_percentage": 120}}}"#;
    let path = temp_file(&dir, invalid);
    // SAFETY: valid pointers for the call.
    let status = unsafe { ff_store_open(path.as_ptr(), FF_OPEN_NO_WATCH, &mut store) };
    assert_eq!(status, FF_INVALID_FILE);
    assert!(store.is_null());
    // Exactly the problems `feature_flags --check` prints.
    let expected = flags_core::parse_flag_file(invalid)
        .unwrap_err()
        .to_string();
    assert!(expected.lines().count() >= 2, "{expected}");
    assert_eq!(last_error(), expected);

    let mut json_store = ptr::null_mut();
    // SAFETY: valid pointers for the call.
    let status =
        unsafe { ff_store_from_json(invalid.as_ptr().cast(), invalid.len(), &mut json_store) };
    assert_eq!((status, last_error()), (FF_INVALID_FILE, expected));

    // SAFETY: valid pointers for the call.
    let status = unsafe { ff_store_open(path.as_ptr(), 8, &mut store) };
    assert_eq!(status, FF_INVALID_ARGUMENT);
}

#[test]
fn reload_swaps_good_files_and_keeps_serving_through_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_file(&dir, SMALL_FILE);
    let mut store = ptr::null_mut();
    // SAFETY: valid pointers for the call.
    let status = unsafe { ff_store_open(path.as_ptr(), FF_OPEN_NO_WATCH, &mut store) };
    assert_eq!(status, FF_OK);
    let ctx = context(Some(1), None, 0, &[]);
    let generation = |store| {
        let mut out = 0;
        // SAFETY: valid pointers for the call.
        assert_eq!(unsafe { ff_store_generation(store, &mut out) }, FF_OK);
        out
    };
    let reload_error = |store| {
        let mut out = ptr::null_mut();
        // SAFETY: valid pointers for the call.
        let status = unsafe { ff_store_last_reload_error(store, &mut out) };
        assert_eq!(status, FF_OK);
        (!out.is_null()).then(|| owned(out))
    };
    assert_eq!((generation(store), reload_error(store)), (1, None));
    // SAFETY: a live store.
    assert_eq!(unsafe { ff_store_reload(store) }, FF_OK, "unchanged file");
    assert_eq!(generation(store), 1);

    temp_file(
        &dir,
        &SMALL_FILE.replace(
            r#""gamma": {"enabled": false}"#,
            r#""gamma": {"enabled": true}"#,
        ),
    );
    // SAFETY: a live store.
    assert_eq!(unsafe { ff_store_reload(store) }, FF_OK);
    assert_eq!(generation(store), 2);
    assert_eq!(evaluate(store, "gamma", &ctx).map(|d| d.enabled), Ok(true));

    temp_file(&dir, "{ not json");
    // SAFETY: a live store.
    assert_eq!(unsafe { ff_store_reload(store) }, FF_INVALID_FILE);
    let text = last_error();
    assert_eq!(
        reload_error(store).as_deref().map(|e| e.contains(&text)),
        Some(true),
        "{text}"
    );
    assert_eq!(generation(store), 2, "the bad file is not served");
    assert_eq!(evaluate(store, "gamma", &ctx).map(|d| d.enabled), Ok(true));

    std::fs::remove_file(dir.path().join("flags.json")).unwrap();
    // SAFETY: a live store.
    assert_eq!(unsafe { ff_store_reload(store) }, FF_FILE_ERROR);
    free(store);

    let json_store = from_json(SMALL_FILE);
    // SAFETY: a live store.
    assert_eq!(unsafe { ff_store_reload(json_store) }, FF_NO_FILE);
    assert!(last_error().contains("not opened from a file"));
    free(json_store);
}

#[test]
fn a_watched_store_reloads_by_itself_until_closed() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_file(&dir, SMALL_FILE);
    let mut store = ptr::null_mut();
    // SAFETY: valid pointers for the call.
    let status = unsafe { ff_store_open(path.as_ptr(), 0, &mut store) };
    assert_eq!(status, FF_OK);
    let ctx = context(None, None, 0, &[]);
    assert_eq!(evaluate(store, "gamma", &ctx).map(|d| d.enabled), Ok(false));

    // Replace the file the way editors and the CLI do: write, then rename.
    let next = dir.path().join("flags.json.next");
    let changed = SMALL_FILE.replace(
        r#""gamma": {"enabled": false}"#,
        r#""gamma": {"enabled": true}"#,
    );
    std::fs::write(&next, changed).unwrap();
    std::fs::rename(&next, dir.path().join("flags.json")).unwrap();
    let deadline = Instant::now() + WAIT_LIMIT;
    while evaluate(store, "gamma", &ctx).map(|d| d.enabled) != Ok(true) {
        assert!(
            Instant::now() < deadline,
            "the watcher did not reload the file"
        );
        thread::sleep(Duration::from_millis(10));
    }
    let mut generation = 0;
    // SAFETY: valid pointers for the call.
    let status = unsafe { ff_store_generation(store, &mut generation) };
    assert_eq!(status, FF_OK);
    assert_eq!(generation, 2);
    // SAFETY: a live store.
    assert_eq!(unsafe { ff_store_close(store) }, FF_OK);
    free(store);
}

/// Version `n` of a file: `n` flags, every one on exactly when `n` is even,
/// so any answer tells which version it came from.
fn version_json(n: usize) -> String {
    let flags: Vec<String> = (0..n)
        .map(|i| format!(r#""f{i}": {{"enabled": {}}}"#, n.is_multiple_of(2)))
        .collect();
    format!(r#"{{"version": 1, "flags": {{{}}}}}"#, flags.join(","))
}

#[test]
fn threads_evaluate_consistently_while_the_file_changes_and_the_store_closes() {
    const THREADS: usize = 4;
    let store = from_json(&version_json(1));
    let f0 = handle(store, "f0");
    let address = store as usize;
    let stop = AtomicBool::new(false);
    let evaluations = AtomicU64::new(0);
    let start = Barrier::new(THREADS + 1);
    thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                let store = address as *const ff_store;
                let ctx = context(Some(42), Some(-100), FF_CHAT_TYPE_GROUP, &[]);
                start.wait();
                loop {
                    let (status, bits, count, _) = evaluate_all(store, &ctx, 1);
                    if status == FF_CLOSED {
                        break;
                    }
                    assert_eq!(status, FF_OK);
                    let expected = if count % 2 == 0 {
                        (1u64 << count) - 1
                    } else {
                        0
                    };
                    assert_eq!(bits[0], expected, "bits of a {count}-flag version");
                    match evaluate_handle(store, f0, &ctx) {
                        Ok(d) => assert_eq!(
                            (d.enabled, d.reason),
                            if d.enabled {
                                (true, FF_REASON_ROLLOUT)
                            } else {
                                (false, FF_REASON_DISABLED)
                            }
                        ),
                        Err(status) => assert_eq!(status, FF_CLOSED),
                    }
                    evaluations.fetch_add(1, Ordering::Relaxed);
                }
                assert!(stop.load(Ordering::Acquire), "FF_CLOSED only after close");
            });
        }
        start.wait();
        let deadline = Instant::now() + WAIT_LIMIT;
        for n in 2..60 {
            let text = version_json(n);
            // SAFETY: a live store; other threads only read it.
            let status = unsafe { ff_store_replace_json(store, text.as_ptr().cast(), text.len()) };
            assert_eq!(status, FF_OK);
            if n % 10 == 0 {
                let bad = "{\"version\": 2}";
                // SAFETY: as above.
                let status =
                    unsafe { ff_store_replace_json(store, bad.as_ptr().cast(), bad.len()) };
                assert_eq!(status, FF_INVALID_FILE);
            }
        }
        // Let the readers run against the last version before closing.
        let seen = evaluations.load(Ordering::Relaxed);
        while evaluations.load(Ordering::Relaxed) < seen + 100 * THREADS as u64 {
            assert!(Instant::now() < deadline, "readers made no progress");
            thread::yield_now();
        }
        stop.store(true, Ordering::Release);
        // SAFETY: close is documented as safe while other threads call.
        assert_eq!(unsafe { ff_store_close(store) }, FF_OK);
    });
    assert!(evaluations.load(Ordering::Relaxed) > 0);
    let mut generation = 0;
    // SAFETY: closed but not freed.
    let status = unsafe { ff_store_generation(store, &mut generation) };
    assert_eq!(status, FF_CLOSED);
    free(store);
}

fn metrics_text(store: *const ff_store) -> String {
    let mut text = ptr::null_mut();
    // SAFETY: a live store and a writable out pointer.
    assert_eq!(unsafe { ff_store_metrics_text(store, &mut text) }, FF_OK);
    owned(text)
}

#[test]
fn metrics_text_counts_decisions_unless_counting_is_off() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_file(&dir, SMALL_FILE);
    let ctx = context(Some(1), None, 0, &[]);
    for (options, counting) in [
        (FF_OPEN_NO_WATCH, true),
        (FF_OPEN_NO_WATCH | FF_OPEN_NO_COUNTING, false),
    ] {
        let mut store = ptr::null_mut();
        // SAFETY: valid pointers for the call.
        let status = unsafe { ff_store_open(path.as_ptr(), options, &mut store) };
        assert_eq!(status, FF_OK);
        for _ in 0..3 {
            let mut out = false;
            // SAFETY: a live store, a valid context and out pointer.
            let status =
                unsafe { ff_store_is_enabled(store, c"gamma".as_ptr(), 5, &ctx, false, &mut out) };
            assert_eq!(status, FF_OK);
        }
        let text = metrics_text(store);
        assert!(text.contains("feature_flags_generation 1"), "{text}");
        let line =
            r#"feature_flags_decisions_total{flag="gamma",outcome="off",reason="disabled"} 3"#;
        assert_eq!(text.contains(line), counting, "{text}");
        // SAFETY: a live store.
        assert_eq!(unsafe { ff_store_close(store) }, FF_OK);
        let mut closed = ptr::null_mut();
        // SAFETY: a closed but not freed store.
        let status = unsafe { ff_store_metrics_text(store, &mut closed) };
        assert_eq!(status, FF_CLOSED);
        assert!(closed.is_null());
        free(store);
    }
}

// ---- Outcomes: ff_message and ff_store_complaint ---------------------------

const COHORT_FILE: &str = r#"{
  "version": 1,
  "flags": {
    "on": {"enabled": true},
    "control": {"enabled": true, "rollout_percentage": 0},
    "killed": {"enabled": false}
  }
}"#;

fn new_message() -> *mut ff_message {
    let mut msg = ptr::null_mut();
    // SAFETY: a writable out pointer.
    assert_eq!(unsafe { ff_message_new(&mut msg) }, FF_OK);
    assert!(!msg.is_null());
    msg
}

fn begin(msg: *mut ff_message, store: *const ff_store) -> u64 {
    let mut generation = 0;
    // SAFETY: a live message and store.
    let status = unsafe { ff_message_begin(msg, store, &mut generation) };
    assert_eq!(status, FF_OK, "{}", last_error());
    generation
}

fn message_is_enabled(msg: *mut ff_message, name: &str, ctx: &ff_context) -> bool {
    let mut out = false;
    // SAFETY: a live message; valid name, context and out pointer.
    let status = unsafe {
        ff_message_is_enabled(msg, name.as_ptr().cast(), name.len(), ctx, false, &mut out)
    };
    assert_eq!(status, FF_OK, "{}", last_error());
    out
}

fn record(msg: *mut ff_message, error: bool, seconds: f64) -> (ff_status, bool) {
    let mut recorded = false;
    // SAFETY: a live message and a writable out pointer.
    let status = unsafe { ff_message_record(msg, error, seconds, &mut recorded) };
    (status, recorded)
}

fn metric(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
        .parse()
        .unwrap()
}

/// A cohort's outcomes of `result`, summed over its segments (via and
/// chat type), as a `sum by (flag, cohort, result)` reads them.
fn outcomes(text: &str, flag: &str, cohort: &str, result: &str) -> u64 {
    let prefix = format!(r#"feature_flags_outcomes_total{{flag="{flag}",cohort="{cohort}",via="#);
    let suffix = format!(r#",result="{result}"}}"#);
    let values: Vec<u64> = text
        .lines()
        .filter_map(|line| line.strip_prefix(&prefix))
        .filter_map(|rest| rest.split_once(' '))
        .filter(|(labels, _)| labels.ends_with(&suffix))
        .map(|(_, value)| value.parse().unwrap())
        .collect();
    assert!(
        !values.is_empty(),
        "no outcomes of {flag} {cohort} in\n{text}"
    );
    values.iter().sum()
}

/// One segment's outcomes of `result`.
fn segment_outcomes(text: &str, flag: &str, segment: [&str; 3], result: &str) -> u64 {
    let [cohort, via, chat_type] = segment;
    metric(
        text,
        &format!(
            r#"feature_flags_outcomes_total{{flag="{flag}",cohort="{cohort}",via="{via}",chat_type="{chat_type}",result="{result}"}}"#
        ),
    )
}

#[test]
fn a_message_records_its_exposed_flags_once_in_their_cohorts() {
    let store = from_json(COHORT_FILE);
    let ctx = context(Some(5), None, 0, &[]);
    let msg = new_message();
    assert_eq!(begin(msg, store), 1);
    assert!(message_is_enabled(msg, "on", &ctx));
    assert!(!message_is_enabled(msg, "control", &ctx));
    assert!(!message_is_enabled(msg, "killed", &ctx));
    assert!(!message_is_enabled(msg, "not_there", &ctx));
    let mut decision = ff_decision {
        enabled: false,
        reason: 99,
        has_bucket: false,
        bucket: 0,
    };
    // SAFETY: valid pointers.
    let status = unsafe { ff_message_evaluate(msg, c"on".as_ptr(), 2, &ctx, &mut decision) };
    assert_eq!((status, decision.enabled), (FF_OK, true));
    assert_eq!(record(msg, true, 1.5), (FF_OK, true));
    assert_eq!(record(msg, false, 0.1), (FF_OK, false), "once per message");
    // SAFETY: NULL out_recorded is allowed.
    let status = unsafe { ff_message_record(msg, false, 0.1, ptr::null_mut()) };
    assert_eq!(status, FF_OK);

    let text = metrics_text(store);
    assert_eq!(outcomes(&text, "on", "on", "error"), 1);
    assert_eq!(outcomes(&text, "control", "off", "error"), 1);
    assert_eq!(outcomes(&text, "killed", "off", "error"), 0);
    assert_eq!(outcomes(&text, "killed", "on", "error"), 0);
    assert_eq!(outcomes(&text, "on", "on", "ok"), 0);
    let bucket = |le: &str| {
        metric(
            &text,
            &format!(
                r#"feature_flags_outcome_duration_seconds_bucket{{flag="on",cohort="on",le="{le}"}}"#
            ),
        )
    };
    assert_eq!((bucket("1"), bucket("2"), bucket("+Inf")), (0, 1, 1));

    // The next message on the same object starts clean.
    begin(msg, store);
    assert!(message_is_enabled(msg, "on", &ctx));
    assert_eq!(record(msg, false, 0.0), (FF_OK, true));
    let text = metrics_text(store);
    assert_eq!(outcomes(&text, "on", "on", "ok"), 1);
    assert_eq!(outcomes(&text, "control", "off", "ok"), 0);
    // SAFETY: from ff_message_new, freed once; NULL is a no-op.
    unsafe {
        ff_message_free(msg);
        ff_message_free(ptr::null_mut());
    }
    free(store);
}

#[test]
fn a_message_keeps_its_version_through_a_reload_and_a_close() {
    let store = from_json(COHORT_FILE);
    let ctx = context(Some(5), None, 0, &[]);
    let msg = new_message();
    begin(msg, store);
    assert!(!message_is_enabled(msg, "control", &ctx));
    let flipped = COHORT_FILE.replace("\"rollout_percentage\": 0", "\"rollout_percentage\": 100");
    // SAFETY: a live store and valid text.
    let status = unsafe { ff_store_replace_json(store, flipped.as_ptr().cast(), flipped.len()) };
    assert_eq!(status, FF_OK);
    // Still the old version: `control` stays off, in the off cohort.
    assert!(!message_is_enabled(msg, "control", &ctx));
    assert_eq!(record(msg, false, 0.2), (FF_OK, true));
    let text = metrics_text(store);
    assert_eq!(outcomes(&text, "control", "off", "ok"), 1);
    assert_eq!(outcomes(&text, "control", "on", "ok"), 0);

    begin(msg, store);
    assert!(message_is_enabled(msg, "control", &ctx));
    // SAFETY: a live store.
    assert_eq!(unsafe { ff_store_close(store) }, FF_OK);
    // A begun message keeps working after a close; a new begin does not.
    assert_eq!(record(msg, false, 0.2), (FF_OK, true));
    let mut generation = 0;
    // SAFETY: a live message and a closed store.
    let status = unsafe { ff_message_begin(msg, store, &mut generation) };
    assert_eq!(status, FF_CLOSED);
    free(store);
    // The message holds its version, not the store.
    assert_eq!(record(msg, false, 0.2), (FF_OK, false));
    // SAFETY: from ff_message_new.
    unsafe { ff_message_free(msg) };
}

/// The names that match a message's bits are its version's, not the
/// store's newer ones: a binding builds its name -> bit map from them with
/// no second evaluation after a reload.
#[test]
fn a_message_names_the_flags_of_its_own_version() {
    let store = from_json(COHORT_FILE);
    let msg = new_message();
    let names = |msg| {
        let (mut text, mut generation) = (ptr::null_mut(), 0);
        // SAFETY: a live message and writable out pointers.
        let status = unsafe { ff_message_flag_names(msg, &mut text, &mut generation) };
        assert_eq!(status, FF_OK, "{}", last_error());
        (owned(text), generation)
    };
    let mut text = ptr::null_mut();
    // SAFETY: a message never begun; a writable out pointer.
    let status = unsafe { ff_message_flag_names(msg, &mut text, ptr::null_mut()) };
    assert_eq!((status, text.is_null()), (FF_INVALID_ARGUMENT, true));
    assert!(last_error().contains("ff_message_begin"));
    begin(msg, store);
    let renamed = COHORT_FILE.replace("\"control\"", "\"renamed\"");
    // SAFETY: a live store and valid text.
    let status = unsafe { ff_store_replace_json(store, renamed.as_ptr().cast(), renamed.len()) };
    assert_eq!(status, FF_OK);
    assert_eq!(names(msg), ("on\ncontrol\nkilled".to_owned(), 1));
    begin(msg, store);
    assert_eq!(names(msg), ("on\nrenamed\nkilled".to_owned(), 2));
    // SAFETY: NULL is checked, not written.
    let status = unsafe { ff_message_flag_names(msg, ptr::null_mut(), ptr::null_mut()) };
    assert_eq!(status, FF_NULL_ARGUMENT);
    // SAFETY: from ff_message_new.
    unsafe { ff_message_free(msg) };
    free(store);
}

#[test]
fn bindings_evaluate_all_then_report_the_flags_they_asked() {
    let store = from_json(COHORT_FILE);
    let ctx = context(Some(5), None, 0, &[]);
    let msg = new_message();
    begin(msg, store);
    let (mut bits, mut control, mut count) = ([u64::MAX; 2], [u64::MAX; 2], 0usize);
    // SAFETY: two words each and a writable count.
    let status = unsafe {
        ff_message_evaluate_all(
            msg,
            &ctx,
            bits.as_mut_ptr(),
            control.as_mut_ptr(),
            2,
            &mut count,
        )
    };
    assert_eq!(status, FF_OK, "{}", last_error());
    assert_eq!((bits, control, count), ([0b001, 0], [0b010, 0], 3));
    // Nothing exposed yet: recording now would count nothing. Ask `control`
    // and `killed` (no cohort), plus a bit past the flags.
    let asked = [0b110u64 | 1 << 40];
    // SAFETY: one word.
    let status = unsafe { ff_message_expose_bits(msg, asked.as_ptr(), 1) };
    assert_eq!(status, FF_OK);
    assert_eq!(record(msg, false, 0.01), (FF_OK, true));
    let text = metrics_text(store);
    assert_eq!(outcomes(&text, "control", "off", "ok"), 1);
    assert_eq!(outcomes(&text, "on", "on", "ok"), 0);
    assert_eq!(outcomes(&text, "killed", "off", "ok"), 0);

    // Too small a buffer says what it needs.
    begin(msg, store);
    count = 0;
    // SAFETY: zero words, NULL buffers, a writable count.
    let status = unsafe {
        ff_message_evaluate_all(msg, &ctx, ptr::null_mut(), ptr::null_mut(), 0, &mut count)
    };
    assert_eq!((status, count), (FF_BUFFER_TOO_SMALL, 3));
    // SAFETY: from ff_message_new.
    unsafe { ff_message_free(msg) };
    free(store);
}

const SEGMENT_FILE: &str = r#"{
  "version": 1,
  "groups": {"beta": [7]},
  "flags": {
    "beta": {"enabled": true, "rollout_percentage": 0, "user_groups": ["beta", "staff"]},
    "everyone": {"enabled": true}
  }
}"#;

/// The segment comes from the decision the message made and the chat type
/// of its context, whether the flag was asked one by one or evaluated all
/// at once and exposed by bits (as the Python package does).
#[test]
fn a_message_counts_in_the_segment_of_its_group_and_chat_type() {
    let store = from_json(SEGMENT_FILE);
    let staff = [ff("staff")];
    // (user, chat type, groups, evaluate all then expose bits)
    let messages: [(i64, u32, &[ff_str], bool); 6] = [
        (7, FF_CHAT_TYPE_PRIVATE, &[], false),
        (7, FF_CHAT_TYPE_PRIVATE, &[], true),
        (8, FF_CHAT_TYPE_SUPERGROUP, &staff, true),
        (8, FF_CHAT_TYPE_GROUP, &[], false),
        (9, FF_CHAT_TYPE_CHANNEL, &[], true),
        (9, FF_CHAT_TYPE_NONE, &[], false),
    ];
    let msg = new_message();
    for (i, &(user, chat_type, groups, all)) in messages.iter().enumerate() {
        let ctx = context(Some(user), Some(-user), chat_type, groups);
        begin(msg, store);
        if all {
            let (mut bits, mut count) = ([0u64; 1], 0usize);
            // SAFETY: one word, no control bits, a writable count.
            let status = unsafe {
                ff_message_evaluate_all(
                    msg,
                    &ctx,
                    bits.as_mut_ptr(),
                    ptr::null_mut(),
                    1,
                    &mut count,
                )
            };
            assert_eq!(status, FF_OK, "{}", last_error());
            // SAFETY: one word.
            let status = unsafe { ff_message_expose_bits(msg, [0b11u64].as_ptr(), 1) };
            assert_eq!(status, FF_OK);
        } else {
            message_is_enabled(msg, "beta", &ctx);
            message_is_enabled(msg, "everyone", &ctx);
        }
        assert_eq!(record(msg, i % 2 == 1, 0.2), (FF_OK, true), "message {i}");
    }
    let text = metrics_text(store);
    let got = |flag, segment, result| segment_outcomes(&text, flag, segment, result);
    assert_eq!(got("beta", ["on", "group", "private"], "ok"), 1);
    assert_eq!(got("beta", ["on", "group", "private"], "error"), 1);
    assert_eq!(got("beta", ["on", "group", "supergroup"], "ok"), 1);
    assert_eq!(got("beta", ["off", "rollout", "group"], "error"), 1);
    assert_eq!(got("beta", ["off", "rollout", "channel"], "ok"), 1);
    assert_eq!(got("beta", ["off", "rollout", "none"], "error"), 1);
    assert_eq!(
        outcomes(&text, "beta", "on", "ok") + outcomes(&text, "beta", "on", "error"),
        3
    );
    assert_eq!(
        outcomes(&text, "beta", "off", "ok") + outcomes(&text, "beta", "off", "error"),
        3
    );
    // A flag on for everyone is on through the rollout, whoever asks.
    assert_eq!(got("everyone", ["on", "rollout", "private"], "ok"), 1);
    assert_eq!(got("everyone", ["on", "rollout", "private"], "error"), 1);
    assert_eq!(got("everyone", ["on", "group", "private"], "ok"), 0);
    assert_eq!(got("everyone", ["on", "rollout", "none"], "error"), 1);
    // The next message forgets the last one's chat type.
    begin(msg, store);
    let ctx = context(Some(7), None, FF_CHAT_TYPE_NONE, &[]);
    message_is_enabled(msg, "beta", &ctx);
    record(msg, false, 0.2);
    assert_eq!(
        segment_outcomes(&metrics_text(store), "beta", ["on", "group", "none"], "ok"),
        1
    );
    // SAFETY: from ff_message_new.
    unsafe { ff_message_free(msg) };
    free(store);
}

#[test]
fn bad_message_arguments_are_reported() {
    let store = from_json(COHORT_FILE);
    let ctx = context(Some(5), None, 0, &[]);
    let msg = new_message();
    // Before the first begin.
    let mut out = false;
    // SAFETY: valid pointers.
    let status = unsafe { ff_message_is_enabled(msg, c"on".as_ptr(), 2, &ctx, false, &mut out) };
    assert_eq!(status, FF_INVALID_ARGUMENT);
    assert!(last_error().contains("ff_message_begin"));
    assert_eq!(record(msg, false, 1.0).0, FF_INVALID_ARGUMENT);
    begin(msg, store);
    assert!(message_is_enabled(msg, "on", &ctx));
    for seconds in [
        -0.5,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        1e300,
        86_400.5,
        1e10,
    ] {
        assert_eq!(
            record(msg, false, seconds),
            (FF_INVALID_ARGUMENT, false),
            "{seconds}"
        );
        assert!(last_error().contains("seconds"), "{seconds}");
    }
    // A refused outcome leaves the message able to record.
    assert_eq!(record(msg, false, 1.0), (FF_OK, true));
    // NULL arguments.
    // SAFETY: NULL pointers are checked, not dereferenced.
    unsafe {
        assert_eq!(ff_message_new(ptr::null_mut()), FF_NULL_ARGUMENT);
        assert_eq!(
            ff_message_begin(ptr::null_mut(), store, ptr::null_mut()),
            FF_NULL_ARGUMENT
        );
        assert_eq!(
            ff_message_begin(msg, ptr::null(), ptr::null_mut()),
            FF_NULL_ARGUMENT
        );
        assert_eq!(
            ff_message_record(ptr::null_mut(), false, 0.0, ptr::null_mut()),
            FF_NULL_ARGUMENT
        );
        assert_eq!(
            ff_message_is_enabled(msg, ptr::null(), 2, &ctx, false, &mut out),
            FF_NULL_ARGUMENT
        );
        assert_eq!(
            ff_message_is_enabled(msg, c"on".as_ptr(), 2, ptr::null(), false, &mut out),
            FF_NULL_ARGUMENT
        );
        assert_eq!(
            ff_message_evaluate(msg, c"on".as_ptr(), 2, &ctx, ptr::null_mut()),
            FF_NULL_ARGUMENT
        );
        assert_eq!(
            ff_message_expose_bits(msg, ptr::null(), 1),
            FF_NULL_ARGUMENT
        );
        assert_eq!(
            ff_message_is_enabled(msg, c"\xff".as_ptr(), 1, &ctx, false, &mut out),
            FF_INVALID_UTF8
        );
        ff_message_free(msg);
    }
    free(store);
}

#[test]
fn complaints_count_per_flag_and_unknown_flags_are_refused() {
    let store = from_json(COHORT_FILE);
    for _ in 0..2 {
        // SAFETY: a live store and a valid name.
        let status = unsafe { ff_store_complaint(store, c"control".as_ptr(), 7) };
        assert_eq!(status, FF_OK);
    }
    // SAFETY: a live store and a valid name.
    let status = unsafe { ff_store_complaint(store, c"contrl".as_ptr(), 6) };
    assert_eq!(status, FF_UNKNOWN_FLAG);
    let error = last_error();
    assert!(
        error.contains("contrl") && error.contains("`control`"),
        "{error}"
    );
    // SAFETY: NULL is checked.
    let status = unsafe { ff_store_complaint(store, ptr::null(), 1) };
    assert_eq!(status, FF_NULL_ARGUMENT);
    let text = metrics_text(store);
    assert_eq!(
        metric(&text, r#"feature_flags_complaints_total{flag="control"}"#),
        2
    );
    assert_eq!(
        metric(&text, r#"feature_flags_complaints_total{flag="on"}"#),
        0
    );
    // SAFETY: a live store.
    assert_eq!(unsafe { ff_store_close(store) }, FF_OK);
    // SAFETY: a closed store.
    let status = unsafe { ff_store_complaint(store, c"on".as_ptr(), 2) };
    assert_eq!(status, FF_CLOSED);
    free(store);
}

#[test]
fn a_users_complaints_count_once_an_hour() {
    let store = from_json(COHORT_FILE);
    let mut counted = Vec::new();
    for user in [7, 7, 7, 8] {
        let mut was = false;
        // SAFETY: a live store, a valid name, a writable bool.
        let status =
            unsafe { ff_store_complaint_by(store, c"control".as_ptr(), 7, user, &raw mut was) };
        assert_eq!(status, FF_OK);
        counted.push(was);
    }
    assert_eq!(counted, [true, false, false, true]);
    // SAFETY: a live store; NULL out_counted is allowed.
    let status = unsafe { ff_store_complaint_by(store, c"contrl".as_ptr(), 6, 7, ptr::null_mut()) };
    assert_eq!(status, FF_UNKNOWN_FLAG);
    let text = metrics_text(store);
    assert_eq!(
        metric(&text, r#"feature_flags_complaints_total{flag="control"}"#),
        2
    );
    free(store);
}

#[test]
fn outcomes_are_counted_without_decisions_unless_switched_off() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_file(&dir, COHORT_FILE);
    let ctx = context(Some(1), None, 0, &[]);
    for (options, outcomes_counted) in [
        (FF_OPEN_NO_WATCH | FF_OPEN_NO_COUNTING, true),
        (FF_OPEN_NO_WATCH | FF_OPEN_NO_OUTCOMES, false),
    ] {
        let mut store = ptr::null_mut();
        // SAFETY: valid pointers for the call.
        let status = unsafe { ff_store_open(path.as_ptr(), options, &mut store) };
        assert_eq!(status, FF_OK);
        let msg = new_message();
        begin(msg, store);
        message_is_enabled(msg, "on", &ctx);
        assert_eq!(record(msg, false, 0.3), (FF_OK, true));
        // SAFETY: a live store.
        let status = unsafe { ff_store_complaint(store, c"on".as_ptr(), 2) };
        assert_eq!(status, FF_OK);
        let text = metrics_text(store);
        let line = r#"feature_flags_outcomes_total{flag="on",cohort="on",via="rollout",chat_type="none",result="ok"} 1"#;
        assert_eq!(text.contains(line), outcomes_counted, "{text}");
        assert_eq!(
            text.contains("complaints_total"),
            outcomes_counted,
            "{text}"
        );
        assert_eq!(
            text.contains("decisions_total"),
            !outcomes_counted,
            "{text}"
        );
        // SAFETY: from ff_message_new.
        unsafe { ff_message_free(msg) };
        free(store);
    }
}
