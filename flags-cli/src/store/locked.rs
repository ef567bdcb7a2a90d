//! One locked, validated, audited write for the commands that are not edits
//! of one flag's fields (group membership, deleting a group or a flag): the
//! same steps as the flag edits in `commands.rs`.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::Failure;
use crate::store::audit::AuditLog;
use crate::store::file::{EditLock, Target, replace_file};

/// What a command would do to the file's text.
#[derive(Debug, Default)]
pub struct Planned {
    pub text: String,
    /// What to print: notes first, then what changed.
    pub lines: Vec<String>,
    /// Audit entries (without time and operator); none means nothing
    /// changes and nothing is written.
    pub entries: Vec<Map<String, Value>>,
    /// A second file beside the flag file to replace after it, with its
    /// new text (the rollouts file, when a deleted flag's finished plan
    /// goes with it).
    pub also: Option<(PathBuf, String)>,
}

type Out<'a> = dyn FnMut(&str) + 'a;

/// Runs `plan` on the file's text and writes its result: under the edit
/// lock, on the text as read under it, with one audit write. A dry run
/// reads without the lock and writes nothing.
pub fn write(
    file: &Path,
    dry_run: bool,
    out: &mut Out<'_>,
    plan: &mut dyn FnMut(&str, &Target) -> Result<Planned, Failure>,
) -> Result<u8, Failure> {
    let target = Target::resolve(file);
    let cannot_read =
        |why: String| Failure::new(format!("cannot read flag file {}: {why}", file.display()));
    // Fail on a missing or unreadable path before leaving a lock file beside it.
    let metadata = fs::metadata(&target.file).map_err(|e| cannot_read(e.to_string()))?;
    if !metadata.is_file() {
        return Err(cannot_read("not a regular file".into()));
    }
    let print = |planned: &Planned, out: &mut Out<'_>| {
        for line in &planned.lines {
            out(&format!("{line}\n"));
        }
    };

    if dry_run {
        let text = fs::read_to_string(&target.file).map_err(|e| cannot_read(e.to_string()))?;
        let planned = plan(&text, &target)?;
        print(&planned, out);
        out("dry run: nothing written\n");
        return Ok(0);
    }

    let _lock = EditLock::acquire(&target, || {
        eprintln!(
            "note: waiting for another edit to finish (lock {})",
            target.lock.display()
        );
    })
    .map_err(Failure::new)?;
    let text = fs::read_to_string(&target.file).map_err(|e| cannot_read(e.to_string()))?;
    let planned = plan(&text, &target)?;
    if planned.entries.is_empty() {
        print(&planned, out);
        out("nothing to change\n");
        return Ok(0);
    }
    let mut log = AuditLog::open(&target.audit).map_err(Failure::new)?;
    replace_file(&target, planned.text.as_bytes()).map_err(Failure::new)?;
    if let Some((path, text)) = &planned.also {
        let beside = Target {
            file: path.clone(),
            ..target.clone()
        };
        replace_file(&beside, text.as_bytes()).map_err(Failure::new)?;
    }
    print(&planned, out);
    log.record_entries(&planned.entries).map_err(|e| {
        Failure::new(format!(
            "the file was changed, but the audit log {} could not be written: {e}",
            target.audit.display()
        ))
    })?;
    Ok(0)
}
