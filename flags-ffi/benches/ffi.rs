//! The C ABI (`flags-ffi`'s exported `ff_*` functions) called from Rust, as
//! a C or Python caller would: the per-message job per flag by name, by
//! handle, and through the batch calls. Both sides use the default store
//! options, so comparing with `per_message/*` gives the cost of crossing the
//! boundary: argument checks, the closed flag, the panic guard, converting
//! the context, and a snapshot load per call where Rust holds one per
//! message.
//!
//! It lives here, not in the `benches` crate, because calling a C ABI takes
//! `unsafe`, which the rest of the workspace forbids; `FfiStore` below keeps
//! every call behind a safe method. The fixtures are the `benches` crate's,
//! so the two sets of figures measure the same work (BENCHMARKS.md).

use std::hint::black_box;
use std::ptr;

use benches::fixtures::{MESSAGE_FLAGS, message_flags, messages};
use benches::message::FLAGS;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flags_core::Context;
use flags_ffi::{
    FF_CHAT_TYPE_NONE, FF_HAS_CHAT_ID, FF_HAS_USER_ID, FF_OK, ff_context, ff_decision, ff_store,
    ff_store_evaluate, ff_store_evaluate_all, ff_store_evaluate_handle, ff_store_evaluate_handles,
    ff_store_free, ff_store_from_json, ff_store_handle,
};

const MESSAGES: usize = 1024;
const NO_DECISION: ff_decision = ff_decision {
    enabled: false,
    reason: 0,
    has_bucket: false,
    bucket: 0,
};

/// An `ff_store` owned by the benchmark, freed on drop.
struct FfiStore(*mut ff_store);

impl FfiStore {
    fn from_json(json: &str) -> FfiStore {
        let mut store = ptr::null_mut();
        // SAFETY: `json` is valid for `json.len()` bytes during the call and
        // `store` is a writable pointer.
        let status = unsafe { ff_store_from_json(json.as_ptr().cast(), json.len(), &mut store) };
        assert_eq!(status, FF_OK);
        assert!(!store.is_null());
        FfiStore(store)
    }

    fn handle(&self, name: &str) -> u32 {
        let mut handle = u32::MAX;
        // SAFETY: the store is live until drop; `name` is valid for its
        // length; `handle` is writable.
        let status =
            unsafe { ff_store_handle(self.0, name.as_ptr().cast(), name.len(), &mut handle) };
        assert_eq!(status, FF_OK);
        handle
    }

    #[inline]
    fn evaluate(&self, name: &str, ctx: &ff_context) -> ff_decision {
        let mut out = NO_DECISION;
        // SAFETY: the store is live until drop; `name` is valid for its
        // length; `ctx` has no groups; `out` is writable.
        let status =
            unsafe { ff_store_evaluate(self.0, name.as_ptr().cast(), name.len(), ctx, &mut out) };
        debug_assert_eq!(status, FF_OK);
        out
    }

    #[inline]
    fn evaluate_handle(&self, handle: u32, ctx: &ff_context) -> ff_decision {
        let mut out = NO_DECISION;
        // SAFETY: the store is live until drop; `ctx` has no groups; `out`
        // is writable.
        let status = unsafe { ff_store_evaluate_handle(self.0, handle, ctx, &mut out) };
        debug_assert_eq!(status, FF_OK);
        out
    }

    #[inline]
    fn evaluate_handles(&self, handles: &[u32; FLAGS], ctx: &ff_context) -> [ff_decision; FLAGS] {
        let mut out = [NO_DECISION; FLAGS];
        // SAFETY: the store is live until drop; `handles` and `out` both
        // hold FLAGS entries and do not overlap; `ctx` has no groups.
        let status = unsafe {
            ff_store_evaluate_handles(self.0, handles.as_ptr(), FLAGS, ctx, out.as_mut_ptr())
        };
        debug_assert_eq!(status, FF_OK);
        out
    }

    #[inline]
    fn enabled_bits(&self, ctx: &ff_context) -> u64 {
        let mut bits = 0u64;
        let mut count = 0usize;
        // SAFETY: the store is live until drop; `bits` is one writable
        // word; `ctx` has no groups; the generation pointer may be NULL.
        let status = unsafe {
            ff_store_evaluate_all(self.0, ctx, &mut bits, 1, &mut count, ptr::null_mut())
        };
        debug_assert_eq!(status, FF_OK);
        bits
    }
}

impl Drop for FfiStore {
    fn drop(&mut self) {
        // SAFETY: made by ff_store_from_json, freed once, no other user left.
        unsafe { ff_store_free(self.0) }
    }
}

/// A message as a C caller passes it.
fn c_context(ctx: &Context<'_>) -> ff_context {
    ff_context {
        user_id: ctx.user_id.unwrap_or(0),
        chat_id: ctx.chat_id.unwrap_or(0),
        present: ctx.user_id.map_or(0, |_| FF_HAS_USER_ID)
            | ctx.chat_id.map_or(0, |_| FF_HAS_CHAT_ID),
        // FF_CHAT_TYPE_* are flags_core's ChatType numbers plus one.
        chat_type: ctx.chat_type.map_or(FF_CHAT_TYPE_NONE, |t| t as u32 + 1),
        groups: ptr::null(),
        groups_len: 0,
    }
}

fn ffi(c: &mut Criterion) {
    let text = message_flags(1000, 0);
    let store = FfiStore::from_json(&text);
    let handles = MESSAGE_FLAGS.map(|name| store.handle(name));
    let rust_store = flags_core::FlagStore::from_json(&text).expect("valid fixture");
    let rust_messages = messages(MESSAGES);
    let stream: Vec<ff_context> = rust_messages.iter().map(c_context).collect();

    // The boundary must not change a single answer.
    for (ctx, c_ctx) in rust_messages.iter().zip(&stream) {
        let mut bits = 0u64;
        for (i, name) in MESSAGE_FLAGS.iter().enumerate() {
            let expected: ff_decision = rust_store.evaluate(name, ctx).into();
            assert_eq!(store.evaluate(name, c_ctx), expected, "{name}");
            assert_eq!(store.evaluate_handle(handles[i], c_ctx), expected, "{name}");
            bits |= u64::from(expected.enabled) << i;
        }
        assert_eq!(store.enabled_bits(c_ctx), bits);
    }

    let mut group = c.benchmark_group("ffi");
    group.throughput(Throughput::Elements(1));
    let mut bench = |name: &str, job: &dyn Fn(&ff_context) -> u32| {
        group.bench_function(name, |b| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % MESSAGES;
                job(black_box(&stream[i]))
            })
        });
    };
    bench("evaluate/by_handle", &|ctx| {
        u32::from(store.evaluate_handle(handles[2], ctx).enabled)
    });
    bench("per_message/by_name", &|ctx| {
        MESSAGE_FLAGS
            .iter()
            .map(|name| u32::from(store.evaluate(name, ctx).enabled))
            .sum()
    });
    bench("per_message/by_handle", &|ctx| {
        handles
            .iter()
            .map(|&h| u32::from(store.evaluate_handle(h, ctx).enabled))
            .sum()
    });
    bench("per_message/evaluate_handles", &|ctx| {
        store
            .evaluate_handles(&handles, ctx)
            .iter()
            .map(|d| u32::from(d.enabled))
            .sum()
    });
    bench("per_message/evaluate_all_bits", &|ctx| {
        store.enabled_bits(ctx).count_ones()
    });
    group.finish();
}

criterion_group!(benches, ffi);
criterion_main!(benches);
