//! User groups: membership edits, deleting a group, and how a group is
//! shown. Pure functions of the file's text; `locked.rs` writes the result.
//!
//! Membership edits touch only the group's array (a 100 000-member group
//! gets one id appended, every other byte as it was), and the audit log
//! records the ids added and removed, not the whole group.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::Path;

use flags_core::{FlagFile, nearest_name, parse_flag_file};
use serde_json::{Map, Value, json};

use crate::Failure;
use crate::edits::Change;
use crate::jsonedit::patch;
use crate::report::invalid_line;
use crate::store::audit::change_entry;
use crate::store::locked::PendingWrite;

/// At most this many ids are printed per change (the audit log has all).
const SHOWN_IDS: usize = 20;

fn parse(path: &Path, text: &str) -> Result<FlagFile, Failure> {
    parse_flag_file(text).map_err(|problems| Failure::new(invalid_line(path, &problems)))
}

fn members<'f>(file: &'f FlagFile, group: &str) -> Option<&'f Vec<i64>> {
    file.groups
        .iter()
        .find(|(g, _)| g == group)
        .map(|(_, ids)| ids)
}

/// The flags whose `user_groups` name `group`, in file order.
pub fn targeted_by<'f>(file: &'f FlagFile, group: &str) -> Vec<&'f str> {
    file.flags
        .iter()
        .filter(|(_, def)| def.user_groups.iter().any(|g| g == group))
        .map(|(name, _)| name.as_str())
        .collect()
}

/// The size of each of `names` in the file's groups (`None`: not defined
/// there; its members can only come from the bot).
pub fn sizes<'n>(file: &FlagFile, names: &'n [String]) -> Vec<(&'n str, Option<usize>)> {
    names
        .iter()
        .map(|name| (name.as_str(), members(file, name).map(Vec::len)))
        .collect()
}

/// `{"beta_testers": 2, "from_bot": null}`.
pub fn sizes_json(file: &FlagFile, names: &[String]) -> Value {
    Value::Object(
        sizes(file, names)
            .into_iter()
            .map(|(name, size)| (name.to_owned(), json!(size)))
            .collect(),
    )
}

/// `beta_testers (2 users)`, `from_bot (not in the file)`.
pub fn size_text(name: &str, size: Option<usize>) -> String {
    match size {
        Some(1) => format!("{name} (1 user)"),
        Some(n) => format!("{name} ({n} users)"),
        None => format!("{name} (not in the file)"),
    }
}

/// The error for a group the file does not define.
fn unknown_group(file: &FlagFile, group: &str) -> Failure {
    let mut message = format!("no group named {group:?} in the file's groups");
    let users = targeted_by(file, group);
    if !users.is_empty() {
        let _ = write!(
            message,
            " ({} {} it in user_groups; its members come only from the bot)",
            users.join(", "),
            if users.len() == 1 { "names" } else { "name" }
        );
    } else if let Some(near) = nearest_name(group, file.groups.iter().map(|(g, _)| g.as_str())) {
        let _ = write!(message, "; did you mean {near:?}?");
    }
    Failure::new(message)
}

fn id_list(ids: &[i64]) -> String {
    let shown: Vec<String> = ids.iter().take(SHOWN_IDS).map(i64::to_string).collect();
    match ids.len().checked_sub(SHOWN_IDS) {
        Some(more) if more > 0 => format!("{} and {more} more", shown.join(", ")),
        _ => shown.join(", "),
    }
}

fn users(n: usize) -> String {
    if n == 1 {
        "1 user".into()
    } else {
        format!("{n} users")
    }
}

/// The result must read back as exactly `expected`.
fn verified(text: String, expected: &FlagFile) -> Result<String, Failure> {
    let internal = |why: String| {
        Failure::new(format!(
            "refusing to write: the edited file would not read back as intended ({why}); this is a bug"
        ))
    };
    match parse_flag_file(&text) {
        Ok(after) if after == *expected => Ok(text),
        Ok(_) => Err(internal(
            "the result differs from the requested change".into(),
        )),
        Err(problems) => Err(internal(problems.to_string())),
    }
}

fn internal(why: String) -> Failure {
    Failure::new(format!("refusing to write: {why}; this is a bug"))
}

