//! Every "no data" hold names its trigger and why: a table, one case per
//! reason, each with the other triggers healthy so that the case's trigger
//! is the one the plan holds on.

use flags_rollout::measure::{CohortWindow, FlagWindow, Measurements, MemoryReading};
use flags_rollout::{Action, HoldReason, Plan, Trigger, decide};
use jiff::Timestamp;

mod common;
use common::{after_secs, cohort, measured_window, running, window};

/// `n` outcomes, 1 % errors, all within 0.5 s.
fn one_percent_errors(n: f64) -> CohortWindow {
    cohort(n, n / 100.0, 0.0)
}

fn healthy() -> FlagWindow {
    window(one_percent_errors(1000.0), one_percent_errors(9000.0))
}

/// The hold's trigger and its text, or a panic naming what it was instead.
fn no_data(plan: &Plan, m: &Measurements, now: Timestamp) -> (Trigger, String) {
    let step = decide(plan, &running(0), m, now);
    match &step.action {
        Action::Hold(reason @ HoldReason::NoData { trigger, .. }) => (*trigger, reason.to_string()),
        other => panic!("expected a no-data hold, got {other:?}"),
    }
}

#[test]
fn each_no_data_names_its_trigger_and_why() {
    let plan = Plan::default(); // min_samples 100, window 5 min
    let late = after_secs(3600);
    // The 357-of-50 case, as Prometheus' separate extrapolations left it:
    // the histogram claims a few more answers than the outcome counters.
    let mut extrapolated = healthy();
    extrapolated.on.duration_le = [
        0.0, 0.0, 0.0, 0.0, 1000.2, 1000.2, 1000.2, 1000.2, 1000.2, 1000.2,
    ];
    let mut not_cumulative = healthy();
    not_cumulative.off.duration_le[5] = 10.0;
    let mut nan_errors = healthy();
    nan_errors.on.errors = f64::NAN;
    nan_errors.bad.push("2 series missing".into());
    let mut nan_bucket = healthy();
    nan_bucket.on.duration_le[2] = f64::NAN;
    let mut few = healthy();
    few.on = one_percent_errors(40.0);
    let mut no_complaints = healthy();
    no_complaints.complaints_last_hour = f64::NAN;
    let no_memory = Measurements {
        memory: Ok(None),
        ..measured_window(healthy())
    };
    let zero_processes = Measurements {
        memory: Ok(Some(MemoryReading {
            max_ratio: 0.0,
            processes: 0,
        })),
        ..measured_window(healthy())
    };
    let cases: Vec<(&str, Measurements, Timestamp, Trigger, &[&str])> = vec![
        (
            "histogram above the outcomes",
            measured_window(extrapolated),
            late,
            Trigger::ResponseTime,
            &[
                "on counts disagree",
                "1000.2 answers in the duration histogram",
                "but 1000 outcomes",
            ],
        ),
        (
            "buckets not cumulative",
            measured_window(not_cumulative),
            late,
            Trigger::ResponseTime,
            &[
                "off duration buckets are not cumulative",
                "le=0.5 9000 > le=1 10",
            ],
        ),
        (
            "a count not a number, with the source's reason",
            measured_window(nan_errors),
            late,
            Trigger::ErrorRate,
            &[
                "on outcome counts are not numbers",
                "errors NaN",
                "2 series missing",
            ],
        ),
        (
            "a bucket not a number",
            measured_window(nan_bucket),
            late,
            Trigger::ResponseTime,
            &["on duration bucket le=0.1 is not a count"],
        ),
        (
            "too few outcomes",
            measured_window(few.clone()),
            late,
            Trigger::ErrorRate,
            &["too few on outcomes in the window: 40 of 100"],
        ),
        (
            "too few in a phase younger than the window",
            measured_window(few),
            after_secs(30),
            Trigger::ErrorRate,
            &[
                "40 of 100",
                "the phase is 30s old, younger than the 300s window",
            ],
        ),
        (
            "no complaints series",
            measured_window(no_complaints),
            late,
            Trigger::Complaints,
            &["no complaints series (feature_flags_complaints_total)"],
        ),
        (
            "no memory exported or no limit",
            no_memory,
            late,
            Trigger::MemoryUsage,
            &["process_resident_memory_bytes", "--memory-limit"],
        ),
        (
            "no process reported memory",
            zero_processes,
            late,
            Trigger::MemoryUsage,
            &["process_resident_memory_bytes"],
        ),
    ];
    for (name, m, now, want_trigger, want) in cases {
        let (trigger, text) = no_data(&plan, &m, now);
        assert_eq!(trigger, want_trigger, "{name}: {text}");
        assert!(
            text.starts_with(&format!("{want_trigger}: no data (")),
            "{name}: {text}"
        );
        for w in want {
            assert!(text.contains(w), "{name}: {text:?} lacks {w:?}");
        }
    }
}

#[test]
fn a_small_disagreement_within_the_slack_is_data() {
    // Counters read a moment apart: within a millionth, not a contradiction.
    let mut w = healthy();
    w.on.duration_le[9] = 1000.0 + 1e-4;
    let step = decide(
        &Plan::default(),
        &running(0),
        &measured_window(w),
        after_secs(3600),
    );
    assert!(
        !matches!(step.action, Action::Hold(HoldReason::NoData { .. })),
        "{}",
        step.action
    );
}

