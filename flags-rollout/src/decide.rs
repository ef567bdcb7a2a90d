//! The guard's decision for one plan on one check: a pure function of the
//! plan, its state, the window's measurements and the time.

use std::fmt;

use flags_core::Percentage;
use jiff::{SignedDuration, Timestamp};

use crate::criteria::{CriterionReading, Outcome, judge_phase};
use crate::measure::{CohortWindow, DURATION_BOUNDS, FlagWindow, Measurements};
use crate::plan::{OnTrigger, Plan, Trigger, fmt_number};
use crate::state::{LastDecision, MAX_HISTORY, PhaseRecord, Reading, State, Status, Verdict};
use crate::stats::{
    Z_CRITICAL, at_least, bound_at_or_above, count, histogram_quantile, slower_than,
    two_proportion_z,
};
// `usable` lives in stats, below both this module and the criteria that
// also judge counts with it; re-exported so that `decide::usable` stays
// where callers find it.
pub use crate::stats::usable;

/// The share of slow outcomes above which the p95 is slower than the
/// threshold.
pub const SLOW_SHARE: f64 = 0.05;

/// What a step does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Nothing changes but the state's streaks and last decision.
    Hold(HoldReason),
    /// To phase `to` (0-based), not the last.
    Advance {
        to: usize,
        percentage: Percentage,
    },
    /// Into the last phase: the plan is done.
    Done {
        percentage: Percentage,
    },
    RollBack {
        cause: Cause,
        to: RollBackTo,
    },
    /// Operator commands.
    Start {
        percentage: Percentage,
    },
    Pause {
        why: String,
    },
    Resume {
        percentage: Percentage,
    },
}

/// Why a plan holds where it is.
#[derive(Debug, Clone, PartialEq)]
pub enum HoldReason {
    /// The guard only moves running plans.
    NotRunning(Status),
    /// A metrics source could not be read.
    SourceError {
        trigger: Option<Trigger>,
        message: String,
    },
    /// A trigger tripped, but not yet on `sustain` consecutive checks.
    Sustaining {
        trigger: Trigger,
        streak: u32,
        sustain: u32,
        /// Every other trigger that holds the plan: tripped too, or
        /// without data (with why).
        also: Vec<String>,
    },
    /// A trigger has no verdict; `why` names what is missing (too few
    /// outcomes, n of min; which counts disagree or were not numbers; which
    /// series is absent; a phase younger than the window).
    /// `also`: every other trigger without data, each with its why (all
    /// of them block; fixing the first alone would not move the plan).
    NoData {
        trigger: Trigger,
        why: String,
        also: Vec<(Trigger, String)>,
    },
    /// Healthy, but the phase's hold lasts until then.
    HoldTime { until: Timestamp },
    /// Healthy and held long enough, but too few `on` outcomes in the phase.
    FewSamplesInPhase { seen: f64, need: u64 },
    /// Healthy and held long enough, but a success criterion is not met:
    /// neither good enough to advance nor bad enough to roll back. Only a
    /// person moves it on (`--advance`); a trigger still rolls it back.
    Inconclusive(Vec<CriterionReading>),
    /// Healthy and held long enough, but a criterion has too few outcomes
    /// in the window to be judged.
    CriterionNoData(CriterionReading),
}

/// What made a plan roll back.
#[derive(Debug, Clone, PartialEq)]
pub enum Cause {
    Trigger {
        trigger: Trigger,
        value: f64,
        threshold: f64,
        samples: f64,
        /// The instances where the trigger read worst, worst first (at most
        /// [`MAX_WORST`]): filled in by the guard, which knows its sources.
        worst: Vec<Worst>,
    },
    /// `--abort`.
    Operator,
}

/// How many instances a rollback names.
pub const MAX_WORST: usize = 3;

/// One instance's reading of a tripped trigger: a scraped process (its
/// URL) or a Prometheus `instance` label.
#[derive(Debug, Clone, PartialEq)]
pub struct Worst {
    pub instance: String,
    pub value: f64,
    pub samples: f64,
}

impl fmt::Display for Worst {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} ({} samples)",
            self.instance,
            fmt_value(self.value),
            fmt_number(self.samples.floor())
        )
    }
}

