//! Outcomes (docs/spec.md "Outcomes"): exposure, cohorts, once per message, a
//! reload between the check and the report, exact counts across threads,
//! the histogram, complaints, and the three metric families.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use flags_core::{
    ChatType, Cohort, CohortCounts, Context, DURATION_BOUNDS, FlagStore, Message, Outcome,
    OutcomeCounts, Reason, ResultCounts, SEGMENTS, Segment, StoreOptions, Via,
};
use proptest::prelude::*;

/// One flag per evaluation step.
const FLAGS: &str = r#"{
    "version": 1,
    "groups": { "beta": [7] },
    "flags": {
        "off_switch":   { "enabled": false },
        "excluded":     { "enabled": true, "exclude_chats": [-100] },
        "private_only": { "enabled": true, "chat_types": ["private"], "rollout_percentage": 100 },
        "beta_only":    { "enabled": true, "rollout_percentage": 0, "user_groups": ["beta"] },
        "everyone":     { "enabled": true },
        "half":         { "enabled": true, "rollout_percentage": 50 },
        "nobody":       { "enabled": true, "rollout_percentage": 0 }
    }
}"#;

fn store() -> FlagStore {
    FlagStore::from_json(FLAGS).unwrap()
}

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

fn counts(store: &FlagStore, name: &str) -> OutcomeCounts {
    store.outcome_counts(name).expect(name)
}

/// A cohort's counts from ok/error numbers and a list of durations.
fn cohort_counts(ok: u64, error: u64, durations: &[Duration]) -> CohortCounts {
    let mut buckets = [0u64; DURATION_BOUNDS.len() + 1];
    for d in durations {
        for (i, bound) in DURATION_BOUNDS.iter().enumerate() {
            if d.as_secs_f64() <= *bound {
                buckets[i] += 1;
            }
        }
        buckets[DURATION_BOUNDS.len()] += 1;
    }
    CohortCounts {
        ok,
        error,
        buckets,
        sum_micros: durations.iter().map(|d| d.as_micros() as u64).sum(),
    }
}

