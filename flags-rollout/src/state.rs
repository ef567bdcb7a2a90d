//! Where a plan stands: its state, phase, since when, the triggers' sustain
//! streaks and the last decision with what it was based on.

use std::fmt;

use flags_core::Percentage;
use jiff::Timestamp;

use crate::measure::CohortWindow;
use crate::plan::Trigger;

/// At most this many ended phases are kept in a plan's history (the
/// oldest go first); a `--start` begins a new history.
pub const MAX_HISTORY: usize = 100;

/// A phase's outcomes from its start, as the guard measured them: what
/// `--report` analyses without Prometheus. A count that could not be read
/// is NaN (`null` in the file); two are equal when their numbers are, NaN
/// counting as equal to NaN (a state read back equals the state written,
/// or the guard would take its own write for someone else's).
#[derive(Debug, Clone, Copy, Default)]
pub struct PhaseCounts {
    pub on: CohortWindow,
    pub off: CohortWindow,
    /// Complaints during the phase.
    pub complaints: f64,
    /// When the counts were taken.
    pub at: Option<Timestamp>,
}

impl PartialEq for PhaseCounts {
    fn eq(&self, other: &PhaseCounts) -> bool {
        let same = |a: f64, b: f64| a == b || (a.is_nan() && b.is_nan());
        let cohort = |a: &CohortWindow, b: &CohortWindow| {
            same(a.ok, b.ok)
                && same(a.errors, b.errors)
                && a.duration_le
                    .iter()
                    .zip(&b.duration_le)
                    .all(|(x, y)| same(*x, *y))
        };
        cohort(&self.on, &other.on)
            && cohort(&self.off, &other.off)
            && same(self.complaints, other.complaints)
            && self.at == other.at
    }
}

/// One phase the plan left: when, how and who decided.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseRecord {
    /// 0-based (1-based in the file).
    pub phase: usize,
    pub percentage: Percentage,
    pub from: Timestamp,
    pub to: Timestamp,
    /// `advance`, `done` or `rollback`.
    pub action: String,
    pub reason: String,
    /// Who decided: `guard` or the operator's name (empty until the step is
    /// applied).
    pub by: String,
    /// The phase's counts when the guard measured them (a person's
    /// decision carries the guard's last measurement of the phase, if any).
    pub counts: Option<PhaseCounts>,
}

/// A plan's state. `Pending` is a plan that has been set but not started
/// (the guard leaves it alone, like a paused one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Pending,
    Running,
    Paused,
    RolledBack,
    Done,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Pending,
        Status::Running,
        Status::Paused,
        Status::RolledBack,
        Status::Done,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::RolledBack => "rolled_back",
            Status::Done => "done",
        }
    }

    pub fn from_name(name: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.name() == name)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How one trigger looked on one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    Healthy,
    Tripped,
    /// Too few outcomes, or a value that is not a number: neither healthy
    /// nor failing.
    NoData,
    /// The metrics source could not be read.
    SourceError,
}

impl Verdict {
    pub const ALL: [Verdict; 4] = [
        Verdict::Healthy,
        Verdict::Tripped,
        Verdict::NoData,
        Verdict::SourceError,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Verdict::Healthy => "healthy",
            Verdict::Tripped => "tripped",
            Verdict::NoData => "no_data",
            Verdict::SourceError => "source_error",
        }
    }

    pub fn from_name(name: &str) -> Option<Verdict> {
        Verdict::ALL.into_iter().find(|v| v.name() == name)
    }
}

/// One trigger on one check: what the guard logs, shows and exports.
/// Values that do not exist (no traffic, no `off` cohort, no z for memory)
/// are NaN (`null` in the rollouts file). Two readings are equal when their
/// numbers are, NaN counting as equal to NaN (a state read back from the
/// file equals the state written).
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    pub trigger: Trigger,
    /// The `on` cohort's error share or p95 in seconds; the highest memory
    /// ratio; complaints in the last hour.
    pub on: f64,
    /// The `off` cohort's error share or p95 (NaN for memory and complaints).
    pub off: f64,
    pub threshold: f64,
    /// Outcomes of the `on` cohort in the window (processes for memory,
    /// complaints for complaints).
    pub samples: f64,
    pub off_samples: f64,
    /// The two-proportion z statistic, `on` worse than `off` when positive;
    /// NaN when not computed (too few `off` outcomes, memory, complaints).
    pub z: f64,
    pub verdict: Verdict,
}

impl PartialEq for Reading {
    fn eq(&self, other: &Reading) -> bool {
        let same = |a: f64, b: f64| a == b || (a.is_nan() && b.is_nan());
        self.trigger == other.trigger
            && self.verdict == other.verdict
            && same(self.on, other.on)
            && same(self.off, other.off)
            && same(self.threshold, other.threshold)
            && same(self.samples, other.samples)
            && same(self.off_samples, other.off_samples)
            && same(self.z, other.z)
    }
}

/// The last decision with its inputs, kept in the rollouts file so that
/// `--status` can say why a plan is where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct LastDecision {
    pub at: Timestamp,
    /// `hold`, `advance`, `done`, `rollback`, or an operator's command
    /// (`start`, `pause`, `resume`).
    pub action: String,
    /// One line for people.
    pub reason: String,
    pub readings: Vec<Reading>,
}

/// A plan's state.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    pub status: Status,
    /// The current phase, 0-based (written 1-based in the file).
    pub phase: usize,
    /// When the plan entered its status or phase; for a running plan, when
    /// its current phase (and so its hold) started.
    pub since: Timestamp,
    /// Consecutive tripped checks per trigger, in [`Trigger::ALL`] order.
    pub streaks: [u32; 4],
    /// When the data of the last check that added to a streak was taken:
    /// a later check adds only with newer data (two guards, a restart or a
    /// Prometheus slower than the guard never count one observation twice).
    pub evidence: Option<Timestamp>,
    pub last_decision: Option<LastDecision>,
    /// The phases this run of the plan left, oldest first.
    pub history: Vec<PhaseRecord>,
    /// The current phase's counts as the guard last wrote them.
    pub phase_counts: Option<PhaseCounts>,
}

impl State {
    /// A plan just set: pending at its first phase.
    pub fn pending(now: Timestamp) -> State {
        State {
            status: Status::Pending,
            phase: 0,
            since: now,
            streaks: [0; 4],
            evidence: None,
            last_decision: None,
            history: Vec::new(),
            phase_counts: None,
        }
    }

    pub fn streak(&self, trigger: Trigger) -> u32 {
        self.streaks[trigger as usize]
    }
}
