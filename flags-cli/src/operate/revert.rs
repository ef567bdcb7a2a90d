//! `--revert ENTRY`: undoes one audit entry as a new audited edit that
//! names it (`action` revert, `reason` "revert of entry N", `revert_of` N).
//!
//! Entry ids are those of `--history --json` (`id`): on the database the
//! audit table's id, on a file the 1-based line number of FILE.audit.jsonl
//! (the log is append-only, so a line keeps its number).
//!
//! A field is set back to the entry's `old` only while it still holds the
//! entry's `new`; a field changed since is refused with its value now,
//! unless `--force`. A field already back at `old` (the same revert typed
//! twice) changes nothing and exits 0.

use flags_core::{FlagDef, FlagFile, parse_flag_file};
use serde_json::{Map, Value, json};

use super::apply::converge;
use super::converge::definition;
use super::diff::flag_fields;
use crate::Failure;
use crate::args::Cli;
use crate::edits::groups;
use crate::edits::show_value;
use crate::report::invalid_line;
use crate::store::{self, Commit, audit};

type Out<'a> = dyn FnMut(&str) + 'a;

/// The flag fields a revert can set back (those an edit records).
const FLAG_FIELDS: [&str; 8] = [
    "enabled",
    "rollout_percentage",
    "exclude_chats",
    "user_groups",
    "chat_types",
    "description",
    "bucket_by",
    "salt",
];

pub fn run(cli: &Cli, id: u64, out: &mut Out<'_>) -> Result<u8, Failure> {
    if cli.dry_run {
        return Err(Failure::usage(
            "--revert does not take --dry-run: it refuses by itself when the field changed since",
        ));
    }
    let entry = super::entry::find(cli, id)?;
    let undo = Undo::of(&entry, id)?;
    let mut store = store::open(cli)?;
    let names = (
        store.flags_name().to_owned(),
        store.rollouts_name().to_owned(),
    );
    let force = cli.manage.force;
    let mut extra = Map::new();
    extra.insert("action".into(), json!("revert"));
    extra.insert("reason".into(), json!(format!("revert of entry {id}")));
    extra.insert("revert_of".into(), json!(id));
    let mut printed = Vec::new();
    store.update(&mut |docs| {
        printed.clear();
        let file = parse_flag_file(&docs.flags)
            .map_err(|problems| Failure::new(invalid_line(&names.0, &problems)))?;
        match &undo {
            Undo::Field {
                flag,
                field,
                old,
                new,
            } => {
                let Some(target) = field_target(&file, flag, field, old, new, id, force)? else {
                    printed.push(format!(
                        "nothing to do: {flag}: {field} is already {} (entry {id} is undone)",
                        show_value(old)
                    ));
                    return Ok(None);
                };
                let done = converge((&names.0, &names.1), docs, &[(flag.clone(), target)], &extra)?;
                printed.extend(done.lines);
                Ok(done.commit)
            }
            Undo::Recreate { flag, old } => {
                let target = definition(flag, old).map_err(|e| {
                    Failure::new(format!(
                        "entry {id}: the deleted definition of {flag} is not valid now ({e})"
                    ))
                })?;
                if let Some(now) = file.flag(flag) {
                    if super::converge::same(flag, now, &target) {
                        printed.push(format!(
                            "nothing to do: {flag} is already as it was before entry {id}"
                        ));
                        return Ok(None);
                    }
                    if !force {
                        return Err(Failure::new(format!(
                            "{flag} was created again since entry {id} deleted it; --force sets it back to the deleted definition"
                        )));
                    }
                }
                let done = converge((&names.0, &names.1), docs, &[(flag.clone(), target)], &extra)?;
                printed.extend(done.lines);
                Ok(done.commit)
            }
            Undo::Members {
                group,
                added,
                removed,
            } => {
                let Some(members) = file.groups.iter().find(|(g, _)| g == group).map(|(_, m)| m)
                else {
                    return Err(Failure::new(format!(
                        "group {group} no longer exists (deleted since entry {id}); nothing to revert"
                    )));
                };
                let still_added: Vec<i64> =
                    added.iter().filter(|u| members.contains(u)).copied().collect();
                let still_removed: Vec<i64> =
                    removed.iter().filter(|u| !members.contains(u)).copied().collect();
                if still_added.is_empty() && still_removed.is_empty() {
                    printed.push(format!(
                        "nothing to do: group {group} is already as it was before entry {id}"
                    ));
                    return Ok(None);
                }
                let whole = still_added.len() == added.len() && still_removed.len() == removed.len();
                if !whole && !force {
                    return Err(Failure::new(format!(
                        "group {group} changed since entry {id}: of the users it added, {} are still in the group ({} added); of those it removed, {} are still out ({} removed); --force undoes what is left of it",
                        still_added.len(),
                        added.len(),
                        still_removed.len(),
                        removed.len()
                    )));
                }
                let planned =
                    groups::edit_members(&names.0, &docs.flags, group, &still_removed, &still_added)?;
                printed.extend(planned.lines.iter().cloned());
                let entries = planned
                    .entries
                    .into_iter()
                    .map(|mut e| {
                        e.extend(extra.clone());
                        e
                    })
                    .collect();
                Ok(Some(Commit {
                    flags: Some(planned.text),
                    rollouts: None,
                    audit: audit::stamp(entries, &audit::operator()),
                }))
            }
        }
    })?;
    for line in &printed {
        out(&format!("{line}\n"));
    }
    Ok(0)
}