/// Every reason, with the cohort docs/spec.md "Outcomes" gives it: `on` for any on, `off`
/// only for the rollout step's off, none for every other off.
#[test]
fn each_reason_gets_the_cohort_the_spec_gives_it() {
    let store = store();
    let cases: [(&str, Context<'static>, Reason, bool, Option<Cohort>); 9] = [
        (
            "off_switch",
            Context::new().user(1),
            Reason::Disabled,
            false,
            None,
        ),
        (
            "excluded",
            Context::new().user(1).chat(-100, ChatType::Group),
            Reason::ChatExcluded,
            false,
            None,
        ),
        (
            "private_only",
            Context::new().user(1).chat(-5, ChatType::Group),
            Reason::ChatType,
            false,
            None,
        ),
        (
            "beta_only",
            Context::new().user(7),
            Reason::Group,
            true,
            Some(Cohort::On),
        ),
        (
            "everyone",
            Context::new(),
            Reason::Rollout,
            true,
            Some(Cohort::On),
        ),
        ("half", Context::new(), Reason::MissingKey, false, None),
        (
            "nobody",
            Context::new().user(1),
            Reason::Rollout,
            false,
            Some(Cohort::Off),
        ),
        (
            "beta_only",
            Context::new().user(8),
            Reason::Rollout,
            false,
            Some(Cohort::Off),
        ),
        (
            "no_such_flag",
            Context::new().user(1),
            Reason::UnknownFlag,
            false,
            None,
        ),
    ];
    for (name, ctx, reason, enabled, cohort) in cases {
        let mut msg = store.message(ctx);
        let decision = msg.evaluate(name);
        assert_eq!(
            (decision.reason, decision.enabled),
            (reason, enabled),
            "{name}"
        );
        assert_eq!(Cohort::of(&decision), cohort, "{name}: {decision:?}");
        assert_eq!(msg.cohort(name), cohort, "{name}");
        let before = store.outcome_counts(name).unwrap_or_default();
        assert!(msg.record(Outcome::error(ms(30))));
        let after = store.outcome_counts(name).unwrap_or_default();
        let (on, off) = match cohort {
            Some(Cohort::On) => (1, 0),
            Some(Cohort::Off) => (0, 1),
            None => (0, 0),
        };
        assert_eq!(after.on.error - before.on.error, on, "{name}");
        assert_eq!(after.off.error - before.off.error, off, "{name}");
        assert_eq!(after.on.ok + after.off.ok, 0, "{name}");
        assert_eq!(after.on.count() - before.on.count(), on, "{name}");
        assert_eq!(after.off.count() - before.off.count(), off, "{name}");
    }
    // A rollout of `half` on a user id lands in one of the two cohorts.
    let (mut on, mut off) = (0, 0);
    for user in 0..200 {
        let mut msg = store.message(Context::new().user(user));
        match (msg.is_enabled("half"), msg.cohort("half")) {
            (true, Some(Cohort::On)) => on += 1,
            (false, Some(Cohort::Off)) => off += 1,
            other => panic!("user {user}: {other:?}"),
        }
        msg.record(Outcome::ok(ms(1)));
    }
    assert!(on > 50 && off > 50, "{on} {off}");
    let half = counts(&store, "half");
    assert_eq!((half.on.ok, half.off.ok), (on, off));
}

#[test]
fn only_the_flags_a_message_asked_about_are_exposed() {
    let store = store();
    let ctx = Context::new().user(1).chat(1, ChatType::Private);
    let mut msg = store.message(ctx);
    assert!(msg.is_enabled("everyone"));
    assert!(msg.is_enabled_or("private_only", false));
    // Evaluating on the snapshot, outside the message, exposes nothing.
    assert!(msg.snapshot().evaluate("nobody", &ctx).reason == Reason::Rollout);
    assert_eq!(msg.cohort("nobody"), None);
    assert!(msg.record(Outcome::ok(ms(80))));
    for name in ["everyone", "private_only"] {
        assert_eq!(
            counts(&store, name).on,
            cohort_counts(1, 0, &[ms(80)]),
            "{name}"
        );
    }
    for name in ["off_switch", "excluded", "beta_only", "half", "nobody"] {
        assert_eq!(counts(&store, name), OutcomeCounts::default(), "{name}");
    }
}

#[test]
fn asking_twice_exposes_once_and_a_message_records_once() {
    let store = store();
    let handle = store.handle("everyone");
    let mut msg = store.message(Context::new().user(3));
    assert!(msg.is_enabled("everyone"));
    assert!(msg.evaluate_handle(handle).enabled);
    assert!(msg.evaluate("everyone").enabled);
    assert!(!msg.is_recorded());
    assert!(msg.record(Outcome::ok(ms(10))));
    assert!(msg.is_recorded());
    assert!(!msg.record(Outcome::error(ms(10))));
    assert!(!msg.record(Outcome::ok(ms(10))));
    assert_eq!(
        counts(&store, "everyone").on,
        cohort_counts(1, 0, &[ms(10)])
    );
    // A message dropped without a report counts nothing.
    let mut dropped = store.message(Context::new().user(3));
    dropped.is_enabled("everyone");
    drop(dropped);
    assert_eq!(counts(&store, "everyone").on.count(), 1);
}

/// The outcome goes to the flags and cohorts of the version the message
/// checked, even after a reload that flips, moves and removes flags.
#[test]
fn a_reload_between_the_check_and_the_report_cannot_misattribute() {
    let store = store();
    let ctx = Context::new().user(1);
    let mut msg = store.message(ctx);
    let mut held = Message::new(store.snapshot_arc(), ctx);
    assert!(!msg.is_enabled("nobody"));
    assert!(msg.is_enabled("everyone"));
    assert!(!held.is_enabled("nobody"));
    // Exposed, then removed by the reload: counted where nobody looks.
    assert_eq!(held.evaluate("half").reason, Reason::Rollout);
    // `nobody` goes to 100 %, `everyone` off, and they swap places; `half`
    // is removed.
    store
        .replace_json(
            r#"{"version": 1, "flags": {
                "everyone": { "enabled": false },
                "nobody":   { "enabled": true },
                "off_switch": { "enabled": false }
            }}"#,
        )
        .unwrap();
    assert!(msg.record(Outcome::ok(ms(5))));
    assert!(held.record(Outcome::ok(ms(5))));
    assert_eq!(msg.snapshot().generation(), 1);
    let nobody = counts(&store, "nobody");
    assert_eq!((nobody.off.ok, nobody.on.ok), (2, 0), "the old cohort: off");
    let everyone = counts(&store, "everyone");
    assert_eq!(
        (everyone.on.ok, everyone.off.ok),
        (1, 0),
        "the old cohort: on"
    );
    assert_eq!(store.outcome_counts("half"), None, "removed");
    // The new version's messages count in the new cohorts.
    let mut next = store.message(ctx);
    assert!(next.is_enabled("nobody"));
    next.record(Outcome::ok(ms(5)));
    assert_eq!(counts(&store, "nobody").on.ok, 1);
}