/// `--group NAME --add-user ID... --remove-user ID...`.
pub fn edit_members(
    path: &Path,
    text: &str,
    group: &str,
    add: &[i64],
    remove: &[i64],
) -> Result<PendingWrite, Failure> {
    let before = parse(path, text)?;
    let current = members(&before, group);
    let mut lines = Vec::new();

    if !remove.is_empty() {
        let Some(current) = current else {
            return Err(unknown_group(&before, group));
        };
        if let Some(id) = remove.iter().find(|id| !current.contains(id)) {
            return Err(Failure::new(format!(
                "user {id} is not in group {group}; nothing changed"
            )));
        }
    }
    let present: HashSet<i64> = current.into_iter().flatten().copied().collect();
    let mut added: Vec<i64> = Vec::new();
    for &id in add {
        if present.contains(&id) || added.contains(&id) {
            lines.push(format!("group {group}: user {id} is already in the group"));
        } else {
            added.push(id);
        }
    }
    let mut removed: Vec<i64> = Vec::new();
    for &id in remove {
        if !removed.contains(&id) {
            removed.push(id);
        }
    }
    if added.is_empty() && removed.is_empty() {
        return Ok(PendingWrite {
            text: text.to_owned(),
            lines,
            entries: Vec::new(),
            rollouts: None,
        });
    }

    let mut expected = before.clone();
    let mut edited = text.to_owned();
    let array = ["groups", group];
    let mut entry = Map::new();
    entry.insert("group".into(), json!(group));
    match current {
        Some(current) => {
            if !removed.is_empty() {
                patch::remove_items(&mut edited, &array, |item| {
                    patch::id_of(item).is_some_and(|id| removed.contains(&id))
                })
                .map_err(internal)?;
            }
            if !added.is_empty() {
                let first = patch::first_item(&edited, &array).map_err(internal)?;
                let items = patch::id_items(first.as_deref(), &added);
                patch::append_items(&mut edited, &array, &items).map_err(internal)?;
            }
            let ids = crate::edits::named_mut(&mut expected.groups, group)
                .ok_or_else(|| internal("group vanished".into()))?;
            ids.retain(|id| !removed.contains(id));
            ids.extend(&added);
            let (old, new) = (current.len(), ids.len());
            let mut what = Vec::new();
            if !added.is_empty() {
                what.push(format!("added {}", id_list(&added)));
            }
            if !removed.is_empty() {
                what.push(format!("removed {}", id_list(&removed)));
            }
            lines.push(format!(
                "group {group}: {} ({old} -> {new} users)",
                what.join("; ")
            ));
            entry.insert("field".into(), json!("size"));
            entry.insert("old".into(), json!(old));
            entry.insert("new".into(), json!(new));
            entry.insert("added".into(), json!(added));
            entry.insert("removed".into(), json!(removed));
        }
        None => {
            let value = format!("[{}]", patch::id_items(None, &added).join(", "));
            if patch::has(&edited, &["groups"]).map_err(internal)? {
                patch::set_member(&mut edited, &["groups"], group, &value).map_err(internal)?;
            } else {
                let members = [(group.to_owned(), value)];
                patch::insert_object(&mut edited, &[], "groups", &members, patch::Layout::Nested)
                    .map_err(internal)?;
            }
            expected.groups.push((group.to_owned(), added.clone()));
            lines.push(format!(
                "group {group}: created with {} ({})",
                users(added.len()),
                id_list(&added)
            ));
            entry.insert("field".into(), json!("group"));
            entry.insert("old".into(), Value::Null);
            entry.insert("new".into(), json!(added));
        }
    }
    Ok(PendingWrite {
        text: verified(edited, &expected)?,
        lines,
        entries: vec![entry],
        rollouts: None,
    })
}

