//! `--history`: the audit trail, one line per entry, as an operator reads
//! it to see who changed what, where, and why, and to pick an id for
//! `--revert`.
//!
//! `#ID  TIME  [version N  host H  role R (user U)|U]  CHANGE[  — WHY][  [imported …]]`
//!
//! In a database the id is the audit row's, the time and role are the
//! database's own stamps and the user and host are what the client
//! declared; the version is the flag document's after the change. A file's
//! audit log has no server to stamp it: the id is the entry's line number,
//! the time and user are as the editing process declared them.

use serde_json::{Map, Value};

use super::inert::inert;
use crate::Failure;
use crate::args::Cli;
use crate::edits::{self, Change};
use crate::store::{self, Store};

type Out<'a> = dyn FnMut(&str) + 'a;

pub fn history(cli: &Cli, out: &mut Out<'_>) -> Result<u8, Failure> {
    let mut store = store::open(cli)?;
    let store::History {
        entries,
        unreadable,
    } = store.history()?;
    for line in unreadable {
        eprintln!("warning: {}", inert(&line));
    }
    let entries: Vec<_> = entries
        .into_iter()
        .filter(|e| {
            cli.feature
                .as_deref()
                .is_none_or(|f| e.get("flag").and_then(Value::as_str) == Some(f))
        })
        .collect();
    if entries.is_empty()
        && let Some(flag) = cli.feature.as_deref()
    {
        refuse_unknown_flag(&mut *store, flag)?;
    }
    if cli.json {
        let entries = entries.into_iter().map(Value::Object).collect();
        let mut text = serde_json::to_string_pretty(&Value::Array(entries)).unwrap_or_default();
        text.push('\n');
        out(&text);
        return Ok(0);
    }
    if entries.is_empty() {
        let what = match cli.feature.as_deref() {
            Some(flag) => format!(" for {}", inert(flag)),
            None => String::new(),
        };
        out(&format!(
            "no edits recorded{what} in {}\n",
            inert(&store.audit_name())
        ));
    }
    for entry in &entries {
        out(&format!("{}\n", inert(&line(entry))));
    }
    Ok(0)
}

/// A flag with no history that the flag document does not have either is
/// a typo (a deleted flag's history still shows): the error names the
/// nearest flag.
fn refuse_unknown_flag(store: &mut dyn Store, flag: &str) -> Result<(), Failure> {
    let Ok(docs) = store.read() else {
        return Ok(());
    };
    let Ok(file) = flags_core::parse_flag_file(&docs.flags) else {
        return Ok(());
    };
    if file.flag(flag).is_some() {
        return Ok(());
    }
    Err(Failure::new(edits::unknown_flag(&file, flag).to_string()))
}

/// One entry as one line (not yet made inert).
pub fn line(entry: &Map<String, Value>) -> String {
    let text = |key: &str| entry.get(key).and_then(Value::as_str);
    let mut parts = Vec::new();
    if let Some(id) = entry.get("id").filter(|v| !v.is_null()) {
        parts.push(format!("#{id}"));
    }
    parts.push(text("time").unwrap_or("?").to_owned());
    if let Some(version) = entry.get("version").and_then(Value::as_i64) {
        parts.push(format!("version {version}"));
    }
    if let Some(host) = text("host") {
        parts.push(format!("host {host}"));
    }
    let user = text("user");
    parts.push(match (text("role"), user) {
        (Some(role), Some(user)) if user != role => format!("role {role} (user {user})"),
        (Some(role), _) => format!("role {role}"),
        (None, user) => user.unwrap_or("?").to_owned(),
    });
    let mut what = change_text(entry);
    if let Some(why) = why(entry) {
        what.push_str(&format!("  — {why}"));
    }
    if let Some(imported) = entry.get("imported").and_then(Value::as_object) {
        let field = |k: &str| imported.get(k).and_then(Value::as_str).unwrap_or("?");
        what.push_str(&format!(
            "  [imported by role {} at {}]",
            field("role"),
            field("time")
        ));
    }
    parts.push(what);
    parts.join("  ")
}

