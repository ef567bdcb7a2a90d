//! The rollout plan commands: setting a plan (`--plan`, `--triggers`, …),
//! `--start`, `--pause`, `--resume`, `--abort`, `--status`, the plan shown
//! under `--feature NAME`, and `--check`'s view of the rollouts file.

use std::fmt::Write as _;
use std::path::Path;

use flags_core::parse_flag_file;
use flags_rollout::criteria::{conditions_spec, default_success};
use flags_rollout::file::{decision_json, triggers_json};
use flags_rollout::jiff::Timestamp;
use flags_rollout::{
    Plan, Rollout, RolloutsFile, State, Status, Step, apply_success, format_duration, phases_spec,
};
use serde_json::{Value, json};

use crate::Failure;
use crate::args::Cli;
use crate::columns::aligned;
use crate::edits::{self, Change};
use crate::plans::apply::{Actor, Names, name_the_decider, now, step_commit};
use crate::report::{invalid_line, problem_lines};
use crate::store::{self, Store, parse_rollouts};

type Out<'a> = dyn FnMut(&str) + 'a;

/// Runs a rollout command if the command line has one.
pub fn run(cli: &Cli, out: &mut Out<'_>) -> Option<Result<u8, Failure>> {
    if cli.rollout.status {
        return Some(status(cli, out));
    }
    if cli.rollout.is_edit() {
        let flag = cli.feature.as_deref()?;
        return Some(edit_plan(cli, flag, out));
    }
    None
}

fn edit_plan(cli: &Cli, flag: &str, out: &mut Out<'_>) -> Result<u8, Failure> {
    let args = &cli.rollout;
    let mut store = store::open(cli)?;
    let names = Names::of(&*store);
    let mut printed = String::new();
    let mut warnings = Vec::new();
    store.update(&mut |docs| {
    // Both documents are read only under the lock.
    let flags = parse_flag_file(&docs.flags)
        .map_err(|problems| Failure::new(invalid_line(&names.flags, &problems)))?;
    let mut rollouts = parse_rollouts(&names.rollouts, docs.rollouts.as_deref())?;
    if flags.flag(flag).is_none() {
        return Err(Failure::new(edits::unknown_flag(&flags, flag).to_string()));
    }
    let now = now();
    let before = rollouts.rollouts.get(flag).cloned();
    let mut rollout = match (&args.plan, &before) {
        (Some(_), Some(r)) if r.state.status == Status::Running => {
            return Err(Failure::new(format!(
                "{flag}: its plan is running at phase {}/{}; --pause it before replacing the phases",
                r.state.phase + 1,
                r.plan.phases.len()
            )));
        }
        (Some(phases), Some(r)) => Rollout {
            plan: Plan {
                phases: phases.0.clone(),
                // New phases: the criteria by position again.
                success: default_success(&phases.0),
                ..r.plan.clone()
            },
            state: State::pending(now),
        },
        (Some(phases), None) => Rollout {
            plan: Plan::with_phases(phases.0.clone()),
            state: State::pending(now),
        },
        (None, Some(r)) => r.clone(),
        (None, None) => {
            return Err(Failure::new(format!(
                "{flag} has no rollout plan; --plan sets one (--plan alone: {})",
                flags_rollout::plan::DEFAULT_PHASES
            )));
        }
    };
    let plan = &mut rollout.plan;
    if let Some(triggers) = &args.triggers {
        plan.triggers
            .apply_overrides(&triggers.0)
            .map_err(Failure::usage)?;
    }
    apply_success(plan, &args.success).map_err(|e| Failure::usage(format!("--success: {e}")))?;
    if let Some(window) = args.window {
        plan.window = window;
    }
    if let Some(n) = args.min_samples {
        plan.min_samples = n;
    }
    if let Some(n) = args.sustain {
        plan.sustain = n;
    }
    if let Some(action) = args.on_trigger {
        plan.on_trigger = action;
    }
    let plan_changes = plan_changes(flag, before.as_ref().map(|r| &r.plan), &rollout.plan);

    let control = if args.start {
        Some(flags_rollout::start(&rollout.plan, &rollout.state, now))
    } else if args.pause {
        Some(flags_rollout::pause(
            &rollout.plan,
            &rollout.state,
            now,
            "by hand (--pause)",
        ))
    } else if args.resume {
        Some(flags_rollout::resume(&rollout.plan, &rollout.state, now))
    } else if let Some(advance) = args.advance {
        Some(flags_rollout::advance(
            &rollout.plan,
            &rollout.state,
            now,
            advance.0,
        ))
    } else if args.abort {
        Some(flags_rollout::abort(
            &rollout.plan,
            &rollout.state,
            now,
            flags.flag(flag).map(|d| d.rollout_percentage),
        ))
    } else {
        None
    };
    let step: Option<Step> = control
        .transpose()
        .map_err(|why| Failure::new(format!("{flag}: {why}")))?;
    if let Some(step) = &step {
        rollout.state = step.state.clone();
        name_the_decider(&mut rollout.state, Actor::Operator);
    }
    rollouts.rollouts.insert(flag.to_owned(), rollout);
    let (commit, changes) = step_commit(
        &names,
        docs,
        &rollouts,
        flag,
        before.as_ref(),
        step.as_ref(),
        plan_changes,
        Actor::Operator,
    )?;
    printed.clear();
    if changes.is_empty() {
        printed.push_str("nothing to change\n");
    }
    for change in &changes {
        let _ = writeln!(printed, "{change}");
    }
    if let Some(step) = &step {
        let _ = writeln!(printed, "{flag}: {}", step.action);
    }
    warnings = if args.plan.is_some() || args.start || args.triggers.is_some() {
        never_data_warnings(flag, &rollouts.rollouts[flag].plan)
    } else {
        Vec::new()
    };
    Ok(commit)
    })?;
    out(&printed);
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    Ok(0)
}

