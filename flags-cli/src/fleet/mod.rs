//! The fleet's own commands: `--init` (the schema), `--import FILE` (a flag
//! file into an empty database), `--export` (the flag document, byte for
//! byte) and `--sync` (a server's mirror of it). Every other command works
//! on the database through [`crate::store::Store`].

use std::fs;
use std::path::Path;

use flags_core::parse_flag_file;
use flags_rollout::RolloutsFile;
use serde_json::{Map, Value, json};

use crate::Failure;
use crate::args::Cli;
use crate::report::problem_lines;
use crate::store::database::DatabaseStore;
use crate::store::file::{FileStore, Target};
use crate::store::{Store, audit, refuse_file_with_database};

type Out<'a> = dyn FnMut(&str) + 'a;

pub fn init(cli: &Cli, url: &str, out: &mut Out<'_>) -> Result<u8, Failure> {
    refuse_file_with_database(cli)?;
    let mut store = DatabaseStore::new(url)?;
    out(&store.init()?);
    Ok(0)
}

/// Reads `file` and what is beside it, all validated as strictly as an
/// edit would, then loads them in one transaction.
pub fn import(cli: &Cli, url: &str, file: &Path, out: &mut Out<'_>) -> Result<u8, Failure> {
    refuse_file_with_database(cli)?;
    let mut source = FileStore::new(file);
    let docs = source.read()?;
    let flags = parse_flag_file(&docs.flags).map_err(|problems| Failure {
        lines: problem_lines(file, &problems),
        code: 1,
    })?;
    let target = Target::resolve(file);
    let plans = match &docs.rollouts {
        Some(text) => RolloutsFile::parse(text).map_err(|problems| Failure {
            lines: problem_lines(&target.rollouts, &problems),
            code: 1,
        })?,
        None => RolloutsFile::default(),
    };
    for name in plans.rollouts.keys() {
        if flags.flag(name).is_none() {
            eprintln!(
                "warning: {}: rollout plan for {name:?}, which the flag file does not have (an orphan; the guard ignores it)",
                target.rollouts.display()
            );
        }
    }
    let replace = cli.fleet.replace;
    // A replacement is audited as one entry; a first import brings the
    // file's own history along.
    let mut history = Vec::new();
    if !replace {
        let read = source.history()?;
        for line in &read.unreadable {
            eprintln!("warning: {line}; not imported");
        }
        // The database numbers its rows itself: a file's line ids would
        // only mislead.
        history = read.entries;
        for entry in &mut history {
            entry.remove("id");
        }
    }
    let action = if replace { "replace" } else { "import" };
    let own = audit::stamp(vec![import_entry(action, file)], &audit::operator());

    let mut store = DatabaseStore::new(url)?;
    let db = store.database()?;
    // The file's own history goes in marked as imported (the database
    // vouches only for who imported it and when).
    let imported = if replace {
        db.replace(&docs.flags, docs.rollouts.as_deref(), &own)
    } else {
        db.import_with_history(&docs.flags, docs.rollouts.as_deref(), &history, &own)
    };
    let imported = imported.map_err(|e| store.failure(e))?;
    let verb = if replace {
        "replaced the documents of"
    } else {
        "imported into"
    };
    out(&format!(
        "{} {verb} {}: {} flags, {} rollout plans, {} audit entries (document version {})\n",
        file.display(),
        store.flags_name().display(),
        flags.flags.len(),
        plans.rollouts.len(),
        history.len() + own.len(),
        imported.flags_version
    ));
    Ok(0)
}

/// The audit entry that says where the database's document came from
/// (`action`: import or replace).
fn import_entry(action: &str, file: &Path) -> Map<String, Value> {
    let path = fs::canonicalize(file).unwrap_or_else(|_| file.to_owned());
    json!({ "action": action, "field": action, "old": null, "new": path.display().to_string() })
        .as_object()
        .cloned()
        .unwrap_or_default()
}

pub fn export(cli: &Cli, url: &str, out: &mut Out<'_>) -> Result<u8, Failure> {
    refuse_file_with_database(cli)?;
    let mut store = DatabaseStore::new(url)?;
    out(&store.read()?.flags);
    Ok(0)
}
