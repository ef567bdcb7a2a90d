//! Rollout plans through the real binary: setting, starting, pausing,
//! resuming, aborting, status, hand edits, bad input, races, and the
//! guard's apply function refusing a stale decision.

use std::fs;
use std::process::Stdio;

use flags_cli::plans::apply::{Actor, Applied, apply_step};
use flags_cli::store::file::FileStore;
use flags_rollout::{RolloutsFile, Status, decide};
use serde_json::Value;

use crate::stores::{Store, storetest};
use crate::util::{EXAMPLE, Env, bin};

const ROLLOUTS: &str = "feature_flags.json.rollouts.json";

fn rollouts(env: &Env) -> RolloutsFile {
    RolloutsFile::parse(&fs::read_to_string(env.path(ROLLOUTS)).unwrap()).unwrap()
}

fn flag(env: &Env, name: &str) -> Value {
    flag_in(&env.text(), name)
}

fn flag_in(text: &str, name: &str) -> Value {
    let file: Value = serde_json::from_str(text).unwrap();
    file["flags"][name].clone()
}

/// The store's rollouts document.
fn plans(store: &Store) -> RolloutsFile {
    RolloutsFile::parse(&store.rollouts().unwrap()).unwrap()
}

storetest!(plan_start_status_and_the_audit, |kind| {
    let store = kind.example();
    let run = store.run(&["--feature", "new_gpt_model", "--plan", "--start"]);
    let out = &run.ok().stdout;
    assert!(
        out.contains("new_gpt_model: rollout_percentage 10 -> 5\n"),
        "{out}"
    );
    assert!(
        out.contains("new_gpt_model: plan.state null -> \"running\"\n"),
        "{out}"
    );
    assert_eq!(
        flag_in(&store.text(), "new_gpt_model")["rollout_percentage"],
        5
    );
    assert_eq!(flag_in(&store.text(), "new_gpt_model")["enabled"], true);
    // only the percentage's bytes changed in the flag file
    assert_eq!(
        store.text(),
        EXAMPLE.replace("\"rollout_percentage\": 10,", "\"rollout_percentage\": 5,")
    );
    let r = &plans(&store).rollouts["new_gpt_model"];
    assert_eq!(
        flags_rollout::phases_spec(&r.plan.phases),
        "5:1d,25:3d,50:5d,100"
    );
    assert_eq!(r.state.status, Status::Running);
    assert_eq!(r.state.phase, 0);

    let audit = store.history();
    assert!(audit.iter().all(|l| l["user"] == "tester"), "{audit:?}");
    assert!(
        audit
            .iter()
            .any(|l| l["field"] == "rollout_percentage" && l["new"] == 5)
    );
    assert!(
        audit
            .iter()
            .any(|l| l["field"] == "plan.state" && l["new"] == "running" && l["action"] == "start")
    );

    let status = store.run(&["--status"]);
    let lines: Vec<&str> = status.ok().stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("FLAG") && lines[0].contains("NEXT STEP"));
    assert!(
        lines[1].starts_with("new_gpt_model  running  1/4 (5%)"),
        "{}",
        lines[1]
    );
    assert!(lines[1].contains("25% from "), "{}", lines[1]);

    let json: Value =
        serde_json::from_str(&store.run(&["--status", "--json"]).ok().stdout).unwrap();
    assert_eq!(json[0]["flag"], "new_gpt_model");
    assert_eq!(json[0]["state"], "running");
    assert_eq!(json[0]["phase"], 1);
    assert_eq!(json[0]["phases"], 4);
    assert_eq!(json[0]["percentage"], 5);
    assert_eq!(json[0]["last_decision"]["action"], "start");

    let shown = store.run(&["--feature", "new_gpt_model"]);
    assert!(
        shown
            .ok()
            .stdout
            .contains("  plan:               5:1d,25:3d,50:5d,100\n"),
        "{}",
        shown.stdout
    );
    let shown: Value = serde_json::from_str(
        &store
            .run(&["--feature", "new_gpt_model", "--json"])
            .ok()
            .stdout,
    )
    .unwrap();
    assert_eq!(shown["rollout"]["state"], "running");
    let other: Value = serde_json::from_str(
        &store
            .run(&["--feature", "voice_replies", "--json"])
            .ok()
            .stdout,
    )
    .unwrap();
    assert!(other["rollout"].is_null());
});