/// The trigger that holds the plan for good unless the bots and the guard
/// provide what it reads (process memory is not part of the outcome
/// metrics): said where the operator sets the plan, before a phase waits
/// on it. The guard names a trigger without data on each check and warns
/// at its first check; only this says it before the rollout begins.
pub fn never_data_warnings(flag: &str, plan: &Plan) -> Vec<String> {
    use flags_rollout::Trigger;
    let mut out = Vec::new();
    if plan.triggers.get(Trigger::MemoryUsage).is_some() {
        out.push(format!(
            "{flag}: the memory_usage trigger has data only if the bots export \
             process_resident_memory_bytes and the guard knows their limit (--memory-limit \
             BYTES; with --scrape their cgroup's by default); else the plan holds at the end \
             of the first hold (--triggers memory_usage=off turns it off)"
        ));
    }
    out
}

/// The settings an operator changed, one audit line each.
fn plan_changes(flag: &str, before: Option<&Plan>, after: &Plan) -> Vec<Change> {
    let fields = |p: &Plan| -> [(&'static str, Value); 7] {
        [
            ("plan.phases", json!(phases_spec(&p.phases))),
            ("plan.success", json!(p.success_spec())),
            ("plan.triggers", json!(p.triggers.spec())),
            ("plan.window", json!(format_duration(p.window))),
            ("plan.min_samples", json!(p.min_samples)),
            ("plan.sustain", json!(p.sustain)),
            ("plan.on_trigger", json!(p.on_trigger.name())),
        ]
    };
    let old = before.map(fields);
    fields(after)
        .into_iter()
        .enumerate()
        .filter_map(|(i, (field, new))| {
            let old = old.as_ref().map_or(Value::Null, |o| o[i].1.clone());
            (old != new).then(|| Change {
                flag: flag.to_owned(),
                field: field.to_owned(),
                old,
                new,
            })
        })
        .collect()
}

/// When the plan can next move, and to what.
fn next_step(r: &Rollout) -> (String, Option<Timestamp>) {
    let (plan, state) = (&r.plan, &r.state);
    match state.status {
        Status::Pending => ("--start".into(), None),
        Status::Paused => ("--resume".into(), None),
        Status::RolledBack => (
            format!("--resume (phase {}) or --start", state.phase + 1),
            None,
        ),
        Status::Done => ("-".into(), None),
        Status::Running => {
            let Some(next) = plan.phases.get(state.phase + 1) else {
                return ("done at the next check".into(), None);
            };
            let hold = plan.phases[state.phase].hold.unwrap_or_default();
            let at = state.since.checked_add(hold).ok();
            let when = at.map_or_else(|| "?".into(), |t| t.to_string());
            let criteria = plan.criteria(state.phase);
            let and = if criteria.is_empty() {
                String::new()
            } else {
                format!(" and {}", conditions_spec(criteria))
            };
            if inconclusive(state) {
                return (
                    format!(
                        "{}% when {} holds, or --advance",
                        next.percentage,
                        conditions_spec(criteria)
                    ),
                    at,
                );
            }
            (
                format!("{}% from {when} if healthy{and}", next.percentage),
                at,
            )
        }
    }
}

/// Whether the plan's last decision found its phase inconclusive.
fn inconclusive(state: &State) -> bool {
    state.status == Status::Running
        && state
            .last_decision
            .as_ref()
            .is_some_and(|d| d.action == "hold" && d.reason.starts_with("hold: inconclusive"))
}

fn phase_cell(r: &Rollout) -> String {
    let percentage = r
        .plan
        .phases
        .get(r.state.phase)
        .map_or_else(|| "?".into(), |p| p.percentage.to_string());
    format!(
        "{}/{} ({percentage}%)",
        r.state.phase + 1,
        r.plan.phases.len()
    )
}

fn last_cell(r: &Rollout) -> String {
    r.state
        .last_decision
        .as_ref()
        .map_or_else(|| "-".into(), |d| format!("{} ({})", d.reason, d.at))
}

fn rollout_json(name: &str, r: &Rollout, orphan: bool) -> Value {
    let (next, at) = next_step(r);
    json!({
        "flag": name,
        "orphan": orphan,
        "state": r.state.status.name(),
        "phase": r.state.phase + 1,
        "phases": r.plan.phases.len(),
        "percentage": r.plan.phases.get(r.state.phase).map(|p| p.percentage.to_json()),
        "since": r.state.since.to_string(),
        "next_step": next,
        "next_step_at": at.map(|t| t.to_string()),
        "plan": {
            "phases": phases_spec(&r.plan.phases),
            "triggers": triggers_json(&r.plan.triggers),
            "window": format_duration(r.plan.window),
            "min_samples": r.plan.min_samples,
            "sustain": r.plan.sustain,
            "on_trigger": r.plan.on_trigger.name(),
            "success": r.plan.success_spec(),
        },
        "inconclusive": inconclusive(&r.state),
        "last_decision": r.state.last_decision.as_ref().map_or(Value::Null, decision_json),
    })
}

/// Names of the plans whose flag the flag file no longer has.
fn orphans<'r>(
    flags_name: &Path,
    text: &str,
    rollouts: &'r RolloutsFile,
) -> Result<Vec<&'r str>, Failure> {
    let flags = parse_flag_file(text)
        .map_err(|problems| Failure::new(invalid_line(flags_name, &problems)))?;
    Ok(rollouts
        .rollouts
        .keys()
        .filter(|name| flags.flag(name).is_none())
        .map(String::as_str)
        .collect())
}

