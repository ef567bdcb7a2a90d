//! User groups through the binary: membership, listing, showing, deleting,
//! large groups, and what the audit log and --history say.

use std::time::Instant;

use flags_core::parse_flag_file;
use serde_json::{Value, json};

use crate::util::{EXAMPLE, Env, Run};

fn json_of(run: &Run) -> Value {
    serde_json::from_str(&run.ok().stdout).expect("stdout is JSON")
}

#[test]
fn add_user_appends_to_the_groups_array_only() {
    let env = Env::new();
    let run = env.run(&[
        "--group",
        "beta_testers",
        "--add-user",
        "333333333",
        "--add-user",
        "444",
    ]);
    assert_eq!(
        run.ok().stdout,
        "group beta_testers: added 333333333, 444 (2 -> 4 users)\n"
    );
    assert_eq!(
        env.text(),
        EXAMPLE.replace(
            "[111111111, 222222222]",
            "[111111111, 222222222, 333333333, 444]"
        )
    );
    let audit = env.audit_lines();
    assert_eq!(audit.len(), 1);
    let entry = &audit[0];
    assert_eq!(entry["user"], json!("tester"));
    assert_eq!(entry["group"], json!("beta_testers"));
    assert_eq!(entry["field"], json!("size"));
    assert_eq!((&entry["old"], &entry["new"]), (&json!(2), &json!(4)));
    assert_eq!(entry["added"], json!([333333333, 444]));
    assert_eq!(entry["removed"], json!([]));
    assert!(entry.get("flag").is_none(), "{entry}");
}

#[test]
fn the_first_add_creates_the_group() {
    let env = Env::new();
    let run = env.run(&["--group", "internal_team", "--add-user", "-5"]);
    assert_eq!(
        run.ok().stdout,
        "group internal_team: created with 1 user (-5)\n"
    );
    assert_eq!(
        env.text(),
        EXAMPLE.replace(
            "[111111111, 222222222]\n",
            "[111111111, 222222222],\n    \"internal_team\": [-5]\n"
        )
    );
    assert_eq!(env.audit_lines()[0]["new"], json!([-5]));

    // A file without "groups" gets the object, laid out like the rest.
    let bare = "{\n  \"version\": 1,\n  \"flags\": {}\n}\n";
    let env = Env::with(bare);
    env.run(&["--group", "beta_testers", "--add-user", "1"])
        .ok();
    assert_eq!(
        env.text(),
        "{\n  \"version\": 1,\n  \"flags\": {},\n  \"groups\": {\n    \"beta_testers\": [1]\n  }\n}\n"
    );
}

#[test]
fn adding_a_member_again_is_a_reported_no_op() {
    let env = Env::new();
    let run = env.run(&["--group", "beta_testers", "--add-user", "111111111"]);
    assert_eq!(
        run.ok().stdout,
        "group beta_testers: user 111111111 is already in the group\nnothing to change\n"
    );
    assert_eq!(env.text(), EXAMPLE);
    assert!(env.audit_lines().is_empty());
    assert_eq!(
        env.listing(),
        ["feature_flags.json", "feature_flags.json.lock"]
    );

    // Mixed: the new one is added, the present one reported.
    let run = env.run(&[
        "--group",
        "beta_testers",
        "--add-user",
        "111111111",
        "--add-user",
        "5",
        "--add-user",
        "5",
    ]);
    assert_eq!(
        run.ok().stdout,
        "group beta_testers: user 111111111 is already in the group\n\
         group beta_testers: user 5 is already in the group\n\
         group beta_testers: added 5 (2 -> 3 users)\n"
    );
    assert!(env.text().contains("[111111111, 222222222, 5]"));
}

#[test]
fn remove_user_takes_the_id_and_its_separator() {
    let env = Env::new();
    let run = env.run(&["--group", "beta_testers", "--remove-user", "111111111"]);
    assert_eq!(
        run.ok().stdout,
        "group beta_testers: removed 111111111 (2 -> 1 users)\n"
    );
    assert_eq!(
        env.text(),
        EXAMPLE.replace("[111111111, 222222222]", "[222222222]")
    );
    env.run(&["--group", "beta_testers", "--remove-user", "222222222"])
        .ok();
    assert_eq!(
        env.text(),
        EXAMPLE.replace("[111111111, 222222222]", "[]"),
        "the group stays, empty"
    );
    // An add and a remove in one write.
    let env = Env::new();
    env.run(&[
        "--group",
        "beta_testers",
        "--add-user",
        "3",
        "--remove-user",
        "222222222",
    ])
    .ok();
    assert!(env.text().contains("[111111111, 3]"), "{}", env.text());
    assert_eq!(env.audit_lines().len(), 1);
}

