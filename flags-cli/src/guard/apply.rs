//! Acting on a decision: under the CLI's edit lock, re-read the flag file and
//! the rollouts file, make sure the plan is still where it was measured (a
//! second guard, or an operator, may have moved it meanwhile), then edit the
//! flag, write the plan's new state and append the audit lines.
//!
//! Provisional: the `plans` branch provides the shared apply function for
//! `--start`, `--abort` and the guard; this one is swapped for it once it
//! lands on main (same inputs: target, flag, measured state, step, actor).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use flags_rollout::{RolloutsFile, State, Step};
use serde_json::json;

use crate::edit::{self, Change, EditRequest};
use crate::report::invalid_line;
use crate::write::{EditLock, Target, replace_file};

/// `FILE.rollouts.json` beside the flag file.
pub fn rollouts_path(target: &Target) -> PathBuf {
    let mut name = target.file.as_os_str().to_owned();
    name.push(".rollouts.json");
    PathBuf::from(name)
}

/// What applying a step did.
#[derive(Debug, PartialEq)]
pub enum Applied {
    /// Flag changes (possibly none: a hold only updates the plan's state).
    Written(Vec<Change>),
    /// The plan is no longer in the measured state: nothing written.
    Skipped(String),
}

/// The parts of a state that say where a plan stands; a plan whose stored
/// state differs in these was moved by someone else since it was measured.
pub fn same_position(a: &State, b: &State) -> bool {
    a.status == b.status && a.phase == b.phase && a.since == b.since && a.streaks == b.streaks
}

/// A file the guard must not write: missing write permission (even root's
/// edits go through the rename, which would ignore it).
fn check_writable(path: &Path) -> Result<(), String> {
    let meta = fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if meta.permissions().readonly() {
        return Err(format!(
            "{} is read-only; the guard writes nothing",
            path.display()
        ));
    }
    Ok(())
}

pub fn apply_step(
    file: &Path,
    flag: &str,
    measured: &State,
    step: &Step,
    actor: &str,
) -> Result<Applied, String> {
    let target = Target::resolve(file);
    let rollouts = rollouts_path(&target);
    check_writable(&target.file)?;
    check_writable(&rollouts)?;
    let _lock = EditLock::acquire(&target, || {})?;
    let flags_text = fs::read_to_string(&target.file)
        .map_err(|e| format!("cannot read flag file {}: {e}", target.file.display()))?;
    let rollouts_text = fs::read_to_string(&rollouts)
        .map_err(|e| format!("cannot read {}: {e}", rollouts.display()))?;
    let mut plans = RolloutsFile::parse(&rollouts_text).map_err(|p| invalid_line(&rollouts, &p))?;
    let Some(rollout) = plans.rollouts.get_mut(flag) else {
        return Ok(Applied::Skipped(format!("{flag}: the plan was removed")));
    };
    if !same_position(&rollout.state, measured) {
        return Ok(Applied::Skipped(format!(
            "{flag}: the plan moved since it was measured (now {} at phase {}); nothing done",
            rollout.state.status,
            rollout.state.phase + 1
        )));
    }
    let change = step.action.flag_edit();
    let edited = if change.is_empty() {
        None
    } else {
        let request = EditRequest {
            flag: flag.to_owned(),
            create: false,
            enabled: change.enabled,
            percentage: change.percentage,
            exclude_chats: Vec::new(),
            include_chats: Vec::new(),
        };
        Some(edit::apply(&flags_text, &request).map_err(|e| match e {
            edit::EditError::Invalid(p) => invalid_line(&target.file, &p),
            other => other.to_string(),
        })?)
    };
    rollout.state = step.state.clone();
    let new_rollouts = plans.to_text();
    // Open the audit log first: a log that cannot be written stops the edit.
    let mut audit = OpenOptions::new()
        .append(true)
        .create(true)
        .open(&target.audit)
        .map_err(|e| format!("cannot open audit log {}: {e}", target.audit.display()))?;
    let changes = match edited {
        Some(edited) if !edited.changes.is_empty() => {
            replace_file(&target, edited.text.as_bytes())?;
            edited.changes
        }
        _ => Vec::new(),
    };
    let rollouts_target = Target {
        file: rollouts.clone(),
        lock: target.lock.clone(),
        audit: target.audit.clone(),
    };
    replace_file(&rollouts_target, new_rollouts.as_bytes())?;
    if step.action.name() != "hold" {
        let time = jiff::Timestamp::now().to_string();
        let mut lines = String::new();
        for c in &changes {
            lines += &json!({"time": time, "user": actor, "actor": actor, "flag": c.flag, "field": c.field, "old": c.old, "new": c.new}).to_string();
            lines.push('\n');
        }
        lines += &json!({
            "time": time, "user": actor, "actor": actor, "flag": flag, "field": "rollout",
            "old": measured.status.name(), "new": step.state.status.name(),
            "action": step.action.name(), "reason": step.action.to_string(),
        })
        .to_string();
        lines.push('\n');
        audit
            .write_all(lines.as_bytes())
            .and_then(|()| audit.sync_all())
            .map_err(|e| {
                format!(
                    "the files were changed, but the audit log {} could not be written: {e}",
                    target.audit.display()
                )
            })?;
    }
    Ok(Applied::Written(changes))
}
