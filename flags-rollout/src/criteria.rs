//! A phase's success criteria: what must hold, once the phase's hold is
//! over, for the plan to move on by itself. Distinct from the triggers: a
//! trigger that trips rolls back; a criterion that is not met only keeps
//! the phase where it is (inconclusive) until a person decides.

use std::fmt;

use crate::measure::{CohortWindow, FlagWindow};
use crate::plan::{Phase, Plan, Trigger, fmt_number};
use crate::stats::{
    at_least, bound_at_or_above, histogram_quantile, slower_than, two_proportion_z, usable,
};

/// One-sided z above which `on` is worse than `off` for `no_degradation`:
/// the 0.05 level (a criterion errs towards asking a person, a trigger
/// towards leaving a rollout alone).
pub const Z_DEGRADATION: f64 = 1.645;
/// At most this many criteria on one phase (each name once).
pub const MAX_CRITERIA: usize = 4;

/// One condition of a phase.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Criterion {
    /// The `on` cohort's error share is below this.
    ErrorRate(f64),
    /// The `on` cohort's p95 duration is below this many seconds.
    ResponseTime(f64),
    /// Fewer complaints than this in the last hour.
    Complaints(f64),
    /// Neither the `on` cohort's error share nor its slow share is above
    /// the `off` cohort's by more than chance.
    NoDegradation,
}

impl Criterion {
    pub const NAMES: [&'static str; 4] = [
        "error_rate",
        "response_time",
        "complaints",
        "no_degradation",
    ];

    pub fn name(self) -> &'static str {
        match self {
            Criterion::ErrorRate(_) => "error_rate",
            Criterion::ResponseTime(_) => "response_time",
            Criterion::Complaints(_) => "complaints",
            Criterion::NoDegradation => "no_degradation",
        }
    }

    /// `error_rate<0.01`, `no_degradation`: what `--success` takes.
    pub fn spec(self) -> String {
        match self {
            Criterion::ErrorRate(v) | Criterion::ResponseTime(v) | Criterion::Complaints(v) => {
                format!("{}<{}", self.name(), fmt_number(v))
            }
            Criterion::NoDegradation => self.name().to_owned(),
        }
    }

    /// Reads one condition: `NAME<VALUE`, or `no_degradation`.
    pub fn parse(text: &str) -> Result<Criterion, String> {
        let text = text.trim();
        let (name, value) = match text.split_once('<') {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => (text, None),
        };
        if !Criterion::NAMES.contains(&name) {
            let known = Criterion::NAMES.iter().copied();
            return Err(match flags_core::nearest_name(name, known) {
                Some(near) => format!("unknown criterion {name:?}; did you mean {near:?}?"),
                None => format!(
                    "unknown criterion {name:?}; the criteria are error_rate<X, response_time<SECONDS, complaints<N and no_degradation"
                ),
            });
        }
        if name == "no_degradation" {
            return match value {
                None => Ok(Criterion::NoDegradation),
                Some(_) => Err("no_degradation takes no value; write it alone".into()),
            };
        }
        let Some(value) = value else {
            return Err(format!(
                "{name} needs a bound, such as {}",
                match name {
                    "error_rate" => "error_rate<0.01",
                    "response_time" => "response_time<2",
                    _ => "complaints<5",
                }
            ));
        };
        let number: f64 = value
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(|| format!("{name}: {value:?} is not a number"))?;
        let (criterion, trigger) = match name {
            "error_rate" => (Criterion::ErrorRate(number), Trigger::ErrorRate),
            "response_time" => (Criterion::ResponseTime(number), Trigger::ResponseTime),
            _ => (Criterion::Complaints(number), Trigger::Complaints),
        };
        // The same ranges as the trigger of that name: a bound that no
        // reading could ever meet (or always meets) is a typo.
        trigger
            .check_threshold(number)
            .map_err(|e| format!("{name}: {e}"))?;
        Ok(criterion)
    }
}