#[test]
fn string_ids_stay_strings() {
    let env = Env::with(&EXAMPLE.replace("[111111111, 222222222]", r#"["111111111"]"#));
    env.run(&["--group", "beta_testers", "--add-user", "7"])
        .ok();
    assert!(
        env.text().contains(r#"["111111111", "7"]"#),
        "{}",
        env.text()
    );
    env.run(&["--group", "beta_testers", "--remove-user", "111111111"])
        .ok();
    assert!(env.text().contains(r#"["7"]"#), "{}", env.text());
}

#[test]
fn list_users_and_show() {
    let env = Env::new();
    let run = env.run(&["--group", "beta_testers", "--list-users"]);
    assert_eq!(run.ok().stdout, "111111111\n222222222\n");
    let listed = json_of(&env.run(&["--group", "beta_testers", "--list-users", "--json"]));
    assert_eq!(
        listed,
        json!({"group": "beta_testers", "users": [111111111, 222222222]})
    );

    let run = env.run(&["--group", "beta_testers"]);
    assert_eq!(
        run.ok().stdout,
        "beta_testers: 2 users\n  targeted by: new_gpt_model\n"
    );
    let shown = json_of(&env.run(&["--group", "beta_testers", "--json"]));
    assert_eq!(
        shown,
        json!({"group": "beta_testers", "size": 2, "targeted_by": ["new_gpt_model"]})
    );

    // A group only the bot knows (named by a flag, not in "groups").
    let env = Env::with(&EXAMPLE.replace(
        "\"user_groups\": [\"beta_testers\"]",
        "\"user_groups\": [\"beta_testers\", \"staff\"]",
    ));
    let run = env.run(&["--group", "staff"]);
    assert!(
        run.ok()
            .stdout
            .starts_with("staff: not in the file's groups"),
        "{run:#?}"
    );
    let line = env
        .run(&["--group", "staff", "--list-users"])
        .fails(1)
        .to_owned();
    assert!(
        line.contains("its members come only from the bot"),
        "{line}"
    );
}

#[test]
fn delete_is_refused_while_a_flag_targets_the_group() {
    let env = Env::new();
    let line = env
        .run(&["--group", "beta_testers", "--delete"])
        .fails(1)
        .to_owned();
    assert_eq!(
        line,
        "error: group beta_testers is still targeted by new_gpt_model; add --force to delete it and remove it from their user_groups, or --feature NAME --remove-user-group beta_testers first"
    );
    assert_eq!(env.text(), EXAMPLE);

    let run = env.run(&["--group", "beta_testers", "--delete", "--force"]);
    assert_eq!(
        run.ok().stdout,
        "group beta_testers: deleted (2 users)\n\
         new_gpt_model: user_groups [\"beta_testers\"] -> []\n\
         the group's users now get new_gpt_model only through the rollout percentage\n"
    );
    let expected = EXAMPLE
        .replace(
            "  \"groups\": {\n    \"beta_testers\": [111111111, 222222222]\n  },",
            "  \"groups\": {},",
        )
        .replace("\"user_groups\": [\"beta_testers\"]", "\"user_groups\": []");
    assert_eq!(env.text(), expected);
    let audit = env.audit_lines();
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[0]["group"], json!("beta_testers"));
    assert_eq!(
        audit[0]["old"],
        json!([111111111, 222222222]),
        "the ids, to undo"
    );
    assert_eq!(audit[0]["new"], Value::Null);
    assert_eq!(audit[1]["flag"], json!("new_gpt_model"));
    assert_eq!(audit[1]["field"], json!("user_groups"));
}

#[test]
fn delete_of_an_untargeted_group_needs_no_force() {
    let env = Env::new();
    env.run(&["--group", "ops", "--add-user", "1"]).ok();
    let with_ops = env.text();
    let run = env.run(&["--group", "ops", "--delete", "--dry-run"]);
    assert_eq!(
        run.ok().stdout,
        "group ops: deleted (1 user)\ndry run: nothing written\n"
    );
    assert_eq!(env.text(), with_ops);
    env.run(&["--group", "ops", "--delete"]).ok();
    assert_eq!(env.text(), EXAMPLE);
}

#[test]
fn history_shows_group_edits() {
    let env = Env::new();
    env.run(&["--group", "beta_testers", "--add-user", "3"])
        .ok();
    env.run(&["--group", "ops", "--add-user", "9"]).ok();
    env.run(&["--group", "ops", "--delete"]).ok();
    let run = env.run(&["--history"]);
    let lines: Vec<&str> = run.ok().stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{run:#?}");
    assert!(lines[0].ends_with("  tester  group beta_testers: added 3 (2 -> 3 users)"));
    assert!(lines[1].ends_with("  tester  group ops: created with 1 user (9)"));
    assert!(lines[2].ends_with("  tester  group ops: deleted (1 user)"));
    // Group entries are not any flag's history.
    let run = env.run(&["--history", "--feature", "new_gpt_model"]);
    assert!(run.ok().stdout.starts_with("no edits recorded"), "{run:#?}");
}

#[test]
fn sizes_show_in_list_feature_and_explain() {
    let env = Env::new();
    env.run(&["--group", "beta_testers", "--add-user", "3"])
        .ok();
    let list = env.run(&["--list"]);
    assert!(
        list.ok().stdout.contains("beta_testers (3 users)"),
        "{list:#?}"
    );
    let flags = json_of(&env.run(&["--list", "--json"]));
    assert_eq!(flags[0]["user_group_sizes"], json!({"beta_testers": 3}));
    let shown = env.run(&["--feature", "new_gpt_model"]);
    assert!(
        shown
            .ok()
            .stdout
            .contains("user_groups:        beta_testers (3 users)\n"),
        "{shown:#?}"
    );
    let explained = env.run(&["--feature", "new_gpt_model", "--explain", "--user", "3"]);
    assert!(
        explained
            .ok()
            .stdout
            .contains("user groups: beta_testers (3 users)\n"),
        "{explained:#?}"
    );
    let explained = json_of(&env.run(&[
        "--feature",
        "new_gpt_model",
        "--explain",
        "--user",
        "3",
        "--json",
    ]));
    assert_eq!(explained["user_group_sizes"], json!({"beta_testers": 3}));
}

/// A group of 100 000 users: one more id rewrites only the bytes where it
/// goes, every other byte stays, and the whole command stays fast.
#[test]
fn adding_to_a_100k_group_touches_only_that_array() {
    let ids: Vec<String> = (0..100_000)
        .map(|i| (1_000_000_000 + i * 7).to_string())
        .collect();
    let before = EXAMPLE.replace(
        "\"beta_testers\": [111111111, 222222222]",
        &format!("\"beta_testers\": [{}]", ids.join(", ")),
    );
    let env = Env::with(&before);
    let started = Instant::now();
    let run = env.run(&["--group", "beta_testers", "--add-user", "42"]);
    let took = started.elapsed();
    assert_eq!(
        run.ok().stdout,
        "group beta_testers: added 42 (100000 -> 100001 users)\n"
    );
    let after = env.text();
    let at = before.find("]\n  },").expect("end of the group's array");
    assert_eq!(&after[..at], &before[..at], "bytes before the insertion");
    assert_eq!(&after[at..at + 4], ", 42");
    assert_eq!(&after[at + 4..], &before[at..], "bytes after the insertion");
    let file = parse_flag_file(&after).unwrap();
    assert_eq!(file.groups[0].1.len(), 100_001);
    // Measured, not a benchmark: a debug build on a shared machine. The
    // bound only catches work that grows with the group per id added.
    eprintln!("adding one id to a 100 000-member group took {took:?} (debug build)");
    assert!(took.as_secs() < 20, "{took:?}");

    let started = Instant::now();
    env.run(&["--group", "beta_testers", "--remove-user", "42"])
        .ok();
    eprintln!(
        "removing it again took {:?} (debug build)",
        started.elapsed()
    );
    assert_eq!(env.text(), before);
}
