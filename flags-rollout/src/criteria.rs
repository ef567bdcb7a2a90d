//! Judging a phase's success criteria on the window: what must hold, once
//! the phase's hold is over, for the plan to move on by itself. Distinct
//! from the triggers: a trigger that trips rolls back; a criterion that is
//! not met only keeps the phase where it is (inconclusive) until a person
//! decides. The decision (`decide`) asks this module; the criteria as an
//! operator states them (`--success`) are part of the plan.

use std::fmt;

use crate::measure::{CohortWindow, FlagWindow};
use crate::plan::{Plan, Trigger, fmt_number};
use crate::stats::{
    at_least, bound_at_or_above, histogram_quantile, slower_than, two_proportion_z, usable,
};

// A plan stores its criteria, so their type and parsing live in `plan`
// (below this module, which judges them with the plan's settings).
// Re-exported here so that `criteria::Criterion` and its kin keep the
// paths the CLI and the tests use.
pub use crate::plan::{
    Criterion, MAX_CRITERIA, SuccessSpec, apply_success, conditions_spec, default_success,
    parse_conditions,
};

/// One-sided z above which `on` is worse than `off` for `no_degradation`:
/// the 0.05 level (a criterion errs towards asking a person, a trigger
/// towards leaving a rollout alone).
pub const Z_DEGRADATION: f64 = 1.645;

/// How a criterion looked on one check (Argo Rollouts' measurement: met
/// is successful, unmet is inconclusive here, since only a trigger fails).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Met,
    Unmet,
    /// Too few outcomes, or counts that cannot be trusted.
    NoData,
}

/// A criterion's reading: the value it judged and, for
/// `no_degradation`, which part failed and its z.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CriterionReading {
    pub criterion: Criterion,
    pub outcome: Outcome,
    /// Error share, p95 seconds or complaints; for `no_degradation` the
    /// `on` share of the part it judged (errors, or slow outcomes).
    pub value: f64,
    /// For `no_degradation`: the `off` cohort's share of that part.
    pub off: f64,
    pub z: f64,
    /// For `no_degradation`: `errors` or `slow`, the part judged.
    pub part: &'static str,
    pub samples: f64,
}

fn pct_text(share: f64) -> String {
    if share.is_finite() {
        format!("{:.1} %", share * 100.0)
    } else {
        "no data".into()
    }
}

fn bound_pct(bound: f64) -> String {
    format!("{} %", fmt_number((bound * 10_000.0).round() / 100.0))
}

impl fmt::Display for CriterionReading {
    /// `error_rate 3.0 % (needs < 1 %)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.criterion.name();
        if self.outcome == Outcome::NoData {
            return write!(
                f,
                "{name}: no data ({} on outcomes)",
                fmt_number(self.samples.floor().max(0.0))
            );
        }
        match self.criterion {
            Criterion::ErrorRate(bound) => write!(
                f,
                "{name} {} (needs < {})",
                pct_text(self.value),
                bound_pct(bound)
            ),
            Criterion::ResponseTime(bound) => write!(
                f,
                "{name} p95 {} s (needs < {} s)",
                fmt_number((self.value * 1000.0).round() / 1000.0),
                fmt_number(bound)
            ),
            Criterion::Complaints(bound) => write!(
                f,
                "{name} {} in the last hour (needs < {})",
                fmt_number(self.value),
                fmt_number(bound)
            ),
            Criterion::NoDegradation => write!(
                f,
                "{name}: {} share {} against off {} (z {:.2}, needs ≤ {Z_DEGRADATION})",
                self.part,
                pct_text(self.value),
                pct_text(self.off),
                self.z
            ),
        }
    }
}

/// Judges one criterion on the window (the plan's window, never reaching
/// back past the phase's start). `slow_bound` is the response time that
/// makes an outcome slow for `no_degradation` (the plan's `response_time`
/// trigger, else its default).
pub fn judge(plan: &Plan, criterion: Criterion, window: &FlagWindow) -> CriterionReading {
    let (on, off) = (&window.on, &window.off);
    let min = plan.min_samples as f64;
    let mut r = CriterionReading {
        criterion,
        outcome: Outcome::NoData,
        value: f64::NAN,
        off: f64::NAN,
        z: f64::NAN,
        part: "",
        samples: on.total(),
    };
    let enough = |n: f64| n.is_finite() && at_least(n, min);
    let counts_ok = |c: &CohortWindow| usable(c, true);
    let met = |ok: bool| if ok { Outcome::Met } else { Outcome::Unmet };
    match criterion {
        Criterion::ErrorRate(bound) => {
            if !usable(on, false) || !enough(on.total()) {
                return r;
            }
            r.value = on.errors / on.total();
            r.outcome = met(r.value < bound);
        }
        Criterion::ResponseTime(bound) => {
            if !counts_ok(on) || !enough(on.total()) {
                return r;
            }
            // The interpolated p95, as Prometheus' histogram_quantile gives
            // it: the number shown is the number judged.
            r.value = histogram_quantile(0.95, on);
            if !r.value.is_finite() {
                return r;
            }
            r.outcome = met(r.value < bound);
        }
        Criterion::Complaints(bound) => {
            let c = window.complaints_last_hour;
            r.samples = c;
            if !(c.is_finite() && c >= 0.0) {
                return r;
            }
            r.value = c;
            r.outcome = met(c < bound);
        }
        Criterion::NoDegradation => {
            if !counts_ok(on) || !counts_ok(off) || !enough(on.total()) || !enough(off.total()) {
                return r;
            }
            let threshold = plan
                .triggers
                .get(Trigger::ResponseTime)
                .unwrap_or(Trigger::ResponseTime.default_threshold());
            let index =
                bound_at_or_above(threshold).unwrap_or(crate::measure::DURATION_BOUNDS.len() - 1);
            let parts = [
                ("errors", on.errors, off.errors),
                ("slow", slower_than(on, index), slower_than(off, index)),
            ];
            // The worse part is the one shown: the first that fails, else
            // the one nearest to failing.
            let mut shown: Option<CriterionReading> = None;
            for (part, bad_on, bad_off) in parts {
                let z = two_proportion_z(bad_on, on.total(), bad_off, off.total());
                if z.is_nan() {
                    return r;
                }
                let reading = CriterionReading {
                    outcome: met(z <= Z_DEGRADATION),
                    value: bad_on / on.total(),
                    off: bad_off / off.total(),
                    z,
                    part,
                    ..r
                };
                let replace = match &shown {
                    None => true,
                    Some(s) => {
                        (s.outcome == Outcome::Met && reading.outcome == Outcome::Unmet)
                            || (s.outcome == reading.outcome && reading.z > s.z)
                    }
                };
                if replace {
                    shown = Some(reading);
                }
            }
            return shown.unwrap_or(r);
        }
    }
    r
}

/// Every criterion of `phase` on this window.
pub fn judge_phase(plan: &Plan, phase: usize, window: &FlagWindow) -> Vec<CriterionReading> {
    plan.criteria(phase)
        .iter()
        .map(|&c| judge(plan, c, window))
        .collect()
}
