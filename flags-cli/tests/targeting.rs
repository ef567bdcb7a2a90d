//! A flag's targeting (user groups, chat types, description) and the
//! rebucketing edits (bucket_by, salt) through the binary.

use serde_json::json;

use crate::stores::storetest;
use crate::util::{EXAMPLE, Env, changed_lines};

storetest!(add_and_remove_user_groups, |kind| {
    let store = kind.example();
    store.assert_edit(
        &[
            "--feature",
            "new_gpt_model",
            "--add-user-group",
            "beta_testers",
            "--add-user-group",
            "staff",
        ],
        "\"user_groups\": [\"beta_testers\"]",
        "\"user_groups\": [\"beta_testers\", \"staff\"]",
        "new_gpt_model: user group beta_testers is already targeted\n\
         new_gpt_model: note: group staff is not in the file's groups; its members come only from the bot (or add them with --group staff --add-user ID)\n\
         new_gpt_model: user_groups [\"beta_testers\"] -> [\"beta_testers\", \"staff\"]\n",
    );
    let audit = store.history();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["field"], json!("user_groups"));
    assert_eq!(audit[0]["new"], json!(["beta_testers", "staff"]));

    kind.example().assert_edit(
        &[
            "--feature",
            "new_gpt_model",
            "--remove-user-group",
            "beta_testers",
        ],
        "\"user_groups\": [\"beta_testers\"]",
        "\"user_groups\": []",
        "new_gpt_model: user_groups [\"beta_testers\"] -> []\n",
    );
    // A flag without the field gets it, after its last field.
    kind.example().assert_edit(
        &[
            "--feature",
            "voice_replies",
            "--add-user-group",
            "beta_testers",
        ],
        "\"rollout_percentage\": 0\n",
        "\"rollout_percentage\": 0,\n      \"user_groups\": [\"beta_testers\"]\n",
        "voice_replies: user_groups [] -> [\"beta_testers\"]\n",
    );
    // Removing a group the flag does not target changes nothing.
    let store = kind.example();
    let run = store.run(&[
        "--feature",
        "voice_replies",
        "--remove-user-group",
        "beta_testers",
    ]);
    assert_eq!(
        run.ok().stdout,
        "voice_replies: user group beta_testers is not targeted\nnothing to change\n"
    );
    assert_eq!(store.text(), EXAMPLE);
});

storetest!(chat_types_set_and_cleared, |kind| {
    kind.example().assert_edit(
        &[
            "--feature",
            "new_gpt_model",
            "--chat-types",
            "private,group",
        ],
        "\"chat_types\": [\"private\"]",
        "\"chat_types\": [\"private\", \"group\"]",
        "new_gpt_model: chat_types [\"private\"] -> [\"private\", \"group\"]\n",
    );
    kind.example().assert_edit(
        &["--feature", "new_gpt_model", "--all-chat-types"],
        ",\n      \"chat_types\": [\"private\"]",
        "",
        "new_gpt_model: chat_types [\"private\"] -> []\n",
    );
    kind.example().assert_edit(
        &[
            "--feature",
            "enhanced_video_download",
            "--chat-types",
            "supergroup",
            "--chat-types",
            "group,supergroup",
        ],
        "\"bucket_by\": \"chat\"\n",
        "\"bucket_by\": \"chat\",\n      \"chat_types\": [\"supergroup\", \"group\"]\n",
        "enhanced_video_download: chat_types [] -> [\"supergroup\", \"group\"]\n",
    );
    // The same set in another order is no change.
    let store = kind.example();
    store
        .run(&[
            "--feature",
            "new_gpt_model",
            "--chat-types",
            "private,group",
        ])
        .ok();
    let text = store.text();
    let run = store.run(&[
        "--feature",
        "new_gpt_model",
        "--chat-types",
        "group,private",
    ]);
    assert_eq!(
        run.ok().stdout,
        "new_gpt_model: chat_types is already private, group\nnothing to change\n"
    );
    assert_eq!(store.text(), text);
    let run = store.run(&["--feature", "voice_replies", "--all-chat-types"]);
    assert!(run.ok().stdout.contains("already every type"), "{run:#?}");
});

storetest!(description_set_and_removed, |kind| {
    kind.example().assert_edit(
        &[
            "--feature",
            "new_gpt_model",
            "--description",
            "Answer with GPT-5 \"turbo\"",
        ],
        "\"Answer with the new GPT model\"",
        "\"Answer with GPT-5 \\\"turbo\\\"\"",
        "new_gpt_model: description \"Answer with the new GPT model\" -> \"Answer with GPT-5 \\\"turbo\\\"\"\n",
    );
    kind.example().assert_edit(
        &["--feature", "new_gpt_model", "--description", ""],
        "      \"description\": \"Answer with the new GPT model\",\n",
        "",
        "new_gpt_model: description \"Answer with the new GPT model\" -> null\n",
    );
    kind.example().assert_edit(
        &[
            "--feature",
            "enhanced_video_download",
            "--description",
            "Faster videos",
        ],
        "\"bucket_by\": \"chat\"\n",
        "\"bucket_by\": \"chat\",\n      \"description\": \"Faster videos\"\n",
        "enhanced_video_download: description null -> \"Faster videos\"\n",
    );
});