/// Where a rollback leaves the flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollBackTo {
    /// `enabled: false`.
    Disable,
    /// Back to this phase (0-based) and its percentage.
    Phase {
        index: usize,
        percentage: Percentage,
    },
}

/// The change a step makes to the flag in the flag file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlagEdit {
    pub enabled: Option<bool>,
    pub percentage: Option<Percentage>,
}

impl FlagEdit {
    pub fn is_empty(&self) -> bool {
        self.enabled.is_none() && self.percentage.is_none()
    }
}

impl Action {
    /// `hold`, `advance`, `done`, `rollback`, `start`, `pause`, `resume`.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Hold(_) => "hold",
            Action::Advance { .. } => "advance",
            Action::Done { .. } => "done",
            Action::RollBack { .. } => "rollback",
            Action::Start { .. } => "start",
            Action::Pause { .. } => "pause",
            Action::Resume { .. } => "resume",
        }
    }

    pub fn flag_edit(&self) -> FlagEdit {
        match *self {
            Action::Hold(_) | Action::Pause { .. } => FlagEdit::default(),
            Action::Advance { percentage, .. } | Action::Done { percentage } => FlagEdit {
                enabled: None,
                percentage: Some(percentage),
            },
            Action::Start { percentage } | Action::Resume { percentage } => FlagEdit {
                enabled: Some(true),
                percentage: Some(percentage),
            },
            Action::RollBack {
                to: RollBackTo::Disable,
                ..
            } => FlagEdit {
                enabled: Some(false),
                percentage: None,
            },
            Action::RollBack {
                to: RollBackTo::Phase { percentage, .. },
                ..
            } => FlagEdit {
                enabled: None,
                percentage: Some(percentage),
            },
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Hold(why) => write!(f, "hold: {why}"),
            Action::Advance { to, percentage } => {
                write!(f, "advance to phase {} ({percentage}%)", to + 1)
            }
            Action::Done { percentage } => write!(f, "done: last phase ({percentage}%) reached"),
            Action::RollBack { cause, to } => {
                write!(f, "rollback: {cause}; ")?;
                match to {
                    RollBackTo::Disable => write!(f, "flag disabled"),
                    RollBackTo::Phase { index, percentage } => {
                        write!(f, "back to phase {} ({percentage}%)", index + 1)
                    }
                }
            }
            Action::Start { percentage } => write!(f, "start at phase 1 ({percentage}%)"),
            Action::Pause { why } => write!(f, "pause: {why}"),
            Action::Resume { percentage } => write!(f, "resume at {percentage}%"),
        }
    }
}

impl fmt::Display for HoldReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HoldReason::NotRunning(status) => write!(f, "the plan is {status}, not running"),
            HoldReason::SourceError { trigger, message } => match trigger {
                Some(t) => write!(f, "{t}: metrics source error: {message}"),
                None => write!(f, "metrics source error: {message}"),
            },
            HoldReason::Sustaining {
                trigger,
                streak,
                sustain,
                also,
            } => {
                write!(
                    f,
                    "{trigger} tripped on {streak} of {sustain} consecutive checks"
                )?;
                for other in also {
                    write!(f, "; {other}")?;
                }
                Ok(())
            }
            HoldReason::NoData { trigger, why, also } => {
                write!(f, "{trigger}: no data ({why})")?;
                for (t, w) in also {
                    write!(f, "; {t}: no data ({w})")?;
                }
                Ok(())
            }
            HoldReason::HoldTime { until } => write!(f, "holding the phase until {until}"),
            HoldReason::FewSamplesInPhase { seen, need } => write!(
                f,
                "{} of {need} on outcomes seen in the phase",
                fmt_number(seen.floor())
            ),
            HoldReason::Inconclusive(unmet) => {
                let unmet: Vec<String> = unmet.iter().map(ToString::to_string).collect();
                write!(
                    f,
                    "inconclusive: {}; holds until a person decides (--advance or --abort)",
                    unmet.join("; ")
                )
            }
            HoldReason::CriterionNoData(r) => write!(f, "success criterion {r}"),
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Trigger {
                trigger,
                value,
                threshold,
                samples,
                worst,
            } => {
                write!(
                    f,
                    "{trigger} {} over threshold {} ({} samples)",
                    fmt_value(*value),
                    fmt_number(*threshold),
                    fmt_number(samples.floor())
                )?;
                if !worst.is_empty() {
                    let each: Vec<String> = worst.iter().map(ToString::to_string).collect();
                    write!(f, "; worst: {}", each.join(", "))?;
                }
                Ok(())
            }
            Cause::Operator => write!(f, "aborted by hand"),
        }
    }
}

