//! One function per command; each writes its output through `out` and
//! returns the exit status, or a [`Failure`].

use std::fs;
use std::path::Path;

use flags_core::{FlagDef, Snapshot, parse_flag_file};
use serde_json::{Value, json};

use crate::Failure;
use crate::args::Cli;
use crate::edits::{self, Change, EditError, EditRequest};
use crate::read::explain::{self, Message};
use crate::read::table;
use crate::report::{invalid_line, problem_lines};
use crate::store::audit::{self, AuditLog};
use crate::store::file::{EditLock, Target, replace_file};

type Out<'a> = dyn FnMut(&str) + 'a;

pub fn run(cli: &Cli, out: &mut Out<'_>) -> Result<u8, Failure> {
    if cli.guard {
        return crate::guard::command::run(cli, out);
    }
    if let Some(result) = crate::plans::commands::run(cli, out) {
        return result;
    }
    if cli.check {
        check(cli, out)
    } else if cli.list {
        list(cli, out)
    } else if cli.history {
        history(cli, out)
    } else if let Some(result) = crate::edits::manage::run(cli, out) {
        result
    } else if let Some(request) = edit_request(cli)? {
        edit(cli, &request, out)
    } else if let Some(name) = &cli.feature {
        if cli.explain {
            explain(cli, name, out)
        } else {
            show_flag(cli, name, out)
        }
    } else {
        Err(Failure::usage(
            "nothing to do: give --list, --check, --feature NAME, --history or an edit (see --help)",
        ))
    }
}

fn read_text(path: &Path) -> Result<String, Failure> {
    fs::read_to_string(path)
        .map_err(|e| Failure::new(format!("cannot read flag file {}: {e}", path.display())))
}

fn load(path: &Path) -> Result<Snapshot, Failure> {
    let text = read_text(path)?;
    Snapshot::from_json(&text).map_err(|problems| Failure::new(invalid_line(path, &problems)))
}

fn json_line(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

fn check(cli: &Cli, out: &mut Out<'_>) -> Result<u8, Failure> {
    let path = cli.file.as_path();
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            let message = format!("cannot read flag file {}: {e}", path.display());
            if cli.json {
                out(&json_line(&json!({
                    "ok": false,
                    "file": path,
                    "problems": [{ "path": "", "message": message }],
                })));
                return Ok(1);
            }
            return Err(Failure::new(message));
        }
    };
    match parse_flag_file(&text) {
        Ok(file) if cli.json => out(&json_line(&json!({
            "ok": true,
            "file": path,
            "flags": file.flags.len(),
            "groups": file.groups.len(),
            "problems": [],
        }))),
        Ok(file) => out(&format!(
            "ok: {} is valid ({}, {})\n",
            path.display(),
            count(file.flags.len(), "flag"),
            count(file.groups.len(), "group")
        )),
        Err(problems) if cli.json => {
            let unlisted = problems.unlisted();
            let problems: Vec<Value> = problems
                .iter()
                .map(|p| json!({ "path": p.path, "message": p.message }))
                .collect();
            out(&json_line(&json!({
                "ok": false,
                "file": path,
                "problems": problems,
                "unlisted_problems": unlisted,
            })));
            return Ok(1);
        }
        Err(problems) => {
            // The report is bounded (flags_core::MAX_LISTED_PROBLEMS).
            return Err(Failure {
                lines: problem_lines(path, &problems),
                code: 1,
            });
        }
    }
    crate::plans::commands::check(path, &text)?;
    Ok(0)
}

fn list(cli: &Cli, out: &mut Out<'_>) -> Result<u8, Failure> {
    let snapshot = load(&cli.file)?;
    if cli.json {
        out(&json_line(&table::list_json(snapshot.file())));
    } else {
        out(&table::list_table(snapshot.file()));
    }
    Ok(0)
}

fn find<'s>(snapshot: &'s Snapshot, name: &str) -> Result<&'s FlagDef, Failure> {
    snapshot
        .file()
        .flag(name)
        .ok_or_else(|| Failure::new(edits::unknown_flag(snapshot.file(), name).to_string()))
}

fn show_flag(cli: &Cli, name: &str, out: &mut Out<'_>) -> Result<u8, Failure> {
    let snapshot = load(&cli.file)?;
    let def = find(&snapshot, name)?;
    if cli.json {
        let mut shown = table::flag_json(snapshot.file(), name, def);
        crate::plans::commands::show_under_flag(&cli.file, name, Some(&mut shown), out);
        out(&json_line(&shown));
    } else {
        out(&table::flag_text(snapshot.file(), name, def));
        crate::plans::commands::show_under_flag(&cli.file, name, None, out);
    }
    Ok(0)
}

fn explain(cli: &Cli, name: &str, out: &mut Out<'_>) -> Result<u8, Failure> {
    let snapshot = load(&cli.file)?;
    let def = find(&snapshot, name)?;
    let message = Message {
        user: cli.user,
        chat: cli.chat,
        chat_type: cli.chat_type,
        groups: cli.group.clone(),
    };
    let explanation = explain::explain(&snapshot, name, def, &message);
    if cli.json {
        out(&json_line(&explanation.json()));
    } else {
        out(&explanation.text());
    }
    Ok(0)
}

