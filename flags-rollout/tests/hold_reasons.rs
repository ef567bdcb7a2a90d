//! Every "no data" hold names its trigger and why: a table, one case per
//! reason, each with the other triggers healthy so that the case's trigger
//! is the one the plan holds on.

use flags_rollout::measure::{CohortWindow, FlagWindow, Measurements, MemoryReading};
use flags_rollout::{Action, HoldReason, Plan, State, Status, Trigger, decide};
use jiff::{SignedDuration, Timestamp};

fn t0() -> Timestamp {
    "2026-03-01T12:00:00Z".parse().unwrap()
}

fn after(secs: i64) -> Timestamp {
    t0().checked_add(SignedDuration::from_secs(secs)).unwrap()
}

/// Running in phase 1 since `t0`.
fn running() -> State {
    let mut s = State::pending(t0());
    s.status = Status::Running;
    s
}

/// `n` outcomes, 1 % errors, all within 0.5 s.
fn cohort(n: f64) -> CohortWindow {
    CohortWindow {
        ok: n - n / 100.0,
        errors: n / 100.0,
        duration_le: [0.0, 0.0, 0.0, 0.0, n, n, n, n, n, n],
    }
}

fn flag(on: CohortWindow, off: CohortWindow) -> FlagWindow {
    FlagWindow {
        on,
        off,
        complaints_last_hour: 0.0,
        on_outcomes_in_phase: 10_000.0,
        bad: Vec::new(),
    }
}

fn with(flag: FlagWindow) -> Measurements {
    Measurements {
        flag: Ok(flag),
        memory: Ok(Some(MemoryReading {
            max_ratio: 0.5,
            processes: 2,
        })),
        evidence: None,
    }
}

fn healthy() -> FlagWindow {
    flag(cohort(1000.0), cohort(9000.0))
}

/// The hold's trigger and its text, or a panic naming what it was instead.
fn no_data(plan: &Plan, m: &Measurements, now: Timestamp) -> (Trigger, String) {
    let step = decide(plan, &running(), m, now);
    match &step.action {
        Action::Hold(reason @ HoldReason::NoData { trigger, .. }) => (*trigger, reason.to_string()),
        other => panic!("expected a no-data hold, got {other:?}"),
    }
}

#[test]
fn each_no_data_names_its_trigger_and_why() {
    let plan = Plan::default(); // min_samples 100, window 5 min
    let late = after(3600);
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
    few.on = cohort(40.0);
    let mut no_complaints = healthy();
    no_complaints.complaints_last_hour = f64::NAN;
    let no_memory = Measurements {
        memory: Ok(None),
        ..with(healthy())
    };
    let zero_processes = Measurements {
        memory: Ok(Some(MemoryReading {
            max_ratio: 0.0,
            processes: 0,
        })),
        ..with(healthy())
    };
    let cases: Vec<(&str, Measurements, Timestamp, Trigger, &[&str])> = vec![
        (
            "histogram above the outcomes",
            with(extrapolated),
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
            with(not_cumulative),
            late,
            Trigger::ResponseTime,
            &[
                "off duration buckets are not cumulative",
                "le=0.5 9000 > le=1 10",
            ],
        ),
        (
            "a count not a number, with the source's reason",
            with(nan_errors),
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
            with(nan_bucket),
            late,
            Trigger::ResponseTime,
            &["on duration bucket le=0.1 is not a count"],
        ),
        (
            "too few outcomes",
            with(few.clone()),
            late,
            Trigger::ErrorRate,
            &["too few on outcomes in the window: 40 of 100"],
        ),
        (
            "too few in a phase younger than the window",
            with(few),
            after(30),
            Trigger::ErrorRate,
            &[
                "40 of 100",
                "the phase is 30s old, younger than the 300s window",
            ],
        ),
        (
            "no complaints series",
            with(no_complaints),
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
    let step = decide(&Plan::default(), &running(), &with(w), after(3600));
    assert!(
        !matches!(step.action, Action::Hold(HoldReason::NoData { .. })),
        "{}",
        step.action
    );
}