fn fmt_value(v: f64) -> String {
    if v.is_finite() {
        format!("{}", (v * 10_000.0).round() / 10_000.0)
    } else {
        fmt_number(v)
    }
}

/// A decision: the action, the state to write, and every trigger's reading.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub action: Action,
    /// The state after the step (what the rollouts file should then say).
    pub state: State,
    pub readings: Vec<Reading>,
    /// The phase's success criteria, when they were judged (hold over and
    /// every trigger healthy).
    pub criteria: Vec<CriterionReading>,
}

/// A rollback never raises exposure: when the flag is already below the
/// previous phase (lowered by hand, or by an edit the plan did not see),
/// the step keeps the flag where it is (`current`, the flag's percentage
/// in the flag file) and says so. Other steps are returned as they are.
pub fn never_raise(mut step: Step, current: Option<Percentage>) -> Step {
    let Action::RollBack {
        to: RollBackTo::Phase { percentage, .. },
        ..
    } = &mut step.action
    else {
        return step;
    };
    if let Some(current) = current
        && current < *percentage
    {
        *percentage = current;
        let reason = step.action.to_string();
        if let Some(d) = &mut step.state.last_decision {
            d.reason = reason;
        }
    }
    step
}

/// Where a trip (or `--abort`) from `phase` leaves the flag.
pub fn rollback_target(plan: &Plan, phase: usize) -> RollBackTo {
    match plan.on_trigger {
        OnTrigger::PreviousPhase if phase > 0 => RollBackTo::Phase {
            index: phase - 1,
            percentage: plan.phases[phase - 1].percentage,
        },
        _ => RollBackTo::Disable,
    }
}

/// The guard's decision for one running plan. A plan that is not running
/// holds with its state unchanged (not even the last decision).
///
/// Rules (docs/spec.md "Rollout plans and the guard"): a trigger acts once it
/// has tripped on `sustain` consecutive observations (a healthy check resets
/// its streak; no data and source errors leave it as it was; a tripped check whose data is not
/// newer than the last counted one by the measurements' spacing leaves it
/// as it was too). Counts that are missing (NaN), negative, infinite or
/// inconsistent are no data for the triggers that read them, never zero. Otherwise the plan holds while any
/// source fails, any trigger is tripped or has no data, the hold time is
/// not over, or fewer than `min_samples` `on` outcomes were seen in the
/// phase; then the phase's success criteria are judged on the window: all
/// met, it advances (moving into the last phase makes it done); one unmet,
/// the phase is inconclusive and holds (only a trigger rolls back, only a
/// person moves it on); one without data, it holds.
pub fn decide(plan: &Plan, state: &State, measurements: &Measurements, now: Timestamp) -> Step {
    if state.status != Status::Running {
        return Step {
            action: Action::Hold(HoldReason::NotRunning(state.status)),
            state: state.clone(),
            readings: Vec::new(),
            criteria: Vec::new(),
        };
    }
    let readings = readings(plan, measurements);
    let mut next = state.clone();
    let fresh = is_fresh(state, measurements);
    let mut counted = false;
    for trigger in Trigger::ALL {
        let streak = &mut next.streaks[trigger as usize];
        match readings.iter().find(|r| r.trigger == trigger) {
            None => *streak = 0,
            Some(r) => match r.verdict {
                Verdict::Tripped if fresh => {
                    *streak = streak.saturating_add(1);
                    counted = true;
                }
                // The same observation seen again: neither more nor less
                // evidence than last time.
                Verdict::Tripped => {}
                Verdict::Healthy => *streak = 0,
                Verdict::NoData | Verdict::SourceError => {}
            },
        }
    }
    if counted {
        next.evidence = measurements.evidence.map(|e| e.at);
    }
    let with = |verdict: Verdict| readings.iter().find(move |r| r.verdict == verdict);
    let acting = readings
        .iter()
        .find(|r| r.verdict == Verdict::Tripped && next.streak(r.trigger) >= plan.sustain);
    let mut criteria = Vec::new();
    let action = if let Some(r) = acting {
        Action::RollBack {
            cause: Cause::Trigger {
                trigger: r.trigger,
                value: r.on,
                threshold: r.threshold,
                samples: r.samples,
                worst: Vec::new(),
            },
            to: rollback_target(plan, state.phase),
        }
    } else if let Some(r) = with(Verdict::SourceError) {
        Action::Hold(HoldReason::SourceError {
            trigger: Some(r.trigger),
            message: source_message(r.trigger, measurements),
        })
    } else if let Some(r) = with(Verdict::Tripped) {
        let also = readings
            .iter()
            .filter(|o| o.trigger != r.trigger)
            .filter_map(|o| match o.verdict {
                Verdict::Tripped => Some(format!(
                    "{} tripped on {} of {} consecutive checks",
                    o.trigger,
                    next.streak(o.trigger),
                    plan.sustain
                )),
                Verdict::NoData => Some(format!(
                    "{}: no data ({})",
                    o.trigger,
                    no_data_why(plan, state, o.trigger, measurements, now)
                )),
                _ => None,
            })
            .collect();
        Action::Hold(HoldReason::Sustaining {
            trigger: r.trigger,
            streak: next.streak(r.trigger),
            sustain: plan.sustain,
            also,
        })
    } else if let Some(r) = with(Verdict::NoData) {
        let also = readings
            .iter()
            .filter(|o| o.verdict == Verdict::NoData && o.trigger != r.trigger)
            .map(|o| {
                let why = no_data_why(plan, state, o.trigger, measurements, now);
                (o.trigger, why)
            })
            .collect();
        Action::Hold(HoldReason::NoData {
            trigger: r.trigger,
            why: no_data_why(plan, state, r.trigger, measurements, now),
            also,
        })
    } else {
        let (action, judged) = progress(plan, state, measurements, now);
        criteria = judged;
        action
    };
    let mut step = finish(plan, next, action, readings, now);
    step.criteria = criteria;
    step
}

