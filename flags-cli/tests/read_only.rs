//! --list, --feature NAME, --check, --explain, --history, and --json.

use std::fs;
use std::path::Path;

use flags_core::{Percentage, bucket, seed_for_salt};
use serde_json::{Value, json};

use crate::stores::{Store, storetest};
use crate::util::{EXAMPLE, Env, FILE_NAME, Run, bin};

fn json_of(run: &Run) -> Value {
    serde_json::from_str(&run.ok().stdout).expect("stdout is JSON")
}

#[test]
fn list_prints_a_row_per_flag() {
    let env = Env::new();
    let run = env.run(&["--list"]);
    let lines: Vec<Vec<&str>> = run
        .ok()
        .stdout
        .lines()
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    assert_eq!(
        lines,
        [
            vec![
                "NAME",
                "ENABLED",
                "PERCENTAGE",
                "GROUPS",
                "CHAT TYPES",
                "EXCLUDED CHATS"
            ],
            vec![
                "new_gpt_model",
                "yes",
                "10%",
                "beta_testers (2 users)",
                "private",
                "0"
            ],
            vec!["enhanced_video_download", "yes", "25%", "-", "all", "1"],
            vec!["voice_replies", "no", "0%", "-", "all", "0"],
        ]
    );
}

#[test]
fn list_json_gives_every_field_with_defaults() {
    let env = Env::new();
    let flags = json_of(&env.run(&["--list", "--json"]));
    assert_eq!(flags.as_array().map(Vec::len), Some(3));
    assert_eq!(
        flags[1],
        json!({
            "name": "enhanced_video_download",
            "description": null,
            "enabled": true,
            "rollout_percentage": 25,
            "user_groups": [],
            "chat_types": [],
            "exclude_chats": [-1001234567890i64],
            "bucket_by": "chat",
            "salt": "enhanced_video_download",
            "user_group_sizes": {},
        })
    );
    assert_eq!(flags[0]["user_group_sizes"], json!({ "beta_testers": 2 }));
}

#[test]
fn readme_command_lists_the_repository_example() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let run: Run = bin()
        .current_dir(&workspace)
        .args(["--file", "examples/feature_flags.json", "--list"])
        .output()
        .expect("run")
        .into();
    assert!(run.ok().stdout.starts_with("NAME "), "{run:#?}");
    let check: Run = bin()
        .current_dir(&workspace)
        .args(["--file", "examples/feature_flags.json", "--check"])
        .output()
        .expect("run")
        .into();
    check.ok();
}

#[test]
fn file_comes_from_flag_then_env_then_default_path() {
    let env = Env::new();
    fs::create_dir(env.path("config")).unwrap();
    let only_default = EXAMPLE.replace("voice_replies", "from_default");
    fs::write(env.path("config/feature_flags.json"), only_default).unwrap();

    let names = |cmd: &mut std::process::Command| -> String {
        let run: Run = cmd.current_dir(env.dir.path()).output().unwrap().into();
        run.ok().stdout.clone()
    };
    assert!(names(bin().arg("--list")).contains("from_default"));
    let from_env = names(bin().arg("--list").env("FEATURE_FLAGS_FILE", FILE_NAME));
    assert!(from_env.contains("voice_replies") && !from_env.contains("from_default"));
    let from_flag = names(
        bin()
            .args(["--list", "--file", "config/feature_flags.json"])
            .env("FEATURE_FLAGS_FILE", FILE_NAME),
    );
    assert!(from_flag.contains("from_default"));
}

#[test]
fn feature_alone_shows_the_flag() {
    let env = Env::new();
    let run = env.run(&["--feature", "new_gpt_model"]);
    let out = &run.ok().stdout;
    assert!(out.starts_with("new_gpt_model\n"), "{out}");
    assert!(out.contains("rollout_percentage: 10\n"), "{out}");
    assert!(out.contains("chat_types:         private\n"), "{out}");

    let flag = json_of(&env.run(&["--feature", "voice_replies", "--json"]));
    assert_eq!(flag["enabled"], json!(false));
    assert_eq!(
        flag["description"],
        json!("Reply to voice messages with voice")
    );
}

#[test]
fn showing_an_unknown_flag_suggests_the_nearest_name() {
    let env = Env::new();
    let line = env.run(&["--feature", "new_gpt_modle"]).fails(1).to_owned();
    assert!(line.contains("did you mean \"new_gpt_model\""), "{line}");
}

#[test]
fn check_accepts_a_valid_file() {
    let env = Env::new();
    assert!(env.run(&["--check"]).ok().stdout.starts_with("ok: "));
    let report = json_of(&env.run(&["--check", "--json"]));
    assert_eq!(report["ok"], json!(true));
    assert_eq!(report["flags"], json!(3));
}

