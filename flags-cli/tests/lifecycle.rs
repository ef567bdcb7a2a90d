//! A flag's life cycle: --delete (and the rollout plan that blocks it),
//! and the refused --rename.

use std::fs;

use serde_json::json;

use crate::stores::{Kind, storetest};
use crate::util::{EXAMPLE, Env};

storetest!(delete_removes_the_flag_and_says_what_bots_do, |kind| {
    let store = kind.example();
    let run = store.run(&["--feature", "voice_replies", "--delete"]);
    assert_eq!(
        run.ok().stdout,
        "voice_replies: deleted\n\
         bots asking for voice_replies now get the default their code passes (false if none; reason unknown_flag)\n"
    );
    let expected = EXAMPLE.replace(
        "    },\n    \"voice_replies\": {\n      \"description\": \"Reply to voice messages with voice\",\n      \"enabled\": false,\n      \"rollout_percentage\": 0\n    }\n",
        "    }\n",
    );
    assert_eq!(store.text(), expected);
    let audit = store.history();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["flag"], json!("voice_replies"));
    assert_eq!(audit[0]["field"], json!("flag"));
    assert_eq!(
        audit[0]["old"],
        json!({"description": "Reply to voice messages with voice", "enabled": false, "rollout_percentage": 0}),
        "the definition, to put it back"
    );
    assert!(audit[0]["new"].is_null());
    let history = store.run(&["--history", "--feature", "voice_replies"]);
    assert!(
        history.ok().stdout.ends_with(&format!(
            "  {}  voice_replies: deleted\n",
            store.by("tester")
        )),
        "{history:#?}"
    );
    let explained = store.run(&["--feature", "voice_replies", "--explain", "--user", "1"]);
    explained.fails(1);

    // The first flag goes with the separator after it.
    let store = kind.example();
    store.run(&["--feature", "new_gpt_model", "--delete"]).ok();
    assert!(
        store
            .text()
            .contains("  \"flags\": {\n    \"enhanced_video_download\": {"),
        "{}",
        store.text()
    );
});

storetest!(delete_dry_run_writes_nothing, |kind| {
    let store = kind.example();
    let run = store.run(&["--feature", "voice_replies", "--delete", "--dry-run"]);
    assert!(
        run.ok()
            .stdout
            .ends_with("(false if none; reason unknown_flag)\ndry run: nothing written\n"),
        "{run:#?}"
    );
    assert_eq!(store.text(), EXAMPLE);
    if kind == Kind::File {
        assert_eq!(store.env.listing(), ["feature_flags.json"]);
    }
});

storetest!(delete_is_refused_while_a_rollout_plan_runs, |kind| {
    let store = kind.example();
    store
        .run(&["--feature", "new_gpt_model", "--plan", "--start"])
        .ok();
    for state in ["running", "paused"] {
        if state == "paused" {
            store.run(&["--feature", "new_gpt_model", "--pause"]).ok();
        }
        let flags_before = store.text();
        let plans_before = store.rollouts();
        let line = store
            .run(&["--feature", "new_gpt_model", "--delete"])
            .fails(1)
            .to_owned();
        assert_eq!(
            line,
            format!(
                "error: a rollout plan for new_gpt_model is {state}; --feature new_gpt_model --abort it first (see --status)"
            )
        );
        assert_eq!(store.text(), flags_before);
        assert_eq!(store.rollouts(), plans_before);
    }

    // Other flags are not held back by it.
    store.run(&["--feature", "voice_replies", "--delete"]).ok();

    // Aborted (rolled back), the plan no longer runs: the flag and its
    // finished plan go together, so a new flag of that name starts afresh.
    store.run(&["--feature", "new_gpt_model", "--abort"]).ok();
    let run = store.run(&["--feature", "new_gpt_model", "--delete"]);
    assert!(
        run.ok()
            .stdout
            .ends_with("new_gpt_model: its rolled_back rollout plan is removed too\n"),
        "{run:#?}"
    );
    assert!(!store.text().contains("new_gpt_model"));
    let plans: serde_json::Value = serde_json::from_str(&store.rollouts().unwrap()).unwrap();
    assert_eq!(plans["rollouts"], json!({}));
    let last = store.history().pop().unwrap();
    assert_eq!(last["field"], json!("plan.state"));
    assert_eq!(last["old"], json!("rolled_back"));
    store.run(&["--check"]).ok();
});

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

storetest!(rename_is_refused_with_the_reason, |kind| {
    let store = kind.example();
    let line = store
        .run(&["--feature", "new_gpt_model", "--rename", "gpt_answers"])
        .fails(2)
        .to_owned();
    assert_eq!(
        line,
        "error: flags cannot be renamed: bots ask for \"new_gpt_model\" by name in their code and would get their default once it is gone; create \"gpt_answers\" (--feature gpt_answers --create), move the callers to it, then --feature new_gpt_model --delete"
    );
    assert_eq!(store.text(), EXAMPLE);
    if kind == Kind::File {
        assert_eq!(store.env.listing(), ["feature_flags.json"]);
    }
});
