//! The operator's commands on a plan, as steps like the guard's: `--start`,
//! `--pause` (also a hand edit of a running plan's flag), `--resume`, `--advance` and
//! `--abort`. Each refuses a state it does not apply to.

use jiff::Timestamp;

use flags_core::Percentage;

use crate::decide::{Action, Cause, Step, finish, never_raise, rollback_target};
use crate::plan::Plan;
use crate::state::{State, Status};

fn where_it_is(plan: &Plan, state: &State) -> String {
    format!(
        "phase {}/{} ({}%)",
        state.phase + 1,
        plan.phases.len(),
        plan.phases
            .get(state.phase)
            .map(|p| p.percentage.to_string())
            .unwrap_or_else(|| "?".into())
    )
}

/// `--start`: the flag to the first phase's percentage, enabled; running
/// (or done at once, for a one-phase plan). Refused on a running plan;
/// from any other state it starts over at phase 1.
pub fn start(plan: &Plan, state: &State, now: Timestamp) -> Result<Step, String> {
    if state.status == Status::Running {
        return Err(format!(
            "its plan is already running at {}; --pause or --abort it first",
            where_it_is(plan, state)
        ));
    }
    let action = Action::Start {
        percentage: plan.phases[0].percentage,
    };
    Ok(finish(plan, state.clone(), action, Vec::new(), now))
}

/// `--pause`, or a hand edit that wins over a running plan.
pub fn pause(plan: &Plan, state: &State, now: Timestamp, why: &str) -> Result<Step, String> {
    if state.status != Status::Running {
        return Err(format!("its plan is {}, not running", state.status));
    }
    let action = Action::Pause {
        why: why.to_owned(),
    };
    Ok(finish(plan, state.clone(), action, Vec::new(), now))
}

/// `--resume` from paused or rolled back: the current phase's percentage,
/// enabled, running, its hold starting again now.
pub fn resume(plan: &Plan, state: &State, now: Timestamp) -> Result<Step, String> {
    match state.status {
        Status::Paused | Status::RolledBack => {}
        Status::Running => {
            return Err(format!(
                "its plan is already running at {}",
                where_it_is(plan, state)
            ));
        }
        Status::Pending => return Err("its plan has not started; --start starts it".into()),
        Status::Done => {
            return Err("its plan is done; --start runs it again from phase 1".into());
        }
    }
    let action = Action::Resume {
        percentage: plan.phases[state.phase].percentage,
    };
    Ok(finish(plan, state.clone(), action, Vec::new(), now))
}

/// `--abort`: rolls back as a trip would (the plan's `on_trigger`), from
/// running or paused, never above `current` (the flag's percentage now: a
/// plan hand-lowered below its previous phase stays where it is).
pub fn abort(
    plan: &Plan,
    state: &State,
    now: Timestamp,
    current: Option<Percentage>,
) -> Result<Step, String> {
    if !matches!(state.status, Status::Running | Status::Paused) {
        return Err(format!(
            "its plan is {}; only a running or paused plan can be aborted",
            state.status
        ));
    }
    let action = Action::RollBack {
        cause: Cause::Operator,
        to: rollback_target(plan, state.phase),
    };
    Ok(never_raise(
        finish(plan, state.clone(), action, Vec::new(), now),
        current,
    ))
}

/// `--advance`: a person's decision to move a running plan to its next
/// phase (into the last one: done), typically out of an inconclusive
/// phase. `expected` names the phase it means to leave by percentage;
/// without it, only a phase whose hold is over is left, so the same
/// command typed twice never skips a phase (the second finds a phase whose
/// hold has just begun, and is refused).
pub fn advance(
    plan: &Plan,
    state: &State,
    now: Timestamp,
    expected: Option<Percentage>,
) -> Result<Step, String> {
    if state.status != Status::Running {
        return Err(format!(
            "its plan is {}, not running; only a running plan can be advanced",
            state.status
        ));
    }
    let here = plan.phases[state.phase].percentage;
    match expected {
        Some(p) if p != here => {
            return Err(format!(
                "its plan is at {}, not at {p}%; nothing done",
                where_it_is(plan, state)
            ));
        }
        Some(_) => {}
        None => {
            let hold = plan.phases[state.phase].hold.unwrap_or_default();
            let until = state.since.checked_add(hold).unwrap_or(Timestamp::MAX);
            if now < until {
                return Err(format!(
                    "its plan entered {} at {} and holds it until {until}; to leave it before its hold is over, name it: --advance {here}",
                    where_it_is(plan, state),
                    state.since
                ));
            }
        }
    }
    let to = state.phase + 1;
    let Some(next) = plan.phases.get(to) else {
        return Err(format!(
            "its plan is at its last phase, {}",
            where_it_is(plan, state)
        ));
    };
    let action = if plan.is_last(to) {
        Action::Done {
            percentage: next.percentage,
        }
    } else {
        Action::Advance {
            to,
            percentage: next.percentage,
        }
    };
    let mut step = finish(plan, state.clone(), action, Vec::new(), now);
    if let Some(d) = &mut step.state.last_decision {
        d.reason = format!("{} by hand (--advance)", d.reason);
    }
    if let Some(r) = step.state.history.last_mut() {
        r.reason = format!("{} by hand (--advance)", r.reason);
    }
    Ok(step)
}
