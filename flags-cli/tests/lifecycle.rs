//! A flag's life cycle: --delete (and the rollout plan that blocks it),
//! and the refused --rename.

use std::fs;

use serde_json::json;

use crate::util::{EXAMPLE, Env};

#[test]
fn delete_removes_the_flag_and_says_what_bots_do() {
    let env = Env::new();
    let run = env.run(&["--feature", "voice_replies", "--delete"]);
    assert_eq!(
        run.ok().stdout,
        "voice_replies: deleted\n\
         bots asking for voice_replies now get the default their code passes (false if none; reason unknown_flag)\n"
    );
    let expected = EXAMPLE.replace(
        "    },\n    \"voice_replies\": {\n      \"description\": \"Reply to voice messages with voice\",\n      \"enabled\": false,\n      \"rollout_percentage\": 0\n    }\n",
        "    }\n",
    );
    assert_eq!(env.text(), expected);
    let audit = env.audit_lines();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["flag"], json!("voice_replies"));
    assert_eq!(audit[0]["field"], json!("flag"));
    assert_eq!(
        audit[0]["old"],
        json!({"description": "Reply to voice messages with voice", "enabled": false, "rollout_percentage": 0}),
        "the definition, to put it back"
    );
    assert!(audit[0]["new"].is_null());
    let history = env.run(&["--history", "--feature", "voice_replies"]);
    assert!(
        history
            .ok()
            .stdout
            .ends_with("  tester  voice_replies: deleted\n"),
        "{history:#?}"
    );
    let explained = env.run(&["--feature", "voice_replies", "--explain", "--user", "1"]);
    explained.fails(1);

    // The first flag goes with the separator after it.
    let env = Env::new();
    env.run(&["--feature", "new_gpt_model", "--delete"]).ok();
    assert!(
        env.text()
            .contains("  \"flags\": {\n    \"enhanced_video_download\": {"),
        "{}",
        env.text()
    );
}

#[test]
fn delete_dry_run_writes_nothing() {
    let env = Env::new();
    let run = env.run(&["--feature", "voice_replies", "--delete", "--dry-run"]);
    assert!(
        run.ok()
            .stdout
            .ends_with("(false if none; reason unknown_flag)\ndry run: nothing written\n"),
        "{run:#?}"
    );
    assert_eq!(env.text(), EXAMPLE);
    assert_eq!(env.listing(), ["feature_flags.json"]);
}

#[test]
fn delete_is_refused_while_a_rollout_plan_runs() {
    let env = Env::new();
    let rollouts = env.path("feature_flags.json.rollouts.json");
    env.run(&["--feature", "new_gpt_model", "--plan", "--start"])
        .ok();
    for state in ["running", "paused"] {
        if state == "paused" {
            env.run(&["--feature", "new_gpt_model", "--pause"]).ok();
        }
        let flags_before = env.text();
        let plans_before = fs::read(&rollouts).unwrap();
        let line = env
            .run(&["--feature", "new_gpt_model", "--delete"])
            .fails(1)
            .to_owned();
        assert_eq!(
            line,
            format!(
                "error: a rollout plan for new_gpt_model is {state}; --feature new_gpt_model --abort it first (see --status)"
            )
        );
        assert_eq!(env.text(), flags_before);
        assert_eq!(fs::read(&rollouts).unwrap(), plans_before);
    }

    // Other flags are not held back by it.
    env.run(&["--feature", "voice_replies", "--delete"]).ok();

    // Aborted (rolled back), the plan no longer runs: the flag and its
    // finished plan go together, so a new flag of that name starts afresh.
    env.run(&["--feature", "new_gpt_model", "--abort"]).ok();
    let run = env.run(&["--feature", "new_gpt_model", "--delete"]);
    assert!(
        run.ok()
            .stdout
            .ends_with("new_gpt_model: its rolled_back rollout plan is removed too\n"),
        "{run:#?}"
    );
    assert!(!env.text().contains("new_gpt_model"));
    let plans: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&rollouts).unwrap()).unwrap();
    assert_eq!(plans["rollouts"], json!({}));
    let last = env.audit_lines().pop().unwrap();
    assert_eq!(last["field"], json!("plan.state"));
    assert_eq!(last["old"], json!("rolled_back"));
    env.run(&["--check"]).ok();
}

#[test]
fn delete_is_refused_when_the_rollouts_file_cannot_be_read() {
    let env = Env::new();
    let rollouts = env.path("feature_flags.json.rollouts.json");
    fs::write(&rollouts, "{ not json").unwrap();
    let line = env
        .run(&["--feature", "enhanced_video_download", "--delete"])
        .fails(1)
        .to_owned();
    assert!(line.contains("rollouts"), "{line}");
    assert_eq!(env.text(), EXAMPLE);
    assert_eq!(fs::read_to_string(&rollouts).unwrap(), "{ not json");
}

#[test]
fn rename_is_refused_with_the_reason() {
    let env = Env::new();
    let line = env
        .run(&["--feature", "new_gpt_model", "--rename", "gpt_answers"])
        .fails(2)
        .to_owned();
    assert_eq!(
        line,
        "error: flags cannot be renamed: bots ask for \"new_gpt_model\" by name in their code and would get their default once it is gone; create \"gpt_answers\" (--feature gpt_answers --create), move the callers to it, then --feature new_gpt_model --delete"
    );
    assert_eq!(env.text(), EXAMPLE);
    assert_eq!(env.listing(), ["feature_flags.json"]);
}
