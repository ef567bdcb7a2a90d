//! The rollouts file `FILE.rollouts.json`: every flag's plan and state,
//! read as strictly as the flag file (every problem listed with its JSON
//! path) and written deterministically (flags sorted by name, fields in a
//! fixed order, two-space indentation, a final newline).

use std::collections::BTreeMap;

use flags_core::{
    Percentage, Problem, Problems, check_name, child_path, nearest_name, parse_strict_json,
};
use jiff::Timestamp;
use serde_json::{Map, Value, json};

use crate::duration::{format_duration, parse_duration};
use crate::measure::{CohortWindow, DURATION_BOUNDS};
use crate::plan::{
    Criterion, DEFAULT_MIN_SAMPLES, DEFAULT_SUSTAIN, DEFAULT_WINDOW, MAX_CRITERIA, MAX_MIN_SAMPLES,
    MAX_PHASES, MAX_SUSTAIN, OnTrigger, Phase, Plan, Trigger, Triggers,
};
use crate::state::{
    LastDecision, MAX_HISTORY, PhaseCounts, PhaseRecord, Reading, State, Status, Verdict,
};

pub const FORMAT_VERSION: u64 = 1;
/// A rollouts file larger than this is refused unread (a few hundred bytes
/// per plan: this is room for thousands).
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// At most this many plans (the readers stay linear and quick).
pub const MAX_ROLLOUTS: usize = 10_000;

/// One flag's plan and where it stands.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    pub plan: Plan,
    pub state: State,
}

/// The whole file: plans by flag name.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RolloutsFile {
    pub rollouts: BTreeMap<String, Rollout>,
}

const TOP_FIELDS: [&str; 2] = ["version", "rollouts"];
const ROLLOUT_FIELDS: [&str; 14] = [
    "phases",
    "triggers",
    "window",
    "min_samples",
    "sustain",
    "on_trigger",
    "state",
    "phase",
    "since",
    "streaks",
    "evidence",
    "last_decision",
    "history",
    "phase_counts",
];
const RECORD_FIELDS: [&str; 8] = [
    "phase",
    "percentage",
    "from",
    "to",
    "action",
    "reason",
    "by",
    "counts",
];
const COUNTS_FIELDS: [&str; 4] = ["on", "off", "complaints", "at"];
const COHORT_FIELDS: [&str; 3] = ["ok", "errors", "le"];
const PHASE_FIELDS: [&str; 3] = ["percentage", "hold", "success"];
const DECISION_FIELDS: [&str; 4] = ["at", "action", "reason", "readings"];
const READING_FIELDS: [&str; 8] = [
    "trigger",
    "on",
    "off",
    "threshold",
    "samples",
    "off_samples",
    "z",
    "verdict",
];
const ACTIONS: [&str; 7] = [
    "hold", "advance", "done", "rollback", "start", "pause", "resume",
];

impl RolloutsFile {
    /// Reads a rollouts file's text; every problem is listed.
    pub fn parse(text: &str) -> Result<RolloutsFile, Problems> {
        if text.len() as u64 > MAX_FILE_BYTES {
            return Err(one(
                "",
                format!("is {} bytes; at most {MAX_FILE_BYTES}", text.len()),
            ));
        }
        let root = parse_strict_json(text).map_err(|e| one("", format!("not valid JSON: {e}")))?;
        let mut c = Checker::default();
        let file = c.file(&root);
        if c.problems.is_empty() {
            Ok(file)
        } else {
            let found = c.problems.len();
            Err(Problems::new(c.problems, found))
        }
    }

    /// The file's text: the same value always gives the same bytes.
    pub fn to_text(&self) -> String {
        let rollouts: Map<String, Value> = self
            .rollouts
            .iter()
            .map(|(name, r)| (name.clone(), rollout_json(r)))
            .collect();
        let mut text = serde_json::to_string_pretty(&json!({
            "version": FORMAT_VERSION,
            "rollouts": rollouts,
        }))
        .unwrap_or_default();
        text.push('\n');
        text
    }
}

fn one(path: &str, message: String) -> Problems {
    Problems::new(
        vec![Problem {
            path: path.to_owned(),
            message,
        }],
        1,
    )
}

