//! `--diff OTHER`: this source against another, flag by flag, group by
//! group, plan by plan (a plan's settings, not its state: staging's plan is
//! expected to be further along than production's). Compared as the bots
//! and the guard read them, so formatting, key order, ids written as
//! strings or numbers, and the order of a set do not count.

use flags_core::FlagDef;
use flags_rollout::Plan;
use flags_rollout::plan::phases_spec;
use serde_json::{Value, json};

use super::converge::effective_salt;
use super::source::Side;

/// One thing that differs.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    /// `flag`, `group` or `plan`.
    pub kind: &'static str,
    pub name: String,
    /// The field that differs; `None` when the thing exists on one side only.
    pub field: Option<String>,
    pub here: Value,
    pub other: Value,
}

/// A flag's fields as compared and shown.
pub fn flag_fields(name: &str, def: &FlagDef) -> Vec<(&'static str, Value)> {
    let mut chats = def.exclude_chats.clone();
    chats.sort_unstable();
    chats.dedup();
    let mut groups = def.user_groups.clone();
    groups.sort();
    groups.dedup();
    let mut types: Vec<&str> = def.chat_types.iter().map(|t| t.as_str()).collect();
    types.sort_unstable();
    vec![
        ("enabled", json!(def.enabled)),
        ("rollout_percentage", def.rollout_percentage.to_json()),
        ("exclude_chats", json!(chats)),
        ("user_groups", json!(groups)),
        ("chat_types", json!(types)),
        ("description", json!(def.description)),
        ("bucket_by", json!(def.bucket_by.as_str())),
        ("salt", json!(effective_salt(name, def))),
    ]
}

/// A plan's settings (its state left out).
fn plan_fields(plan: &Plan) -> Vec<(&'static str, Value)> {
    vec![
        ("phases", json!(phases_spec(&plan.phases))),
        ("triggers", json!(plan.triggers.spec())),
        ("window", json!(flags_rollout::format_duration(plan.window))),
        ("min_samples", json!(plan.min_samples)),
        ("sustain", json!(plan.sustain)),
        ("on_trigger", json!(plan.on_trigger.name())),
    ]
}

/// Every difference between `here` and `other`, flags first, each kind
/// in name order.
pub fn differences(here: &Side, other: &Side) -> Vec<Difference> {
    let mut out = Vec::new();
    let names = both_sides(
        here.flags.flags.iter().map(|(n, _)| n.as_str()),
        other.flags.flags.iter().map(|(n, _)| n.as_str()),
    );
    for name in names {
        compare(
            &mut out,
            ("flag", name),
            (here.flags.flag(name), other.flags.flag(name)),
            |def| flag_fields(name, def),
        );
    }

    let members = |side: &Side, name: &str| -> Option<Vec<i64>> {
        side.flags
            .groups
            .iter()
            .find(|(g, _)| g == name)
            .map(|(_, ids)| {
                let mut ids = ids.clone();
                ids.sort_unstable();
                ids.dedup();
                ids
            })
    };
    let groups = both_sides(
        here.flags.groups.iter().map(|(g, _)| g.as_str()),
        other.flags.groups.iter().map(|(g, _)| g.as_str()),
    );
    for name in groups {
        let (a, b) = (members(here, name), members(other, name));
        if a != b {
            out.push(Difference {
                kind: "group",
                name: name.to_owned(),
                field: (a.is_some() && b.is_some()).then(|| "members".to_owned()),
                here: a.map_or(Value::Null, |ids| json!(ids)),
                other: b.map_or(Value::Null, |ids| json!(ids)),
            });
        }
    }

    let plans = both_sides(
        here.plans.rollouts.keys().map(String::as_str),
        other.plans.rollouts.keys().map(String::as_str),
    );
    for name in plans {
        let (a, b) = (
            here.plans.rollouts.get(name).map(|r| &r.plan),
            other.plans.rollouts.get(name).map(|r| &r.plan),
        );
        let before = out.len();
        compare(&mut out, ("plan", name), (a, b), plan_fields);
        // Settings this view does not name (added in later versions)
        // still count.
        if let (Some(a), Some(b)) = (a, b)
            && out.len() == before
            && a != b
        {
            out.push(Difference {
                kind: "plan",
                name: name.to_owned(),
                field: Some("settings".to_owned()),
                here: json!("…"),
                other: json!("…"),
            });
        }
    }
    out
}

