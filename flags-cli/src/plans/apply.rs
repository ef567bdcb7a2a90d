//! Applying a rollout step in one update of the store: the flag edit, the
//! rollouts document's new state and the audit entries, as one commit that
//! `--start`, `--pause`, `--resume`, `--abort`, a hand edit and the guard
//! all share.

use std::path::{Path, PathBuf};

use flags_core::parse_flag_file;
use flags_rollout::jiff::{Timestamp, Unit};
use flags_rollout::{Action, Cause, Rollout, RolloutsFile, State, Status, Step, never_raise};
use serde_json::{Map, Value, json};

use crate::Failure;
use crate::edits::{self, Change, EditError, EditRequest};
use crate::report::invalid_line;
use crate::store::{Commit, Documents, Store, audit, parse_rollouts};

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

/// Now, to the second (the precision of the rollouts file's times).
pub fn now() -> Timestamp {
    let now = Timestamp::now();
    now.round(Unit::Second).unwrap_or(now)
}

/// Applies a step the guard decided for `flag` from `decided_on` (the plan
/// and state as it read them): under the store's lock both documents are
/// read again, and nothing is written unless the plan is still exactly
/// `decided_on` — so two guards, or a guard and an operator, never act
/// twice on one state. The guard calls this with [`Actor::Guard`].
pub fn apply_step(
    store: &mut dyn Store,
    flag: &str,
    decided_on: &Rollout,
    step: &Step,
    actor: Actor,
) -> Result<Applied, Failure> {
    let names = Names::of(store);
    let mut applied = None;
    store.update(&mut |docs| {
        let mut rollouts = parse_rollouts(&names.rollouts, docs.rollouts.as_deref())?;
        let Some(current) = rollouts.rollouts.get_mut(flag) else {
            applied = Some(Applied::Stale {
                why: format!("{flag} no longer has a rollout plan"),
            });
            return Ok(None);
        };
        if current != decided_on {
            applied = Some(Applied::Stale {
                why: format!(
                    "{flag}'s plan changed since the decision (now {} at phase {})",
                    current.state.status,
                    current.state.phase + 1
                ),
            });
            return Ok(None);
        }
        let before = current.clone();
        // The flag as it is now, under the lock: a percentage lowered
        // since the decision (by an edit the plan did not see) is never
        // raised by a rollback.
        let now_at = parse_flag_file(&docs.flags)
            .ok()
            .and_then(|f| f.flag(flag).map(|d| d.rollout_percentage));
        let step = &never_raise(step.clone(), now_at);
        current.state = step.state.clone();
        name_the_decider(&mut current.state, actor);
        let (commit, changes) = step_commit(
            &names,
            docs,
            &rollouts,
            flag,
            Some(&before),
            Some(step),
            Vec::new(),
            actor,
        )?;
        applied = Some(Applied::Written { changes });
        Ok(commit)
    })?;
    applied.ok_or_else(|| Failure::new("the store did not run the update (a bug)"))
}

/// Names who ended a phase in the plan's history (the audit log's user).
pub fn name_the_decider(state: &mut State, actor: Actor) {
    if let Some(r) = state.history.last_mut()
        && r.by.is_empty()
    {
        r.by = actor.user();
    }
}

/// How messages name the two documents of a store.
pub struct Names {
    pub flags: PathBuf,
    pub rollouts: PathBuf,
}

impl Names {
    pub fn of(store: &dyn Store) -> Names {
        Names {
            flags: store.flags_name().to_owned(),
            rollouts: store.rollouts_name().to_owned(),
        }
    }
}