/// What undoing an entry means.
#[derive(Debug, Clone, PartialEq)]
enum Undo {
    /// Set `flag`'s `field` back to `old` (it was set to `new`).
    Field {
        flag: String,
        field: String,
        old: Value,
        new: Value,
    },
    /// Put a deleted flag back as it was.
    Recreate { flag: String, old: Value },
    /// Take users added to a group out again, and put removed ones back.
    Members {
        group: String,
        added: Vec<i64>,
        removed: Vec<i64>,
    },
}

impl Undo {
    /// What undoing `entry` means, or why it cannot be undone.
    fn of(entry: &Map<String, Value>, id: u64) -> Result<Undo, Failure> {
        let text = |k: &str| entry.get(k).and_then(Value::as_str);
        let field = text("field").unwrap_or("");
        let old = entry.get("old").cloned().unwrap_or(Value::Null);
        let new = entry.get("new").cloned().unwrap_or(Value::Null);
        let refuse = |why: String| {
            Err(Failure::new(format!(
                "entry {id} cannot be reverted: {why}"
            )))
        };
        if let Some(action @ ("import" | "replace")) = text("action") {
            return refuse(format!(
                "it is an {action} of a whole document; --import FILE --replace puts a whole document back"
            ));
        }
        if let Some(group) = text("group") {
            let ids = |k: &str| groups::entry_ids(entry, k);
            return match field {
                "size" => Ok(Undo::Members {
                    group: group.to_owned(),
                    added: ids("added"),
                    removed: ids("removed"),
                }),
                "group" if old.is_null() => refuse(format!(
                    "it created group {group}; to undo it: --group {group} --delete"
                )),
                "group" => refuse(format!(
                    "it deleted group {group} (and took it out of the flags that targeted it); put it back with --group {group} --add-user ID (its ids are in --history --json)"
                )),
                _ => refuse(format!("an unknown change of group {group} ({field:?})")),
            };
        }
        let Some(flag) = text("flag") else {
            return refuse("it names no flag or group".into());
        };
        if field.starts_with("plan.") {
            return refuse(format!(
                "it changed the rollout plan of {flag} ({field}); plans change with --plan, --pause, --resume or --abort (see --status)"
            ));
        }
        if field == "flag" && old.is_null() {
            return refuse(format!(
                "it created flag {flag}; to undo it: --feature {flag} --delete"
            ));
        }
        if field == "flag" {
            return Ok(Undo::Recreate {
                flag: flag.to_owned(),
                old,
            });
        }
        if !FLAG_FIELDS.contains(&field) {
            return refuse(format!(
                "it changed {flag}'s {field:?}, which --revert does not know"
            ));
        }
        Ok(Undo::Field {
            flag: flag.to_owned(),
            field: field.to_owned(),
            old,
            new,
        })
    }
}

/// The flag's definition with `field` set back to `old`; `None` when it
/// already is; an error when the field changed since and not `force`.
fn field_target(
    file: &FlagFile,
    flag: &str,
    field: &str,
    old: &Value,
    new: &Value,
    id: u64,
    force: bool,
) -> Result<Option<FlagDef>, Failure> {
    let Some(def) = file.flag(flag) else {
        return Err(Failure::new(format!(
            "flag {flag} no longer exists (deleted since entry {id}); nothing to revert"
        )));
    };
    let fields = flag_fields(flag, def);
    let now = fields
        .iter()
        .find(|(f, _)| *f == field)
        .map(|(_, v)| normalized(v))
        .unwrap_or(Value::Null);
    if now == normalized(old) {
        return Ok(None);
    }
    if now != normalized(new) && !force {
        return Err(Failure::new(format!(
            "{flag}: {field} changed since entry {id}: it is {} now, the entry set it to {}; nothing changed (--force sets it back to {} anyway)",
            show_value(&now),
            show_value(new),
            show_value(old)
        )));
    }
    let mut object = Map::new();
    for (f, v) in fields {
        let v = if f == field { old.clone() } else { v };
        let absent = v.is_null() || v.as_array().is_some_and(Vec::is_empty);
        // Absent optional fields are written by leaving them out.
        if absent
            && matches!(
                f,
                "description" | "chat_types" | "exclude_chats" | "user_groups"
            )
        {
            continue;
        }
        object.insert(f.to_owned(), v);
    }
    definition(flag, &Value::Object(object))
        .map(Some)
        .map_err(|e| {
            Failure::new(format!(
                "entry {id}: {flag}'s old {field} is not valid now ({e})"
            ))
        })
}

