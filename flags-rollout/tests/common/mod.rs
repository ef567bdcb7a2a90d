//! Builders the rollout tests share: one clock, running states, cohorts of
//! given errors and slow outcomes, and the measurements around them.

// Each test file is a crate of its own and uses only some of these.
#![allow(dead_code)]

use flags_rollout::measure::{CohortWindow, FlagWindow, Measurements, MemoryReading};
use flags_rollout::{Plan, Rollout, RolloutsFile, State, Status};
use jiff::{SignedDuration, Timestamp};

/// The time every test starts from.
pub fn t0() -> Timestamp {
    "2026-03-01T12:00:00Z".parse().unwrap()
}

pub fn after_secs(n: i64) -> Timestamp {
    t0().checked_add(SignedDuration::from_secs(n)).unwrap()
}

pub fn after_hours(n: i64) -> Timestamp {
    after_secs(n * 3600)
}

pub fn after_days(n: i64) -> Timestamp {
    after_hours(n * 24)
}

/// Running at `phase` (0-based) since `since`.
pub fn running_since(since: Timestamp, phase: usize) -> State {
    let mut s = State::pending(since);
    s.status = Status::Running;
    s.phase = phase;
    s
}

/// Running at `phase` (0-based) since `t0`.
pub fn running(phase: usize) -> State {
    running_since(t0(), phase)
}

/// `n` outcomes, `errors` of them errors, `slow` slower than 5 s (all
/// others within 0.5 s).
pub fn cohort(n: f64, errors: f64, slow: f64) -> CohortWindow {
    let fast = n - slow;
    CohortWindow {
        ok: n - errors,
        errors,
        duration_le: [0.0, 0.0, 0.0, 0.0, fast, fast, fast, fast, n, n],
    }
}

/// The two cohorts, no complaints, and enough `on` outcomes in the phase
/// for any plan's minimum.
pub fn window(on: CohortWindow, off: CohortWindow) -> FlagWindow {
    FlagWindow {
        on,
        off,
        complaints_last_hour: 0.0,
        on_outcomes_in_phase: 10_000.0,
        bad: Vec::new(),
    }
}

/// The flag's window, and the largest memory share `max_ratio` of
/// `processes` processes.
pub fn measurements(flag: FlagWindow, max_ratio: f64, processes: usize) -> Measurements {
    Measurements {
        flag: Ok(flag),
        memory: Ok(Some(MemoryReading {
            max_ratio,
            processes,
        })),
        evidence: None,
    }
}

/// The flag's window, with memory at half the limit.
pub fn measured_window(flag: FlagWindow) -> Measurements {
    measurements(flag, 0.5, 2)
}

/// The two cohorts' window, with memory at half the limit.
pub fn measured(on: CohortWindow, off: CohortWindow) -> Measurements {
    measured_window(window(on, off))
}

/// A plan with sustain 1, so one check decides.
pub fn eager() -> Plan {
    Plan {
        sustain: 1,
        ..Plan::default()
    }
}

/// Why the last decision was taken, as the log and audit name it.
pub fn last_reason(state: &State) -> &str {
    &state.last_decision.as_ref().unwrap().reason
}

/// A rollouts file of one plan, for the flag `gpt`.
pub fn one_plan(plan: Plan, state: State) -> RolloutsFile {
    let mut file = RolloutsFile::default();
    file.rollouts.insert("gpt".into(), Rollout { plan, state });
    file
}

/// The file's text, once it is known to read back as the same file and
/// to write out the same bytes again.
pub fn round_trip(file: &RolloutsFile) -> String {
    let text = file.to_text();
    let back = RolloutsFile::parse(&text).unwrap();
    assert_eq!(&back, file);
    assert_eq!(back.to_text(), text);
    text
}