storetest!(settings_pause_resume_abort, |kind| {
    let store = kind.example();
    store
        .run(&[
            "--feature",
            "new_gpt_model",
            "--plan",
            "5:1d,25",
            "--triggers",
            "error_rate=0.02,response_time=3,memory_usage=0.85,complaints=off",
            "--window",
            "10m",
            "--min-samples",
            "500",
            "--sustain",
            "3",
            "--on-trigger",
            "previous-phase",
        ])
        .ok();
    let r = &plans(&store).rollouts["new_gpt_model"];
    assert_eq!(r.state.status, Status::Pending);
    assert_eq!(
        r.plan.triggers.spec(),
        "error_rate=0.02,response_time=3,memory_usage=0.85,complaints=off"
    );
    assert_eq!(
        (r.plan.window.as_secs(), r.plan.min_samples, r.plan.sustain),
        (600, 500, 3)
    );
    assert_eq!(
        flag_in(&store.text(), "new_gpt_model")["rollout_percentage"],
        10,
        "setting a plan does not touch the flag"
    );

    // triggers tune a plan without replacing the others
    store
        .run(&["--feature", "new_gpt_model", "--triggers", "complaints=4"])
        .ok();
    assert_eq!(
        plans(&store).rollouts["new_gpt_model"].plan.triggers.spec(),
        "error_rate=0.02,response_time=3,memory_usage=0.85,complaints=4"
    );

    store.run(&["--feature", "new_gpt_model", "--start"]).ok();
    store.run(&["--feature", "new_gpt_model", "--pause"]).ok();
    assert_eq!(
        plans(&store).rollouts["new_gpt_model"].state.status,
        Status::Paused
    );
    store.run(&["--feature", "new_gpt_model", "--disable"]).ok();
    let resumed = store.run(&["--feature", "new_gpt_model", "--resume"]);
    assert!(
        resumed
            .ok()
            .stdout
            .contains("new_gpt_model: enabled false -> true"),
        "{resumed:?}"
    );
    assert_eq!(
        plans(&store).rollouts["new_gpt_model"].state.status,
        Status::Running
    );
    // first phase and previous-phase: nothing earlier, so the kill switch
    store.run(&["--feature", "new_gpt_model", "--abort"]).ok();
    assert_eq!(flag_in(&store.text(), "new_gpt_model")["enabled"], false);
    let r = &plans(&store).rollouts["new_gpt_model"];
    assert_eq!(r.state.status, Status::RolledBack);
    store.run(&["--feature", "new_gpt_model", "--resume"]).ok();
    assert_eq!(flag_in(&store.text(), "new_gpt_model")["enabled"], true);
    assert_eq!(
        flag_in(&store.text(), "new_gpt_model")["rollout_percentage"],
        5
    );
});

storetest!(a_hand_edit_pauses_a_running_plan_and_says_so, |kind| {
    for edit in [
        &["--percentage", "7"][..],
        &["--disable"],
        &["--percentage", "50", "--enable"],
        &["--salt", "reshuffled", "--force"],
        &["--bucket-by", "chat", "--force"],
    ] {
        let store = kind.example();
        store
            .run(&["--feature", "new_gpt_model", "--plan", "--start"])
            .ok();
        let mut args = vec!["--feature", "new_gpt_model"];
        args.extend_from_slice(edit);
        let run = store.run(&args);
        assert!(run.ok().stdout.contains("new_gpt_model: rollout plan paused by this hand edit; --resume continues it at phase 1"), "{run:?}");
        assert_eq!(
            plans(&store).rollouts["new_gpt_model"].state.status,
            Status::Paused
        );
        assert!(
            store
                .history()
                .iter()
                .any(|l| l["field"] == "plan.state" && l["new"] == "paused")
        );
    }
    // a plan that is not running, or another flag's edit, is left alone
    let store = kind.example();
    store.run(&["--feature", "new_gpt_model", "--plan"]).ok();
    let run = store.run(&["--feature", "new_gpt_model", "--percentage", "7"]);
    assert!(!run.ok().stdout.contains("paused"));
    store.run(&["--feature", "new_gpt_model", "--start"]).ok();
    store.run(&["--feature", "voice_replies", "--enable"]).ok();
    store
        .run(&["--feature", "new_gpt_model", "--exclude-chat", "-5"])
        .ok();
    assert_eq!(
        plans(&store).rollouts["new_gpt_model"].state.status,
        Status::Running
    );
});

