//! Decision counters and the Prometheus exposition: exact counts from many
//! threads, survival across reloads, no allocation, and the text itself.

use std::sync::{Arc, Barrier};

use flags_core::{ChatType, Context, Decision, DecisionCounts, FlagStore, Reason};

/// Heap allocations `f` makes on this thread (the counter is per thread, so
/// tests running in parallel do not disturb it).
fn allocations_in(f: impl FnOnce()) -> u64 {
    allocation_counter::measure(f).count_total
}

/// One flag per evaluation step, so each reason has a flag that gives it.
const FLAGS: &str = r#"{
    "version": 1,
    "groups": { "beta": [7] },
    "flags": {
        "off_switch":   { "enabled": false },
        "excluded":     { "enabled": true, "exclude_chats": [-100] },
        "private_only": { "enabled": true, "chat_types": ["private"] },
        "beta_only":    { "enabled": true, "rollout_percentage": 0, "user_groups": ["beta"] },
        "everyone":     { "enabled": true, "rollout_percentage": 100 },
        "half":         { "enabled": true, "rollout_percentage": 50 },
        "by_chat":      { "enabled": true, "rollout_percentage": 12.5, "bucket_by": "chat" }
    }
}"#;

fn store() -> FlagStore {
    FlagStore::from_json(FLAGS).unwrap()
}

fn user_in_group_chat(user: i64) -> Context<'static> {
    Context::new().user(user).chat(-100, ChatType::Group)
}

/// What `ctx` decides for `flag` on a store that does not count, so tests
/// can predict the counts without repeating the evaluation rules.
fn expected(flag: &str, contexts: &[Context<'_>]) -> DecisionCounts {
    let reference = FlagStore::options()
        .count_decisions(false)
        .from_json(FLAGS)
        .unwrap();
    let mut counts = DecisionCounts::default();
    for ctx in contexts {
        let d = reference.evaluate(flag, ctx);
        match (d.enabled, d.reason) {
            (false, Reason::Disabled) => counts.disabled += 1,
            (false, Reason::ChatExcluded) => counts.chat_excluded += 1,
            (false, Reason::ChatType) => counts.chat_type += 1,
            (true, Reason::Group) => counts.group += 1,
            (true, Reason::Rollout) => counts.rollout_on += 1,
            (false, Reason::Rollout) => counts.rollout_off += 1,
            (false, Reason::MissingKey) => counts.missing_key += 1,
            other => panic!("impossible decision {other:?}"),
        }
    }
    counts
}

/// A mix of contexts that reaches every reason of every flag above.
fn contexts() -> Vec<Context<'static>> {
    let mut all = vec![
        Context::new(),
        Context::new().user(7),
        Context::new().user(7).chat(-100, ChatType::Private),
        Context::new().chat_id(-5),
    ];
    all.extend((0..200).map(|u| Context::new().user(u).chat(u, ChatType::Private)));
    all.extend((0..50).map(user_in_group_chat));
    all
}