impl fmt::Display for Criterion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.spec())
    }
}

/// `error_rate<0.01+no_degradation` (or `none`: no criteria).
pub fn parse_conditions(text: &str) -> Result<Vec<Criterion>, String> {
    if text.trim() == "none" {
        return Ok(Vec::new());
    }
    let mut out: Vec<Criterion> = Vec::new();
    for part in text.split('+') {
        if out.len() >= MAX_CRITERIA {
            return Err(format!("at most {MAX_CRITERIA} criteria on one phase"));
        }
        let c = Criterion::parse(part)?;
        if out.iter().any(|o| o.name() == c.name()) {
            return Err(format!("{} is given twice for one phase", c.name()));
        }
        out.push(c);
    }
    Ok(out)
}

/// The conditions as `--success` and the rollouts file write them.
pub fn conditions_spec(criteria: &[Criterion]) -> String {
    if criteria.is_empty() {
        return "none".into();
    }
    criteria
        .iter()
        .map(|c| c.spec())
        .collect::<Vec<_>>()
        .join("+")
}

/// The deployment plan's criteria by position: the 2nd phase
/// `error_rate<0.01`, the 3rd `no_degradation`; none on a phase that has
/// nothing after it.
pub fn default_success(phases: &[Phase]) -> Vec<Vec<Criterion>> {
    (0..phases.len())
        .map(|i| {
            let last = i + 1 == phases.len();
            match i {
                _ if last => Vec::new(),
                1 => vec![Criterion::ErrorRate(0.01)],
                2 => vec![Criterion::NoDegradation],
                _ => Vec::new(),
            }
        })
        .collect()
}

/// One `--success` value: `none` (every phase cleared), or
/// `PCT:COND[+COND…]` (that phase's criteria replaced; `PCT:none` clears
/// it).
#[derive(Debug, Clone, PartialEq)]
pub enum SuccessSpec {
    None,
    Phase {
        percentage: flags_core::Percentage,
        criteria: Vec<Criterion>,
    },
}

impl SuccessSpec {
    pub fn parse(text: &str) -> Result<SuccessSpec, String> {
        let text = text.trim();
        if text == "none" {
            return Ok(SuccessSpec::None);
        }
        let Some((percentage, conditions)) = text.split_once(':') else {
            return Err(format!(
                "{text:?} is not PERCENTAGE:CONDITION[+CONDITION…] or none; such as 25:error_rate<0.01"
            ));
        };
        let percentage: flags_core::Percentage = percentage
            .trim()
            .parse()
            .map_err(|e| format!("percentage {:?} {e}; such as 25", percentage.trim()))?;
        let criteria = parse_conditions(conditions)?;
        Ok(SuccessSpec::Phase {
            percentage,
            criteria,
        })
    }
}

/// Applies `--success` values in order to a plan's criteria; a refused one
/// changes nothing.
pub fn apply_success(plan: &mut Plan, specs: &[SuccessSpec]) -> Result<(), String> {
    let mut success = plan.success.clone();
    success.resize(plan.phases.len(), Vec::new());
    for spec in specs {
        match spec {
            SuccessSpec::None => success.iter_mut().for_each(Vec::clear),
            SuccessSpec::Phase {
                percentage,
                criteria,
            } => {
                let Some(i) = plan.phases.iter().position(|p| p.percentage == *percentage) else {
                    let all: Vec<String> = plan
                        .phases
                        .iter()
                        .map(|p| p.percentage.to_string())
                        .collect();
                    return Err(format!(
                        "{percentage}% is not a phase of the plan ({}%)",
                        all.join("%, ")
                    ));
                };
                if plan.is_last(i) && !criteria.is_empty() {
                    return Err(format!(
                        "{percentage}% is the last phase: nothing follows it, so it has no success criteria"
                    ));
                }
                success[i] = criteria.clone();
            }
        }
    }
    plan.success = success;
    Ok(())
}

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