fn status(cli: &Cli, out: &mut Out<'_>) -> Result<u8, Failure> {
    let mut store = store::open(cli)?;
    let docs = store.read()?;
    let rollouts = parse_rollouts(store.rollouts_name(), docs.rollouts.as_deref())?;
    let orphans = orphans(store.flags_name(), &docs.flags, &rollouts)?;
    let shown: Vec<(&String, &Rollout)> = rollouts
        .rollouts
        .iter()
        .filter(|(name, _)| cli.feature.as_deref().is_none_or(|f| f == name.as_str()))
        .collect();
    if let Some(flag) = &cli.feature
        && shown.is_empty()
    {
        return Err(Failure::new(format!(
            "{flag} has no rollout plan; --plan sets one"
        )));
    }
    if cli.json {
        let rows: Vec<Value> = shown
            .iter()
            .map(|(name, r)| rollout_json(name, r, orphans.contains(&name.as_str())))
            .collect();
        let mut text = serde_json::to_string_pretty(&Value::Array(rows)).unwrap_or_default();
        text.push('\n');
        out(&text);
        return Ok(0);
    }
    if shown.is_empty() {
        out("no rollout plans (--feature NAME --plan sets one)\n");
        return Ok(0);
    }
    let header = [
        "FLAG",
        "STATE",
        "PHASE",
        "SINCE",
        "NEXT STEP",
        "LAST DECISION",
    ];
    let rows: Vec<[String; 6]> = shown
        .iter()
        .map(|(name, r)| {
            let state = if orphans.contains(&name.as_str()) {
                format!("{} (orphan: not in the flag file)", r.state.status)
            } else {
                r.state.status.to_string()
            };
            [
                (*name).clone(),
                state,
                phase_cell(r),
                r.state.since.to_string(),
                next_step(r).0,
                last_cell(r),
            ]
        })
        .collect();
    out(&aligned(header, &rows));
    Ok(0)
}