#[test]
fn counts_are_exact_after_evaluations_from_several_threads() {
    // More threads than the counters have exclusive stripes (8), so some
    // share the overflow stripe.
    const THREADS: usize = 10;
    const ROUNDS: u64 = 50;
    let store = Arc::new(store());
    let contexts = contexts();
    let start = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let store = Arc::clone(&store);
            let contexts = contexts.clone();
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                let half = store.handle("half");
                let mut all = [Decision::UNKNOWN; 8];
                let mut bits = [0u64; 1];
                start.wait();
                for _ in 0..ROUNDS {
                    for ctx in &contexts {
                        // Every path that evaluates must count, once.
                        match t % 4 {
                            0 => {
                                for name in store.snapshot().flag_names() {
                                    store.evaluate(name, ctx);
                                }
                            }
                            1 => {
                                store.snapshot().evaluate_all(ctx, &mut all);
                            }
                            2 => {
                                store.snapshot().enabled_bits(ctx, &mut bits);
                            }
                            _ => {
                                let snapshot = store.snapshot();
                                for position in 0..snapshot.len() {
                                    snapshot.evaluate_at(position, ctx);
                                }
                            }
                        }
                        store.evaluate_handle(half, ctx);
                        store.is_enabled("no_such_flag", ctx);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }

    let times = THREADS as u64 * ROUNDS;
    let scale = |c: DecisionCounts, by: u64| DecisionCounts {
        disabled: c.disabled * by,
        chat_excluded: c.chat_excluded * by,
        chat_type: c.chat_type * by,
        group: c.group * by,
        rollout_on: c.rollout_on * by,
        rollout_off: c.rollout_off * by,
        missing_key: c.missing_key * by,
    };
    for name in store.snapshot().flag_names() {
        // `half` is also evaluated by handle, once per context per thread.
        let by = if name == "half" { 2 * times } else { times };
        assert_eq!(
            store.decision_counts(name),
            Some(scale(expected(name, &contexts), by)),
            "counts of {name}"
        );
    }
    assert_eq!(
        store.unknown_flag_decisions(),
        Some(times * contexts.len() as u64)
    );
}

#[test]
fn every_reason_is_counted_under_its_own_outcome() {
    let store = store();
    let contexts = contexts();
    for ctx in &contexts {
        for name in store.snapshot().flag_names() {
            store.evaluate(name, ctx);
        }
    }
    let counts = |name| store.decision_counts(name).unwrap();
    let n = contexts.len() as u64;
    assert_eq!(counts("off_switch").disabled, n);
    // Chat -100: the 50 group-chat users and user 7 in a private chat.
    assert_eq!(counts("excluded").chat_excluded, 51);
    assert!(counts("private_only").chat_type > 0);
    // User 7 appears in four contexts.
    assert_eq!(counts("beta_only").group, 4);
    assert_eq!(counts("everyone").rollout_on, n);
    let half = counts("half");
    assert!(half.rollout_on > 0 && half.rollout_off > 0 && half.missing_key > 0);
    assert_eq!(half.on() + half.off(), n);
    assert_eq!(half.total(), n);
    assert_eq!(half.get(true, Reason::Rollout), half.rollout_on);
    assert_eq!(half.get(true, Reason::Disabled), 0);
    assert_eq!(counts("by_chat").missing_key, 2);
}

#[test]
fn counting_can_be_switched_off() {
    let store = FlagStore::options()
        .count_decisions(false)
        .from_json(FLAGS)
        .unwrap();
    assert!(store.is_enabled("everyone", &Context::new()));
    assert_eq!(store.decision_counts("everyone"), None);
    assert_eq!(store.unknown_flag_decisions(), None);
    let text = store.metrics_text();
    assert!(!text.contains("decisions_total"), "{text}");
    assert!(text.contains("feature_flags_flag_enabled{flag=\"everyone\"} 1"));
}

#[test]
fn counts_survive_reloads_while_the_flag_exists() {
    let store = store();
    let ctx = Context::new().user(1);
    let everyone = store.handle("everyone");
    for _ in 0..3 {
        store.evaluate("everyone", &ctx);
        store.evaluate("half", &ctx);
    }
    let before_half = store.decision_counts("half").unwrap();

    // A new version that keeps `everyone` (changed) and drops `half`.
    store
        .replace_json(
            r#"{"version": 1, "flags": {
                "everyone": { "enabled": true, "rollout_percentage": 90 },
                "added": { "enabled": true }
            }}"#,
        )
        .unwrap();
    assert_eq!(store.decision_counts("everyone").unwrap().rollout_on, 3);
    assert_eq!(store.decision_counts("half"), None);
    assert_eq!(
        store.decision_counts("added"),
        Some(DecisionCounts::default())
    );
    store.evaluate_handle(everyone, &ctx);
    assert_eq!(store.decision_counts("everyone").unwrap().total(), 4);

    // A failed reload changes nothing.
    assert!(store.replace_json("{ not json").is_err());
    assert_eq!(store.decision_counts("everyone").unwrap().total(), 4);

    // `half` comes back: a new flag as far as counting goes.
    store.replace_json(FLAGS).unwrap();
    assert_eq!(
        store.decision_counts("half"),
        Some(DecisionCounts::default())
    );
    assert_ne!(before_half, DecisionCounts::default());
    assert_eq!(store.decision_counts("everyone").unwrap().total(), 4);
}