storetest!(targeting_joins_other_edits_in_one_write, |kind| {
    let store = kind.example();
    store
        .run(&[
            "--feature",
            "weather_v2",
            "--create",
            "--percentage",
            "5",
            "--add-user-group",
            "beta_testers",
            "--chat-types",
            "private",
            "--description",
            "Weather, take two",
        ])
        .ok();
    let flag = serde_json::from_str::<serde_json::Value>(
        &store
            .run(&["--feature", "weather_v2", "--json"])
            .ok()
            .stdout,
    )
    .unwrap();
    assert_eq!(flag["user_groups"], json!(["beta_testers"]));
    assert_eq!(flag["chat_types"], json!(["private"]));
    assert_eq!(flag["description"], json!("Weather, take two"));
    assert_eq!(flag["rollout_percentage"], json!(5));
    let audit = store.history();
    assert_eq!(audit.len(), 4);
    assert!(
        audit.iter().all(|l| l["time"] == audit[0]["time"]),
        "one command"
    );

    let store = kind.example();
    store
        .run(&[
            "--feature",
            "new_gpt_model",
            "--percentage",
            "20",
            "--chat-types",
            "private,group",
        ])
        .ok();
    assert_eq!(
        changed_lines(EXAMPLE, &store.text()),
        [
            (
                "      \"rollout_percentage\": 10,",
                "      \"rollout_percentage\": 20,"
            ),
            (
                "      \"user_groups\": [\"beta_testers\"],",
                "      \"user_groups\": [\"beta_testers\"],",
            ),
            (
                "      \"chat_types\": [\"private\"]",
                "      \"chat_types\": [\"private\", \"group\"]"
            ),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
});

#[test]
fn rebucketing_needs_force_and_reports_the_impact() {
    let env = Env::new();
    let line = env
        .run(&[
            "--feature",
            "enhanced_video_download",
            "--salt",
            "videos_v2",
        ])
        .fails(2)
        .to_owned();
    assert!(
        line.starts_with(
            "error: --bucket-by and --salt reshuffle who has the feature (of 100000 sample users, "
        ),
        "{line}"
    );
    assert!(
        line.ends_with("add --force to do it, or --dry-run to preview"),
        "{line}"
    );
    assert_eq!(env.text(), EXAMPLE);
    assert!(env.audit_lines().is_empty());

    // The dry run needs no --force and prints the same numbers.
    let dry = env.run(&[
        "--feature",
        "enhanced_video_download",
        "--salt",
        "videos_v2",
        "--dry-run",
    ]);
    let dry_lines: Vec<&str> = dry.ok().stdout.lines().collect();
    assert_eq!(dry_lines.len(), 3, "{dry:#?}");
    assert_eq!(
        dry_lines[0],
        "enhanced_video_download: salt \"enhanced_video_download\" -> \"videos_v2\""
    );
    assert_eq!(dry_lines[2], "dry run: nothing written");
    assert_eq!(env.text(), EXAMPLE);

    let real = env.run(&[
        "--feature",
        "enhanced_video_download",
        "--salt",
        "videos_v2",
        "--force",
    ]);
    let real_lines: Vec<&str> = real.ok().stdout.lines().collect();
    assert_eq!(real_lines[..2], dry_lines[..2]);
    assert_eq!(
        env.text(),
        EXAMPLE.replace(
            "\"bucket_by\": \"chat\"\n",
            "\"bucket_by\": \"chat\",\n      \"salt\": \"videos_v2\"\n"
        )
    );

    // 25% bucketed by chat: about 25% * 75% of the sample's group chats
    // gain it and as many lose it.
    let numbers: Vec<u32> = real_lines[1]
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    let [sample, private_gain, private_lose, group_gain, group_lose] = numbers[..] else {
        panic!("{real:#?}");
    };
    assert_eq!(sample, 100_000);
    for count in [private_gain, private_lose, group_gain, group_lose] {
        assert!((17_000..20_500).contains(&count), "{real:#?}");
    }

    // Going back to bucketing by user: private chats keep their bucket.
    let run = env.run(&[
        "--feature",
        "enhanced_video_download",
        "--bucket-by",
        "user",
        "--force",
    ]);
    let impact = run
        .ok()
        .stdout
        .lines()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    assert!(
        impact.contains(" 0 would gain the feature and 0 lose it in private chats"),
        "{impact}"
    );
    assert!(
        env.text().contains("\"bucket_by\": \"user\","),
        "{}",
        env.text()
    );
}

#[test]
fn rebucketing_to_the_same_value_needs_no_force() {
    let env = Env::new();
    let run = env.run(&["--feature", "new_gpt_model", "--salt", "new_gpt_model"]);
    assert_eq!(
        run.ok().stdout,
        "new_gpt_model: salt is already \"new_gpt_model\" (the flag's name)\nnothing to change\n"
    );
    let run = env.run(&[
        "--feature",
        "enhanced_video_download",
        "--bucket-by",
        "chat",
    ]);
    assert_eq!(
        run.ok().stdout,
        "enhanced_video_download: bucket_by is already chat\nnothing to change\n"
    );
    assert_eq!(env.text(), EXAMPLE);
    // A flag created in the same command has no users to reshuffle.
    env.run(&[
        "--feature",
        "fresh",
        "--create",
        "--percentage",
        "50",
        "--salt",
        "s",
    ])
    .ok();
}