/// `--feature NAME`: the flag's plan, below the flag's fields. A rollouts
/// file that cannot be read is reported as a warning: the flag shows anyway.
pub fn show_under_flag(
    store: &dyn Store,
    docs: &store::Documents,
    name: &str,
    json_out: Option<&mut Value>,
    out: &mut Out<'_>,
) {
    let rollouts = match parse_rollouts(store.rollouts_name(), docs.rollouts.as_deref()) {
        Ok(r) => r,
        Err(failure) => {
            for line in failure.lines {
                eprintln!("warning: {line}");
            }
            return;
        }
    };
    let rollout = rollouts.rollouts.get(name);
    if let Some(object) = json_out.and_then(Value::as_object_mut) {
        object.insert(
            "rollout".into(),
            rollout.map_or(Value::Null, |r| rollout_json(name, r, false)),
        );
        return;
    }
    let Some(r) = rollout else {
        return;
    };
    let plan = &r.plan;
    let fields = [
        ("plan", phases_spec(&plan.phases)),
        (
            "plan state",
            format!(
                "{} at phase {} since {}",
                r.state.status,
                phase_cell(r),
                r.state.since
            ),
        ),
        ("triggers", plan.triggers.spec()),
        ("success criteria", plan.success_spec()),
        (
            "guard",
            format!(
                "window {}, min samples {}, sustain {}, on trigger {}",
                format_duration(plan.window),
                plan.min_samples,
                plan.sustain,
                plan.on_trigger.name()
            ),
        ),
        ("next step", next_step(r).0),
        ("last decision", last_cell(r)),
    ];
    let mut text = String::new();
    for (field, value) in fields {
        let _ = writeln!(text, "  {:<20}{value}", format!("{field}:"));
    }
    out(&text);
}

/// `--check` of a valid flag file `flag_text`: every problem of the
/// rollouts file (one error line each), and a warning on stderr for each
/// plan whose flag the flag file no longer has.
pub fn check(store: &dyn Store, docs: &store::Documents) -> Result<(), Failure> {
    let path = store.rollouts_name();
    let Some(text) = &docs.rollouts else {
        return Ok(());
    };
    let rollouts = RolloutsFile::parse(text).map_err(|problems| Failure {
        lines: problem_lines(path, &problems),
        code: 1,
    })?;
    let flags = parse_flag_file(&docs.flags)
        .map_err(|problems| Failure::new(invalid_line(store.flags_name(), &problems)))?;
    for name in rollouts.rollouts.keys() {
        if flags.flag(name).is_none() {
            eprintln!(
                "warning: {}: rollout plan for {name:?}, which the flag file does not have (an orphan; the guard ignores it)",
                path.display()
            );
        }
    }
    Ok(())
}
