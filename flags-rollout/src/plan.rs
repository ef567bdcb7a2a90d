//! A plan: the phases a flag ramps through, the triggers that roll it back
//! and the success criteria that let a phase move on by itself, as an
//! operator states them once (`--plan 5:1d,25:3d,50:5d,100`, `--triggers`,
//! `--success`).

use std::fmt;

use flags_core::Percentage;
use jiff::SignedDuration;

use crate::duration::{format_duration, parse_duration};

/// The deployment plan's phases.
pub const DEFAULT_PHASES: &str = "5:1d,25:3d,50:5d,100";
pub const DEFAULT_WINDOW: SignedDuration = SignedDuration::from_secs(300);
pub const DEFAULT_MIN_SAMPLES: u64 = 100;
pub const DEFAULT_SUSTAIN: u32 = 2;
/// At most this many phases in one plan (one per percentage point is
/// already absurd); bounds a hand-edited file.
pub const MAX_PHASES: usize = 100;
/// Bounds on `min_samples` and `sustain`, so that a typo (an extra zero
/// or three) is caught rather than silently stalling a rollout for ever.
pub const MAX_MIN_SAMPLES: u64 = 1_000_000_000;
pub const MAX_SUSTAIN: u32 = 1000;

/// One phase: a percentage held for at least `hold`; the last has no hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phase {
    pub percentage: Percentage,
    pub hold: Option<SignedDuration>,
}

/// The four rollback triggers, in the order they are checked and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Trigger {
    ErrorRate,
    ResponseTime,
    MemoryUsage,
    Complaints,
}