#[test]
fn check_lists_every_problem_and_fails() {
    let bad = EXAMPLE
        .replace("\"rollout_percentage\": 10", "\"rollout_percentage\": 150")
        .replace("\"bucket_by\": \"chat\"", "\"bucket_bi\": \"chat\"");
    let env = Env::with(&bad);
    let run = env.run(&["--check"]);
    assert_eq!(run.code, 1);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{run:#?}");
    assert!(lines.iter().all(|l| l.starts_with("error: ")));
    assert!(
        run.stderr
            .contains("flags.new_gpt_model.rollout_percentage: 150 is not in 0..=100")
    );
    assert!(
        run.stderr
            .contains("flags.enhanced_video_download.bucket_bi")
    );

    let run = env.run(&["--check", "--json"]);
    assert_eq!(run.code, 1);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["ok"], json!(false));
    assert_eq!(report["problems"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        report["problems"][0]["path"],
        json!("flags.new_gpt_model.rollout_percentage")
    );
}

#[test]
fn check_of_a_missing_file_fails() {
    let env = Env::new();
    let line = env
        .run_on(&env.path("absent.json"), &["--check"])
        .fails(1)
        .to_owned();
    assert!(line.contains("absent.json"), "{line}");
}

fn explain(store: &Store, flag: &str, context: &[&str]) -> Value {
    let mut args = vec!["--feature", flag, "--explain", "--json"];
    args.extend(context);
    json_of(&store.run(&args))
}

storetest!(
    explain_gives_the_bucket_and_the_percentage_that_flips_it,
    |kind| {
        let store = kind.example();
        let user = 123_456_789_i64;
        let expected_bucket = bucket(user, seed_for_salt("new_gpt_model"));
        let ctx = ["--user", "123456789", "--chat-type", "private"];
        let first = explain(&store, "new_gpt_model", &ctx);
        assert_eq!(first["reason"], json!("rollout"));
        assert_eq!(first["bucket"], json!(expected_bucket));
        let flip = Percentage::from_millis(expected_bucket + 1).unwrap();
        assert_eq!(first["in_rollout_from"], flip.to_json());

        // The promised percentage really is the edge: at it the user is in, one
        // step below they are out.
        let below = Percentage::from_millis(expected_bucket).unwrap();
        store
            .run(&[
                "--feature",
                "new_gpt_model",
                "--percentage",
                &flip.to_string(),
            ])
            .ok();
        assert_eq!(
            explain(&store, "new_gpt_model", &ctx)["enabled"],
            json!(true)
        );
        store
            .run(&[
                "--feature",
                "new_gpt_model",
                "--percentage",
                &below.to_string(),
            ])
            .ok();
        assert_eq!(
            explain(&store, "new_gpt_model", &ctx)["enabled"],
            json!(false)
        );

        let text = store.run(&[
            "--feature",
            "new_gpt_model",
            "--explain",
            "--user",
            "123456789",
            "--chat-type",
            "private",
        ]);
        let out = &text.ok().stdout;
        assert!(
            out.starts_with("new_gpt_model: off\nreason: rollout"),
            "{out}"
        );
        assert!(
            out.contains(&format!("bucket: {expected_bucket} of 100000")),
            "{out}"
        );
        assert!(
            out.contains(&format!("turns on at {flip}% or more")),
            "{out}"
        );
    }
);

storetest!(explain_names_each_reason, |kind| {
    let store = kind.example();
    let reason = |flag: &str, ctx: &[&str]| explain(&store, flag, ctx)["reason"].clone();
    assert_eq!(reason("voice_replies", &["--user", "1"]), json!("disabled"));
    assert_eq!(
        reason("enhanced_video_download", &["--chat", "-1001234567890"]),
        json!("chat_excluded")
    );
    assert_eq!(
        reason(
            "new_gpt_model",
            &["--user", "111111111", "--chat-type", "group"]
        ),
        json!("chat_type")
    );
    assert_eq!(
        reason(
            "new_gpt_model",
            &["--user", "111111111", "--chat-type", "private"]
        ),
        json!("group")
    );
    assert_eq!(
        reason(
            "new_gpt_model",
            &[
                "--user",
                "5",
                "--chat-type",
                "private",
                "--group",
                "beta_testers"
            ]
        ),
        json!("group")
    );
    assert_eq!(
        reason("enhanced_video_download", &["--user", "5"]),
        json!("missing_key")
    );
});

#[test]
fn explain_context_options_need_explain() {
    let env = Env::new();
    env.run(&["--feature", "new_gpt_model", "--user", "5"])
        .fails(2);
    env.run(&[
        "--feature",
        "new_gpt_model",
        "--explain",
        "--chat-type",
        "forum",
    ])
    .fails(2);
}

#[test]
fn history_shows_the_audit_log_optionally_for_one_flag() {
    let env = Env::new();
    assert!(
        env.run(&["--history"])
            .ok()
            .stdout
            .starts_with("no edits recorded")
    );
    env.run(&["--feature", "new_gpt_model", "--percentage", "25"])
        .ok();
    env.run(&["--feature", "voice_replies", "--enable"]).ok();

    let all = env.run(&["--history"]);
    let lines: Vec<&str> = all.ok().stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{all:#?}");
    assert!(
        lines[0].ends_with("  tester  new_gpt_model: rollout_percentage 10 -> 25"),
        "{all:#?}"
    );
    assert!(
        lines[1].ends_with("  tester  voice_replies: enabled false -> true"),
        "{all:#?}"
    );

    let one = json_of(&env.run(&["--history", "--feature", "voice_replies", "--json"]));
    assert_eq!(one.as_array().map(Vec::len), Some(1));
    assert_eq!(one[0]["field"], json!("enabled"));
}

#[test]
fn check_of_a_hostile_file_gives_a_bounded_report() {
    // A long flag name with 100 000 bad entries: each problem's path would
    // repeat the name (4 GB of messages); the report lists 100, then counts.
    let name = "n".repeat(40_000);
    let bad = format!(
        r#"{{"version": 1, "flags": {{"{name}": {{"enabled": true, "exclude_chats": [{}]}}}}}}"#,
        vec!["null"; 100_000].join(",")
    );
    let env = Env::with(&bad);
    let run = env.run(&["--check"]);
    assert_eq!(run.code, 1);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 101, "{}", &run.stderr[..2000]);
    assert_eq!(lines[100], "error: ... and 99901 more problems");
    assert!(run.stderr.len() < 64 * 1024, "{} bytes", run.stderr.len());

    let run = env.run(&["--check", "--json"]);
    assert_eq!(run.code, 1);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["problems"].as_array().map(Vec::len), Some(100));
    assert_eq!(report["unlisted_problems"], json!(99_901));
}