/// How far the counted data time may lie ahead of this check's before it
/// is taken for another clock (a guard on a host whose clock runs ahead)
/// rather than a race between two guards: counting then beats freezing
/// every streak until this clock catches up.
const CLOCK_SKEW: SignedDuration = SignedDuration::from_secs(60);

/// Whether this check's data is a new observation for the streaks: at
/// least `spacing` newer than the data of the check that last counted.
fn is_fresh(state: &State, measurements: &Measurements) -> bool {
    let (Some(now), Some(before)) = (measurements.evidence, state.evidence) else {
        return true;
    };
    if now
        .at
        .checked_add(CLOCK_SKEW.max(now.spacing * 4))
        .is_ok_and(|t| t < before)
    {
        return true;
    }
    match before.checked_add(now.spacing) {
        Ok(due) => now.at > before && now.at >= due,
        Err(_) => false,
    }
}

/// A healthy plan: done, advance, or hold for time, samples or its
/// success criteria (with the criteria's readings, when judged).
fn progress(
    plan: &Plan,
    state: &State,
    measurements: &Measurements,
    now: Timestamp,
) -> (Action, Vec<CriterionReading>) {
    let phase = state.phase;
    if plan.is_last(phase) {
        let percentage = plan.phases[plan.phases.len() - 1].percentage;
        return (Action::Done { percentage }, Vec::new());
    }
    let hold = plan.phases[phase].hold.unwrap_or_default();
    let until = state.since.checked_add(hold).unwrap_or(Timestamp::MAX);
    if now < until {
        return (Action::Hold(HoldReason::HoldTime { until }), Vec::new());
    }
    let window = match &measurements.flag {
        Ok(window) => window,
        Err(message) => {
            let why = HoldReason::SourceError {
                trigger: None,
                message: message.clone(),
            };
            return (Action::Hold(why), Vec::new());
        }
    };
    let seen = window.on_outcomes_in_phase;
    // An infinite count is garbage, not plenty.
    if !seen.is_finite() || !at_least(seen, plan.min_samples as f64) {
        let why = HoldReason::FewSamplesInPhase {
            seen,
            need: plan.min_samples,
        };
        return (Action::Hold(why), Vec::new());
    }
    let judged = judge_phase(plan, phase, window);
    let unmet: Vec<CriterionReading> = judged
        .iter()
        .filter(|r| r.outcome == Outcome::Unmet)
        .copied()
        .collect();
    if !unmet.is_empty() {
        return (Action::Hold(HoldReason::Inconclusive(unmet)), judged);
    }
    if let Some(r) = judged.iter().find(|r| r.outcome == Outcome::NoData) {
        return (Action::Hold(HoldReason::CriterionNoData(*r)), judged);
    }
    let to = phase + 1;
    let percentage = plan.phases[to].percentage;
    let action = if plan.is_last(to) {
        Action::Done { percentage }
    } else {
        Action::Advance { to, percentage }
    };
    (action, judged)
}