// Bad commands on a store with a running plan (and an edited flag
// document): one `error:` line each, and both documents unchanged.
storetest!(bad_input_changes_nothing, |kind| {
    let store = kind.example();
    store
        .run(&["--feature", "new_gpt_model", "--plan", "--start"])
        .ok();
    store.rejects(
        &["--feature", "new_gpt_model", "--plan", "50:1d,25:1d,100"],
        2,
        "phase 2 (25%) is not above phase 1 (50%)",
    );
    store.rejects(
        &["--feature", "voice_replies", "--plan", "5:1x"],
        2,
        "phase 1: hold \"1x\" is not a duration",
    );
    store.rejects(
        &["--feature", "voice_replies", "--plan", "5,25:1d"],
        2,
        "phase 1 (5%) has no hold time",
    );
    store.rejects(
        &["--feature", "new_gpt_model", "--triggers", "error_rate=2"],
        2,
        "error_rate: 2 is not a share of errors",
    );
    store.rejects(
        &["--feature", "new_gpt_model", "--triggers", "latency=3"],
        2,
        "unknown trigger \"latency\"",
    );
    store.rejects(
        &["--feature", "new_gpt_model", "--window", "5x"],
        2,
        "is not a duration",
    );
    store.rejects(
        &["--feature", "new_gpt_model", "--sustain", "0"],
        2,
        "--sustain",
    );
    store.rejects(
        &["--feature", "new_gpt_model", "--on-trigger", "explode"],
        2,
        "not disable or previous-phase",
    );
    store.rejects(
        &["--feature", "voice_replies", "--start"],
        1,
        "voice_replies has no rollout plan; --plan sets one",
    );
    store.rejects(
        &["--feature", "new_gpt_model", "--resume"],
        1,
        "new_gpt_model: its plan is already running at phase 1/4 (5%)",
    );
    store.rejects(
        &["--feature", "new_gpt_model", "--start"],
        1,
        "already running",
    );
    store.rejects(
        &["--feature", "new_gpt_model", "--plan", "--pause"],
        1,
        "--pause it before replacing the phases",
    );
    store.rejects(
        &["--feature", "new_gpt_modle", "--plan"],
        1,
        "did you mean \"new_gpt_model\"",
    );
    store.rejects(
        &["--feature", "new_gpt_model", "--pause", "--resume"],
        2,
        "cannot be used with",
    );
    store.rejects(&["--plan"], 2, "--feature");
    store.rejects(
        &["--feature", "new_gpt_model", "--start", "--percentage", "5"],
        2,
        "cannot be used with",
    );

    // "5:1d,25" is fine: the last phase has no hold
    store
        .run(&["--feature", "voice_replies", "--plan", "5:1d,25"])
        .ok();
});

#[test]
fn a_hand_broken_rollouts_file_is_refused_and_left_as_it_is() {
    let env = Env::new();
    env.run(&["--feature", "new_gpt_model", "--plan", "--start"])
        .ok();
    let broken = fs::read_to_string(env.path(ROLLOUTS))
        .unwrap()
        .replace("\"running\"", "\"runing\"");
    fs::write(env.path(ROLLOUTS), &broken).unwrap();
    let flags_before = env.text();
    for args in [
        &["--feature", "new_gpt_model", "--pause"][..],
        &["--status"],
        &["--feature", "new_gpt_model", "--abort"],
    ] {
        let line = env.run(args).fails(1).to_owned();
        assert!(line.contains("is not a valid rollouts file: rollouts.new_gpt_model.state: \"runing\" is not one of"), "{line}");
        assert!(line.contains("did you mean \"running\""), "{line}");
    }
    fs::write(env.path(ROLLOUTS), "{ not json").unwrap();
    let line = env
        .run(&["--feature", "new_gpt_model", "--pause"])
        .fails(1)
        .to_owned();
    assert!(line.contains("not valid JSON"), "{line}");
    assert_eq!(
        fs::read_to_string(env.path(ROLLOUTS)).unwrap(),
        "{ not json"
    );
    assert_eq!(env.text(), flags_before);
    // --check lists it; the kill switch still works, with a warning
    let check = env.run(&["--check"]);
    assert_eq!(check.code, 1);
    assert!(
        check.stderr.contains("rollouts.json: not valid JSON"),
        "{check:?}"
    );
    let kill = env.run(&["--feature", "new_gpt_model", "--disable"]);
    assert_eq!(kill.code, 0, "{kill:?}");
    assert!(kill.stderr.starts_with("warning: "), "{kill:?}");
    assert_eq!(
        fs::read_to_string(env.path(ROLLOUTS)).unwrap(),
        "{ not json"
    );
}