#[test]
fn text_from_data_is_inert_on_the_terminal() {
    // A description and a declared user that would clear and recolour the
    // operator's terminal if printed raw.
    let env = Env::with(&EXAMPLE.replace(
        "Reply to voice messages with voice",
        "\\u001b[2J\\u001b]0;pwned\\u0007 voice",
    ));
    let run = Run::from(
        bin()
            .env("USER", "\u{1b}[31mmallory")
            .arg("--file")
            .arg(&env.file)
            .args(["--feature", "voice_replies", "--enable"])
            .output()
            .unwrap(),
    );
    run.ok();
    let history = env.run(&["--history"]);
    let text = &history.ok().stdout;
    assert!(!text.contains('\u{1b}'), "{text:?}");
    assert!(
        text.ends_with("  \\x1b[31mmallory  voice_replies: enabled false -> true\n"),
        "{text:?}"
    );
    let shown = env.run(&["--feature", "voice_replies"]);
    let text = &shown.ok().stdout;
    assert!(
        text.contains("description:        \\x1b[2J\\x1b]0;pwned\\x07 voice"),
        "{text:?}"
    );
    for args in [
        &["--list"][..],
        &["--feature", "voice_replies", "--explain", "--user", "1"],
    ] {
        let run = env.run(args);
        assert!(
            !run.ok().stdout.chars().any(|c| c.is_control() && c != '\n'),
            "{args:?}: {run:?}"
        );
    }
}

#[test]
fn history_names_the_entry_by_its_line_and_an_unknown_flag_is_an_error() {
    let env = Env::new();
    env.run(&["--feature", "new_gpt_model", "--percentage", "25"])
        .ok();
    env.run(&["--feature", "new_gpt_model", "--percentage", "30"])
        .ok();
    let all = env.run(&["--history"]);
    let lines: Vec<&str> = all.ok().stdout.lines().collect();
    assert!(lines[0].starts_with("#1  "), "{lines:?}");
    assert!(lines[1].starts_with("#2  "), "{lines:?}");
    let entries = json_of(&env.run(&["--history", "--json"]));
    assert_eq!(entries[1]["id"], json!(2));
    let typo = env.run(&["--history", "--feature", "new_gpt_modle"]);
    assert!(
        typo.fails(1).contains("did you mean \"new_gpt_model\"?"),
        "{typo:?}"
    );
    // A flag that exists but was never edited: no error.
    let none = env.run(&["--history", "--feature", "voice_replies"]);
    assert!(
        none.ok()
            .stdout
            .starts_with("no edits recorded for voice_replies")
    );
}

#[test]
fn a_plans_reason_is_inert_in_status_and_feature() {
    let env = Env::new();
    env.run(&[
        "--feature",
        "new_gpt_model",
        "--plan",
        "5:1d,100",
        "--start",
    ])
    .ok();
    let rollouts = env.path(&format!("{FILE_NAME}.rollouts.json"));
    let text = fs::read_to_string(&rollouts).unwrap();
    assert!(text.contains("start at phase 1"), "{text}");
    fs::write(
        &rollouts,
        text.replace("start at phase 1", "\\u001b[2Jstart at phase 1"),
    )
    .unwrap();
    for args in [&["--status"][..], &["--feature", "new_gpt_model"]] {
        let run = env.run(args);
        let out = &run.ok().stdout;
        assert!(out.contains("\\x1b[2Jstart at phase 1"), "{args:?}: {out}");
        assert!(!out.contains('\u{1b}'), "{args:?}: {out:?}");
    }
}