#[test]
fn a_held_old_snapshot_counts_into_the_surviving_flag() {
    let store = store();
    let old = store.snapshot_arc();
    store
        .replace_json(r#"{"version": 1, "flags": { "everyone": { "enabled": true } }}"#)
        .unwrap();
    old.evaluate("everyone", &Context::new());
    assert_eq!(store.decision_counts("everyone").unwrap().rollout_on, 1);
}

#[test]
fn counting_evaluation_does_not_allocate() {
    let store = store();
    let half = store.handle("half");
    let groups = ["beta"];
    let ctx_with_groups = Context::new().user(3).groups(&groups);
    let mut all = [Decision::UNKNOWN; 8];
    let mut bits = [0u64; 1];
    let contexts = contexts();
    let mut evaluate_everything = || {
        for ctx in contexts.iter().chain([&ctx_with_groups]) {
            let snapshot = store.snapshot();
            for name in snapshot.flag_names() {
                snapshot.evaluate(name, ctx);
            }
            snapshot.evaluate_all(ctx, &mut all);
            snapshot.enabled_bits(ctx, &mut bits);
            store.evaluate_handle(half, ctx);
            store.is_enabled("no_such_flag", ctx);
        }
    };

    // The counter must be live, or "zero allocations" proves nothing.
    assert_eq!(
        allocations_in(|| drop(std::hint::black_box(Box::new(1)))),
        1
    );

    // On a fresh thread, even the first evaluation (which leases the
    // thread's counter stripe) must not allocate. arc-swap's first load on
    // a thread may allocate its debt-list node (unless an exited thread
    // left one to reuse): a one-time cost of arc-swap, not of counting, so
    // it is paid before measuring, with a load that evaluates nothing.
    let fresh = std::thread::scope(|s| {
        s.spawn(|| {
            drop(store.snapshot());
            allocations_in(|| {
                std::hint::black_box(store.is_enabled("half", &Context::new().user(1)));
            })
        })
        .join()
        .unwrap()
    });
    assert_eq!(fresh, 0, "allocations on a thread's first evaluation");

    evaluate_everything();
    assert_eq!(
        allocations_in(&mut evaluate_everything),
        0,
        "allocations per evaluation round"
    );
    assert!(store.decision_counts("half").unwrap().total() > 0);
}

#[test]
fn metrics_text_reports_reload_health_and_flag_configuration() {
    let store = store();
    let text = store.metrics_text();
    let fingerprint = format!("{:016x}", store.fingerprint());
    for line in [
        "# TYPE feature_flags_reloads_total counter",
        "feature_flags_reloads_total{result=\"success\"} 1",
        "feature_flags_reloads_total{result=\"failure\"} 0",
        "# TYPE feature_flags_last_reload_successful gauge",
        "feature_flags_last_reload_successful 1",
        "feature_flags_generation 1",
        "# TYPE feature_flags_file_info gauge",
        &format!("feature_flags_file_info{{fingerprint=\"{fingerprint}\"}} 1"),
        "feature_flags_flag_enabled{flag=\"off_switch\"} 0",
        "feature_flags_flag_enabled{flag=\"half\"} 1",
        "feature_flags_flag_rollout_percentage{flag=\"by_chat\"} 12.5",
        "feature_flags_flag_rollout_percentage{flag=\"everyone\"} 100",
        "feature_flags_decisions_total{flag=\"half\",outcome=\"on\",reason=\"rollout\"} 0",
        "feature_flags_unknown_flag_decisions_total 0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }

    assert!(store.replace_json(r#"{"version": 2}"#).is_err());
    store.is_enabled("everyone", &Context::new());
    store.is_enabled("everyone", &Context::new());
    store.is_enabled("gone", &Context::new());
    let text = store.metrics_text();
    for line in [
        "feature_flags_reloads_total{result=\"failure\"} 1",
        "feature_flags_last_reload_successful 0",
        "feature_flags_decisions_total{flag=\"everyone\",outcome=\"on\",reason=\"rollout\"} 2",
        "feature_flags_unknown_flag_decisions_total 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }

    store
        .replace_json(&FLAGS.replace("12.5", "20"))
        .expect("a valid change");
    let text = store.metrics_text();
    for line in [
        "feature_flags_reloads_total{result=\"success\"} 2",
        "feature_flags_last_reload_successful 1",
        "feature_flags_generation 2",
        "feature_flags_flag_rollout_percentage{flag=\"by_chat\"} 20",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
}

#[test]
fn last_success_timestamp_is_the_load_time_in_unix_seconds() {
    let store = store();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let text = store.metrics_text();
    let value: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("feature_flags_last_reload_success_timestamp_seconds "))
        .expect("the timestamp sample")
        .parse()
        .unwrap();
    assert!((now - value).abs() < 600.0, "{value} vs now {now}");
}

/// Every sample belongs to a family announced with `# HELP` and `# TYPE`
/// just before it, has a numeric value, and every family is unique.
#[test]
fn metrics_text_is_well_formed() {
    let store = store();
    store.is_enabled("half", &Context::new().user(5));
    let text = store.metrics_text();
    assert!(text.ends_with('\n'));
    let mut families: Vec<&str> = Vec::new();
    let mut current = "";
    let mut current_kind = "";
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap();
            assert!(!families.contains(&name), "{name} announced twice");
            families.push(name);
            current = name;
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert_eq!(name, current, "TYPE without HELP");
            assert!(matches!(kind, "counter" | "gauge" | "histogram"), "{line}");
            assert_eq!(
                kind == "counter",
                name.ends_with("_total"),
                "counters, and only counters, end in _total: {name}"
            );
            current_kind = kind;
        } else {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let mut name = series.split('{').next().unwrap();
            if current_kind == "histogram" {
                name = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|suffix| name.strip_suffix(suffix))
                    .unwrap_or_else(|| panic!("histogram sample without a suffix: {line}"));
            }
            assert_eq!(name, current, "sample outside its family: {line}");
            assert!(name.starts_with("feature_flags_"), "{line}");
            value
                .parse::<f64>()
                .unwrap_or_else(|_| panic!("value of {line}"));
        }
    }
    assert_eq!(families.len(), 12, "{families:?}");
}