/// The state after `action`, with the decision recorded.
pub(crate) fn finish(
    plan: &Plan,
    mut next: State,
    action: Action,
    readings: Vec<Reading>,
    now: Timestamp,
) -> Step {
    // A phase that ends (by the plan moving on or rolling back) joins the
    // history, with the counts measured in it.
    if matches!(
        action,
        Action::Advance { .. } | Action::Done { .. } | Action::RollBack { .. }
    ) && next.status != Status::Done
    {
        let record = PhaseRecord {
            phase: next.phase,
            percentage: plan.phases[next.phase.min(plan.phases.len() - 1)].percentage,
            from: next.since,
            to: now,
            action: action.name().to_owned(),
            reason: action.to_string(),
            by: String::new(),
            counts: next.phase_counts.take(),
        };
        next.history.push(record);
        if next.history.len() > MAX_HISTORY {
            next.history.remove(0);
        }
    }
    match action {
        Action::Start { .. } => {
            next.history.clear();
            next.phase_counts = None;
        }
        Action::Advance { .. }
        | Action::Done { .. }
        | Action::RollBack { .. }
        | Action::Resume { .. } => next.phase_counts = None,
        Action::Hold(_) | Action::Pause { .. } => {}
    }
    let moved = |next: &mut State, status: Status, phase: usize| {
        next.status = status;
        next.phase = phase;
        next.since = now;
        next.streaks = [0; 4];
    };
    match &action {
        Action::Hold(_) => {}
        Action::Advance { to, .. } => moved(&mut next, Status::Running, *to),
        Action::Done { .. } => moved(&mut next, Status::Done, plan.phases.len() - 1),
        Action::RollBack { to, .. } => {
            let phase = match to {
                RollBackTo::Disable => next.phase,
                RollBackTo::Phase { index, .. } => *index,
            };
            moved(&mut next, Status::RolledBack, phase);
        }
        Action::Start { .. } => {
            let status = if plan.is_last(0) {
                Status::Done
            } else {
                Status::Running
            };
            moved(&mut next, status, 0);
        }
        Action::Resume { .. } => {
            let phase = next.phase;
            let status = if plan.is_last(phase) {
                Status::Done
            } else {
                Status::Running
            };
            moved(&mut next, status, phase);
        }
        Action::Pause { .. } => {
            let phase = next.phase;
            moved(&mut next, Status::Paused, phase);
        }
    }
    next.last_decision = Some(LastDecision {
        at: now,
        action: action.name().to_owned(),
        reason: action.to_string(),
        readings: readings.clone(),
    });
    Step {
        action,
        state: next,
        readings,
        criteria: Vec::new(),
    }
}

