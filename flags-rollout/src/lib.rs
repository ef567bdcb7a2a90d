//! Rollout plans and the guard's decisions (docs/spec.md "Rollout plans and the
//! guard"): the plan model and its file `FILE.rollouts.json`, and the pure
//! function that turns a plan, its state, the window's measurements and the
//! time into hold, advance or roll back. No I/O here: the CLI reads the
//! files, takes the lock, fetches metrics and reads the clock.
//!
//! ```
//! use flags_rollout::{Plan, State, decide, Action, HoldReason};
//! use flags_rollout::measure::{Measurements, FlagWindow};
//!
//! let plan = Plan::default(); // 5:1d,25:3d,50:5d,100
//! let now: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
//! let mut state = State::pending(now);
//! state.status = flags_rollout::Status::Running;
//! let quiet = Measurements { flag: Ok(FlagWindow::default()), memory: Ok(None), evidence: None };
//! let step = decide(&plan, &state, &quiet, now);
//! assert!(matches!(step.action, Action::Hold(HoldReason::NoData { .. })));
//! ```

pub mod analysis;
pub mod control;
pub mod criteria;
pub mod decide;
pub mod duration;
pub mod file;
pub mod measure;
pub mod plan;
pub mod state;
pub mod stats;

pub use control::{abort, advance, pause, resume, start};
pub use criteria::{CriterionReading, Outcome};
pub use decide::{
    Action, Cause, FlagEdit, HoldReason, MAX_WORST, RollBackTo, Step, Worst, decide, never_raise,
    readings, rollback_target, worst,
};
pub use duration::{format_duration, parse_duration};
pub use file::{Rollout, RolloutsFile};
pub use jiff;
pub use plan::{
    Criterion, OnTrigger, Phase, Plan, SuccessSpec, Trigger, Triggers, apply_success, parse_phases,
    phases_spec,
};
pub use state::{LastDecision, Reading, State, Status, Verdict};