#[test]
fn eight_threads_of_a_hundred_thousand_messages_count_exactly() {
    const THREADS: usize = 8;
    const MESSAGES: u64 = 100_000;
    let store = Arc::new(store());
    let start = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let store = Arc::clone(&store);
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                let everyone = store.handle("everyone");
                let mut reader = store.reader();
                let mut expected = [[0u64; 2]; 2]; // half: [cohort][result]
                start.wait();
                for i in 0..MESSAGES {
                    let user = (t as i64) * 1_000_000 + i as i64;
                    let mut msg = reader.message(Context::new().user(user));
                    msg.evaluate_handle(everyone);
                    let on = msg.is_enabled("half");
                    msg.is_enabled("nobody");
                    let error = i % 7 == 0;
                    let nanos = (i % 50) * 1_000_000;
                    assert!(msg.record(Outcome {
                        error,
                        duration: Duration::from_nanos(nanos),
                    }));
                    expected[usize::from(!on)][usize::from(error)] += 1;
                }
                expected
            })
        })
        .collect();
    let mut half = [[0u64; 2]; 2];
    for t in threads {
        for (total, part) in half
            .iter_mut()
            .flatten()
            .zip(t.join().unwrap().iter().flatten())
        {
            *total += part;
        }
    }
    let all = THREADS as u64 * MESSAGES;
    let errors = THREADS as u64 * MESSAGES.div_ceil(7);
    // Every thread's durations: (i % 50) ms, 2000 times each value.
    let sum_micros = THREADS as u64 * (MESSAGES / 50) * (0..50).sum::<u64>() * 1_000;
    let everyone = counts(&store, "everyone");
    assert_eq!(everyone.on.ok + everyone.on.error, all);
    assert_eq!(everyone.on.error, errors);
    assert_eq!(everyone.on.count(), all);
    assert_eq!(everyone.on.sum_micros, sum_micros);
    // 0..=25 ms in the first bucket, 26..=49 ms in the second.
    assert_eq!(
        everyone.on.buckets[0],
        THREADS as u64 * (MESSAGES / 50) * 26
    );
    assert_eq!(everyone.on.buckets[1], all);
    assert_eq!(everyone.off, CohortCounts::default());
    let nobody = counts(&store, "nobody");
    assert_eq!((nobody.off.count(), nobody.off.error), (all, errors));
    let got = counts(&store, "half");
    assert_eq!(
        [[got.on.ok, got.on.error], [got.off.ok, got.off.error]],
        half
    );
    assert!(half[0][0] > 0 && half[1][0] > 0);
    assert_eq!(got.on.count() + got.off.count(), all);
}