/// Why `trigger` has no verdict on these measurements, in an operator's
/// words: the first of the checks `read` makes that fails.
pub fn no_data_why(
    plan: &Plan,
    state: &State,
    trigger: Trigger,
    m: &Measurements,
    now: Timestamp,
) -> String {
    let window = match (trigger, &m.flag, &m.memory) {
        (Trigger::MemoryUsage, _, Err(e)) | (_, Err(e), _) => {
            return format!("metrics source error: {e}");
        }
        (Trigger::MemoryUsage, _, Ok(Some(memory))) if memory.processes > 0 => {
            return format!(
                "memory over the limit is {} from {} processes",
                fmt_value(memory.max_ratio),
                memory.processes
            );
        }
        (Trigger::MemoryUsage, _, Ok(_)) => {
            return "no process exported process_resident_memory_bytes against a known \
                    limit (--memory-limit)"
                .into();
        }
        (_, Ok(window), _) => window,
    };
    if trigger == Trigger::Complaints {
        return format!(
            "no complaints series (feature_flags_complaints_total) answered: {}",
            fmt_number(window.complaints_last_hour)
        );
    }
    let buckets = trigger == Trigger::ResponseTime;
    let min = plan.min_samples as f64;
    let (on, off) = (&window.on, &window.off);
    let source = if window.bad.is_empty() {
        String::new()
    } else {
        format!("; the source said: {}", window.bad.join(", "))
    };
    if let Some(why) = untrusted("on", on, buckets) {
        return format!("{why}{source}");
    }
    if !at_least(on.total(), min) {
        let age = now.duration_since(state.since);
        let young = if age < plan.window {
            format!(
                "; the phase is {}s old, younger than the {}s window",
                age.as_secs(),
                plan.window.as_secs()
            )
        } else {
            String::new()
        };
        return format!(
            "too few on outcomes in the window: {} of {}{young}",
            fmt_number(on.total().floor()),
            plan.min_samples
        );
    }
    if let Some(why) = untrusted("off", off, buckets) {
        return format!("{why}{source}");
    }
    if buckets && bound_at_or_above(plan_threshold(plan, trigger)).is_none() {
        return "the threshold is above the histogram's highest bound (30 s)".into();
    }
    format!("no comparison with off could be made{source}")
}

fn plan_threshold(plan: &Plan, trigger: Trigger) -> f64 {
    plan.triggers
        .active()
        .find(|(t, _)| *t == trigger)
        .map_or(f64::NAN, |(_, threshold)| threshold)
}

/// Which of a cohort's counts cannot be judged, or `None` when all can
/// (the checks of [`usable`], saying which failed).
fn untrusted(cohort: &str, c: &CohortWindow, with_buckets: bool) -> Option<String> {
    if !(count(c.ok) && count(c.errors)) {
        return Some(format!(
            "{cohort} outcome counts are not numbers (ok {}, errors {})",
            fmt_value(c.ok),
            fmt_value(c.errors)
        ));
    }
    if !with_buckets {
        return None;
    }
    if let Some(i) = c.duration_le.iter().position(|&v| !count(v)) {
        return Some(format!(
            "{cohort} duration bucket le={} is not a count",
            DURATION_BOUNDS[i]
        ));
    }
    let slack = |v: f64| 1e-6 * v.abs().max(1.0);
    if let Some(i) = c
        .duration_le
        .windows(2)
        .position(|w| w[1] < w[0] - slack(w[0]))
    {
        return Some(format!(
            "{cohort} duration buckets are not cumulative (le={} {} > le={} {})",
            DURATION_BOUNDS[i],
            fmt_value(c.duration_le[i]),
            DURATION_BOUNDS[i + 1],
            fmt_value(c.duration_le[i + 1])
        ));
    }
    let total = c.total();
    let last = c.duration_le[DURATION_BOUNDS.len() - 1];
    if last > total + slack(total) {
        return Some(format!(
            "{cohort} counts disagree: {} answers in the duration histogram (le=30) \
             but {} outcomes (ok + errors)",
            fmt_value(last),
            fmt_value(total)
        ));
    }
    None
}

fn source_message(trigger: Trigger, measurements: &Measurements) -> String {
    let error = match trigger {
        Trigger::MemoryUsage => measurements.memory.as_ref().err(),
        _ => measurements.flag.as_ref().err(),
    };
    error.cloned().unwrap_or_default()
}

/// The instances where `trigger` reads worst, from each instance's own
/// measurements: at most [`MAX_WORST`], highest value first (more samples
/// first on a tie), only those with a value and at least one sample.
pub fn worst(plan: &Plan, trigger: Trigger, each: &[(String, Measurements)]) -> Vec<Worst> {
    let Some(threshold) = plan.triggers.get(trigger) else {
        return Vec::new();
    };
    let mut all: Vec<Worst> = each
        .iter()
        .map(|(instance, m)| {
            let r = read(plan, trigger, threshold, m);
            Worst {
                instance: instance.clone(),
                value: r.on,
                samples: r.samples,
            }
        })
        .filter(|w| w.value.is_finite() && w.samples > 0.0)
        .collect();
    all.sort_by(|a, b| {
        b.value
            .total_cmp(&a.value)
            .then(b.samples.total_cmp(&a.samples))
    });
    all.truncate(MAX_WORST);
    all
}

