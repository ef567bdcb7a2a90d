//! User groups through the binary: membership, listing, showing, deleting,
//! large groups, and what the audit log and --history say.

use std::time::Instant;

use flags_core::parse_flag_file;
use serde_json::{Value, json};

use crate::stores::{Kind, storetest};
use crate::util::{EXAMPLE, Env, Run};

fn json_of(run: &Run) -> Value {
    serde_json::from_str(&run.ok().stdout).expect("stdout is JSON")
}

storetest!(add_user_appends_to_the_groups_array_only, |kind| {
    let store = kind.example();
    let run = store.run(&[
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
        store.text(),
        EXAMPLE.replace(
            "[111111111, 222222222]",
            "[111111111, 222222222, 333333333, 444]"
        )
    );
    let audit = store.history();
    assert_eq!(audit.len(), 1);
    let entry = &audit[0];
    assert_eq!(entry["user"], json!("tester"));
    assert_eq!(entry["group"], json!("beta_testers"));
    assert_eq!(entry["field"], json!("size"));
    assert_eq!((&entry["old"], &entry["new"]), (&json!(2), &json!(4)));
    assert_eq!(entry["added"], json!([333333333, 444]));
    assert_eq!(entry["removed"], json!([]));
    assert!(entry.get("flag").is_none(), "{entry}");
});

storetest!(the_first_add_creates_the_group, |kind| {
    let store = kind.example();
    let run = store.run(&["--group", "internal_team", "--add-user", "-5"]);
    assert_eq!(
        run.ok().stdout,
        "group internal_team: created with 1 user (-5)\n"
    );
    assert_eq!(
        store.text(),
        EXAMPLE.replace(
            "[111111111, 222222222]\n",
            "[111111111, 222222222],\n    \"internal_team\": [-5]\n"
        )
    );
    assert_eq!(store.history()[0]["new"], json!([-5]));

    // A file without "groups" gets the object, laid out like the rest.
    let bare = "{\n  \"version\": 1,\n  \"flags\": {}\n}\n";
    let store = kind.with(bare);
    store
        .run(&["--group", "beta_testers", "--add-user", "1"])
        .ok();
    assert_eq!(
        store.text(),
        "{\n  \"version\": 1,\n  \"flags\": {},\n  \"groups\": {\n    \"beta_testers\": [1]\n  }\n}\n"
    );
});

storetest!(adding_a_member_again_is_a_reported_no_op, |kind| {
    let store = kind.example();
    let run = store.run(&["--group", "beta_testers", "--add-user", "111111111"]);
    assert_eq!(
        run.ok().stdout,
        "group beta_testers: user 111111111 is already in the group\nnothing to change\n"
    );
    assert_eq!(store.text(), EXAMPLE);
    assert!(store.history().is_empty());
    if kind == Kind::File {
        // The lock file stays; nothing else is left beside the file.
        assert_eq!(
            store.env.listing(),
            ["feature_flags.json", "feature_flags.json.lock"]
        );
    }

    // Mixed: the new one is added, the present one reported.
    let run = store.run(&[
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
    assert!(store.text().contains("[111111111, 222222222, 5]"));
});

storetest!(remove_user_takes_the_id_and_its_separator, |kind| {
    let store = kind.example();
    let run = store.run(&["--group", "beta_testers", "--remove-user", "111111111"]);
    assert_eq!(
        run.ok().stdout,
        "group beta_testers: removed 111111111 (2 -> 1 users)\n"
    );
    assert_eq!(
        store.text(),
        EXAMPLE.replace("[111111111, 222222222]", "[222222222]")
    );
    store
        .run(&["--group", "beta_testers", "--remove-user", "222222222"])
        .ok();
    assert_eq!(
        store.text(),
        EXAMPLE.replace("[111111111, 222222222]", "[]"),
        "the group stays, empty"
    );
    // An add and a remove in one write.
    let store = kind.example();
    store
        .run(&[
            "--group",
            "beta_testers",
            "--add-user",
            "3",
            "--remove-user",
            "222222222",
        ])
        .ok();
    assert!(store.text().contains("[111111111, 3]"), "{}", store.text());
    assert_eq!(store.history().len(), 1);
});

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

storetest!(list_users_and_show, |kind| {
    let store = kind.example();
    let run = store.run(&["--group", "beta_testers", "--list-users"]);
    assert_eq!(run.ok().stdout, "111111111\n222222222\n");
    let listed = json_of(&store.run(&["--group", "beta_testers", "--list-users", "--json"]));
    assert_eq!(
        listed,
        json!({"group": "beta_testers", "users": [111111111, 222222222]})
    );

    let run = store.run(&["--group", "beta_testers"]);
    assert_eq!(
        run.ok().stdout,
        "beta_testers: 2 users\n  targeted by: new_gpt_model\n"
    );
    let shown = json_of(&store.run(&["--group", "beta_testers", "--json"]));
    assert_eq!(
        shown,
        json!({"group": "beta_testers", "size": 2, "targeted_by": ["new_gpt_model"]})
    );

    // A group only the bot knows (named by a flag, not in "groups").
    let store = kind.with(&EXAMPLE.replace(
        "\"user_groups\": [\"beta_testers\"]",
        "\"user_groups\": [\"beta_testers\", \"staff\"]",
    ));
    let run = store.run(&["--group", "staff"]);
    assert!(
        run.ok()
            .stdout
            .starts_with("staff: not in the file's groups"),
        "{run:#?}"
    );
    let line = store
        .run(&["--group", "staff", "--list-users"])
        .fails(1)
        .to_owned();
    assert!(
        line.contains("its members come only from the bot"),
        "{line}"
    );
});

storetest!(delete_is_refused_while_a_flag_targets_the_group, |kind| {
    let store = kind.example();
    let line = store
        .run(&["--group", "beta_testers", "--delete"])
        .fails(1)
        .to_owned();
    assert_eq!(
        line,
        "error: group beta_testers is still targeted by new_gpt_model; add --force to delete it and remove it from their user_groups, or --feature NAME --remove-user-group beta_testers first"
    );
    assert_eq!(store.text(), EXAMPLE);

    let run = store.run(&["--group", "beta_testers", "--delete", "--force"]);
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
    assert_eq!(store.text(), expected);
    let audit = store.history();
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
});

storetest!(delete_of_an_untargeted_group_needs_no_force, |kind| {
    let store = kind.example();
    store.run(&["--group", "ops", "--add-user", "1"]).ok();
    let with_ops = store.text();
    let run = store.run(&["--group", "ops", "--delete", "--dry-run"]);
    assert_eq!(
        run.ok().stdout,
        "group ops: deleted (1 user)\ndry run: nothing written\n"
    );
    assert_eq!(store.text(), with_ops);
    store.run(&["--group", "ops", "--delete"]).ok();
    assert_eq!(store.text(), EXAMPLE);
});

storetest!(history_shows_group_edits, |kind| {
    let store = kind.example();
    store
        .run(&["--group", "beta_testers", "--add-user", "3"])
        .ok();
    store.run(&["--group", "ops", "--add-user", "9"]).ok();
    store.run(&["--group", "ops", "--delete"]).ok();
    let lines = store.history_lines();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    let by = store.by("tester");
    assert!(lines[0].ends_with(&format!(
        "  {by}  group beta_testers: added 3 (2 -> 3 users)"
    )));
    assert!(lines[1].ends_with(&format!("  {by}  group ops: created with 1 user (9)")));
    assert!(lines[2].ends_with(&format!("  {by}  group ops: deleted (1 user)")));
    // Group entries are not any flag's history.
    let run = store.run(&["--history", "--feature", "new_gpt_model"]);
    assert!(run.ok().stdout.starts_with("no edits recorded"), "{run:#?}");
});

storetest!(sizes_show_in_list_feature_and_explain, |kind| {
    let store = kind.example();
    store
        .run(&["--group", "beta_testers", "--add-user", "3"])
        .ok();
    let list = store.run(&["--list"]);
    assert!(
        list.ok().stdout.contains("beta_testers (3 users)"),
        "{list:#?}"
    );
    let flags = json_of(&store.run(&["--list", "--json"]));
    assert_eq!(flags[0]["user_group_sizes"], json!({"beta_testers": 3}));
    let shown = store.run(&["--feature", "new_gpt_model"]);
    assert!(
        shown
            .ok()
            .stdout
            .contains("user_groups:        beta_testers (3 users)\n"),
        "{shown:#?}"
    );
    let explained = store.run(&["--feature", "new_gpt_model", "--explain", "--user", "3"]);
    assert!(
        explained
            .ok()
            .stdout
            .contains("user groups: beta_testers (3 users)\n"),
        "{explained:#?}"
    );
    let explained = json_of(&store.run(&[
        "--feature",
        "new_gpt_model",
        "--explain",
        "--user",
        "3",
        "--json",
    ]));
    assert_eq!(explained["user_group_sizes"], json!({"beta_testers": 3}));
});

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