impl Trigger {
    pub const ALL: [Trigger; 4] = [
        Trigger::ErrorRate,
        Trigger::ResponseTime,
        Trigger::MemoryUsage,
        Trigger::Complaints,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Trigger::ErrorRate => "error_rate",
            Trigger::ResponseTime => "response_time",
            Trigger::MemoryUsage => "memory_usage",
            Trigger::Complaints => "complaints",
        }
    }

    pub fn from_name(name: &str) -> Option<Trigger> {
        Trigger::ALL.into_iter().find(|t| t.name() == name)
    }

    pub fn names() -> impl Iterator<Item = &'static str> {
        Trigger::ALL.into_iter().map(Trigger::name)
    }

    /// The deployment plan's threshold.
    pub fn default_threshold(self) -> f64 {
        match self {
            Trigger::ErrorRate => 0.05,
            Trigger::ResponseTime => 5.0,
            Trigger::MemoryUsage => 0.9,
            Trigger::Complaints => 10.0,
        }
    }

    /// Checks a threshold; the error says what a good one looks like.
    pub fn check_threshold(self, value: f64) -> Result<(), String> {
        let ok = value.is_finite()
            && match self {
                // 1 could never be exceeded by a share; 0 trips on one error.
                Trigger::ErrorRate => value > 0.0 && value < 1.0,
                // Above 30 s no bucket bound is left to count slower outcomes.
                Trigger::ResponseTime => value > 0.0 && value <= 30.0,
                Trigger::MemoryUsage => value > 0.0 && value <= 1.0,
                Trigger::Complaints => (1.0..=1e9).contains(&value),
            };
        if ok {
            return Ok(());
        }
        let shown = fmt_number(value);
        Err(match self {
            Trigger::ErrorRate => format!(
                "{shown} is not a share of errors between 0 and 1 (exclusive); such as 0.05 for 5 %"
            ),
            Trigger::ResponseTime => {
                format!("{shown} is not a p95 in seconds above 0 and at most 30; such as 5")
            }
            Trigger::MemoryUsage => format!(
                "{shown} is not a share of the memory limit above 0 and at most 1; such as 0.9"
            ),
            Trigger::Complaints => {
                format!("{shown} is not a number of complaints per hour from 1; such as 10")
            }
        })
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A number as an operator writes it: `5`, `0.05`.
pub fn fmt_number(value: f64) -> String {
    if value.is_nan() {
        return "NaN".into();
    }
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

/// The threshold of each trigger; `None` when the operator turned it off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Triggers([Option<f64>; 4]);

impl Default for Triggers {
    fn default() -> Triggers {
        Triggers(Trigger::ALL.map(|t| Some(t.default_threshold())))
    }
}

impl Triggers {
    pub fn none() -> Triggers {
        Triggers([None; 4])
    }

    pub fn get(&self, trigger: Trigger) -> Option<f64> {
        self.0[trigger as usize]
    }

    pub fn set(&mut self, trigger: Trigger, threshold: Option<f64>) {
        self.0[trigger as usize] = threshold;
    }

    /// The triggers that are on, with their thresholds, in check order.
    pub fn active(&self) -> impl Iterator<Item = (Trigger, f64)> + '_ {
        Trigger::ALL
            .into_iter()
            .filter_map(|t| self.get(t).map(|v| (t, v)))
    }

    /// Applies `error_rate=0.02,response_time=3,complaints=off`: each named
    /// trigger gets the threshold, or is dropped with `off`; the others stay.
    pub fn apply_overrides(&mut self, spec: &str) -> Result<(), String> {
        let mut next = *self;
        for item in spec.split(',').map(str::trim) {
            let Some((name, value)) = item.split_once('=') else {
                return Err(format!(
                    "{item:?} is not NAME=VALUE; such as error_rate=0.02 or complaints=off"
                ));
            };
            let name = name.trim();
            let trigger = Trigger::from_name(name).ok_or_else(|| unknown_trigger(name))?;
            let value = value.trim();
            if value == "off" {
                next.set(trigger, None);
                continue;
            }
            let number: f64 = value
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite())
                .ok_or_else(|| format!("{name}: {value:?} is not a number (or off)"))?;
            trigger
                .check_threshold(number)
                .map_err(|e| format!("{name}: {e}"))?;
            next.set(trigger, Some(number));
        }
        *self = next;
        Ok(())
    }

    /// `error_rate=0.05,response_time=5,memory_usage=0.9,complaints=10`
    /// (`off` for a dropped one): what `--triggers` takes.
    pub fn spec(&self) -> String {
        Trigger::ALL
            .iter()
            .map(|&t| match self.get(t) {
                Some(v) => format!("{t}={}", fmt_number(v)),
                None => format!("{t}=off"),
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

pub fn unknown_trigger(name: &str) -> String {
    match flags_core::nearest_name(name, Trigger::names()) {
        Some(near) => format!("unknown trigger {name:?}; did you mean {near:?}?"),
        None => format!(
            "unknown trigger {name:?}; the triggers are {}",
            Trigger::names().collect::<Vec<_>>().join(", ")
        ),
    }
}

/// What a trip does to the flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnTrigger {
    /// `enabled: false`, the kill switch.
    #[default]
    Disable,
    /// Back to the previous phase's percentage (from the first phase:
    /// the kill switch, there being no earlier percentage that was safe).
    PreviousPhase,
}

impl OnTrigger {
    pub fn name(self) -> &'static str {
        match self {
            OnTrigger::Disable => "disable",
            OnTrigger::PreviousPhase => "previous-phase",
        }
    }

    pub fn from_name(name: &str) -> Option<OnTrigger> {
        [OnTrigger::Disable, OnTrigger::PreviousPhase]
            .into_iter()
            .find(|o| o.name() == name)
    }
}

/// Everything an operator sets once.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub phases: Vec<Phase>,
    pub triggers: Triggers,
    /// How far back the rate, latency and memory triggers look.
    pub window: SignedDuration,
    /// Outcomes the `on` cohort needs in the window before rate and latency
    /// are judged, and in a phase before it advances.
    pub min_samples: u64,
    /// Consecutive tripped checks before a trigger acts.
    pub sustain: u32,
    pub on_trigger: OnTrigger,
    /// Each phase's success criteria, by phase index (a missing entry has
    /// none): checked once the phase's hold is over.
    pub success: Vec<Vec<Criterion>>,
}

impl Plan {
    /// The default plan with these phases (and the deployment plan's
    /// criteria by position).
    pub fn with_phases(phases: Vec<Phase>) -> Plan {
        Plan {
            success: default_success(&phases),
            phases,
            triggers: Triggers::default(),
            window: DEFAULT_WINDOW,
            min_samples: DEFAULT_MIN_SAMPLES,
            sustain: DEFAULT_SUSTAIN,
            on_trigger: OnTrigger::default(),
        }
    }

    /// The criteria that must hold for `phase` to advance by itself.
    pub fn criteria(&self, phase: usize) -> &[Criterion] {
        self.success.get(phase).map_or(&[], Vec::as_slice)
    }

    /// `25:error_rate<0.01,50:no_degradation`, or `none`.
    pub fn success_spec(&self) -> String {
        let parts: Vec<String> = self
            .phases
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.criteria(*i).is_empty())
            .map(|(i, p)| format!("{}:{}", p.percentage, conditions_spec(self.criteria(i))))
            .collect();
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(",")
        }
    }

    pub fn is_last(&self, phase: usize) -> bool {
        phase + 1 >= self.phases.len()
    }
}

impl Default for Plan {
    fn default() -> Plan {
        Plan::with_phases(parse_phases(DEFAULT_PHASES).unwrap_or_default())
    }
}