/// Sets (ids, groups, chat types) in one order, so that order means nothing.
fn normalized(value: &Value) -> Value {
    match value {
        Value::Array(items) => {
            let mut items = items.clone();
            items.sort_by_key(Value::to_string);
            items.dedup();
            Value::Array(items)
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn which_entries_can_be_undone() {
        let table: [(Value, Option<&str>); 8] = [
            (
                json!({"flag": "a", "field": "enabled", "old": true, "new": false}),
                None,
            ),
            (
                json!({"flag": "a", "field": "flag", "old": {"enabled": true}, "new": null}),
                None,
            ),
            (
                json!({"group": "g", "field": "size", "old": 1, "new": 2, "added": [5], "removed": []}),
                None,
            ),
            (
                json!({"action": "import", "field": "import", "old": null, "new": "/x"}),
                Some("import"),
            ),
            (
                json!({"group": "g", "field": "group", "old": [1], "new": null}),
                Some("deleted group g"),
            ),
            (
                json!({"group": "g", "field": "group", "old": null, "new": [1]}),
                Some("--group g --delete"),
            ),
            (
                json!({"flag": "a", "field": "plan.phases", "old": "5,100", "new": "10,100"}),
                Some("rollout plan"),
            ),
            (
                json!({"flag": "a", "field": "flag", "old": null, "new": {}}),
                Some("--feature a --delete"),
            ),
        ];
        for (value, refusal) in table {
            let got = Undo::of(&entry(value.clone()), 7);
            match (got, refusal) {
                (Ok(_), None) => {}
                (Err(f), Some(why)) => {
                    let line = &f.lines[0];
                    assert!(line.starts_with("entry 7 cannot be reverted"), "{line}");
                    assert!(line.contains(why), "{line}");
                }
                (got, _) => panic!("{value}: {got:?}"),
            }
        }
    }

    const FILE: &str = r#"{"version": 1, "flags": {"a": {"enabled": true, "rollout_percentage": 50, "exclude_chats": [-2, -1], "description": "d"}}}"#;

    #[test]
    fn a_field_goes_back_only_from_the_entry_s_new_value() {
        let file = parse_flag_file(FILE).unwrap();
        let target = |field: &str, old: Value, new: Value, force: bool| {
            field_target(&file, "a", field, &old, &new, 3, force)
        };
        // Still as the entry left it: set back.
        let back = target("rollout_percentage", json!(10), json!(50), false)
            .unwrap()
            .unwrap();
        assert_eq!(back.rollout_percentage, "10".parse().unwrap());
        assert_eq!(back.exclude_chats.len(), 2, "other fields stay");
        // A set in another order is the same set.
        let back = target("exclude_chats", json!([]), json!([-1, -2]), false)
            .unwrap()
            .unwrap();
        assert!(back.exclude_chats.is_empty());
        let back = target("description", Value::Null, json!("d"), false)
            .unwrap()
            .unwrap();
        assert_eq!(back.description, None);
        // Already back: nothing to do, with or without --force.
        assert!(
            target("rollout_percentage", json!(50), json!(10), false)
                .unwrap()
                .is_none()
        );
        assert!(
            target("rollout_percentage", json!(50), json!(10), true)
                .unwrap()
                .is_none()
        );
        // Changed since: refused with the value now, unless --force.
        let refused = target("rollout_percentage", json!(10), json!(25), false).unwrap_err();
        assert!(
            refused.lines[0].contains("it is 50 now, the entry set it to 25"),
            "{:?}",
            refused.lines
        );
        assert!(
            target("rollout_percentage", json!(10), json!(25), true)
                .unwrap()
                .is_some()
        );
        // The flag is gone.
        assert!(field_target(&file, "b", "enabled", &json!(true), &json!(false), 3, true).is_err());
    }
}
