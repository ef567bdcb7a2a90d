//! Applying a rollout step under the CLI's lock: the flag file edit, the
//! rollouts file's new state and the audit lines, as one transaction that
//! `--start`, `--pause`, `--resume`, `--abort`, a hand edit and the guard
//! all share.
//!
//! Order of the writes: the flag file first (what the bots read: a rollback
//! lands before anything else), then `FILE.rollouts.json`, then the audit
//! log. Each file is replaced atomically; a crash between two leaves the
//! plan's record one step behind its flag, which the next command or check
//! sees.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use flags_rollout::file::MAX_FILE_BYTES;
use flags_rollout::jiff::{Timestamp, Unit};
use flags_rollout::{Action, Cause, Rollout, RolloutsFile, State, Step};
use serde_json::{Map, Value, json};

use crate::Failure;
use crate::edits::{self, Change, EditError, EditRequest};
use crate::report::invalid_line;
use crate::store::audit::{self, AuditLog};
use crate::store::file::{EditLock, Target, replace_file_like};

/// Who makes a change: named as the audit log's `user`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// The person running the command (`SUDO_USER`, else `USER`).
    Operator,
    /// The guard (`feature_flags --guard`).
    Guard,
}

impl Actor {
    pub fn user(self) -> String {
        match self {
            Actor::Operator => audit::operator(),
            Actor::Guard => "guard".into(),
        }
    }
}

/// What [`apply_step`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// Written; the changes printed and audited (none for a hold, which
    /// only updates the plan's streaks and last decision).
    Written { changes: Vec<Change> },
    /// Not written: the plan is no longer what the decision was made for
    /// (another guard or an operator acted first). Decide again.
    Stale { why: String },
}

/// `FILE.rollouts.json` beside the (resolved) flag file.
pub fn rollouts_path(target: &Target) -> PathBuf {
    let mut name: OsString = target.file.as_os_str().to_owned();
    name.push(".rollouts.json");
    PathBuf::from(name)
}

/// Now, to the second (the precision of the rollouts file's times).
pub fn now() -> Timestamp {
    let now = Timestamp::now();
    now.round(Unit::Second).unwrap_or(now)
}

/// Reads the rollouts file; a missing file has no plans. Refuses a file
/// over [`MAX_FILE_BYTES`] without reading it all.
pub fn read_rollouts(path: &Path) -> Result<RolloutsFile, Failure> {
    let cannot =
        |e: io::Error| Failure::new(format!("cannot read rollouts file {}: {e}", path.display()));
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(RolloutsFile::default()),
        Err(e) => return Err(cannot(e)),
    };
    let mut text = String::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(cannot)?;
    RolloutsFile::parse(&text).map_err(|problems| {
        Failure::new(
            invalid_line(path, &problems).replace("valid flag file", "valid rollouts file"),
        )
    })
}

/// The lock held, and where everything is.
pub struct Locked {
    pub target: Target,
    pub rollouts_path: PathBuf,
    _lock: EditLock,
}

impl Locked {
    /// Takes the lock on `FILE.lock` (saying so on stderr if it waits).
    pub fn acquire(file: &Path) -> Result<Locked, Failure> {
        let target = Target::resolve(file);
        let metadata = fs::metadata(&target.file)
            .map_err(|e| Failure::new(format!("cannot read flag file {}: {e}", file.display())))?;
        if !metadata.is_file() {
            return Err(Failure::new(format!(
                "cannot read flag file {}: not a regular file",
                file.display()
            )));
        }
        let lock = EditLock::acquire(&target, || {
            eprintln!(
                "note: waiting for another edit to finish (lock {})",
                target.lock.display()
            );
        })
        .map_err(Failure::new)?;
        Ok(Locked::held(target, lock))
    }

    /// For a caller that already holds the lock.
    pub(crate) fn held(target: Target, lock: EditLock) -> Locked {
        Locked {
            rollouts_path: rollouts_path(&target),
            target,
            _lock: lock,
        }
    }

    pub fn flag_text(&self) -> Result<String, Failure> {
        fs::read_to_string(&self.target.file).map_err(|e| {
            Failure::new(format!(
                "cannot read flag file {}: {e}",
                self.target.file.display()
            ))
        })
    }

    pub fn rollouts(&self) -> Result<RolloutsFile, Failure> {
        read_rollouts(&self.rollouts_path)
    }
}

/// Applies a step the guard decided for `flag` from `decided_on` (the plan
/// and state as it read them): under the lock both files are read again,
/// and nothing is written unless the plan is still exactly `decided_on` —
/// so two guards, or a guard and an operator, never act twice on one
/// state. The guard calls this with [`Actor::Guard`].
pub fn apply_step(
    file: &Path,
    flag: &str,
    decided_on: &Rollout,
    step: &Step,
    actor: Actor,
) -> Result<Applied, Failure> {
    let locked = Locked::acquire(file)?;
    let mut rollouts = locked.rollouts()?;
    let Some(current) = rollouts.rollouts.get(flag) else {
        return Ok(Applied::Stale {
            why: format!("{flag} no longer has a rollout plan"),
        });
    };
    if current != decided_on {
        return Ok(Applied::Stale {
            why: format!(
                "{flag}'s plan changed since the decision (now {} at phase {})",
                current.state.status,
                current.state.phase + 1
            ),
        });
    }
    let before = current.clone();
    if let Some(r) = rollouts.rollouts.get_mut(flag) {
        r.state = step.state.clone();
    }
    let changes = commit(
        &locked,
        &rollouts,
        flag,
        Some(&before),
        Some(step),
        Vec::new(),
        actor,
    )?;
    Ok(Applied::Written { changes })
}