#[test]
fn every_trigger_without_data_is_named_not_only_the_first() {
    let mut w = healthy();
    w.on = one_percent_errors(40.0);
    w.complaints_last_hour = f64::NAN;
    let m = Measurements {
        memory: Ok(None),
        ..measured_window(w)
    };
    let (trigger, text) = no_data(&Plan::default(), &m, after_secs(3600));
    assert_eq!(trigger, Trigger::ErrorRate);
    for want in [
        "error_rate: no data (too few on outcomes in the window: 40 of 100)",
        "; response_time: no data (too few on outcomes in the window: 40 of 100)",
        "; memory_usage: no data (no process exported process_resident_memory_bytes",
        "; complaints: no data (no complaints series",
    ] {
        assert!(text.contains(want), "{text:?} lacks {want:?}");
    }
}

#[test]
fn rollbacks_name_the_worst_instances_first_at_most_three() {
    let plan = Plan::default();
    let one = |errors: f64, n: f64| {
        let mut c = one_percent_errors(n);
        c.errors = errors;
        c.ok = n - errors;
        measured_window(window(c, one_percent_errors(1000.0)))
    };
    let each = vec![
        ("a:1".to_owned(), one(1.0, 100.0)),
        ("b:1".to_owned(), one(40.0, 100.0)),
        ("c:1".to_owned(), one(5.0, 100.0)),
        ("d:1".to_owned(), one(10.0, 200.0)),
        // No outcomes of the flag: no share, never named.
        ("e:1".to_owned(), one(0.0, 0.0)),
    ];
    let worst = flags_rollout::worst(&plan, Trigger::ErrorRate, &each);
    let names: Vec<&str> = worst.iter().map(|w| w.instance.as_str()).collect();
    // c and d tie on 5 %: more samples first.
    assert_eq!(names, ["b:1", "d:1", "c:1"]);
    assert!((worst[0].value - 0.4).abs() < 1e-12 && worst[0].samples == 100.0);
    // Memory: each instance's own ratio.
    let memory = |ratio: f64| Measurements {
        memory: Ok(Some(MemoryReading {
            max_ratio: ratio,
            processes: 1,
        })),
        ..measured_window(healthy())
    };
    let each = vec![
        ("m:1".to_owned(), memory(0.3)),
        ("m:2".to_owned(), memory(0.97)),
    ];
    let worst = flags_rollout::worst(&plan, Trigger::MemoryUsage, &each);
    assert_eq!(worst[0].instance, "m:2");
    assert_eq!(worst.len(), 2);
    // A trigger the plan turned off names nobody.
    let off = Plan {
        triggers: flags_rollout::Triggers::none(),
        ..Plan::default()
    };
    assert!(flags_rollout::worst(&off, Trigger::ErrorRate, &each).is_empty());
}

#[test]
fn a_rollback_reason_carries_the_worst() {
    let plan = Plan {
        sustain: 1,
        ..Plan::default()
    };
    let failing = CohortWindow {
        ok: 600.0,
        errors: 400.0,
        ..one_percent_errors(1000.0)
    };
    let mut step = decide(
        &plan,
        &running(0),
        &measured_window(window(failing, one_percent_errors(9000.0))),
        after_secs(3600),
    );
    let Action::RollBack {
        cause: flags_rollout::Cause::Trigger { worst, .. },
        ..
    } = &mut step.action
    else {
        panic!("{:?}", step.action)
    };
    assert!(worst.is_empty(), "decide knows no instances");
    worst.push(flags_rollout::Worst {
        instance: "10.0.0.7:9100".into(),
        value: 0.8,
        samples: 500.0,
    });
    let text = step.action.to_string();
    assert!(
        text.contains("error_rate 0.4 over threshold")
            && text.ends_with("; worst: 10.0.0.7:9100 0.8 (500 samples); flag disabled"),
        "{text}"
    );
}

#[test]
fn a_sustaining_hold_names_the_other_blocking_triggers() {
    // error_rate tripped once of 2; response_time too; memory without data.
    let slow_and_failing = CohortWindow {
        ok: 600.0,
        errors: 400.0,
        duration_le: [0.0; 10],
    };
    let m = Measurements {
        memory: Ok(None),
        ..measured_window(window(slow_and_failing, one_percent_errors(9000.0)))
    };
    let step = decide(&Plan::default(), &running(0), &m, after_secs(3600));
    let text = match &step.action {
        Action::Hold(reason @ HoldReason::Sustaining { trigger, .. }) => {
            assert_eq!(*trigger, Trigger::ErrorRate);
            reason.to_string()
        }
        other => panic!("expected sustaining, got {other:?}"),
    };
    assert_eq!(
        text,
        "error_rate tripped on 1 of 2 consecutive checks; \
         response_time tripped on 1 of 2 consecutive checks; \
         memory_usage: no data (no process exported process_resident_memory_bytes \
         against a known limit (--memory-limit))",
    );
}