/// A rollouts file with more problems than a report lists: `--check`
/// prints the first ones and counts the rest, as it does for a flag file.
#[test]
fn check_counts_the_rollouts_problems_it_does_not_list() {
    let env = Env::new();
    env.run(&["--feature", "new_gpt_model", "--plan"]).ok();
    let mut file: Value =
        serde_json::from_str(&fs::read_to_string(env.path(ROLLOUTS)).unwrap()).unwrap();
    let mut plan = file["rollouts"]["new_gpt_model"].clone();
    plan["state"] = "runing".into();
    let plans: serde_json::Map<String, Value> = (0..150)
        .map(|i| (format!("plan_{i}"), plan.clone()))
        .collect();
    file["rollouts"] = plans.into();
    fs::write(env.path(ROLLOUTS), file.to_string()).unwrap();
    let check = env.run(&["--check"]);
    assert_eq!(check.code, 1, "{check:?}");
    let lines: Vec<&str> = check.stderr.lines().collect();
    let listed = lines
        .iter()
        .filter(|l| l.contains("rollouts.json: "))
        .count();
    assert_eq!(listed, flags_core::MAX_LISTED_PROBLEMS, "{check:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("... and ") && l.ends_with(" more problems")),
        "{check:?}"
    );
}

#[test]
fn orphan_plans_are_reported() {
    let env = Env::new();
    env.run(&["--feature", "voice_replies", "--plan"]).ok();
    fs::write(
        &env.file,
        EXAMPLE.replace("\"voice_replies\"", "\"voice_replies_v2\""),
    )
    .unwrap();
    let status = env.run(&["--status"]);
    assert!(
        status
            .ok()
            .stdout
            .contains("pending (orphan: not in the flag file)"),
        "{status:?}"
    );
    let check = env.run(&["--check"]);
    assert_eq!(check.code, 0);
    assert!(
        check.stderr.contains("warning:")
            && check
                .stderr
                .contains("\"voice_replies\", which the flag file does not have"),
        "{check:?}"
    );
}

