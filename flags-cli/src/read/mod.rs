//! The read-only commands: `--check`, `--list`, `--feature NAME` (show
//! one flag, with its plan), `--explain` and `--history`; and their views,
//! the flag table (`table`) and why a flag is on or off (`explain`).

pub mod explain;
pub mod history;
pub mod inert;
pub mod table;

pub use history::history;

use flags_core::{FlagDef, Snapshot, parse_flag_file};
use serde_json::{Value, json};

use crate::Failure;
use crate::args::Cli;
use crate::edits;
use crate::report::{invalid_line, problem_lines};
use crate::store::{self, Documents, Store};
use explain::Message;

type Out<'a> = dyn FnMut(&str) + 'a;

/// The store, its documents as read now, and the flag document compiled.
fn load(cli: &Cli) -> Result<(Box<dyn Store>, Documents, Snapshot), Failure> {
    let mut store = store::open(cli)?;
    let docs = store.read()?;
    let snapshot = Snapshot::from_json(&docs.flags)
        .map_err(|problems| Failure::new(invalid_line(store.flags_name(), &problems)))?;
    Ok((store, docs, snapshot))
}

fn json_line(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

pub fn check(cli: &Cli, out: &mut Out<'_>) -> Result<u8, Failure> {
    let mut store = store::open(cli)?;
    let path = store.flags_name().to_owned();
    let path = path.as_path();
    let docs = match store.read() {
        Ok(docs) => docs,
        Err(failure) => {
            let message = failure.lines.join("; ");
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
    match parse_flag_file(&docs.flags) {
        Ok(file) if cli.json => out(&json_line(&json!({
            "ok": true,
            "file": path,
            "flags": file.flags.len(),
            "groups": file.groups.len(),
            "problems": [],
        }))),
        Ok(file) => out(&format!(
            "ok: {} is valid ({}, {}){}\n",
            path.display(),
            count(file.flags.len(), "flag"),
            count(file.groups.len(), "group"),
            crate::operate::mirror_note(cli)
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
    crate::plans::commands::check(&*store, &docs)?;
    Ok(0)
}

pub fn list(cli: &Cli, out: &mut Out<'_>) -> Result<u8, Failure> {
    let (_, _, snapshot) = load(cli)?;
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

pub fn show_flag(cli: &Cli, name: &str, out: &mut Out<'_>) -> Result<u8, Failure> {
    let (store, docs, snapshot) = load(cli)?;
    let def = find(&snapshot, name)?;
    if cli.json {
        let mut shown = table::flag_json(snapshot.file(), name, def);
        crate::plans::commands::show_under_flag(&*store, &docs, name, Some(&mut shown), out);
        out(&json_line(&shown));
    } else {
        out(&table::flag_text(snapshot.file(), name, def));
        crate::plans::commands::show_under_flag(&*store, &docs, name, None, &mut |text| {
            out(&inert::inert_lines(text))
        });
    }
    Ok(0)
}

pub fn explain(cli: &Cli, name: &str, out: &mut Out<'_>) -> Result<u8, Failure> {
    let (_, _, snapshot) = load(cli)?;
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
        out(&inert::inert_lines(&explanation.text()));
    }
    Ok(0)
}

fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}