/// `--group NAME --delete [--force]`.
pub fn delete(path: &Path, text: &str, group: &str, force: bool) -> Result<PendingWrite, Failure> {
    let before = parse(path, text)?;
    let Some(ids) = members(&before, group) else {
        return Err(unknown_group(&before, group));
    };
    let flags = targeted_by(&before, group);
    if !flags.is_empty() && !force {
        return Err(Failure::new(format!(
            "group {group} is still targeted by {}; add --force to delete it and remove it from their user_groups, or --feature NAME --remove-user-group {group} first",
            flags.join(", ")
        )));
    }
    let mut edited = text.to_owned();
    let mut expected = before.clone();
    patch::remove_member(&mut edited, &["groups"], group).map_err(internal)?;
    expected.groups.retain(|(g, _)| g != group);
    let mut entry = Map::new();
    entry.insert("group".into(), json!(group));
    entry.insert("field".into(), json!("group"));
    // All ids, so a mistaken delete can be undone from the log.
    entry.insert("old".into(), json!(ids));
    entry.insert("new".into(), Value::Null);
    let mut lines = vec![format!("group {group}: deleted ({})", users(ids.len()))];
    let mut entries = vec![entry];
    for flag in &flags {
        patch::remove_items(&mut edited, &["flags", flag, "user_groups"], |item| {
            patch::string_of(item).as_deref() == Some(group)
        })
        .map_err(internal)?;
        let def = crate::edits::named_mut(&mut expected.flags, flag)
            .ok_or_else(|| internal("flag vanished".into()))?;
        let old = def.user_groups.clone();
        def.user_groups.retain(|g| g != group);
        let change = Change {
            flag: (*flag).to_owned(),
            field: "user_groups".into(),
            old: json!(old),
            new: json!(def.user_groups),
        };
        lines.push(change.to_string());
        entries.push(change_entry(&change));
    }
    if !flags.is_empty() {
        lines.push(format!(
            "the group's users now get {} only through the rollout percentage",
            flags.join(", ")
        ));
    }
    Ok(PendingWrite {
        text: verified(edited, &expected)?,
        lines,
        entries,
        rollouts: None,
    })
}

/// `--group NAME`: its size and the flags that target it.
pub fn show(path: &Path, text: &str, group: &str, as_json: bool) -> Result<String, Failure> {
    let file = parse(path, text)?;
    let flags = targeted_by(&file, group);
    let size = members(&file, group).map(Vec::len);
    if size.is_none() && flags.is_empty() {
        return Err(unknown_group(&file, group));
    }
    if as_json {
        let value = json!({ "group": group, "size": size, "targeted_by": flags });
        return Ok(format!(
            "{}\n",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        ));
    }
    let mut out = match size {
        Some(n) => format!("{group}: {}\n", users(n)),
        None => format!("{group}: not in the file's groups (its members come only from the bot)\n"),
    };
    let targeted = if flags.is_empty() {
        "- (no flag)".to_owned()
    } else {
        flags.join(", ")
    };
    let _ = writeln!(out, "  targeted by: {targeted}");
    Ok(out)
}

/// `--group NAME --list-users`: one id per line, or a JSON array.
pub fn list_users(path: &Path, text: &str, group: &str, as_json: bool) -> Result<String, Failure> {
    let file = parse(path, text)?;
    let Some(ids) = members(&file, group) else {
        return Err(unknown_group(&file, group));
    };
    if as_json {
        let value = json!({ "group": group, "users": ids });
        return Ok(format!(
            "{}\n",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        ));
    }
    let mut out = String::with_capacity(ids.len() * 12);
    for id in ids {
        let _ = writeln!(out, "{id}");
    }
    Ok(out)
}

/// The ids a group's audit entry lists under `key` (`added`, `removed`,
/// and `old` or `new` for a group deleted or created); none if it lists
/// none.
pub fn entry_ids(entry: &Map<String, Value>, key: &str) -> Vec<i64> {
    entry
        .get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default()
}