/// Parses `5:1d,25:3d,50:5d,100`: strictly increasing percentages, each
/// with a hold except the last, which must have none (nothing follows it
/// to wait for, so a hold there would be a mistake worth pointing out).
pub fn parse_phases(spec: &str) -> Result<Vec<Phase>, String> {
    let items: Vec<&str> = spec.split(',').map(str::trim).collect();
    if items.len() > MAX_PHASES {
        return Err(format!("{} phases; at most {MAX_PHASES}", items.len()));
    }
    let mut phases: Vec<Phase> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let n = i + 1;
        let last = n == items.len();
        let (percentage, hold) = match item.split_once(':') {
            Some((p, h)) => (p.trim(), Some(h.trim())),
            None => (*item, None),
        };
        let percentage: Percentage = percentage
            .parse()
            .map_err(|e| format!("phase {n}: percentage {percentage:?} {e}; such as 5 or 12.5"))?;
        let hold = match hold {
            Some(h) => Some(parse_duration(h).map_err(|e| format!("phase {n}: hold {e}"))?),
            None => None,
        };
        match (hold, last) {
            (None, false) => {
                return Err(format!(
                    "phase {n} ({percentage}%) has no hold time; every phase but the last needs one, such as {percentage}:1d"
                ));
            }
            (Some(_), true) => {
                return Err(format!(
                    "the last phase ({percentage}%) has a hold time, but nothing follows it; write it as {percentage}"
                ));
            }
            _ => {}
        }
        if let Some(previous) = phases.last()
            && percentage <= previous.percentage
        {
            return Err(format!(
                "phase {n} ({percentage}%) is not above phase {} ({}%); percentages must strictly increase",
                n - 1,
                previous.percentage
            ));
        }
        phases.push(Phase { percentage, hold });
    }
    Ok(phases)
}

/// The phases as `--plan` takes them.
pub fn phases_spec(phases: &[Phase]) -> String {
    phases
        .iter()
        .map(|p| match p.hold {
            Some(h) => format!("{}:{}", p.percentage, format_duration(h)),
            None => p.percentage.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

// A phase's success criteria as the plan stores them and an operator
// writes them (`--success`); `criteria` judges them on the window.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_plan_is_the_deployment_plan() {
        let plan = Plan::default();
        assert_eq!(phases_spec(&plan.phases), DEFAULT_PHASES);
        assert_eq!(plan.phases.len(), 4);
        assert_eq!(plan.phases[1].hold, Some(SignedDuration::from_hours(72)));
        assert_eq!(
            plan.triggers.spec(),
            "error_rate=0.05,response_time=5,memory_usage=0.9,complaints=10"
        );
    }

    #[test]
    fn phases_parse_and_refuse() {
        assert_eq!(phases_spec(&parse_phases("5:1d,25").unwrap()), "5:1d,25");
        assert_eq!(phases_spec(&parse_phases("100").unwrap()), "100");
        assert_eq!(
            phases_spec(&parse_phases(" 0.5:36h , 100 ").unwrap()),
            "0.5:1d 12h,100"
        );
        for (spec, says) in [
            (
                "50:1d,25:1d,100",
                "phase 2 (25%) is not above phase 1 (50%)",
            ),
            ("5:1d,5:1d,100", "phase 2 (5%) is not above"),
            ("5:1x", "phase 1: hold \"1x\" is not a duration"),
            ("5,25:1d", "phase 1 (5%) has no hold time"),
            ("5:1d,25:1d", "the last phase (25%) has a hold time"),
            (
                "150:1d,200",
                "phase 1: percentage \"150\" is not in 0..=100",
            ),
            ("5%:1d,100", "is not a number"),
            ("", "is not a number"),
            ("5:1d,,100", "phase 2: percentage \"\""),
            ("12.3456:1d,100", "more than 3 decimals"),
        ] {
            let e = parse_phases(spec).unwrap_err();
            assert!(e.contains(says), "{spec}: {e}");
        }
    }

    #[test]
    fn trigger_overrides() {
        let mut t = Triggers::default();
        t.apply_overrides("error_rate=0.02,response_time=3,memory_usage=0.85,complaints=5")
            .unwrap();
        assert_eq!(
            t.spec(),
            "error_rate=0.02,response_time=3,memory_usage=0.85,complaints=5"
        );
        t.apply_overrides("complaints=off").unwrap();
        assert_eq!(t.get(Trigger::Complaints), None);
        assert_eq!(t.get(Trigger::ErrorRate), Some(0.02));
        for (spec, says) in [
            ("error_rate=2", "error_rate: 2 is not a share of errors"),
            ("error_rate=0", "is not a share"),
            ("response_time=31", "at most 30"),
            ("memory_usage=1.5", "memory_usage: 1.5"),
            ("complaints=0", "from 1"),
            ("eror_rate=0.1", "did you mean \"error_rate\""),
            ("error_rate", "is not NAME=VALUE"),
            ("error_rate=abc", "is not a number"),
            ("error_rate=nan", "is not a number"),
        ] {
            let before = t;
            let e = t.apply_overrides(spec).unwrap_err();
            assert!(e.contains(says), "{spec}: {e}");
            assert_eq!(t, before, "a refused override changes nothing");
        }
    }
}
