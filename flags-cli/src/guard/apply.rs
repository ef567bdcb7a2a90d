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

/// One plan's decision to apply: the flag, the state it was measured in,
/// and the step.
pub struct Pending<'a> {
    pub flag: &'a str,
    pub measured: &'a State,
    pub step: &'a Step,
}

/// Applies one step; see [`apply_steps`].
pub fn apply_step(
    file: &Path,
    flag: &str,
    measured: &State,
    step: &Step,
    actor: &str,
) -> Result<Applied, String> {
    let mut results = apply_steps(
        file,
        &[Pending {
            flag,
            measured,
            step,
        }],
        actor,
    )?;
    Ok(results.pop().unwrap_or(Applied::Skipped(String::new())))
}

/// Applies a check's steps under one lock: one re-read of both files, one
/// write of each (if anything changed) and one append to the audit log, so
/// a check over a hundred plans costs one locked edit, not a hundred. A
/// plan that moved since it was measured is skipped; the others still apply.
pub fn apply_steps(
    file: &Path,
    pending: &[Pending<'_>],
    actor: &str,
) -> Result<Vec<Applied>, String> {
    let target = Target::resolve(file);
    let rollouts = rollouts_path(&target);
    check_writable(&target.file)?;
    check_writable(&rollouts)?;
    let _lock = EditLock::acquire(&target, || {})?;
    let mut flags_text = fs::read_to_string(&target.file)
        .map_err(|e| format!("cannot read flag file {}: {e}", target.file.display()))?;
    let rollouts_text = fs::read_to_string(&rollouts)
        .map_err(|e| format!("cannot read {}: {e}", rollouts.display()))?;
    let mut plans = RolloutsFile::parse(&rollouts_text).map_err(|p| invalid_line(&rollouts, &p))?;
    let mut results = Vec::with_capacity(pending.len());
    let mut all_changes: Vec<Change> = Vec::new();
    let mut audit_lines = String::new();
    let time = jiff::Timestamp::now().to_string();
    for p in pending {
        let Some(rollout) = plans.rollouts.get_mut(p.flag) else {
            results.push(Applied::Skipped(format!(
                "{}: the plan was removed; nothing done",
                p.flag
            )));
            continue;
        };
        if !same_position(&rollout.state, p.measured) {
            results.push(Applied::Skipped(format!(
                "{}: the plan moved since it was measured (now {} at phase {}); nothing done",
                p.flag,
                rollout.state.status,
                rollout.state.phase + 1
            )));
            continue;
        }
        let change = p.step.action.flag_edit();
        let mut changes = Vec::new();
        if !change.is_empty() {
            let request = EditRequest {
                flag: p.flag.to_owned(),
                create: false,
                enabled: change.enabled,
                percentage: change.percentage,
                exclude_chats: Vec::new(),
                include_chats: Vec::new(),
            };
            // A flag that cannot be edited (removed from the file by hand)
            // stops its own plan, not the others.
            let edited = match edit::apply(&flags_text, &request) {
                Ok(edited) => edited,
                Err(e) => {
                    let why = match e {
                        edit::EditError::Invalid(problems) => invalid_line(&target.file, &problems),
                        other => other.to_string(),
                    };
                    results.push(Applied::Skipped(format!(
                        "error: {}: {why}; nothing done",
                        p.flag
                    )));
                    continue;
                }
            };
            flags_text = edited.text;
            changes = edited.changes;
        }
        rollout.state = p.step.state.clone();
        if p.step.action.name() != "hold" {
            for c in &changes {
                audit_lines += &json!({"time": time, "user": actor, "actor": actor, "flag": c.flag, "field": c.field, "old": c.old, "new": c.new}).to_string();
                audit_lines.push('\n');
            }
            audit_lines += &json!({
                "time": time, "user": actor, "actor": actor, "flag": p.flag, "field": "rollout",
                "old": p.measured.status.name(), "new": p.step.state.status.name(),
                "action": p.step.action.name(), "reason": p.step.action.to_string(),
            })
            .to_string();
            audit_lines.push('\n');
        }
        all_changes.extend(changes.iter().cloned());
        results.push(Applied::Written(changes));
    }
    if results.iter().all(|r| matches!(r, Applied::Skipped(_))) {
        return Ok(results);
    }
    // Open the audit log first: a log that cannot be written stops the edit.
    let mut audit = OpenOptions::new()
        .append(true)
        .create(true)
        .open(&target.audit)
        .map_err(|e| format!("cannot open audit log {}: {e}", target.audit.display()))?;
    if !all_changes.is_empty() {
        replace_file(&target, flags_text.as_bytes())?;
    }
    let rollouts_target = Target {
        file: rollouts.clone(),
        lock: target.lock.clone(),
        audit: target.audit.clone(),
    };
    replace_file(&rollouts_target, plans.to_text().as_bytes())?;
    if !audit_lines.is_empty() {
        audit
            .write_all(audit_lines.as_bytes())
            .and_then(|()| audit.sync_all())
            .map_err(|e| {
                format!(
                    "the files were changed, but the audit log {} could not be written: {e}",
                    target.audit.display()
                )
            })?;
    }
    Ok(results)
}