/// How `--history` shows a group's audit entry; `None` for other entries.
pub fn history_text(entry: &Map<String, Value>) -> Option<String> {
    let group = entry.get("group")?.as_str()?;
    let ids = |key: &str| entry_ids(entry, key);
    let field = entry.get("field").and_then(Value::as_str).unwrap_or("?");
    let (old, new) = (entry.get("old"), entry.get("new"));
    Some(match field {
        "group" if old.is_none_or(Value::is_null) => {
            let ids = ids("new");
            format!(
                "group {group}: created with {} ({})",
                users(ids.len()),
                id_list(&ids)
            )
        }
        "group" => format!("group {group}: deleted ({})", users(ids("old").len())),
        _ => {
            let mut what = Vec::new();
            for (key, verb) in [("added", "added"), ("removed", "removed")] {
                let ids = ids(key);
                if !ids.is_empty() {
                    what.push(format!("{verb} {}", id_list(&ids)));
                }
            }
            let size = |v: Option<&Value>| v.map_or("?".to_owned(), Value::to_string);
            format!(
                "group {group}: {} ({} -> {} users)",
                what.join("; "),
                size(old),
                size(new)
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"{
  "version": 1,
  "groups": {
    "beta": [1, 2, 3],
    "ops": ["10"]
  },
  "flags": {
    "a": {"enabled": true, "user_groups": ["beta", "ops"]},
    "b": {"enabled": true, "user_groups": ["beta"]}
  }
}
"#;

    fn members_edit(group: &str, add: &[i64], remove: &[i64]) -> Result<PendingWrite, Failure> {
        edit_members(Path::new("f.json"), FILE, group, add, remove)
    }

    #[test]
    fn adding_appends_only_to_the_groups_array() {
        let planned = members_edit("beta", &[4, 2], &[]).unwrap();
        assert_eq!(planned.text, FILE.replace("[1, 2, 3]", "[1, 2, 3, 4]"));
        assert_eq!(
            planned.lines,
            [
                "group beta: user 2 is already in the group",
                "group beta: added 4 (3 -> 4 users)"
            ]
        );
        assert_eq!(planned.entries.len(), 1);
        assert_eq!(planned.entries[0]["added"], json!([4]));
        // String ids stay strings.
        let planned = members_edit("ops", &[-7], &[]).unwrap();
        assert_eq!(planned.text, FILE.replace(r#"["10"]"#, r#"["10", "-7"]"#));
    }

    #[test]
    fn an_add_of_members_only_changes_nothing() {
        let planned = members_edit("beta", &[1, 3], &[]).unwrap();
        assert!(planned.entries.is_empty());
        assert_eq!(planned.text, FILE);
    }

    #[test]
    fn removing_a_non_member_names_the_group() {
        let failure = members_edit("beta", &[], &[1, 9]).unwrap_err();
        assert_eq!(
            failure.lines,
            ["user 9 is not in group beta; nothing changed"]
        );
        let failure = members_edit("bta", &[], &[1]).unwrap_err();
        assert!(
            failure.lines[0].contains("did you mean \"beta\""),
            "{:?}",
            failure.lines
        );
        let planned = members_edit("beta", &[], &[1, 3]).unwrap();
        assert_eq!(planned.text, FILE.replace("[1, 2, 3]", "[2]"));
    }

    #[test]
    fn the_first_add_creates_the_group_and_if_need_be_groups() {
        let planned = members_edit("new", &[5, 6], &[]).unwrap();
        assert_eq!(
            planned.text,
            FILE.replace("[\"10\"]\n", "[\"10\"],\n    \"new\": [5, 6]\n")
        );
        let bare = "{\n  \"version\": 1,\n  \"flags\": {}\n}\n";
        let planned = edit_members(Path::new("f"), bare, "beta", &[1], &[]).unwrap();
        assert_eq!(
            planned.text,
            "{\n  \"version\": 1,\n  \"flags\": {},\n  \"groups\": {\n    \"beta\": [1]\n  }\n}\n"
        );
    }

    #[test]
    fn deleting_a_targeted_group_needs_force_and_untargets_it() {
        let failure = delete(Path::new("f"), FILE, "beta", false).unwrap_err();
        assert!(
            failure.lines[0].contains("still targeted by a, b"),
            "{:?}",
            failure.lines
        );
        let planned = delete(Path::new("f"), FILE, "beta", true).unwrap();
        let expected = FILE
            .replace("    \"beta\": [1, 2, 3],\n", "")
            .replace(r#"["beta", "ops"]"#, r#"["ops"]"#)
            .replace(r#"["beta"]"#, "[]");
        assert_eq!(planned.text, expected);
        assert_eq!(planned.entries.len(), 3);
        assert_eq!(planned.entries[0]["old"], json!([1, 2, 3]));
        assert!(delete(Path::new("f"), FILE, "nope", true).is_err());
    }

    #[test]
    fn history_describes_group_entries() {
        let planned = members_edit("beta", &[4], &[1]).unwrap();
        assert_eq!(
            history_text(&planned.entries[0]).unwrap(),
            "group beta: added 4; removed 1 (3 -> 3 users)"
        );
        assert_eq!(
            id_list(&(0..25).collect::<Vec<_>>()).split(", ").count(),
            20
        );
    }
}