#[test]
fn the_histogram_has_every_bucket_a_sum_and_a_count() {
    let store = store();
    let durations: Vec<Duration> = [
        0, 25, 26, 50, 99, 100, 250, 251, 500, 999, 1000, 2000, 2001, 5000, 5001, 10_000, 30_000,
        30_001, 3_600_000,
    ]
    .into_iter()
    .map(ms)
    .collect();
    for (i, &d) in durations.iter().enumerate() {
        let mut msg = store.message(Context::new());
        msg.is_enabled("everyone");
        msg.record(Outcome {
            error: i % 2 == 1,
            duration: d,
        });
    }
    let on = counts(&store, "everyone").on;
    assert_eq!(on, cohort_counts(10, 9, &durations));
    // Read literally: 2 s and 5 s are bounds, so "slower than 5 s" is exact.
    assert_eq!(on.buckets, [2, 4, 6, 7, 9, 11, 12, 14, 16, 17, 19]);
    assert_eq!(on.count(), 19);
    let sum: f64 = durations.iter().map(Duration::as_secs_f64).sum();
    assert!((on.sum_seconds() - sum).abs() < 1e-9);
    // Sub-millisecond precision survives: durations are summed in microseconds.
    let mut msg = store.message(Context::new());
    msg.is_enabled("everyone");
    msg.record(Outcome::ok(Duration::from_micros(1)));
    assert_eq!(counts(&store, "everyone").on.sum_micros, on.sum_micros + 1);
}

#[test]
fn complaints_count_per_flag_and_unknown_flags_are_refused() {
    let store = store();
    for _ in 0..3 {
        assert!(store.complaint("half"));
    }
    assert!(store.complaint("off_switch"));
    assert!(!store.complaint("no_such_flag"));
    assert!(!store.complaint(""));
    assert_eq!(counts(&store, "half").complaints, 3);
    assert_eq!(counts(&store, "off_switch").complaints, 1);
    assert_eq!(counts(&store, "everyone").complaints, 0);
    let text = store.metrics_text();
    assert!(text.contains("\nfeature_flags_complaints_total{flag=\"half\"} 3\n"));
    assert!(!text.contains("no_such_flag"));
}

#[test]
fn a_users_complaints_count_once_an_hour_per_flag() {
    let store = store();
    for _ in 0..10 {
        assert_ne!(store.complaint_by("half", 42), None);
    }
    assert_eq!(store.complaint_by("half", 43), Some(true));
    assert_eq!(store.complaint_by("half", 43), Some(false));
    assert_eq!(store.complaint_by("off_switch", 42), Some(true));
    assert_eq!(store.complaint_by("no_such_flag", 42), None);
    assert_eq!(
        counts(&store, "half").complaints,
        2,
        "ten from one user count once"
    );
    assert_eq!(counts(&store, "off_switch").complaints, 1);
    // Anonymous complaints (no user) still count each time.
    assert!(store.complaint("half"));
    assert_eq!(counts(&store, "half").complaints, 3);
}

fn has_line(text: &str, line: &str) -> bool {
    text.lines().any(|l| l == line)
}

