//! What a metrics source saw, as the decision function takes it. The guard's
//! sources (scraping bots, or asking Prometheus) produce these; nothing here
//! knows where the numbers came from.

use jiff::{SignedDuration, Timestamp};

/// The bounds of `feature_flags_outcome_duration_seconds`, in seconds
/// (docs/spec.md "Outcomes"); 2 s and 5 s are bounds on purpose.
pub const DURATION_BOUNDS: [f64; 10] = [0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0];

/// One cohort's outcomes over the window: increases of the counters, which
/// may be fractional when they come from Prometheus' `increase()`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CohortWindow {
    pub ok: f64,
    pub errors: f64,
    /// Outcomes at or below each bound of [`DURATION_BOUNDS`] (cumulative,
    /// like Prometheus' `le` buckets); those above 30 s are
    /// `total() - duration_le[9]`.
    pub duration_le: [f64; 10],
}

impl CohortWindow {
    pub fn total(&self) -> f64 {
        self.ok + self.errors
    }
}

/// One flag over its plan's window. A count that the source could not
/// trust (a series missing, NaN, negative, infinite, or buckets that
/// contradict the counts) is NaN: no data for the triggers that use it,
/// never a zero; `bad` says why, for the log and the status page.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlagWindow {
    pub on: CohortWindow,
    pub off: CohortWindow,
    /// Complaints about the flag over the last hour.
    pub complaints_last_hour: f64,
    /// `on` outcomes since the current phase started, as far as the source
    /// can tell (a scraping guard that restarted counts from its start).
    pub on_outcomes_in_phase: f64,
    /// Why some counts are NaN (empty when all were read).
    pub bad: Vec<String>,
}

/// Resident memory over the memory limit, of the process that uses most.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemoryReading {
    pub max_ratio: f64,
    /// How many processes reported their memory.
    pub processes: usize,
}

/// How new the window's data is, so that a streak counts observations and
/// not checks: a tripped check adds to a streak only when its data is at
/// least `spacing` newer than the data of the check that last counted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evidence {
    /// When the newest sample in the window was taken (a scrape's time, or
    /// Prometheus' sample timestamp).
    pub at: Timestamp,
    /// The least time between two counted observations (the guard's
    /// interval, less a little for timing jitter).
    pub spacing: SignedDuration,
}

/// Everything one check measured for one plan. An `Err` is a source that
/// could not be read: neither healthy nor failing (the plan holds).
#[derive(Debug, Clone, PartialEq)]
pub struct Measurements {
    pub flag: Result<FlagWindow, String>,
    /// `Ok(None)`: no process exports `process_resident_memory_bytes`, or
    /// no limit is known for them.
    pub memory: Result<Option<MemoryReading>, String>,
    /// `None`: unknown, every check counts (tests, old callers).
    pub evidence: Option<Evidence>,
}