/// What writing `rollouts` (already holding the new plan and state of
/// `flag`) and the flag edit `step` asks for does to `docs`: the commit,
/// whose audit entries are `plan_changes` (settings) plus the flag's and
/// the plan state's changes, and every change, to print. `None` when
/// neither document changes.
#[allow(clippy::too_many_arguments)]
pub(crate) fn step_commit(
    names: &Names,
    docs: &Documents,
    rollouts: &RolloutsFile,
    flag: &str,
    before: Option<&Rollout>,
    step: Option<&Step>,
    plan_changes: Vec<Change>,
    actor: Actor,
) -> Result<(Option<Commit>, Vec<Change>), Failure> {
    let mut changes = Vec::new();
    let mut new_flag_text = None;
    if let Some(step) = step {
        let wanted = step.action.flag_edit();
        if !wanted.is_empty() {
            let request = EditRequest {
                flag: flag.to_owned(),
                enabled: wanted.enabled,
                percentage: wanted.percentage,
                ..EditRequest::default()
            };
            let edited = edits::apply(&docs.flags, &request).map_err(|e| match e {
                EditError::Invalid(problems) => Failure::new(invalid_line(&names.flags, &problems)),
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
    let rollouts_changed = docs.rollouts.as_deref() != Some(new_text.as_str());
    if new_flag_text.is_none() && !rollouts_changed {
        return Ok((None, changes));
    }
    let commit = Commit {
        flags: new_flag_text,
        rollouts: rollouts_changed.then_some(new_text),
        audit: audit::entries(&changes, &actor.user(), &why(step)),
    };
    Ok((Some(commit), changes))
}

/// The plan state's fields that a person follows: `plan.state`, `plan.phase`.
pub(crate) fn state_changes(flag: &str, before: Option<&State>, after: &State) -> Vec<Change> {
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
pub(crate) fn why(step: Option<&Step>) -> Map<String, Value> {
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
                worst,
            },
        ..
    } = &step.action
    {
        extra.insert("trigger".into(), json!(trigger.name()));
        extra.insert("value".into(), json_number(*value));
        extra.insert("threshold".into(), json_number(*threshold));
        extra.insert("samples".into(), json_number(*samples));
        if !worst.is_empty() {
            let each: Vec<Value> = worst
                .iter()
                .map(|w| {
                    json!({
                        "instance": w.instance,
                        "value": json_number(w.value),
                        "samples": json_number(w.samples),
                    })
                })
                .collect();
            extra.insert("worst".into(), Value::Array(each));
        }
    }
    extra
}

fn json_number(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

/// After a hand edit of `--percentage`, `--enable` or `--disable`, or a
/// rebucketing one (`--salt`, `--bucket-by`: the cohorts the guard compares
/// are reshuffled mid-phase), in the edit's own commit: a running plan of
/// that flag is paused, so the guard neither undoes the operator's
/// decision nor judges a phase on a mix of two populations.
/// A rollouts document that cannot be read does not stop the edit (the
/// kill switch must always work); it is reported on stderr.
pub fn pause_for_hand_edit(
    rollouts_name: &Path,
    rollouts_text: Option<&str>,
    request: &EditRequest,
) -> Result<Option<HandEditPause>, Failure> {
    let rebucketed = request.targeting.salt.is_some() || request.targeting.bucket_by.is_some();
    if request.percentage.is_none() && request.enabled.is_none() && !rebucketed {
        return Ok(None);
    }
    let mut rollouts = match parse_rollouts(rollouts_name, rollouts_text) {
        Ok(r) => r,
        Err(failure) => {
            for line in failure.lines {
                eprintln!(
                    "warning: {line}; a running plan of {} was not paused",
                    request.flag
                );
            }
            return Ok(None);
        }
    };
    let Some(rollout) = rollouts.rollouts.get_mut(&request.flag) else {
        return Ok(None);
    };
    if rollout.state.status != Status::Running {
        return Ok(None);
    }
    let before = rollout.state.clone();
    let step = flags_rollout::pause(&rollout.plan, &rollout.state, now(), "a hand edit wins")
        .map_err(Failure::new)?;
    rollout.state = step.state.clone();
    let changes = state_changes(&request.flag, Some(&before), &rollout.state);
    Ok(Some(HandEditPause {
        rollouts: rollouts.to_text(),
        audit: audit::entries(&changes, &Actor::Operator.user(), &why(Some(&step))),
        changes,
        note: format!(
            "{}: rollout plan paused by this hand edit; --resume continues it at phase {}",
            request.flag,
            before.phase + 1
        ),
    }))
}

/// What [`pause_for_hand_edit`] adds to the edit's commit.
pub struct HandEditPause {
    /// The rollouts document's new text.
    pub rollouts: String,
    pub changes: Vec<Change>,
    pub audit: Vec<serde_json::Map<String, Value>>,
    /// What to print after the changes.
    pub note: String,
}
