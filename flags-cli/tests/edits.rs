//! Each edit, the exact text it produces, what it prints and logs.

use std::fs;
use std::path::Path;

use serde_json::json;

use crate::stores::storetest;
use crate::util::{EXAMPLE, Env, changed_lines};

storetest!(percentage_changes_only_its_value, |kind| {
    kind.example().assert_edit(
        &["--feature", "new_gpt_model", "--percentage", "50"],
        "\"rollout_percentage\": 10,",
        "\"rollout_percentage\": 50,",
        "new_gpt_model: rollout_percentage 10 -> 50\n",
    );
    kind.example().assert_edit(
        &[
            "--feature",
            "enhanced_video_download",
            "--percentage",
            "12.125",
        ],
        "\"rollout_percentage\": 25,",
        "\"rollout_percentage\": 12.125,",
        "enhanced_video_download: rollout_percentage 25 -> 12.125\n",
    );
});

storetest!(disable_and_enable_change_only_enabled, |kind| {
    kind.example().assert_edit(
        &["--feature", "new_gpt_model", "--disable"],
        "\"Answer with the new GPT model\",\n      \"enabled\": true",
        "\"Answer with the new GPT model\",\n      \"enabled\": false",
        "new_gpt_model: enabled true -> false\n",
    );
    kind.example().assert_edit(
        &["--feature", "voice_replies", "--enable"],
        "\"enabled\": false",
        "\"enabled\": true",
        "voice_replies: enabled false -> true\n",
    );
});

storetest!(
    exclude_chat_appends_a_negative_id_in_the_arrays_style,
    |kind| {
        kind.example().assert_edit(
        &[
            "--feature",
            "enhanced_video_download",
            "--exclude-chat",
            "-1009876543210",
        ],
        "[\"-1001234567890\"]",
        "[\"-1001234567890\", \"-1009876543210\"]",
        "enhanced_video_download: exclude_chats [-1001234567890] -> [-1001234567890, -1009876543210]\n",
    );
    }
);

storetest!(exclude_chat_adds_the_field_when_missing, |kind| {
    kind.example().assert_edit(
        &[
            "--feature",
            "new_gpt_model",
            "--exclude-chat",
            "-42",
            "--exclude-chat",
            "7",
        ],
        "\"chat_types\": [\"private\"]\n",
        "\"chat_types\": [\"private\"],\n      \"exclude_chats\": [-42, 7]\n",
        "new_gpt_model: exclude_chats [] -> [-42, 7]\n",
    );
});

storetest!(exclude_chat_of_an_excluded_chat_adds_no_duplicate, |kind| {
    // The file lists it as a string; the command gives an integer: one chat.
    let store = kind.example();
    let run = store.run(&[
        "--feature",
        "enhanced_video_download",
        "--exclude-chat",
        "-1001234567890",
    ]);
    assert_eq!(
        run.ok().stdout,
        "enhanced_video_download: chat -1001234567890 is already excluded\nnothing to change\n"
    );
    assert_eq!(store.text(), EXAMPLE);
    assert!(store.history().is_empty());

    let store = kind.example();
    store
        .run(&[
            "--feature",
            "new_gpt_model",
            "--exclude-chat",
            "-5",
            "--exclude-chat",
            "-5",
        ])
        .ok();
    assert!(
        store.text().contains("\"exclude_chats\": [-5]\n"),
        "{}",
        store.text()
    );
    store
        .run(&["--feature", "new_gpt_model", "--exclude-chat", "-5"])
        .ok();
    assert!(
        store.text().contains("\"exclude_chats\": [-5]\n"),
        "{}",
        store.text()
    );
});

storetest!(include_chat_removes_it_from_exclude_chats, |kind| {
    kind.example().assert_edit(
        &[
            "--feature",
            "enhanced_video_download",
            "--include-chat",
            "-1001234567890",
        ],
        "[\"-1001234567890\"]",
        "[]",
        "enhanced_video_download: exclude_chats [-1001234567890] -> []\n",
    );
    let store = kind.example();
    let run = store.run(&[
        "--feature",
        "enhanced_video_download",
        "--include-chat",
        "5",
    ]);
    assert!(
        run.ok().stdout.contains("chat 5 is not excluded"),
        "{run:#?}"
    );
    assert_eq!(store.text(), EXAMPLE);
});

