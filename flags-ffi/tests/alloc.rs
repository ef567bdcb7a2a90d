//! The evaluation calls allocate nothing (SPEC: thousands of messages a
//! second), counted by a global allocator on the calling thread. Only the
//! documented fallback — more than 16 groups in one context — allocates.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ptr;

use flags_ffi::*;

struct CountingAllocator;

thread_local! {
    // Const-initialized and without a destructor, so touching it from the
    // allocator can never allocate or recurse.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards every call to the system allocator unchanged; counting
// touches only a thread-local `Cell`.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
        // SAFETY: the caller's contract is `System.alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is `System.dealloc`'s.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn allocations_during(work: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    work();
    ALLOCATIONS.with(Cell::get) - before
}

const FILE: &str = r#"{
  "version": 1,
  "groups": {"beta_testers": [111]},
  "flags": {
    "gpt": {"enabled": true, "rollout_percentage": 10, "user_groups": ["beta_testers"], "chat_types": ["private", "group"]},
    "video": {"enabled": true, "rollout_percentage": 25, "exclude_chats": [-100987], "bucket_by": "chat"},
    "off": {"enabled": false}
  }
}"#;

fn ff(text: &str) -> ff_str {
    ff_str {
        ptr: text.as_ptr().cast(),
        len: text.len(),
    }
}

/// Runs every evaluation entry point `rounds` times with `groups`.
fn evaluate_everything(store: *const ff_store, handles: &[u32], groups: &[ff_str], rounds: i64) {
    let mut decision = ff_decision::default();
    let mut decisions = [decision; 3];
    let mut bits = [0u64; 1];
    let mut enabled = false;
    for i in 0..rounds {
        let ctx = ff_context {
            user_id: i,
            chat_id: -i,
            present: FF_HAS_USER_ID | FF_HAS_CHAT_ID,
            chat_type: FF_CHAT_TYPE_GROUP,
            groups: groups.as_ptr(),
            groups_len: groups.len(),
        };
        // SAFETY: every pointer is valid for the call.
        let statuses = unsafe {
            [
                ff_store_evaluate(store, c"gpt".as_ptr(), 3, &ctx, &mut decision),
                ff_store_is_enabled(store, c"video".as_ptr(), 5, &ctx, true, &mut enabled),
                ff_store_evaluate_handle(store, handles[0], &ctx, &mut decision),
                ff_store_evaluate_handles(
                    store,
                    handles.as_ptr(),
                    handles.len(),
                    &ctx,
                    decisions.as_mut_ptr(),
                ),
                ff_store_evaluate_all(
                    store,
                    &ctx,
                    bits.as_mut_ptr(),
                    1,
                    ptr::null_mut(),
                    ptr::null_mut(),
                ),
            ]
        };
        assert_eq!(statuses, [FF_OK; 5]);
    }
}

#[test]
fn evaluation_allocates_nothing_up_to_16_groups() {
    let mut store = ptr::null_mut();
    // SAFETY: valid text and out pointer.
    let status = unsafe { ff_store_from_json(FILE.as_ptr().cast(), FILE.len(), &mut store) };
    assert_eq!(status, FF_OK);
    let mut handles = [0u32; 3];
    for (slot, name) in handles.iter_mut().zip(["gpt", "video", "off"]) {
        // SAFETY: valid pointers for the call.
        let status = unsafe { ff_store_handle(store, name.as_ptr().cast(), name.len(), slot) };
        assert_eq!(status, FF_OK);
    }
    let names: Vec<String> = (0..17).map(|i| format!("group_{i}")).collect();
    let groups: Vec<ff_str> = names.iter().map(|n| ff(n)).collect();

    // The first load on a thread registers it with arc-swap (allocates once).
    evaluate_everything(store, &handles, &[], 1);
    for count in [0, 1, 16] {
        let allocations =
            allocations_during(|| evaluate_everything(store, &handles, &groups[..count], 1000));
        assert_eq!(allocations, 0, "with {count} groups");
    }
    let allocations = allocations_during(|| evaluate_everything(store, &handles, &groups, 10));
    assert!(
        allocations > 0,
        "17 groups take the documented allocating path"
    );
    // SAFETY: the store is used by nobody else.
    unsafe { ff_store_free(store) };
}

/// A reused `ff_message`: begin, check, record, complain, for nothing
/// after the first message.
#[test]
fn a_reused_message_allocates_nothing() {
    let mut store = ptr::null_mut();
    // SAFETY: valid text and out pointer.
    let status = unsafe { ff_store_from_json(FILE.as_ptr().cast(), FILE.len(), &mut store) };
    assert_eq!(status, FF_OK);
    let mut msg = ptr::null_mut();
    // SAFETY: a writable out pointer.
    assert_eq!(unsafe { ff_message_new(&mut msg) }, FF_OK);
    let one_message = |i: i64| {
        let ctx = ff_context {
            user_id: i,
            chat_id: -i,
            present: FF_HAS_USER_ID | FF_HAS_CHAT_ID,
            chat_type: FF_CHAT_TYPE_GROUP,
            groups: ptr::null(),
            groups_len: 0,
        };
        let (mut enabled, mut recorded) = (false, false);
        let (mut bits, mut control) = ([0u64; 1], [0u64; 1]);
        let mut decision = ff_decision::default();
        // SAFETY: every pointer is valid for the call.
        let statuses = unsafe {
            [
                ff_message_begin(msg, store, ptr::null_mut()),
                ff_message_is_enabled(msg, c"gpt".as_ptr(), 3, &ctx, false, &mut enabled),
                ff_message_evaluate(msg, c"video".as_ptr(), 5, &ctx, &mut decision),
                ff_message_evaluate_all(
                    msg,
                    &ctx,
                    bits.as_mut_ptr(),
                    control.as_mut_ptr(),
                    1,
                    ptr::null_mut(),
                ),
                ff_message_expose_bits(msg, bits.as_ptr(), 1),
                ff_message_record(msg, i % 2 == 0, 0.001 * i as f64, &mut recorded),
                ff_store_complaint(store, c"off".as_ptr(), 3),
            ]
        };
        assert_eq!(statuses, [FF_OK; 7]);
        assert!(recorded);
    };
    one_message(0);
    let allocations = allocations_during(|| (1..1000).for_each(one_message));
    assert_eq!(allocations, 0);
    // SAFETY: from ff_message_new / ff_store_from_json, used by nobody else.
    unsafe {
        ff_message_free(msg);
        ff_store_free(store);
    }
}