/// Writes `rollouts` (already holding the new plan and state of `flag`),
/// the flag edit `step` asks for, and the audit lines: `plan_changes`
/// (settings) plus the flag's and the plan state's changes. Returns every
/// change, to print. Call only under the lock.
pub(crate) fn commit(
    locked: &Locked,
    rollouts: &RolloutsFile,
    flag: &str,
    before: Option<&Rollout>,
    step: Option<&Step>,
    plan_changes: Vec<Change>,
    actor: Actor,
) -> Result<Vec<Change>, Failure> {
    let mut changes = Vec::new();
    let mut new_flag_text = None;
    if let Some(step) = step {
        let wanted = step.action.flag_edit();
        if !wanted.is_empty() {
            let text = locked.flag_text()?;
            let request = EditRequest {
                flag: flag.to_owned(),
                enabled: wanted.enabled,
                percentage: wanted.percentage,
                ..EditRequest::default()
            };
            let edited = edits::apply(&text, &request).map_err(|e| match e {
                EditError::Invalid(problems) => {
                    Failure::new(invalid_line(&locked.target.file, &problems))
                }
                other => Failure::new(other.to_string()),
            })?;
            if !edited.changes.is_empty() {
                changes.extend(edited.changes);
                new_flag_text = Some(edited.text);
            }
        }
    }
    changes.extend(plan_changes);
    if let Some(after) = rollouts.rollouts.get(flag) {
        changes.extend(state_changes(flag, before.map(|r| &r.state), &after.state));
    }

    let new_text = rollouts.to_text();
    let old_text = fs::read_to_string(&locked.rollouts_path).ok();
    let rollouts_changed = old_text.as_deref() != Some(new_text.as_str());
    if new_flag_text.is_none() && !rollouts_changed {
        return Ok(changes);
    }
    let target = &locked.target;
    let mut log = if changes.is_empty() {
        None
    } else {
        Some(AuditLog::open(&target.audit).map_err(Failure::new)?)
    };
    if let Some(text) = &new_flag_text {
        crate::store::file::replace_file(target, text.as_bytes()).map_err(Failure::new)?;
    }
    if rollouts_changed {
        let rollouts_target = Target {
            file: locked.rollouts_path.clone(),
            lock: target.lock.clone(),
            audit: target.audit.clone(),
        };
        let like = if old_text.is_some() {
            locked.rollouts_path.as_path()
        } else {
            target.file.as_path()
        };
        replace_file_like(&rollouts_target, new_text.as_bytes(), like).map_err(Failure::new)?;
    }
    if let Some(log) = &mut log {
        log.record_by(&changes, &actor.user(), &why(step))
            .map_err(|e| {
                Failure::new(format!(
                    "the files were changed, but the audit log {} could not be written: {e}",
                    target.audit.display()
                ))
            })?;
    }
    Ok(changes)
}

/// The plan state's fields that a person follows: `plan.state`, `plan.phase`.
fn state_changes(flag: &str, before: Option<&State>, after: &State) -> Vec<Change> {
    let change = |field: &str, old: Value, new: Value| Change {
        flag: flag.to_owned(),
        field: field.to_owned(),
        old,
        new,
    };
    let mut changes = Vec::new();
    let old_status = before.map_or(Value::Null, |s| json!(s.status.name()));
    if old_status != json!(after.status.name()) {
        changes.push(change("plan.state", old_status, json!(after.status.name())));
    }
    let old_phase = before.map_or(Value::Null, |s| json!(s.phase + 1));
    if old_phase != json!(after.phase + 1) {
        changes.push(change("plan.phase", old_phase, json!(after.phase + 1)));
    }
    changes
}

/// The fields every audit line of a step carries: the action and why; for
/// a trip, the trigger, its value, the threshold and the sample count.
fn why(step: Option<&Step>) -> Map<String, Value> {
    let mut extra = Map::new();
    let Some(step) = step else {
        return extra;
    };
    extra.insert("action".into(), json!(step.action.name()));
    extra.insert("reason".into(), json!(step.action.to_string()));
    if let Action::RollBack {
        cause:
            Cause::Trigger {
                trigger,
                value,
                threshold,
                samples,
            },
        ..
    } = &step.action
    {
        extra.insert("trigger".into(), json!(trigger.name()));
        extra.insert("value".into(), json_number(*value));
        extra.insert("threshold".into(), json_number(*threshold));
        extra.insert("samples".into(), json_number(*samples));
    }
    extra
}

fn json_number(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}