/// A number for the file: NaN and infinities (no value) as `null`.
fn number(v: f64) -> Value {
    if v.is_finite() {
        if v.fract() == 0.0 && v.abs() < 9e15 {
            Value::from(v as i64)
        } else {
            Value::from(v)
        }
    } else {
        Value::Null
    }
}

fn timestamp(t: Timestamp) -> Value {
    Value::from(t.to_string())
}

/// A phase; its success criteria (`"success": ["error_rate<0.01"]`) only
/// when it has some, so a file written before criteria existed reads back
/// and writes out unchanged.
pub fn phase_json(p: &Phase, criteria: &[Criterion]) -> Value {
    let mut o = Map::new();
    o.insert("percentage".into(), p.percentage.to_json());
    if let Some(hold) = p.hold {
        o.insert("hold".into(), Value::from(format_duration(hold)));
    }
    if !criteria.is_empty() {
        let specs: Vec<Value> = criteria.iter().map(|c| Value::from(c.spec())).collect();
        o.insert("success".into(), Value::Array(specs));
    }
    Value::Object(o)
}

pub fn triggers_json(t: &Triggers) -> Value {
    Value::Object(
        Trigger::ALL
            .iter()
            .map(|&tr| {
                let v = t.get(tr).map_or_else(|| Value::from("off"), number);
                (tr.name().to_owned(), v)
            })
            .collect(),
    )
}

pub fn reading_json(r: &Reading) -> Value {
    json!({
        "trigger": r.trigger.name(),
        "on": number(r.on),
        "off": number(r.off),
        "threshold": number(r.threshold),
        "samples": number(r.samples),
        "off_samples": number(r.off_samples),
        "z": number(r.z),
        "verdict": r.verdict.name(),
    })
}

pub fn decision_json(d: &LastDecision) -> Value {
    json!({
        "at": timestamp(d.at),
        "action": d.action,
        "reason": d.reason,
        "readings": d.readings.iter().map(reading_json).collect::<Vec<_>>(),
    })
}

fn rollout_json(r: &Rollout) -> Value {
    let (plan, state) = (&r.plan, &r.state);
    let streaks: Map<String, Value> = Trigger::ALL
        .iter()
        .map(|&t| (t.name().to_owned(), Value::from(state.streak(t))))
        .collect();
    let mut out = json!({
        "phases": plan
            .phases
            .iter()
            .enumerate()
            .map(|(i, p)| phase_json(p, plan.criteria(i)))
            .collect::<Vec<_>>(),
        "triggers": triggers_json(&plan.triggers),
        "window": format_duration(plan.window),
        "min_samples": plan.min_samples,
        "sustain": plan.sustain,
        "on_trigger": plan.on_trigger.name(),
        "state": state.status.name(),
        "phase": state.phase + 1,
        "since": timestamp(state.since),
        "streaks": streaks,
        "last_decision": state.last_decision.as_ref().map_or(Value::Null, decision_json),
    });
    if let Some(o) = out.as_object_mut() {
        if let Some(at) = state.evidence {
            o.insert("evidence".into(), timestamp(at));
        }
        // Only when there is some: a file from before keeps its bytes.
        if !state.history.is_empty() {
            let records = state.history.iter().map(record_json).collect();
            o.insert("history".into(), Value::Array(records));
        }
        if let Some(c) = &state.phase_counts {
            o.insert("phase_counts".into(), counts_json(c));
        }
    }
    out
}

fn cohort_json(c: &CohortWindow) -> Value {
    json!({
        "ok": number(c.ok),
        "errors": number(c.errors),
        "le": c.duration_le.iter().map(|v| number(*v)).collect::<Vec<_>>(),
    })
}

pub fn counts_json(c: &PhaseCounts) -> Value {
    let mut o = json!({
        "on": cohort_json(&c.on),
        "off": cohort_json(&c.off),
        "complaints": number(c.complaints),
    });
    if let (Some(at), Some(m)) = (c.at, o.as_object_mut()) {
        m.insert("at".into(), timestamp(at));
    }
    o
}

