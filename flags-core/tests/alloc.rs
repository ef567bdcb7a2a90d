//! Evaluation allocates nothing, whichever API the bot calls and whichever
//! step decides (docs/spec.md, its opening: thousands of messages a second, several flags
//! each).
//!
//! `allocation_counter` installs a counting global allocator for this test
//! binary and counts per thread, so tests running in parallel do not see
//! each other's allocations. (A hand-written `GlobalAlloc` would need
//! `unsafe`, which the workspace forbids outside flags-ffi.)
//!
//! Every measurement runs after a warm-up on the same thread: the first
//! `ArcSwap` load on a thread registers its debt-list node, and per-thread
//! state (decision counter stripes) is set up once; neither is a
//! per-evaluation cost.

use std::hint::black_box;

use allocation_counter::measure;
use flags_core::{ChatType, Context, Decision, FlagStore, Handle, Reason, StoreOptions};

const FLAGS: &str = r#"{
    "version": 1,
    "groups": { "beta_testers": [111, 222, 333] },
    "flags": {
        "off": { "enabled": false },
        "excluding": { "enabled": true, "exclude_chats": [-100500, "-1001234567890"] },
        "private_only": { "enabled": true, "chat_types": ["private"] },
        "beta": { "enabled": true, "rollout_percentage": 0, "user_groups": ["beta_testers", "vip"] },
        "everyone": { "enabled": true },
        "half_by_user": { "enabled": true, "rollout_percentage": 50 },
        "half_by_chat": { "enabled": true, "rollout_percentage": 50, "bucket_by": "chat", "salt": "shared" },
        "fine": { "enabled": true, "rollout_percentage": 12.345, "salt": "shared" }
    }
}"#;

const NAMES: [&str; 9] = [
    "off",
    "excluding",
    "private_only",
    "beta",
    "everyone",
    "half_by_user",
    "half_by_chat",
    "fine",
    "not_in_the_file",
];

/// Messages that, over `NAMES`, reach every reason.
fn contexts() -> Vec<Context<'static>> {
    const VIP: &[&str] = &["vip"];
    const OTHERS: &[&str] = &["nobody", "else", "here"];
    let mut contexts = vec![
        Context::new(),
        Context::new().user(111).chat(111, ChatType::Private),
        Context::new().user(5).chat(-100500, ChatType::Supergroup),
        Context::new().user(6).chat_id(-1_001_234_567_890),
        Context::new().user(7).groups(VIP),
        Context::new()
            .user(8)
            .chat(9, ChatType::Group)
            .groups(OTHERS),
        Context::new().chat(-100123, ChatType::Channel),
        Context::new()
            .user(i64::MIN)
            .chat(i64::MAX, ChatType::Private),
    ];
    contexts.extend((0..24).map(|i| {
        Context::new()
            .user(1_000 + i * 7_919)
            .chat(-i, ChatType::Private)
    }));
    contexts
}