/// The names of either side, each once, in order.
fn both_sides<'a>(
    here: impl Iterator<Item = &'a str>,
    other: impl Iterator<Item = &'a str>,
) -> Vec<&'a str> {
    let mut names: Vec<&str> = here.chain(other).collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// One flag's or plan's differences (`kind` and `name` say which): each
/// field of `fields` that differs when both sides have it, else the whole
/// thing against null.
fn compare<T>(
    out: &mut Vec<Difference>,
    (kind, name): (&'static str, &str),
    sides: (Option<&T>, Option<&T>),
    fields: impl Fn(&T) -> Vec<(&'static str, Value)>,
) {
    let diff = |field: Option<&str>, here: Value, other: Value| Difference {
        kind,
        name: name.to_owned(),
        field: field.map(str::to_owned),
        here,
        other,
    };
    let whole = |x: &T| -> Value {
        Value::Object(
            fields(x)
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        )
    };
    match sides {
        (Some(a), Some(b)) => {
            for ((field, x), (_, y)) in fields(a).into_iter().zip(fields(b)) {
                if x != y {
                    out.push(diff(Some(field), x, y));
                }
            }
        }
        (Some(a), None) => out.push(diff(None, whole(a), Value::Null)),
        (None, Some(b)) => out.push(diff(None, Value::Null, whole(b))),
        (None, None) => {}
    }
}

/// How many ids a group line lists on each side before "…".
const SHOWN_IDS: usize = 10;

fn ids_text(ids: &[i64]) -> String {
    let mut shown: Vec<String> = ids.iter().take(SHOWN_IDS).map(i64::to_string).collect();
    if ids.len() > SHOWN_IDS {
        shown.push(format!("… {} more", ids.len() - SHOWN_IDS));
    }
    shown.join(", ")
}

fn show(value: &Value) -> String {
    crate::edits::show_value(value)
}

impl Difference {
    /// One line for people.
    pub fn text(&self) -> String {
        let head = format!("{} {}", self.kind, self.name);
        let Some(field) = &self.field else {
            return if self.other.is_null() {
                format!("{head}: only here")
            } else {
                format!("{head}: only in OTHER")
            };
        };
        if self.kind == "group" {
            let ids = |v: &Value| -> Vec<i64> {
                v.as_array()
                    .map(|a| a.iter().filter_map(Value::as_i64).collect())
                    .unwrap_or_default()
            };
            let (a, b) = (ids(&self.here), ids(&self.other));
            let only_here: Vec<i64> = a.iter().filter(|id| !b.contains(id)).copied().collect();
            let only_other: Vec<i64> = b.iter().filter(|id| !a.contains(id)).copied().collect();
            let mut parts = Vec::new();
            if !only_here.is_empty() {
                parts.push(format!("only here: {}", ids_text(&only_here)));
            }
            if !only_other.is_empty() {
                parts.push(format!("only in OTHER: {}", ids_text(&only_other)));
            }
            return format!(
                "{head}: {} users here, {} in OTHER ({})",
                a.len(),
                b.len(),
                parts.join("; ")
            );
        }
        format!(
            "{head}: {field} {} here, {} in OTHER",
            show(&self.here),
            show(&self.other)
        )
    }

    pub fn json(&self) -> Value {
        json!({
            "kind": self.kind,
            "name": self.name,
            "field": self.field,
            "here": self.here,
            "other": self.other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flags_core::parse_flag_file;
    use flags_rollout::RolloutsFile;

    fn side(flags: &str, plans: Option<&str>) -> Side {
        Side {
            name: "x".into(),
            flags: parse_flag_file(flags).unwrap(),
            plans: plans.map_or_else(RolloutsFile::default, |p| RolloutsFile::parse(p).unwrap()),
        }
    }

    #[test]
    fn what_counts_as_a_difference() {
        let base = r#"{"version": 1, "groups": {"beta": [1, 2]}, "flags": {"a": {"enabled": true, "exclude_chats": [-1, -2]}}}"#;
        let table: [(&str, &str, &[&str]); 6] = [
            // Formatting, key order, string ids and set order do not count.
            (
                base,
                "{\n\"flags\": {\"a\": {\"exclude_chats\": [\"-2\", -1], \"enabled\": true}},\n\"groups\": {\"beta\": [2, \"1\"]}, \"version\": 1}",
                &[],
            ),
            (
                base,
                r#"{"version": 1, "groups": {"beta": [1, 2]}, "flags": {"a": {"enabled": true, "exclude_chats": [-1, -2], "salt": "a"}}}"#,
                &[],
            ),
            (
                base,
                r#"{"version": 1, "groups": {"beta": [1, 3]}, "flags": {"a": {"enabled": false, "rollout_percentage": 5, "exclude_chats": [-1, -2]}}}"#,
                &[
                    "flag a: enabled true here, false in OTHER",
                    "flag a: rollout_percentage 100 here, 5 in OTHER",
                    "group beta: 2 users here, 2 in OTHER (only here: 2; only in OTHER: 3)",
                ],
            ),
            (
                base,
                r#"{"version": 1, "flags": {"b": {"enabled": true}}}"#,
                &[
                    "flag a: only here",
                    "flag b: only in OTHER",
                    "group beta: only here",
                ],
            ),
            (
                r#"{"version": 1, "flags": {}}"#,
                r#"{"version": 1, "flags": {}}"#,
                &[],
            ),
            (
                r#"{"version": 1, "flags": {"a": {"enabled": true, "description": "x"}}}"#,
                r#"{"version": 1, "flags": {"a": {"enabled": true}}}"#,
                &["flag a: description \"x\" here, null in OTHER"],
            ),
        ];
        for (a, b, expected) in table {
            let lines: Vec<String> = differences(&side(a, None), &side(b, None))
                .iter()
                .map(Difference::text)
                .collect();
            assert_eq!(lines, expected, "{a} vs {b}");
        }
    }

    #[test]
    fn plans_compare_settings_not_state() {
        let flags = r#"{"version": 1, "flags": {"a": {"enabled": true}}}"#;
        let plan = |phases: &str, status: &str| {
            format!(
                r#"{{"version": 1, "rollouts": {{"a": {{
  "phases": {phases},
  "triggers": {{"error_rate": 0.05, "response_time": 5, "memory_usage": 0.9, "complaints": 10}},
  "window": "5m", "min_samples": 10, "sustain": 2, "on_trigger": "disable",
  "state": "{status}", "phase": 1, "since": "2026-01-01T00:00:00Z",
  "streaks": {{"error_rate": 0, "response_time": 0, "memory_usage": 0, "complaints": 0}},
  "last_decision": null}}}}}}"#
            )
        };
        let one = r#"[{"percentage": 5, "hold": "1d"}, {"percentage": 100}]"#;
        let two = r#"[{"percentage": 10, "hold": "1d"}, {"percentage": 100}]"#;
        let a = side(flags, Some(&plan(one, "pending")));
        assert!(differences(&a, &side(flags, Some(&plan(one, "running")))).is_empty());
        let lines: Vec<String> = differences(&a, &side(flags, Some(&plan(two, "pending"))))
            .iter()
            .map(Difference::text)
            .collect();
        assert_eq!(
            lines,
            ["plan a: phases \"5:1d,100\" here, \"10:1d,100\" in OTHER"]
        );
        let lines: Vec<String> = differences(&a, &side(flags, None))
            .iter()
            .map(Difference::text)
            .collect();
        assert_eq!(lines, ["plan a: only here"]);
    }
}