pub fn record_json(r: &PhaseRecord) -> Value {
    json!({
        "phase": r.phase + 1,
        "percentage": r.percentage.to_json(),
        "from": timestamp(r.from),
        "to": timestamp(r.to),
        "action": r.action,
        "reason": r.reason,
        "by": r.by,
        "counts": r.counts.as_ref().map_or(Value::Null, counts_json),
    })
}

#[derive(Default)]
struct Checker {
    problems: Vec<Problem>,
}

impl Checker {
    fn report(&mut self, path: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            path: path.to_owned(),
            message: message.into(),
        });
    }

    /// The object at `path` with only `known` fields, each unknown one
    /// reported with the nearest known name.
    fn object<'v>(
        &mut self,
        path: &str,
        value: &'v Value,
        known: &[&str],
    ) -> Option<&'v Map<String, Value>> {
        let Some(object) = value.as_object() else {
            self.report(path, format!("must be an object, not {}", kind(value)));
            return None;
        };
        for key in object.keys() {
            if !known.contains(&key.as_str()) {
                let hint = match nearest_name(key, known.iter().copied()) {
                    Some(near) => format!("unknown field; did you mean {near:?}?"),
                    None => format!("unknown field; expected one of {}", known.join(", ")),
                };
                self.report(&child_path(path, key), hint);
            }
        }
        Some(object)
    }

    /// A field that may be left out (`default` then), else what `read`
    /// makes of it at its own path.
    fn optional<'v, T>(
        &mut self,
        path: &str,
        object: &'v Map<String, Value>,
        key: &str,
        default: T,
        read: impl FnOnce(&mut Self, &str, &'v Value) -> Option<T>,
    ) -> Option<T> {
        match object.get(key) {
            None => Some(default),
            Some(v) => read(self, &child_path(path, key), v),
        }
    }

    /// A field that may be left out or null (`Some(None)` then), else
    /// what `read` makes of it at its own path.
    fn nullable<T>(
        &mut self,
        path: &str,
        object: &Map<String, Value>,
        key: &str,
        read: impl FnOnce(&mut Self, &str, &Value) -> Option<T>,
    ) -> Option<Option<T>> {
        match object.get(key) {
            None | Some(Value::Null) => Some(None),
            Some(v) => read(self, &child_path(path, key), v).map(Some),
        }
    }

    /// A field that must be there (reported when missing), read by `read`
    /// at its own path.
    fn required_field<'v, T>(
        &mut self,
        path: &str,
        object: &'v Map<String, Value>,
        key: &str,
        read: impl FnOnce(&mut Self, &str, &'v Value) -> Option<T>,
    ) -> Option<T> {
        let value = self.required(path, object, key)?;
        read(self, &child_path(path, key), value)
    }

    fn required<'v>(
        &mut self,
        path: &str,
        object: &'v Map<String, Value>,
        key: &str,
    ) -> Option<&'v Value> {
        let value = object.get(key);
        if value.is_none() {
            self.report(&child_path(path, key), "is missing");
        }
        value
    }

    fn file(&mut self, root: &Value) -> RolloutsFile {
        let mut file = RolloutsFile::default();
        let Some(top) = self.object("", root, &TOP_FIELDS) else {
            return file;
        };
        match self.required("", top, "version") {
            Some(v) if v.as_u64() == Some(FORMAT_VERSION) => {}
            Some(v) => self.report(
                "version",
                format!("{v} is not a version this tool reads; it must be 1"),
            ),
            None => {}
        }
        let Some(rollouts) = self.required("", top, "rollouts") else {
            return file;
        };
        let Some(rollouts) = rollouts.as_object() else {
            self.report(
                "rollouts",
                format!(
                    "must be an object of plans by flag name, not {}",
                    kind(rollouts)
                ),
            );
            return file;
        };
        if rollouts.len() > MAX_ROLLOUTS {
            self.report(
                "rollouts",
                format!("has {} plans; at most {MAX_ROLLOUTS}", rollouts.len()),
            );
            return file;
        }
        for (name, value) in rollouts {
            let path = child_path("rollouts", name);
            if let Err(message) = check_name(name) {
                self.report(&path, message);
                continue;
            }
            if let Some(rollout) = self.rollout(&path, value) {
                file.rollouts.insert(name.clone(), rollout);
            }
        }
        file
    }

    fn rollout(&mut self, path: &str, value: &Value) -> Option<Rollout> {
        let before = self.problems.len();
        let object = self.object(path, value, &ROLLOUT_FIELDS)?;
        let (phases, success) = self
            .required_field(path, object, "phases", Self::phases)
            .unzip();
        let triggers = self.optional(
            path,
            object,
            "triggers",
            Triggers::default(),
            Self::triggers,
        );
        let window = self.optional(path, object, "window", DEFAULT_WINDOW, Self::duration);
        let min_samples = self.optional(
            path,
            object,
            "min_samples",
            DEFAULT_MIN_SAMPLES,
            |c, p, v| c.integer(p, v, 1, MAX_MIN_SAMPLES),
        );
        let sustain = self.optional(path, object, "sustain", DEFAULT_SUSTAIN, |c, p, v| {
            c.integer(p, v, 1, u64::from(MAX_SUSTAIN)).map(|s| s as u32)
        });
        let on_trigger = self.optional(
            path,
            object,
            "on_trigger",
            OnTrigger::default(),
            |c, p, v| c.name_of(p, v, &["disable", "previous-phase"], OnTrigger::from_name),
        );
        let status = self.required_field(path, object, "state", |c, p, v| {
            c.name_of(p, v, &Status::ALL.map(Status::name), Status::from_name)
        });
        let phase_count = phases
            .as_ref()
            .map_or(u64::from(u32::MAX), |p: &Vec<Phase>| p.len() as u64);
        let phase = self.required_field(path, object, "phase", |c, p, v| {
            c.integer(p, v, 1, phase_count.max(1))
        });
        let since = self.required_field(path, object, "since", Self::timestamp);
        let streaks = self.optional(path, object, "streaks", [0; 4], Self::streaks);
        let evidence = self.nullable(path, object, "evidence", Self::timestamp);
        let last_decision = self.nullable(path, object, "last_decision", Self::decision);
        let history = self.optional(path, object, "history", Vec::new(), Self::history);
        let phase_counts = self.nullable(path, object, "phase_counts", Self::counts);
        if self.problems.len() != before {
            return None;
        }
        Some(Rollout {
            plan: Plan {
                phases: phases?,
                triggers: triggers?,
                window: window?,
                min_samples: min_samples?,
                sustain: sustain?,
                on_trigger: on_trigger?,
                success: success?,
            },
            state: State {
                status: status?,
                phase: phase? as usize - 1,
                since: since?,
                streaks: streaks?,
                evidence: evidence?,
                last_decision: last_decision?,
                history: history?,
                phase_counts: phase_counts?,
            },
        })
    }

    fn history(&mut self, path: &str, value: &Value) -> Option<Vec<PhaseRecord>> {
        let Some(items) = value.as_array().filter(|a| a.len() <= MAX_HISTORY) else {
            self.report(
                path,
                format!("must be an array of at most {MAX_HISTORY} ended phases"),
            );
            return None;
        };
        let before = self.problems.len();
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let path = format!("{path}[{i}]");
            let Some(o) = self.object(&path, item, &RECORD_FIELDS) else {
                continue;
            };
            let phase = self.required_field(&path, o, "phase", |c, p, v| {
                c.integer(p, v, 1, MAX_PHASES as u64)
            });
            let percentage = self.required_field(&path, o, "percentage", Self::percentage);
            let from = self.required_field(&path, o, "from", Self::timestamp);
            let to = self.required_field(&path, o, "to", Self::timestamp);
            let action = self.required_field(&path, o, "action", |c, p, v| {
                let names = ["advance", "done", "rollback"];
                c.name_of(p, v, &names, |s| names.contains(&s).then(|| s.to_owned()))
            });
            let mut text = |key: &str| match o.get(key) {
                None => Some(String::new()),
                Some(Value::String(s)) => Some(s.clone()),
                Some(v) => {
                    self.report(
                        &child_path(&path, key),
                        format!("must be a string, not {}", kind(v)),
                    );
                    None
                }
            };
            let reason = text("reason");
            let by = text("by");
            let counts = self.nullable(&path, o, "counts", Self::counts);
            if let (
                Some(phase),
                Some(percentage),
                Some(from),
                Some(to),
                Some(action),
                Some(reason),
                Some(by),
                Some(counts),
            ) = (phase, percentage, from, to, action, reason, by, counts)
            {
                out.push(PhaseRecord {
                    phase: phase as usize - 1,
                    percentage,
                    from,
                    to,
                    action,
                    reason,
                    by,
                    counts,
                });
            }
        }
        (self.problems.len() == before).then_some(out)
    }

    fn counts(&mut self, path: &str, value: &Value) -> Option<PhaseCounts> {
        let o = self.object(path, value, &COUNTS_FIELDS)?;
        let before = self.problems.len();
        let on = self.required_field(path, o, "on", Self::cohort);
        let off = self.required_field(path, o, "off", Self::cohort);
        let complaints = match o.get("complaints") {
            None | Some(Value::Null) => Some(f64::NAN),
            Some(v) => self.count(&child_path(path, "complaints"), v),
        };
        let at = self.nullable(path, o, "at", Self::timestamp);
        if self.problems.len() != before {
            return None;
        }
        Some(PhaseCounts {
            on: on?,
            off: off?,
            complaints: complaints?,
            at: at?,
        })
    }

    /// A count: a number at least 0, or null (not measured: NaN).
    fn count(&mut self, path: &str, value: &Value) -> Option<f64> {
        match value {
            Value::Null => Some(f64::NAN),
            Value::Number(n) => match n.as_f64() {
                Some(v) if v.is_finite() && v >= 0.0 => Some(v),
                _ => {
                    self.report(path, format!("{value} is not a count (at least 0)"));
                    None
                }
            },
            other => {
                self.report(
                    path,
                    format!("must be a count or null, not {}", kind(other)),
                );
                None
            }
        }
    }

    fn cohort(&mut self, path: &str, value: &Value) -> Option<CohortWindow> {
        let o = self.object(path, value, &COHORT_FIELDS)?;
        let before = self.problems.len();
        let ok = self.required_field(path, o, "ok", Self::count);
        let errors = self.required_field(path, o, "errors", Self::count);
        let mut le = [f64::NAN; DURATION_BOUNDS.len()];
        match self.required(path, o, "le") {
            Some(Value::Array(items)) if items.len() == DURATION_BOUNDS.len() => {
                for (i, item) in items.iter().enumerate() {
                    if let Some(v) = self.count(&format!("{}[{i}]", child_path(path, "le")), item) {
                        le[i] = v;
                    }
                }
            }
            Some(_) => self.report(
                &child_path(path, "le"),
                format!(
                    "must be an array of {} cumulative bucket counts (le {})",
                    DURATION_BOUNDS.len(),
                    DURATION_BOUNDS.map(|b| b.to_string()).join(", ")
                ),
            ),
            None => {}
        }
        if self.problems.len() != before {
            return None;
        }
        Some(CohortWindow {
            ok: ok?,
            errors: errors?,
            duration_le: le,
        })
    }

    /// The phases and each one's success criteria (none when absent: a
    /// file from before criteria keeps the plan it had).
    #[allow(clippy::type_complexity)]
    fn phases(&mut self, path: &str, value: &Value) -> Option<(Vec<Phase>, Vec<Vec<Criterion>>)> {
        let Some(items) = value.as_array() else {
            self.report(
                path,
                format!("must be an array of phases, not {}", kind(value)),
            );
            return None;
        };
        if items.is_empty() || items.len() > MAX_PHASES {
            self.report(
                path,
                format!("has {} phases; give 1 to {MAX_PHASES}", items.len()),
            );
            return None;
        }
        let before = self.problems.len();
        let mut phases: Vec<Phase> = Vec::new();
        let mut success: Vec<Vec<Criterion>> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let path = format!("{path}[{i}]");
            let last = i + 1 == items.len();
            let Some(object) = self.object(&path, item, &PHASE_FIELDS) else {
                continue;
            };
            let percentage = self.required_field(&path, object, "percentage", Self::percentage);
            let hold = match (object.get("hold"), last) {
                (Some(v), false) => self.duration(&child_path(&path, "hold"), v).map(Some),
                (None, false) => {
                    self.report(
                        &child_path(&path, "hold"),
                        "is missing; every phase but the last needs a hold time, such as \"1d\"",
                    );
                    None
                }
                (Some(_), true) => {
                    self.report(
                        &child_path(&path, "hold"),
                        "the last phase has no hold time (nothing follows it); remove it",
                    );
                    None
                }
                (None, true) => Some(None),
            };
            let criteria = match (object.get("success"), last) {
                (None, _) => Vec::new(),
                (Some(_), true) => {
                    self.report(
                        &child_path(&path, "success"),
                        "the last phase has no success criteria (nothing follows it); remove them",
                    );
                    Vec::new()
                }
                (Some(v), false) => self.criteria(&child_path(&path, "success"), v),
            };
            if let (Some(percentage), Some(hold)) = (percentage, hold) {
                if let Some(previous) = phases.last()
                    && percentage <= previous.percentage
                {
                    self.report(
                        &child_path(&path, "percentage"),
                        format!("{percentage} is not above the previous phase's {}; percentages must strictly increase", previous.percentage),
                    );
                }
                phases.push(Phase { percentage, hold });
                success.push(criteria);
            }
        }
        (self.problems.len() == before).then_some((phases, success))
    }

    /// `["error_rate<0.01", "no_degradation"]`: each as `--success` takes
    /// it, each name once.
    fn criteria(&mut self, path: &str, value: &Value) -> Vec<Criterion> {
        let Some(items) = value.as_array().filter(|a| a.len() <= MAX_CRITERIA) else {
            self.report(
                path,
                format!(
                    "must be an array of at most {MAX_CRITERIA} criteria such as \"error_rate<0.01\", not {}",
                    kind(value)
                ),
            );
            return Vec::new();
        };
        let mut out: Vec<Criterion> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let path = format!("{path}[{i}]");
            let Some(text) = item.as_str() else {
                self.report(&path, format!("must be a string, not {}", kind(item)));
                continue;
            };
            match Criterion::parse(text) {
                Ok(c) if out.iter().any(|o| o.name() == c.name()) => {
                    self.report(&path, format!("{} is given twice", c.name()));
                }
                Ok(c) => out.push(c),
                Err(e) => self.report(&path, e),
            }
        }
        out
    }

    fn percentage(&mut self, path: &str, value: &Value) -> Option<Percentage> {
        let Some(number) = value.as_f64().filter(|_| value.is_number()) else {
            self.report(
                path,
                format!("must be a number from 0 to 100, not {}", kind(value)),
            );
            return None;
        };
        match Percentage::from_f64(number) {
            Ok(p) => Some(p),
            Err(e) => {
                self.report(path, format!("{value} {e}"));
                None
            }
        }
    }

    fn duration(&mut self, path: &str, value: &Value) -> Option<jiff::SignedDuration> {
        let Some(text) = value.as_str() else {
            self.report(
                path,
                format!(
                    "must be a duration string such as \"1d\" or \"5m\", not {}",
                    kind(value)
                ),
            );
            return None;
        };
        match parse_duration(text) {
            Ok(d) => Some(d),
            Err(e) => {
                self.report(path, e);
                None
            }
        }
    }

    fn integer(&mut self, path: &str, value: &Value, min: u64, max: u64) -> Option<u64> {
        match value.as_u64() {
            Some(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.report(path, format!("{value} is not an integer in {min}..={max}"));
                None
            }
        }
    }

    fn name_of<T>(
        &mut self,
        path: &str,
        value: &Value,
        names: &[&str],
        from: impl Fn(&str) -> Option<T>,
    ) -> Option<T> {
        let parsed = value.as_str().and_then(&from);
        if parsed.is_none() {
            let hint = value
                .as_str()
                .and_then(|s| nearest_name(s, names.iter().copied()))
                .map(|near| format!("; did you mean {near:?}?"))
                .unwrap_or_default();
            self.report(
                path,
                format!("{value} is not one of {}{hint}", names.join(", ")),
            );
        }
        parsed
    }

    fn timestamp(&mut self, path: &str, value: &Value) -> Option<Timestamp> {
        match value.as_str().map(str::parse::<Timestamp>) {
            Some(Ok(t)) => Some(t),
            _ => {
                self.report(
                    path,
                    format!("{value} is not an RFC 3339 time such as \"2026-01-31T12:00:00Z\""),
                );
                None
            }
        }
    }

    fn triggers(&mut self, path: &str, value: &Value) -> Option<Triggers> {
        let names: Vec<&str> = Trigger::names().collect();
        let object = self.object(path, value, &names)?;
        let before = self.problems.len();
        let mut triggers = Triggers::default();
        for (key, v) in object {
            let Some(trigger) = Trigger::from_name(key) else {
                continue;
            };
            let path = child_path(path, key);
            if v.as_str() == Some("off") {
                triggers.set(trigger, None);
                continue;
            }
            match v.as_f64().filter(|_| v.is_number()) {
                Some(n) => match trigger.check_threshold(n) {
                    Ok(()) => triggers.set(trigger, Some(n)),
                    Err(e) => self.report(&path, e),
                },
                None => self.report(
                    &path,
                    format!("must be a threshold or \"off\", not {}", kind(v)),
                ),
            }
        }
        (self.problems.len() == before).then_some(triggers)
    }

    fn streaks(&mut self, path: &str, value: &Value) -> Option<[u32; 4]> {
        let names: Vec<&str> = Trigger::names().collect();
        let object = self.object(path, value, &names)?;
        let before = self.problems.len();
        let mut streaks = [0; 4];
        for (key, v) in object {
            if let Some(trigger) = Trigger::from_name(key)
                && let Some(n) = self.integer(&child_path(path, key), v, 0, u64::from(u32::MAX))
            {
                streaks[trigger as usize] = n as u32;
            }
        }
        (self.problems.len() == before).then_some(streaks)
    }

    fn decision(&mut self, path: &str, value: &Value) -> Option<LastDecision> {
        let object = self.object(path, value, &DECISION_FIELDS)?;
        let at = self.required_field(path, object, "at", Self::timestamp);
        let action = self.required_field(path, object, "action", |c, p, v| {
            c.name_of(p, v, &ACTIONS, |s| {
                ACTIONS.contains(&s).then(|| s.to_owned())
            })
        });
        let reason = self.required_field(path, object, "reason", |c, p, v| {
            let s = v.as_str().map(str::to_owned);
            if s.is_none() {
                c.report(p, format!("must be a string, not {}", kind(v)));
            }
            s
        });
        let readings = self.optional(path, object, "readings", Vec::new(), Self::readings);
        Some(LastDecision {
            at: at?,
            action: action?,
            reason: reason?,
            readings: readings?,
        })
    }

    fn readings(&mut self, path: &str, value: &Value) -> Option<Vec<Reading>> {
        let Some(items) = value.as_array().filter(|a| a.len() <= Trigger::ALL.len()) else {
            self.report(path, "must be an array of at most 4 readings");
            return None;
        };
        let mut readings = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let path = format!("{path}[{i}]");
            let object = self.object(&path, item, &READING_FIELDS)?;
            let trigger = self.required_field(&path, object, "trigger", |c, p, v| {
                let names: Vec<&str> = Trigger::names().collect();
                c.name_of(p, v, &names, Trigger::from_name)
            });
            let verdict = self.required_field(&path, object, "verdict", |c, p, v| {
                c.name_of(p, v, &Verdict::ALL.map(Verdict::name), Verdict::from_name)
            });
            let mut numbers = [f64::NAN; 6];
            for (slot, key) in
                numbers
                    .iter_mut()
                    .zip(["on", "off", "threshold", "samples", "off_samples", "z"])
            {
                match object.get(key) {
                    None | Some(Value::Null) => {}
                    Some(v) if v.is_number() => *slot = v.as_f64().unwrap_or(f64::NAN),
                    Some(v) => self.report(
                        &child_path(&path, key),
                        format!("must be a number or null, not {}", kind(v)),
                    ),
                }
            }
            let [on, off, threshold, samples, off_samples, z] = numbers;
            readings.push(Reading {
                trigger: trigger?,
                on,
                off,
                threshold,
                samples,
                off_samples,
                z,
                verdict: verdict?,
            });
        }
        Some(readings)
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