/// What changed.
fn change_text(entry: &Map<String, Value>) -> String {
    let text = |key: &str| entry.get(key).and_then(Value::as_str).unwrap_or("?");
    if matches!(text("action"), "import" | "replace") && text("field") == text("action") {
        let verb = if text("action") == "import" {
            "imported"
        } else {
            "replaced the documents with"
        };
        return format!("{verb} {}", text("new"));
    }
    if let Some(group_edit) = edits::groups::history_text(entry) {
        return group_edit;
    }
    Change {
        flag: text("flag").to_owned(),
        field: text("field").to_owned(),
        old: entry.get("old").cloned().unwrap_or(Value::Null),
        new: entry.get("new").cloned().unwrap_or(Value::Null),
    }
    .to_string()
}

/// Why: the action and its reason (plan commands, the guard), and the
/// reading that tripped a guard's rollback.
fn why(entry: &Map<String, Value>) -> Option<String> {
    let text = |key: &str| entry.get(key).and_then(Value::as_str);
    let shown = |key: &str| {
        entry
            .get(key)
            .filter(|v| !v.is_null())
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
    };
    let action = text("action").filter(|a| !matches!(*a, "import" | "replace"));
    let mut why = match (action, text("reason")) {
        (Some(action), Some(reason)) => format!("{action}: {reason}"),
        (Some(action), None) => action.to_owned(),
        (None, Some(reason)) => reason.to_owned(),
        (None, None) => String::new(),
    };
    if let Some(trigger) = shown("trigger") {
        let mut reading = vec![format!("trigger {trigger}")];
        if let Some(value) = shown("value") {
            reading.push(format!("value {value}"));
        }
        if let Some(threshold) = shown("threshold") {
            reading.push(format!("threshold {threshold}"));
        }
        if let Some(samples) = shown("samples") {
            reading.push(format!("{samples} samples"));
        }
        if !why.is_empty() {
            why.push(' ');
        }
        why.push_str(&format!("({})", reading.join(", ")));
    }
    (!why.is_empty()).then_some(why)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_entry_is_one_line_with_its_id_and_stamps() {
        let cases = [
            // A file's audit log: the declared user, no role, no host.
            (
                json!({"id": 3, "time": "2026-12-07T08:00:00.000Z", "user": "tester",
                       "flag": "voice_replies", "field": "enabled", "old": false, "new": true}),
                "#3  2026-12-07T08:00:00.000Z  tester  voice_replies: enabled false -> true",
            ),
            // A database row: stamps, and the declared user as it differs.
            (
                json!({"id": 12, "time": "2026-12-07T08:00:00.000Z", "role": "ops_anna",
                       "user": "anna", "host": "ops-1", "version": 7, "flag": "new_gpt_model",
                       "field": "rollout_percentage", "old": 10, "new": 50}),
                "#12  2026-12-07T08:00:00.000Z  version 7  host ops-1  role ops_anna (user anna)  new_gpt_model: rollout_percentage 10 -> 50",
            ),
            // The guard's rollback: why, with the reading.
            (
                json!({"id": 13, "time": "T", "role": "guard_blue", "user": "guard", "version": 8,
                       "flag": "new_gpt_model", "field": "enabled", "old": true, "new": false,
                       "action": "rollback", "reason": "error_rate over its threshold",
                       "trigger": "error_rate", "value": 0.12, "threshold": 0.05, "samples": 1234}),
                "#13  T  version 8  role guard_blue (user guard)  new_gpt_model: enabled true -> false  — rollback: error_rate over its threshold (trigger error_rate, value 0.12, threshold 0.05, 1234 samples)",
            ),
            // Imported from a file, and the import itself.
            (
                json!({"id": 1, "time": "2025-01-01T00:00:00Z", "user": "ops", "flag": "a",
                       "field": "enabled", "old": false, "new": true,
                       "imported": {"role": "flags", "time": "2026-12-07T08:00:00.000Z"}}),
                "#1  2025-01-01T00:00:00Z  ops  a: enabled false -> true  [imported by role flags at 2026-12-07T08:00:00.000Z]",
            ),
            (
                json!({"id": 2, "time": "T", "role": "flags", "user": "flags", "version": 1,
                       "action": "import", "field": "import", "old": null, "new": "/srv/f.json"}),
                "#2  T  version 1  role flags  imported /srv/f.json",
            ),
        ];
        for (entry, want) in cases {
            assert_eq!(line(entry.as_object().unwrap()), want);
        }
    }
}