storetest!(
    several_edits_are_one_write_and_one_audit_entry_each,
    |kind| {
        let store = kind.example();
        let run = store.run(&[
            "--feature",
            "new_gpt_model",
            "--percentage",
            "50",
            "--disable",
            "--exclude-chat",
            "-9",
        ]);
        run.ok();
        let changes = changed_lines(EXAMPLE, &store.text());
        assert_eq!(
            changes,
            [
                ("      \"enabled\": true,", "      \"enabled\": false,"),
                (
                    "      \"rollout_percentage\": 10,",
                    "      \"rollout_percentage\": 50,"
                ),
                (
                    "      \"user_groups\": [\"beta_testers\"],",
                    "      \"user_groups\": [\"beta_testers\"],"
                ),
                (
                    "      \"chat_types\": [\"private\"]",
                    "      \"chat_types\": [\"private\"],"
                ),
                ("", "      \"exclude_chats\": [-9]"),
            ]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
        let audit = store.history();
        assert_eq!(audit.len(), 3);
        assert!(
            audit.iter().all(|l| l["time"] == audit[0]["time"]),
            "one command, one time"
        );
    }
);

storetest!(every_edit_prints_and_logs_what_changed, |kind| {
    let store = kind.example();
    let run = store.run(&["--feature", "new_gpt_model", "--percentage", "50"]);
    assert_eq!(
        run.ok().stdout,
        "new_gpt_model: rollout_percentage 10 -> 50\n"
    );
    let audit = store.history();
    assert_eq!(audit.len(), 1);
    let entry = &audit[0];
    assert_eq!(entry["user"], json!("tester"));
    assert_eq!(entry["flag"], json!("new_gpt_model"));
    assert_eq!(entry["field"], json!("rollout_percentage"));
    assert_eq!(entry["old"], json!(10));
    assert_eq!(entry["new"], json!(50));
    let time = entry["time"].as_str().unwrap();
    // 2026-11-27T11:27:52.123Z
    assert_eq!(time.len(), 24, "{time}");
    assert!(time.ends_with('Z') && &time[10..11] == "T", "{time}");
    let year: i32 = time[..4].parse().unwrap();
    assert!((2024..2200).contains(&year), "{time}");

    let sudo = store
        .cmd()
        .env("SUDO_USER", "alice")
        .args(["--feature", "new_gpt_model", "--percentage", "60"])
        .status()
        .unwrap();
    assert!(sudo.success());
    assert_eq!(
        store.history()[1]["user"],
        json!("alice"),
        "the person behind sudo"
    );
});

#[test]
fn dry_run_prints_the_change_and_writes_nothing() {
    let env = Env::new();
    let run = env.run(&[
        "--feature",
        "new_gpt_model",
        "--percentage",
        "50",
        "--dry-run",
    ]);
    assert_eq!(
        run.ok().stdout,
        "new_gpt_model: rollout_percentage 10 -> 50\ndry run: nothing written\n"
    );
    assert_eq!(env.text(), EXAMPLE);
    assert_eq!(env.listing(), ["feature_flags.json"]);

    // It needs no lock, so it also previews edits of a read-only folder.
    fs::create_dir(env.path("feature_flags.json.lock")).unwrap();
    env.run(&["--feature", "new_gpt_model", "--disable", "--dry-run"])
        .ok();
    assert_eq!(env.text(), EXAMPLE);
}

storetest!(
    create_adds_a_flag_that_is_on_for_nobody_by_default,
    |kind| {
        let store = kind.example();
        let run = store.run(&["--feature", "weather_v2", "--create"]);
        assert_eq!(
            run.ok().stdout,
            "weather_v2: created (enabled true, rollout_percentage 0)\n"
        );
        let expected = EXAMPLE.replace(
        "      \"rollout_percentage\": 0\n    }\n",
        "      \"rollout_percentage\": 0\n    },\n    \"weather_v2\": {\n      \"enabled\": true,\n      \"rollout_percentage\": 0\n    }\n",
    );
        assert_eq!(store.text(), expected);
        store.run(&["--check"]).ok();
        let explained = store.run(&["--feature", "weather_v2", "--explain", "--user", "1"]);
        assert!(explained.ok().stdout.starts_with("weather_v2: off"));
    }
);

storetest!(create_takes_percentage_disable_and_exclusions, |kind| {
    let store = kind.example();
    store
        .run(&[
            "--feature",
            "weather_v2",
            "--create",
            "--percentage",
            "5",
            "--disable",
            "--exclude-chat",
            "-100",
        ])
        .ok();
    let flag: serde_json::Value = serde_json::from_str(
        &store
            .run(&["--feature", "weather_v2", "--json"])
            .ok()
            .stdout,
    )
    .unwrap();
    assert_eq!(flag["enabled"], json!(false));
    assert_eq!(flag["rollout_percentage"], json!(5));
    assert_eq!(flag["exclude_chats"], json!([-100]));
    assert_eq!(store.history()[0]["field"], json!("flag"));
});

#[test]
fn create_into_an_empty_file_indents_like_the_file() {
    let env = Env::with("{\n    \"version\": 1,\n    \"flags\": {}\n}\n");
    env.run(&["--feature", "a", "--create"]).ok();
    assert_eq!(
        env.text(),
        "{\n    \"version\": 1,\n    \"flags\": {\n        \"a\": {\n            \"enabled\": true,\n            \"rollout_percentage\": 0\n        }\n    }\n}\n"
    );
}

#[test]
fn crlf_and_tabs_are_kept() {
    let text = EXAMPLE.replace("  ", "\t").replace('\n', "\r\n");
    let env = Env::with(&text);
    env.run(&["--feature", "new_gpt_model", "--exclude-chat", "1"])
        .ok();
    assert_eq!(
        env.text(),
        text.replace(
            "\"chat_types\": [\"private\"]\r\n",
            "\"chat_types\": [\"private\"],\r\n\t\t\t\"exclude_chats\": [1]\r\n"
        )
    );
}

/// Every flag of the repository's example, edited one field at a time, gives
/// a diff of only the edited line.
#[test]
fn editing_the_repository_example_changes_only_the_edited_lines() {
    let example_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/feature_flags.json");
    let example = fs::read_to_string(example_path).unwrap();
    let file = flags_core::parse_flag_file(&example).unwrap();
    for (name, def) in &file.flags {
        let env = Env::with(&example);
        let toggle = if def.enabled { "--disable" } else { "--enable" };
        env.run(&["--feature", name, toggle]).ok();
        assert_eq!(
            changed_lines(&example, &env.text()).len(),
            1,
            "{name} {toggle}"
        );

        let percentage = if def.rollout_percentage.millis() == 33_333 {
            "44.5"
        } else {
            "33.333"
        };
        let env = Env::with(&example);
        env.run(&["--feature", name, "--percentage", percentage])
            .ok();
        let changed = changed_lines(&example, &env.text());
        match changed.as_slice() {
            [(_, new)] => assert!(new.contains(percentage), "{name}: {changed:?}"),
            // The key was absent: the last member gains a comma, one line is added.
            [(last, last_with_comma), (added_before, added)] => {
                assert_eq!(last_with_comma, &format!("{last},"), "{name}");
                assert!(
                    added_before.is_empty() && added.contains(percentage),
                    "{name}: {changed:?}"
                );
            }
            _ => panic!("{name}: {changed:?}"),
        }
    }
}

#[test]
fn a_file_with_a_byte_order_mark_is_edited_and_keeps_it() {
    // Windows editors write a UTF-8 BOM; the file is valid and the edit
    // leaves the mark and every other byte alone.
    let with_bom = format!("\u{feff}{EXAMPLE}");
    let env = Env::with(&with_bom);
    env.run(&["--check"]).ok();
    env.run(&["--feature", "new_gpt_model", "--percentage", "50"])
        .ok();
    assert_eq!(
        env.text(),
        with_bom.replace("\"rollout_percentage\": 10,", "\"rollout_percentage\": 50,")
    );
}
