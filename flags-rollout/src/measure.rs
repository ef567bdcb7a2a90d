//! What a metrics source saw, as the decision function takes it. The guard's
//! sources (scraping bots, or asking Prometheus) produce these; nothing here
//! knows where the numbers came from.

/// The bounds of `feature_flags_outcome_duration_seconds`, in seconds
/// (SPEC.md "Outcomes"); 2 s and 5 s are bounds on purpose.
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

/// One flag over its plan's window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlagWindow {
    pub on: CohortWindow,
    pub off: CohortWindow,
    /// Complaints about the flag over the last hour.
    pub complaints_last_hour: f64,
    /// `on` outcomes since the current phase started, as far as the source
    /// can tell (a scraping guard that restarted counts from its start).
    pub on_outcomes_in_phase: f64,
}

/// Resident memory over the memory limit, of the process that uses most.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemoryReading {
    pub max_ratio: f64,
    /// How many processes reported their memory.
    pub processes: usize,
}

/// Everything one check measured for one plan. An `Err` is a source that
/// could not be read: neither healthy nor failing (the plan holds).
#[derive(Debug, Clone, PartialEq)]
pub struct Measurements {
    pub flag: Result<FlagWindow, String>,
    /// `Ok(None)`: no process exports `process_resident_memory_bytes`.
    pub memory: Result<Option<MemoryReading>, String>,
}