/// The same flags with decision counting on (the default) and off.
fn stores() -> [(&'static str, FlagStore); 2] {
    [
        ("counting", FlagStore::from_json(FLAGS).unwrap()),
        (
            "not counting",
            StoreOptions::new()
                .count_decisions(false)
                .from_json(FLAGS)
                .unwrap(),
        ),
    ]
}

/// Asserts `work` allocates nothing over many rounds, after one warm-up.
fn assert_no_allocations(what: &str, mut work: impl FnMut()) {
    work();
    let info = measure(|| {
        for _ in 0..200 {
            work();
        }
    });
    assert_eq!(
        info.count_total, 0,
        "{what} allocated {} times ({} bytes) over 200 rounds",
        info.count_total, info.bytes_total
    );
}

#[test]
fn the_counter_sees_allocations_on_this_thread() {
    // Without this, a counter that never counted would pass every test here.
    let info = measure(|| {
        black_box(Box::new(black_box(42u64)));
    });
    assert_eq!(info.count_total, 1);
    let info = measure(|| {
        black_box(format!("{}", black_box(1234)));
    });
    assert!(info.count_total >= 1);
}

#[test]
fn the_contexts_reach_every_reason() {
    let store = FlagStore::from_json(FLAGS).unwrap();
    let mut seen: Vec<Reason> = Vec::new();
    let mut outcomes = (false, false);
    for ctx in contexts() {
        for name in NAMES {
            let decision = store.evaluate(name, &ctx);
            if !seen.contains(&decision.reason) {
                seen.push(decision.reason);
            }
            if decision.reason == Reason::Rollout && decision.bucket.is_some() {
                if decision.enabled {
                    outcomes.0 = true;
                } else {
                    outcomes.1 = true;
                }
            }
        }
    }
    for reason in Reason::ALL {
        assert!(seen.contains(&reason), "no context reaches {reason}");
    }
    assert_eq!(outcomes, (true, true), "rollout both on and off");
}

#[test]
fn by_name_on_the_store_allocates_nothing() {
    for (mode, store) in stores() {
        let contexts = contexts();
        assert_no_allocations(&format!("{mode}: FlagStore::evaluate"), || {
            for ctx in &contexts {
                for name in NAMES {
                    black_box(store.evaluate(black_box(name), ctx));
                }
            }
        });
        assert_no_allocations(
            &format!("{mode}: FlagStore::is_enabled / is_enabled_or"),
            || {
                for ctx in &contexts {
                    for name in NAMES {
                        black_box(store.is_enabled(black_box(name), ctx));
                        black_box(store.is_enabled_or(black_box(name), ctx, true));
                    }
                }
            },
        );
    }
}

#[test]
fn by_handle_allocates_nothing() {
    for (mode, store) in stores() {
        let contexts = contexts();
        let handles: Vec<Handle> = NAMES.iter().map(|name| store.handle(name)).collect();
        assert_no_allocations(&format!("{mode}: FlagStore::evaluate_handle"), || {
            for ctx in &contexts {
                for &handle in &handles {
                    black_box(store.evaluate_handle(black_box(handle), ctx));
                }
            }
        });
        let mut out = vec![Decision::UNKNOWN; handles.len()];
        assert_no_allocations(&format!("{mode}: Snapshot::evaluate_handles"), || {
            let snapshot = store.snapshot();
            for ctx in &contexts {
                snapshot.evaluate_handles(&handles, ctx, &mut out);
                black_box(&out);
            }
        });
        // A handle from past the registry is `unknown_flag`, also for free.
        assert_no_allocations(&format!("{mode}: an out-of-range handle"), || {
            black_box(store.evaluate_handle(Handle::from_index(u32::MAX), &contexts[0]));
        });
    }
}

#[test]
fn one_snapshot_per_message_allocates_nothing() {
    for (mode, store) in stores() {
        let contexts = contexts();
        let mut decisions = vec![Decision::UNKNOWN; 16];
        let mut bits = [0u64; 1];
        assert_no_allocations(&format!("{mode}: Snapshot by name, batch and bits"), || {
            for ctx in &contexts {
                // What a bot does per message: one snapshot, every question on it.
                let snapshot = store.snapshot();
                for name in NAMES {
                    black_box(snapshot.evaluate(black_box(name), ctx));
                    black_box(snapshot.is_enabled(black_box(name), ctx));
                    black_box(snapshot.position(black_box(name)));
                }
                black_box(snapshot.evaluate_all(ctx, &mut decisions));
                black_box(snapshot.enabled_bits(ctx, &mut bits));
                black_box(snapshot.evaluate_at(3, ctx));
            }
        });
        assert_no_allocations(&format!("{mode}: building a context with groups"), || {
            let groups = ["beta_testers", "vip"];
            let ctx = Context::new()
                .user(black_box(111))
                .chat(black_box(-1), ChatType::Supergroup)
                .groups(&groups);
            black_box(store.evaluate("beta", &ctx));
        });
    }
}

#[test]
fn evaluation_after_a_reload_allocates_nothing() {
    for (mode, store) in stores() {
        let contexts = contexts();
        let handles: Vec<Handle> = NAMES.iter().map(|name| store.handle(name)).collect();
        let mut decisions = vec![Decision::UNKNOWN; 16];
        let reloaded = FLAGS.replace("\"rollout_percentage\": 50,", "\"rollout_percentage\": 75,");
        assert_ne!(reloaded, FLAGS);
        for text in [reloaded.as_str(), FLAGS] {
            store.replace_json(text).unwrap();
            assert_no_allocations(&format!("{mode}: evaluation on a reloaded store"), || {
                for ctx in &contexts {
                    let snapshot = store.snapshot();
                    snapshot.evaluate_all(ctx, &mut decisions);
                    for (&name, &handle) in NAMES.iter().zip(&handles) {
                        black_box(snapshot.evaluate(name, ctx));
                        black_box(store.evaluate_handle(handle, ctx));
                    }
                }
            });
        }
    }
}

#[test]
fn a_reader_allocates_nothing_even_across_reloads() {
    for (mode, store) in stores() {
        let contexts = contexts();
        let handles: Vec<Handle> = NAMES.iter().map(|name| store.handle(name)).collect();
        let mut reader = store.reader();
        assert_no_allocations(&format!("{mode}: Reader by name and handle"), || {
            for ctx in &contexts {
                for (&name, &handle) in NAMES.iter().zip(&handles) {
                    black_box(reader.evaluate(black_box(name), ctx));
                    black_box(reader.evaluate_handle(black_box(handle), ctx));
                }
            }
        });
        // Picking up a new version is a reference-count update, not an
        // allocation, on the reader's side: measured on the very first call
        // after the reload, with no warm-up.
        let other = FLAGS.replace("12.345", "12.346");
        store.replace_json(&other).unwrap();
        let generation = store.generation();
        let info = measure(|| {
            assert_eq!(reader.snapshot().generation(), generation);
            black_box(reader.is_enabled(black_box("fine"), &contexts[1]));
        });
        assert_eq!(
            info.count_total, 0,
            "{mode}: a reader picking up a reload allocated"
        );
    }
}

#[test]
fn a_message_with_its_outcome_allocates_nothing() {
    use flags_core::Outcome;
    use std::time::Duration;
    let outcome_stores = [
        ("counting", FlagStore::from_json(FLAGS).unwrap()),
        (
            "not counting decisions",
            StoreOptions::new()
                .count_decisions(false)
                .from_json(FLAGS)
                .unwrap(),
        ),
        (
            "not counting outcomes",
            StoreOptions::new()
                .count_outcomes(false)
                .from_json(FLAGS)
                .unwrap(),
        ),
    ];
    for (mode, store) in outcome_stores {
        let contexts = contexts();
        let handles: Vec<Handle> = NAMES.iter().map(|name| store.handle(name)).collect();
        let mut reader = store.reader();
        let mut round = 0u64;
        assert_no_allocations(&format!("{mode}: Message, record, complaint"), || {
            for ctx in &contexts {
                round += 1;
                // Each way of making a message: reader, store (guard), snapshot.
                let mut msg = reader.message(*ctx);
                for name in NAMES {
                    black_box(msg.is_enabled(black_box(name)));
                }
                assert!(msg.record(Outcome {
                    error: round.is_multiple_of(3),
                    duration: Duration::from_micros(round * 997),
                }));
                assert!(!msg.record(Outcome::ok(Duration::ZERO)));

                let mut msg = store.message(*ctx);
                for &handle in &handles {
                    black_box(msg.evaluate_handle(black_box(handle)));
                }
                black_box(msg.is_enabled_or("not_in_the_file", true));
                msg.record(Outcome::error(Duration::from_secs(7)));

                let snapshot = store.snapshot();
                let mut msg = snapshot.message(*ctx);
                black_box(msg.evaluate("beta"));
                msg.record(Outcome::ok(Duration::from_millis(3)));
            }
            black_box(store.complaint("beta"));
            black_box(store.complaint("not_in_the_file"));
        });
        if mode != "not counting outcomes" {
            use flags_core::{Cohort, Segment, Via};
            assert!(store.outcome_counts("everyone").unwrap().on.count() > 0);
            // The segments were counted too: a beta tester in a private chat.
            let by_group = store.outcome_counts("beta").unwrap().segment(Segment {
                cohort: Cohort::On,
                via: Via::Group,
                chat_type: Some(ChatType::Private),
            });
            assert!(by_group.ok + by_group.error > 0, "{mode}");
        }
    }
}