#[test]
fn concurrent_starts_and_pauses_lose_nothing() {
    let env = Env::new();
    // twenty flags, each planned; then every flag started and paused by
    // racing processes.
    let mut text = String::from("{\n  \"version\": 1,\n  \"flags\": {\n");
    let names: Vec<String> = (0..20).map(|i| format!("f{i}")).collect();
    for (i, n) in names.iter().enumerate() {
        let comma = if i + 1 < names.len() { "," } else { "" };
        text.push_str(&format!(
            "    \"{n}\": {{ \"enabled\": false, \"rollout_percentage\": 0 }}{comma}\n"
        ));
    }
    text.push_str("  }\n}\n");
    fs::write(&env.file, text).unwrap();
    let spawn = |args: Vec<String>| {
        bin()
            .arg("--file")
            .arg(&env.file)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let children: Vec<_> = names
        .iter()
        .map(|n| spawn(vec!["--feature".into(), n.clone(), "--plan".into()]))
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let children: Vec<_> = names
        .iter()
        .map(|n| spawn(vec!["--feature".into(), n.clone(), "--start".into()]))
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    // half paused, while the same flags get concurrent second starts
    // (which must each fail or follow a pause, never double-apply)
    let children: Vec<_> = names
        .iter()
        .take(10)
        .flat_map(|n| {
            [
                spawn(vec!["--feature".into(), n.clone(), "--pause".into()]),
                spawn(vec!["--feature".into(), n.clone(), "--pause".into()]),
            ]
        })
        .collect();
    let mut succeeded = 0;
    for mut c in children {
        succeeded += usize::from(c.wait().unwrap().success());
    }
    assert_eq!(
        succeeded, 10,
        "exactly one of two pauses of a flag succeeds"
    );
    let file = rollouts(&env);
    assert_eq!(file.rollouts.len(), 20);
    for (i, n) in names.iter().enumerate() {
        let want = if i < 10 {
            Status::Paused
        } else {
            Status::Running
        };
        assert_eq!(file.rollouts[n].state.status, want, "{n}");
        assert_eq!(flag(&env, n)["rollout_percentage"], 5, "{n}");
        assert_eq!(flag(&env, n)["enabled"], true, "{n}");
    }
    let audit = env.audit_lines();
    let count = |field: &str, new: &str| {
        audit
            .iter()
            .filter(|l| l["field"] == field && l["new"] == new)
            .count()
    };
    assert_eq!(count("plan.state", "running"), 20);
    assert_eq!(count("plan.state", "paused"), 10);
    assert_eq!(count("plan.phases", "5:1d,25:3d,50:5d,100"), 20);
}

#[test]
fn racing_pause_resume_and_start_on_one_flag_apply_in_some_order_and_lose_nothing() {
    let env = Env::new();
    env.run(&["--feature", "new_gpt_model", "--plan", "--start"])
        .ok();
    let commands = ["--pause", "--resume", "--start"];
    let mut succeeded = 0;
    for _wave in 0..4 {
        let children: Vec<_> = commands
            .iter()
            .flat_map(|command| [command, command])
            .map(|command| {
                bin()
                    .arg("--file")
                    .arg(&env.file)
                    .args(["--feature", "new_gpt_model", command])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for mut child in children {
            let status = child.wait().unwrap();
            // Refused (a pause of a paused plan, a start of a running one)
            // is fine; a crash or a usage error is not.
            assert!(matches!(status.code(), Some(0 | 1)), "{status:?}");
            succeeded += usize::from(status.success());
        }
    }
    // Every command that succeeded changed the state once, in the order
    // the lock let them in: the audit log is one unbroken chain from
    // `running` to what the file says now.
    let changes: Vec<(String, String)> = env
        .audit_lines()
        .iter()
        .filter(|l| l["field"] == "plan.state")
        .map(|l| {
            (
                l["old"].as_str().unwrap_or("").to_owned(),
                l["new"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(changes.len(), 1 + succeeded, "{changes:?}");
    for pair in changes.windows(2) {
        assert_eq!(
            pair[0].1, pair[1].0,
            "a lost or doubled change: {changes:?}"
        );
    }
    let now = rollouts(&env).rollouts["new_gpt_model"].state.status;
    assert_eq!(changes.last().unwrap().1, now.to_string());
    // Whatever the order, the flag is at phase 1's percentage and on.
    assert_eq!(flag(&env, "new_gpt_model")["rollout_percentage"], 5);
    assert_eq!(flag(&env, "new_gpt_model")["enabled"], true);
}

#[test]
fn apply_step_acts_once_and_refuses_a_stale_decision() {
    let env = Env::new();
    env.run(&[
        "--feature",
        "new_gpt_model",
        "--plan",
        "--triggers",
        "memory_usage=off",
        "--sustain",
        "1",
        "--start",
    ])
    .ok();
    let decided_on = rollouts(&env).rollouts["new_gpt_model"].clone();
    let m = crate::util::error_rate_trips();
    let step = decide(
        &decided_on.plan,
        &decided_on.state,
        &m,
        flags_rollout::jiff::Timestamp::now(),
    );
    let first = apply_step(
        &mut FileStore::new(&env.file),
        "new_gpt_model",
        &decided_on,
        &step,
        Actor::Guard,
    )
    .unwrap();
    let Applied::Written { changes } = first else {
        panic!("{first:?}")
    };
    assert_eq!(
        changes.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [
            "new_gpt_model: enabled true -> false",
            "new_gpt_model: plan.state \"running\" -> \"rolled_back\"",
        ]
    );
    assert_eq!(flag(&env, "new_gpt_model")["enabled"], false);
    let line = env
        .audit_lines()
        .into_iter()
        .find(|l| l["field"] == "enabled")
        .unwrap();
    assert_eq!(line["user"], "guard");
    assert_eq!(line["trigger"], "error_rate");
    assert_eq!(line["value"], 0.2);
    assert_eq!(line["threshold"], 0.05);
    assert_eq!(line["samples"], 1000.0);
    // a second guard with the same decision does nothing
    let flags_before = env.text();
    let rollouts_before = fs::read(env.path(ROLLOUTS)).unwrap();
    let second = apply_step(
        &mut FileStore::new(&env.file),
        "new_gpt_model",
        &decided_on,
        &step,
        Actor::Guard,
    )
    .unwrap();
    assert!(matches!(second, Applied::Stale { .. }), "{second:?}");
    assert_eq!(env.text(), flags_before);
    assert_eq!(fs::read(env.path(ROLLOUTS)).unwrap(), rollouts_before);
    let status = env.run(&["--status"]);
    assert!(
        status
            .ok()
            .stdout
            .contains("rollback: error_rate 0.2 over threshold 0.05 (1000 samples); flag disabled"),
        "{status:?}"
    );
}

/// A rollback decided at 50 % to the previous phase (25 %) lands on a file
/// whose percentage someone lowered to 10 % in an editor after the guard
/// read it (the plan saw nothing): applied under the lock, the rollback
/// keeps 10 %, never raising the flag.
#[test]
fn a_rollback_applied_under_the_lock_never_raises_a_percentage_lowered_since() {
    let env = Env::new();
    env.run(&[
        "--feature",
        "new_gpt_model",
        "--plan",
        "5:1d,25:1d,50:1d,100",
        "--on-trigger",
        "previous-phase",
        "--triggers",
        "memory_usage=off",
        "--sustain",
        "1",
        "--start",
    ])
    .ok();
    // The plan at phase 3 (50 %), as if it had advanced twice.
    let mut file = rollouts(&env);
    let rollout = file.rollouts.get_mut("new_gpt_model").unwrap();
    rollout.state.phase = 2;
    fs::write(env.path(ROLLOUTS), file.to_text()).unwrap();
    let set = |text: &str, p: &str| {
        let v: Value = serde_json::from_str(text).unwrap();
        let old = v["flags"]["new_gpt_model"]["rollout_percentage"].to_string();
        text.replacen(
            &format!("\"rollout_percentage\": {old}"),
            &format!("\"rollout_percentage\": {p}"),
            1,
        )
    };
    fs::write(&env.file, set(&env.text(), "50")).unwrap();
    let decided_on = rollouts(&env).rollouts["new_gpt_model"].clone();
    let m = crate::util::error_rate_trips();
    let step = decide(
        &decided_on.plan,
        &decided_on.state,
        &m,
        flags_rollout::jiff::Timestamp::now(),
    );
    assert_eq!(
        step.action
            .flag_edit()
            .percentage
            .map(|p| p.to_string())
            .as_deref(),
        Some("25")
    );
    // Lowered by hand after the decision.
    fs::write(&env.file, set(&env.text(), "10")).unwrap();
    let applied = apply_step(
        &mut FileStore::new(&env.file),
        "new_gpt_model",
        &decided_on,
        &step,
        Actor::Guard,
    )
    .unwrap();
    assert!(matches!(applied, Applied::Written { .. }), "{applied:?}");
    assert_eq!(flag(&env, "new_gpt_model")["rollout_percentage"], 10);
    assert_eq!(
        rollouts(&env).rollouts["new_gpt_model"].state.status,
        Status::RolledBack
    );
}

/// `--report` over a plan whose history holds known counts: every number
/// against a reference computation (Python's `statistics.NormalDist` with
/// the textbook Wilson and Newcombe formulas).
#[test]
fn report_analyses_each_phase_from_known_counts() {
    use flags_rollout::measure::CohortWindow;
    use flags_rollout::state::{PhaseCounts, PhaseRecord};

    let env = Env::new();
    env.run(&["--feature", "new_gpt_model", "--plan", "--start"])
        .ok();
    let mut file = rollouts(&env);
    let r = file.rollouts.get_mut("new_gpt_model").unwrap();
    let t = |s: &str| s.parse::<flags_rollout::jiff::Timestamp>().unwrap();
    let on = CohortWindow {
        ok: 970.0,
        errors: 30.0,
        duration_le: [
            0.0, 0.0, 0.0, 0.0, 900.0, 960.0, 990.0, 1000.0, 1000.0, 1000.0,
        ],
    };
    let off = CohortWindow {
        ok: 19_800.0,
        errors: 200.0,
        duration_le: [
            0.0, 0.0, 0.0, 0.0, 19_000.0, 20_000.0, 20_000.0, 20_000.0, 20_000.0, 20_000.0,
        ],
    };
    r.state.history = vec![PhaseRecord {
        phase: 0,
        percentage: r.plan.phases[0].percentage,
        from: t("2026-03-01T00:00:00Z"),
        to: t("2026-03-02T00:00:00Z"),
        action: "advance".into(),
        reason: "advance to phase 2 (25%) by hand (--advance)".into(),
        by: "tester".into(),
        counts: Some(PhaseCounts {
            on,
            off,
            complaints: 3.0,
            at: None,
        }),
    }];
    r.state.phase = 1;
    fs::write(env.path(ROLLOUTS), file.to_text()).unwrap();

    let run = env.run(&["--report", "new_gpt_model", "--json"]);
    let report: Value = serde_json::from_str(&run.ok().stdout).unwrap();
    assert_eq!(report["counts_from"], "guard");
    let phases = report["phases"].as_array().unwrap();
    assert_eq!(phases.len(), 2, "{report:#}");
    let p = &phases[0];
    assert_eq!(
        (p["phase"].as_u64(), p["percentage"].as_f64()),
        (Some(1), Some(5.0))
    );
    assert_eq!(p["decision"], "advance");
    assert_eq!(p["by"], "tester");
    let close = |v: &Value, want: f64| (v.as_f64().unwrap() - want).abs() < 1e-9;
    assert!(close(&p["on"]["outcomes"], 1000.0));
    assert!(close(&p["on"]["error_share"], 0.03));
    assert!(
        close(&p["on"]["error_share_95"][0], 0.021_093_738_828_834_7),
        "{p}"
    );
    assert!(
        close(&p["on"]["error_share_95"][1], 0.042_503_414_147_587_12),
        "{p}"
    );
    assert!(close(&p["off"]["error_share"], 0.01));
    assert!(close(&p["on_minus_off"]["error_share"], 0.02));
    assert!(
        close(
            &p["on_minus_off"]["error_share_95"][0],
            0.010_972_240_275_391_546
        ),
        "{p}"
    );
    assert!(
        close(
            &p["on_minus_off"]["error_share_95"][1],
            0.032_569_571_955_512_515
        ),
        "{p}"
    );
    // p95: rank 950 in (0.5 s, 1 s] holding ranks 901..960: 0.5 + 0.5·50/60;
    // its interval's ranks 936..964 lie in (0.5, 1] and (1, 2].
    assert!(
        close(&p["on"]["p95_seconds"], 0.5 + 0.5 * 50.0 / 60.0),
        "{p}"
    );
    assert!(
        close(&p["on"]["p95_seconds_95"][0], 0.5) && close(&p["on"]["p95_seconds_95"][1], 2.0),
        "{p}"
    );
    assert!(close(&p["complaints"], 3.0));
    // The phase it is in: running, not yet measured by a guard.
    assert_eq!(phases[1]["decision"], "running");
    assert_eq!(phases[1]["on"], Value::Null);

    let text = env.run(&["--report", "new_gpt_model"]).ok().stdout.clone();
    assert!(text.starts_with("new_gpt_model: plan 5:1d,25:3d,50:5d,100 (running); counts from the guard's measurements\n"), "{text}");
    assert!(text.contains("phase 1 at 5 %: 2026-03-01T00:00:00Z to 2026-03-02T00:00:00Z (1d): advance by tester: advance to phase 2 (25%) by hand (--advance)\n"), "{text}");
    assert!(text.contains("  on  1000 outcomes, 30 errors: error share 3.00 % (95 % CI 2.11 % to 4.25 %), p95 0.917 s (95 % CI 0.5 s to 2 s)\n"), "{text}");
    assert!(
        text.contains("  off 20000 outcomes, 200 errors: error share 1.00 % (95 % CI 0.87 % to 1.15 %), p95 0.5 s (95 % CI 0.25 s to 1 s)\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "  on - off error share +2.00 pp (95 % CI +1.10 pp to +3.26 pp); complaints 3\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("no counts: the guard did not measure this phase"),
        "{text}"
    );

    let e = env.run(&["--report", "nope"]).fails(1).to_owned();
    assert!(e.contains("nope has no rollout plan"), "{e}");
    let e = env
        .run(&[
            "--report",
            "new_gpt_model",
            "--percentage",
            "5",
            "--feature",
            "new_gpt_model",
        ])
        .fails(2)
        .to_owned();
    assert!(e.contains("cannot be used with"), "{e}");
}

#[test]
fn success_criteria_and_advance_through_the_binary() {
    let env = Env::new();
    env.run(&[
        "--feature",
        "new_gpt_model",
        "--plan",
        "5:1s,25:1d,100",
        "--success",
        "25:error_rate<0.02+no_degradation",
    ])
    .ok();
    let r = &rollouts(&env).rollouts["new_gpt_model"];
    assert_eq!(r.plan.success_spec(), "25:error_rate<0.02+no_degradation");
    let text = fs::read_to_string(env.path(ROLLOUTS)).unwrap();
    assert!(text.contains("\"success\": [\n            \"error_rate<0.02\",\n            \"no_degradation\"\n          ]"), "{text}");
    for (arg, says) in [
        (
            "30:error_rate<0.01",
            "30% is not a phase of the plan (5%, 25%, 100%)",
        ),
        ("100:no_degradation", "100% is the last phase"),
        ("25:eror_rate<0.01", "did you mean \"error_rate\""),
        ("25:error_rate", "error_rate needs a bound"),
    ] {
        let before = fs::read_to_string(env.path(ROLLOUTS)).unwrap();
        let e = env
            .run(&["--feature", "new_gpt_model", "--success", arg])
            .fails(2)
            .to_owned();
        assert!(e.contains(says), "{arg}: {e}");
        assert_eq!(
            fs::read_to_string(env.path(ROLLOUTS)).unwrap(),
            before,
            "{arg}"
        );
    }
    let e = env
        .run(&["--feature", "new_gpt_model", "--advance"])
        .fails(1)
        .to_owned();
    assert!(e.contains("its plan is pending, not running"), "{e}");
    env.run(&["--feature", "new_gpt_model", "--start"]).ok();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let out = env
        .run(&["--feature", "new_gpt_model", "--advance"])
        .ok()
        .stdout
        .clone();
    assert!(
        out.contains("new_gpt_model: advance to phase 2 (25%)"),
        "{out}"
    );
    // Typed again at once: the new phase's hold has just begun.
    let e = env
        .run(&["--feature", "new_gpt_model", "--advance"])
        .fails(1)
        .to_owned();
    assert!(e.contains("holds it until"), "{e}");
    assert_eq!(flag(&env, "new_gpt_model")["rollout_percentage"], 25);
    let e = env
        .run(&["--feature", "new_gpt_model", "--advance", "5"])
        .fails(1)
        .to_owned();
    assert!(e.contains("not at 5%"), "{e}");
    let entry = env
        .audit_lines()
        .into_iter()
        .rev()
        .find(|l| l["field"] == "rollout_percentage")
        .unwrap();
    assert_eq!(
        (entry["user"].as_str(), entry["action"].as_str()),
        (Some("tester"), Some("advance"))
    );
    let r = &rollouts(&env).rollouts["new_gpt_model"];
    assert_eq!(r.state.history[0].by, "tester");
    let status = env.run(&["--status"]).ok().stdout.clone();
    assert!(
        status.contains("100% from ")
            && status.contains(" if healthy and error_rate<0.02+no_degradation"),
        "{status}"
    );
}

/// `--advance` on the fleet's database: the same locked update path (one
/// transaction with its audit rows), refused where it does not apply.
#[test]
fn advance_works_on_the_database() {
    let store = crate::stores::Kind::Database.example();
    let db = |args: &[&str]| store.run(args);
    db(&[
        "--feature",
        "new_gpt_model",
        "--plan",
        "5:1h,25:1h,100",
        "--start",
    ])
    .ok();
    // Its hold is not over: alone, refused; naming the phase, moved once.
    let e = db(&["--feature", "new_gpt_model", "--advance"])
        .fails(1)
        .to_owned();
    assert!(e.contains("holds it until"), "{e}");
    let out = db(&["--feature", "new_gpt_model", "--advance", "5"])
        .ok()
        .stdout
        .clone();
    assert!(
        out.contains("new_gpt_model: rollout_percentage 5 -> 25"),
        "{out}"
    );
    let e = db(&["--feature", "new_gpt_model", "--advance", "5"])
        .fails(1)
        .to_owned();
    assert!(e.contains("not at 5%"), "{e}");
    let status: Value = serde_json::from_str(&db(&["--status", "--json"]).ok().stdout).unwrap();
    assert_eq!(status[0]["phase"], 2, "{status}");
    let history: Value = serde_json::from_str(&db(&["--history", "--json"]).ok().stdout).unwrap();
    let advanced = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["field"] == "rollout_percentage" && e["new"] == 25)
        .count();
    assert_eq!(advanced, 1, "{history:#}");
}