fn history(cli: &Cli, out: &mut Out<'_>) -> Result<u8, Failure> {
    let target = Target::resolve(&cli.file);
    let audit::History {
        entries,
        unreadable,
    } = audit::read(&target.audit).map_err(Failure::new)?;
    for line in unreadable {
        eprintln!("warning: {line}");
    }
    let entries: Vec<_> = entries
        .into_iter()
        .filter(|e| {
            cli.feature
                .as_deref()
                .is_none_or(|f| e.get("flag").and_then(Value::as_str) == Some(f))
        })
        .collect();
    if cli.json {
        let entries = entries.into_iter().map(Value::Object).collect();
        out(&json_line(&Value::Array(entries)));
        return Ok(0);
    }
    if entries.is_empty() {
        out(&format!(
            "no edits recorded in {}\n",
            target.audit.display()
        ));
    }
    let text = |e: &serde_json::Map<String, Value>, key: &str| {
        e.get(key).and_then(Value::as_str).unwrap_or("?").to_owned()
    };
    for entry in &entries {
        if let Some(group_edit) = crate::edits::groups::history_text(entry) {
            let (time, user) = (text(entry, "time"), text(entry, "user"));
            out(&format!("{time}  {user}  {group_edit}\n"));
            continue;
        }
        let change = Change {
            flag: text(entry, "flag"),
            field: text(entry, "field"),
            old: entry.get("old").cloned().unwrap_or(Value::Null),
            new: entry.get("new").cloned().unwrap_or(Value::Null),
        };
        out(&format!(
            "{}  {}  {change}\n",
            text(entry, "time"),
            text(entry, "user")
        ));
    }
    Ok(0)
}

/// The edit the command line asks for, if any.
fn edit_request(cli: &Cli) -> Result<Option<EditRequest>, Failure> {
    let enabled = match (cli.enable, cli.disable) {
        (true, false) => Some(true),
        (false, true) => Some(false),
        (false, false) => None,
        (true, true) => {
            return Err(Failure::usage(
                "--enable and --disable contradict each other",
            ));
        }
    };
    let is_edit = cli.create
        || enabled.is_some()
        || cli.percentage.is_some()
        || !cli.exclude_chat.is_empty()
        || !cli.include_chat.is_empty()
        || cli.manage.has_targeting();
    let Some(flag) = cli.feature.clone().filter(|_| is_edit) else {
        return Ok(None);
    };
    if let Some(chat) = cli
        .exclude_chat
        .iter()
        .find(|c| cli.include_chat.contains(c))
    {
        return Err(Failure::usage(format!(
            "chat {chat} is given to both --exclude-chat and --include-chat"
        )));
    }
    Ok(Some(EditRequest {
        flag,
        create: cli.create,
        enabled,
        percentage: cli.percentage,
        exclude_chats: cli.exclude_chat.clone(),
        include_chats: cli.include_chat.clone(),
        targeting: crate::edits::targeting::Targeting::from_args(&cli.manage)
            .map_err(Failure::usage)?,
    }))
}

fn edit_failure(path: &Path, error: EditError) -> Failure {
    match error {
        EditError::Invalid(problems) => Failure::new(invalid_line(path, &problems)),
        other => Failure::new(other.to_string()),
    }
}

fn edit(cli: &Cli, request: &EditRequest, out: &mut Out<'_>) -> Result<u8, Failure> {
    let target = Target::resolve(&cli.file);
    // Fail on a missing or unreadable path before leaving a lock file beside it.
    let cannot_read = |why: String| {
        Failure::new(format!(
            "cannot read flag file {}: {why}",
            cli.file.display()
        ))
    };
    let metadata = fs::metadata(&target.file).map_err(|e| cannot_read(e.to_string()))?;
    if !metadata.is_file() {
        return Err(cannot_read("not a regular file".into()));
    }

    if cli.dry_run {
        let text = fs::read_to_string(&target.file).map_err(|e| cannot_read(e.to_string()))?;
        let edited = edits::apply(&text, request).map_err(|e| edit_failure(&cli.file, e))?;
        let impact = crate::edits::rebucket::guard(&text, &edited, &request.flag, true)?;
        print_outcome(&edited, out);
        if let Some(line) = &impact {
            out(&format!("{line}\n"));
        }
        out("dry run: nothing written\n");
        return Ok(0);
    }

    let lock = EditLock::acquire(&target, || {
        eprintln!(
            "note: waiting for another edit to finish (lock {})",
            target.lock.display()
        );
    })
    .map_err(Failure::new)?;
    // Read only under the lock: an edit that finished while we waited is
    // part of what we edit, never overwritten by a stale copy.
    let text = fs::read_to_string(&target.file).map_err(|e| cannot_read(e.to_string()))?;
    let edited = edits::apply(&text, request).map_err(|e| edit_failure(&cli.file, e))?;
    let impact = crate::edits::rebucket::guard(&text, &edited, &request.flag, cli.manage.force)?;
    if edited.changes.is_empty() {
        print_outcome(&edited, out);
        out("nothing to change\n");
        return Ok(0);
    }
    let mut log = AuditLog::open(&target.audit).map_err(Failure::new)?;
    replace_file(&target, edited.text.as_bytes()).map_err(Failure::new)?;
    print_outcome(&edited, out);
    if let Some(line) = &impact {
        out(&format!("{line}\n"));
    }
    log.record(&edited.changes).map_err(|e| {
        Failure::new(format!(
            "the file was changed, but the audit log {} could not be written: {e}",
            target.audit.display()
        ))
    })?;
    crate::plans::commands::after_hand_edit(&target, lock, request, out)?;
    Ok(0)
}

fn print_outcome(edited: &edits::Edited, out: &mut Out<'_>) {
    for note in &edited.already {
        out(&format!("{note}\n"));
    }
    for change in &edited.changes {
        out(&format!("{change}\n"));
    }
}

fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}