#[test]
fn every_series_exists_at_zero_from_the_first_load_and_leaves_with_its_flag() {
    let store = store();
    let text = store.metrics_text();
    let mut expected = Vec::new();
    for flag in ["off_switch", "half", "nobody"] {
        for (cohort, via) in [("on", "group"), ("on", "rollout"), ("off", "rollout")] {
            for chat_type in ["private", "group", "supergroup", "channel", "none"] {
                for result in ["ok", "error"] {
                    expected.push(format!(
                        "feature_flags_outcomes_total{{flag=\"{flag}\",cohort=\"{cohort}\",via=\"{via}\",chat_type=\"{chat_type}\",result=\"{result}\"}} 0"
                    ));
                }
            }
        }
        for cohort in ["on", "off"] {
            for le in [
                "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2", "5", "10", "30", "+Inf",
            ] {
                expected.push(format!(
                    "feature_flags_outcome_duration_seconds_bucket{{flag=\"{flag}\",cohort=\"{cohort}\",le=\"{le}\"}} 0"
                ));
            }
            expected.push(format!(
                "feature_flags_outcome_duration_seconds_sum{{flag=\"{flag}\",cohort=\"{cohort}\"}} 0"
            ));
            expected.push(format!(
                "feature_flags_outcome_duration_seconds_count{{flag=\"{flag}\",cohort=\"{cohort}\"}} 0"
            ));
        }
        expected.push(format!(
            "feature_flags_complaints_total{{flag=\"{flag}\"}} 0"
        ));
    }
    for line in &expected {
        assert!(has_line(&text, line), "missing {line:?} in\n{text}");
    }
    for (kind, family) in [
        ("counter", "outcomes_total"),
        ("histogram", "outcome_duration_seconds"),
        ("counter", "complaints_total"),
    ] {
        assert!(has_line(
            &text,
            &format!("# TYPE feature_flags_{family} {kind}")
        ));
    }
    // 7 flags × (30 outcome series: 3 cohort-and-via × 5 chat types × 2
    // results; 2 × 13 histogram series; 1 complaint).
    let series = |text: &str| {
        text.lines()
            .filter(|l| {
                l.starts_with("feature_flags_outcome") || l.starts_with("feature_flags_complaints")
            })
            .count()
    };
    assert_eq!(series(&text), 7 * (30 + 26 + 1));

    let mut msg = store.message(Context::new().user(1));
    msg.is_enabled("nobody");
    msg.record(Outcome::error(Duration::from_millis(1500)));
    let text = store.metrics_text();
    for line in [
        "feature_flags_outcomes_total{flag=\"nobody\",cohort=\"off\",via=\"rollout\",chat_type=\"none\",result=\"error\"} 1",
        "feature_flags_outcome_duration_seconds_bucket{flag=\"nobody\",cohort=\"off\",le=\"1\"} 0",
        "feature_flags_outcome_duration_seconds_bucket{flag=\"nobody\",cohort=\"off\",le=\"2\"} 1",
        "feature_flags_outcome_duration_seconds_bucket{flag=\"nobody\",cohort=\"off\",le=\"+Inf\"} 1",
        "feature_flags_outcome_duration_seconds_sum{flag=\"nobody\",cohort=\"off\"} 1.5",
        "feature_flags_outcome_duration_seconds_count{flag=\"nobody\",cohort=\"off\"} 1",
    ] {
        assert!(has_line(&text, line), "missing {line:?} in\n{text}");
    }

    store
        .replace_json(r#"{"version": 1, "flags": {"half": {"enabled": true}}}"#)
        .unwrap();
    let text = store.metrics_text();
    assert_eq!(series(&text), 30 + 26 + 1);
    assert!(!text.contains("flag=\"nobody\""), "{text}");
    // Back again: a new flag, from zero.
    store.replace_json(FLAGS).unwrap();
    assert_eq!(counts(&store, "nobody"), OutcomeCounts::default());
}

#[test]
fn outcomes_are_counted_without_decision_counting_unless_switched_off() {
    let without_decisions = StoreOptions::new()
        .count_decisions(false)
        .from_json(FLAGS)
        .unwrap();
    let mut msg = without_decisions.message(Context::new());
    msg.is_enabled("everyone");
    assert!(msg.record(Outcome::ok(ms(1))));
    assert!(without_decisions.complaint("everyone"));
    assert_eq!(without_decisions.decision_counts("everyone"), None);
    let counted = without_decisions.outcome_counts("everyone").unwrap();
    assert_eq!((counted.on.ok, counted.complaints), (1, 1));
    let text = without_decisions.metrics_text();
    assert!(!text.contains("decisions_total"));
    assert!(has_line(
        &text,
        "feature_flags_outcomes_total{flag=\"everyone\",cohort=\"on\",via=\"rollout\",chat_type=\"none\",result=\"ok\"} 1"
    ));

    let without_outcomes = StoreOptions::new()
        .count_outcomes(false)
        .from_json(FLAGS)
        .unwrap();
    let mut msg = without_outcomes.message(Context::new());
    msg.is_enabled("everyone");
    assert!(msg.record(Outcome::ok(ms(1))), "still once per message");
    assert!(!msg.record(Outcome::ok(ms(1))));
    assert!(without_outcomes.complaint("everyone"));
    assert!(!without_outcomes.complaint("no_such_flag"));
    assert_eq!(without_outcomes.outcome_counts("everyone"), None);
    assert!(without_outcomes.decision_counts("everyone").is_some());
    let text = without_outcomes.metrics_text();
    assert!(!text.contains("feature_flags_outcome"), "{text}");
    assert!(!text.contains("complaints"), "{text}");
}

/// Past [`flags_core::INLINE_FLAGS`], exposures spill to the heap and still
/// count exactly.
#[test]
fn files_with_more_flags_than_the_inline_bits_still_count_every_flag() {
    let flags: Vec<String> = (0..600)
        .map(|i| {
            let percentage = if i % 2 == 0 { 100 } else { 0 };
            format!(r#""f{i}": {{"enabled": true, "rollout_percentage": {percentage}}}"#)
        })
        .collect();
    let text = format!(r#"{{"version": 1, "flags": {{{}}}}}"#, flags.join(","));
    let store = FlagStore::from_json(&text).unwrap();
    let asked = [0usize, 1, 255, 256, 257, 400, 511, 512, 599];
    let mut msg = store.message(Context::new().user(9));
    for i in asked {
        assert_eq!(msg.is_enabled(&format!("f{i}")), i % 2 == 0);
    }
    assert!(msg.record(Outcome::ok(ms(2))));
    for i in 0..600 {
        let c = counts(&store, &format!("f{i}"));
        let expected = if !asked.contains(&i) {
            (0, 0)
        } else if i % 2 == 0 {
            (1, 0)
        } else {
            (0, 1)
        };
        assert_eq!((c.on.ok, c.off.ok), expected, "f{i}");
    }
}

#[test]
fn bindings_can_record_their_own_exposure_bits() {
    let store = store();
    let snapshot = store.snapshot();
    let half = snapshot.position("half").unwrap();
    let nobody = snapshot.position("nobody").unwrap();
    let everyone = snapshot.position("everyone").unwrap();
    let beta = snapshot.position("beta_only").unwrap();
    // A bit in both sets counts as `on`; bits past the flags are ignored;
    // a group bit of a flag not `on` counts nothing.
    let on = [1u64 << half | 1 << everyone | 1 << beta, u64::MAX];
    let group = [1u64 << beta | 1 << nobody];
    let off = [1u64 << nobody | 1 << everyone];
    let supergroup = Some(ChatType::Supergroup);
    snapshot.record_outcome_bits(&on, &group, &off, supergroup, Outcome::error(ms(7)));
    assert_eq!(counts(&store, "half").on.error, 1);
    assert_eq!(counts(&store, "everyone").on.error, 1);
    assert_eq!(counts(&store, "everyone").off.error, 0);
    assert_eq!(counts(&store, "nobody").off.error, 1);
    let error = ResultCounts { ok: 0, error: 1 };
    let segment = |cohort, via| Segment {
        cohort,
        via,
        chat_type: supergroup,
    };
    assert_eq!(
        counts(&store, "beta_only").segment(segment(Cohort::On, Via::Group)),
        error
    );
    assert_eq!(
        counts(&store, "half").segment(segment(Cohort::On, Via::Rollout)),
        error
    );
    assert_eq!(
        counts(&store, "nobody").segment(segment(Cohort::Off, Via::Rollout)),
        error
    );
    assert_eq!(
        counts(&store, "nobody").segment(segment(Cohort::On, Via::Group)),
        ResultCounts::default()
    );
}

/// Which step decided and the message's chat type: each outcome lands in
/// exactly one segment, the one [`Segment::of`] names, and the segments of
/// a cohort add up to its totals.
#[test]
fn each_outcome_lands_in_the_segment_of_its_decision_and_chat_type() {
    let store = store();
    // (flag, context, the segment's cohort and via; None: no cohort)
    type Case = (&'static str, Context<'static>, Option<(Cohort, Via)>);
    let cases: [Case; 10] = [
        (
            "beta_only",
            Context::new().user(7).chat(7, ChatType::Private),
            Some((Cohort::On, Via::Group)),
        ),
        (
            "beta_only",
            Context::new().user(8).chat(-8, ChatType::Supergroup),
            Some((Cohort::Off, Via::Rollout)),
        ),
        (
            "beta_only",
            Context::new().user(1).groups(&["beta"]),
            Some((Cohort::On, Via::Group)),
        ),
        // A flag at 100 % is on through the rollout step.
        (
            "everyone",
            Context::new().chat(-1, ChatType::Channel),
            Some((Cohort::On, Via::Rollout)),
        ),
        (
            "everyone",
            Context::new().user(7).chat(-2, ChatType::Group),
            Some((Cohort::On, Via::Rollout)),
        ),
        (
            "private_only",
            Context::new().user(3).chat(3, ChatType::Private),
            Some((Cohort::On, Via::Rollout)),
        ),
        ("private_only", Context::new().user(3), None),
        (
            "nobody",
            Context::new().user(5).chat(-5, ChatType::Group),
            Some((Cohort::Off, Via::Rollout)),
        ),
        ("off_switch", Context::new().user(7), None),
        ("half", Context::new().chat(-9, ChatType::Group), None),
    ];
    for (name, ctx, want) in cases {
        let before = counts(&store, name);
        let mut msg = store.message(ctx);
        let decision = msg.evaluate(name);
        let segment = Segment::of(&decision, ctx.chat_type);
        assert_eq!(segment.map(|s| (s.cohort, s.via)), want, "{name} {ctx:?}");
        assert_eq!(msg.segment(name), segment, "{name}");
        assert!(msg.record(Outcome::error(ms(40))));
        let after = counts(&store, name);
        for other in Segment::all() {
            let grew = after.segment(other).error - before.segment(other).error;
            let want = u64::from(segment == Some(other));
            assert_eq!(grew, want, "{name} {ctx:?}: {other:?}");
        }
    }
    for name in ["beta_only", "everyone", "private_only", "nobody", "half"] {
        let c = counts(&store, name);
        for cohort in Cohort::ALL {
            let (ok, error) = Segment::all()
                .filter(|s| s.cohort == cohort)
                .map(|s| c.segment(s))
                .fold((0, 0), |(ok, error), r| (ok + r.ok, error + r.error));
            assert_eq!((ok, error), (c.cohort(cohort).ok, c.cohort(cohort).error));
            assert_eq!(c.cohort(cohort).count(), ok + error, "{name}");
        }
    }
    let text = store.metrics_text();
    for line in [
        "feature_flags_outcomes_total{flag=\"beta_only\",cohort=\"on\",via=\"group\",chat_type=\"private\",result=\"error\"} 1",
        "feature_flags_outcomes_total{flag=\"beta_only\",cohort=\"on\",via=\"group\",chat_type=\"none\",result=\"error\"} 1",
        "feature_flags_outcomes_total{flag=\"beta_only\",cohort=\"off\",via=\"rollout\",chat_type=\"supergroup\",result=\"error\"} 1",
        "feature_flags_outcomes_total{flag=\"everyone\",cohort=\"on\",via=\"rollout\",chat_type=\"channel\",result=\"error\"} 1",
        "feature_flags_outcomes_total{flag=\"everyone\",cohort=\"on\",via=\"rollout\",chat_type=\"group\",result=\"error\"} 1",
        "feature_flags_outcomes_total{flag=\"everyone\",cohort=\"on\",via=\"group\",chat_type=\"group\",result=\"error\"} 0",
        // The histogram stays by cohort: both of beta_only's `on` outcomes.
        "feature_flags_outcome_duration_seconds_count{flag=\"beta_only\",cohort=\"on\"} 2",
    ] {
        assert!(has_line(&text, line), "missing {line:?} in\n{text}");
    }
    // The segments are exactly the fifteen that metrics list.
    let all: Vec<Segment> = Segment::all().collect();
    assert_eq!(all.len(), SEGMENTS);
    for (i, segment) in all.iter().enumerate() {
        assert_eq!(segment.index(), Some(i));
    }
    assert_eq!(
        Segment {
            cohort: Cohort::Off,
            via: Via::Group,
            chat_type: None
        }
        .index(),
        None
    );
}

/// The flag of kind `kind` (one per evaluation step, and rollouts between
/// 0 and 100 %), as JSON.
fn flag_of_kind(kind: u8) -> String {
    match kind % 8 {
        0 => r#"{"enabled": false}"#.into(),
        1 => r#"{"enabled": true, "exclude_chats": [-100]}"#.into(),
        2 => r#"{"enabled": true, "chat_types": ["private"]}"#.into(),
        3 => r#"{"enabled": true, "rollout_percentage": 0, "user_groups": ["beta"]}"#.into(),
        4 => r#"{"enabled": true, "rollout_percentage": 30, "bucket_by": "chat"}"#.into(),
        percentage => format!(
            r#"{{"enabled": true, "rollout_percentage": {}}}"#,
            (percentage - 5) * 50
        ),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever the file's size (past the inline exposures too), however a
    /// flag is asked (by name or handle, once or again, or not at all) and
    /// whatever decided it, one recorded outcome counts once for exactly
    /// the flags asked, each in the cohort [`Cohort::of`] its decision gives
    /// and the segment [`Segment::of`] gives (nothing in any other segment).
    #[test]
    fn a_message_counts_exactly_the_flags_it_asked_in_their_cohorts(
        kinds in prop::collection::vec(any::<u8>(), 1..700),
        asks in prop::collection::vec((any::<prop::sample::Index>(), any::<bool>()), 0..40),
        user in prop_oneof![Just(7i64), 1i64..1_000_000],
        chat in prop_oneof![Just(None), Just(Some(-100i64)), (-1_000i64..-200).prop_map(Some)],
        chat_type in prop::sample::select(vec![
            ChatType::Private, ChatType::Group, ChatType::Supergroup, ChatType::Channel,
        ]),
    ) {
        let flags: Vec<String> = kinds
            .iter()
            .enumerate()
            .map(|(i, &kind)| format!(r#""f{i}": {}"#, flag_of_kind(kind)))
            .collect();
        let text = format!(
            r#"{{"version": 1, "groups": {{"beta": [7]}}, "flags": {{{}}}}}"#,
            flags.join(",")
        );
        let store = FlagStore::from_json(&text).unwrap();
        let ctx = match chat {
            Some(chat) => Context::new().user(user).chat(chat, chat_type),
            None => Context::new().user(user),
        };
        let mut msg = store.message(ctx);
        let mut expected: Vec<Option<Option<Segment>>> = vec![None; kinds.len()];
        for (index, by_handle) in &asks {
            let i = index.index(kinds.len());
            let name = format!("f{i}");
            let decision = if *by_handle {
                msg.evaluate_handle(store.handle(&name))
            } else {
                msg.evaluate(&name)
            };
            expected[i] = Some(Segment::of(&decision, ctx.chat_type));
            prop_assert_eq!(msg.cohort(&name), Cohort::of(&decision));
            prop_assert_eq!(msg.segment(&name), Segment::of(&decision, ctx.chat_type));
        }
        prop_assert!(msg.record(Outcome::error(ms(3))));
        prop_assert!(!msg.record(Outcome::error(ms(3))));
        for (i, expected) in expected.iter().enumerate() {
            let c = counts(&store, &format!("f{i}"));
            let counted = (c.on.error, c.off.error);
            let segment = expected.flatten();
            let want = match segment.map(|s| s.cohort) {
                Some(Cohort::On) => (1, 0),
                Some(Cohort::Off) => (0, 1),
                None => (0, 0),
            };
            prop_assert_eq!(counted, want, "f{} (kind {})", i, kinds[i] % 8);
            for other in Segment::all() {
                prop_assert_eq!(
                    c.segment(other).error,
                    u64::from(segment == Some(other)),
                    "f{} {:?}", i, other
                );
            }
        }
    }
}