/// Every active trigger's reading on these measurements.
pub fn readings(plan: &Plan, measurements: &Measurements) -> Vec<Reading> {
    plan.triggers
        .active()
        .map(|(trigger, threshold)| read(plan, trigger, threshold, measurements))
        .collect()
}

fn blank(trigger: Trigger, threshold: f64, verdict: Verdict) -> Reading {
    Reading {
        trigger,
        on: f64::NAN,
        off: f64::NAN,
        threshold,
        samples: f64::NAN,
        off_samples: f64::NAN,
        z: f64::NAN,
        verdict,
    }
}

fn read(plan: &Plan, trigger: Trigger, threshold: f64, m: &Measurements) -> Reading {
    match trigger {
        Trigger::MemoryUsage => match &m.memory {
            Err(_) => blank(trigger, threshold, Verdict::SourceError),
            Ok(None) => blank(trigger, threshold, Verdict::NoData),
            Ok(Some(memory)) => {
                let mut r = blank(trigger, threshold, Verdict::NoData);
                r.on = memory.max_ratio;
                r.samples = memory.processes as f64;
                if memory.processes > 0 && count(memory.max_ratio) {
                    r.verdict = verdict(memory.max_ratio > threshold);
                }
                r
            }
        },
        _ => match &m.flag {
            Err(_) => blank(trigger, threshold, Verdict::SourceError),
            Ok(window) => match trigger {
                Trigger::Complaints => {
                    let mut r = blank(trigger, threshold, Verdict::NoData);
                    let complaints = window.complaints_last_hour;
                    r.on = complaints;
                    r.samples = complaints;
                    if complaints.is_finite() && complaints >= 0.0 {
                        r.verdict = verdict(complaints >= threshold);
                    }
                    r
                }
                _ => compare(plan, trigger, threshold, window),
            },
        },
    }
}

fn verdict(tripped: bool) -> Verdict {
    if tripped {
        Verdict::Tripped
    } else {
        Verdict::Healthy
    }
}

/// error_rate and response_time: a share of `on` outcomes (errors, or
/// slower than the threshold's bound) above the threshold's share, and
/// above `off`'s by more than chance when `off` has enough outcomes.
fn compare(plan: &Plan, trigger: Trigger, threshold: f64, window: &FlagWindow) -> Reading {
    let (on, off) = (&window.on, &window.off);
    let mut r = blank(trigger, threshold, Verdict::NoData);
    r.samples = on.total();
    r.off_samples = off.total();
    let (bad_on, bad_off, limit) = match trigger {
        Trigger::ErrorRate => {
            r.on = share(on.errors, on.total());
            r.off = share(off.errors, off.total());
            (on.errors, off.errors, threshold)
        }
        _ => {
            r.on = histogram_quantile(0.95, on);
            r.off = histogram_quantile(0.95, off);
            let Some(bound) = bound_at_or_above(threshold) else {
                return r;
            };
            let slow_off = if off.duration_le.iter().all(|c| c.is_finite()) {
                slower_than(off, bound)
            } else {
                f64::NAN
            };
            let slow_on = if on.duration_le.iter().all(|c| c.is_finite()) {
                slower_than(on, bound)
            } else {
                f64::NAN
            };
            (slow_on, slow_off, SLOW_SHARE)
        }
    };
    let min = plan.min_samples as f64;
    let buckets = trigger == Trigger::ResponseTime;
    if !usable(on, buckets) || !count(bad_on) || !at_least(on.total(), min) {
        return r;
    }
    if !usable(off, buckets) || !count(bad_off) {
        // `off` counts that cannot be trusted: no comparison can be, and
        // the threshold alone could mistake a global incident for ours.
        return r;
    }
    let on_share = bad_on / on.total();
    let off_enough = off.total() >= min;
    if off_enough {
        r.z = two_proportion_z(bad_on, on.total(), bad_off, off.total());
        if r.z.is_nan() {
            return r;
        }
    }
    let worse_than_off = !off_enough || r.z > Z_CRITICAL;
    r.verdict = verdict(on_share > limit && worse_than_off);
    r
}

fn share(part: f64, total: f64) -> f64 {
    if total > 0.0 { part / total } else { f64::NAN }
}
