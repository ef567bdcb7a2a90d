//! Bad input to the group, targeting and life-cycle commands: one `error:`
//! line, and the flag file and the rollouts file byte-for-byte as they were.

use std::fs;

use crate::stores::{Kind, Store, storetest};
use crate::util::Env;

const ROLLOUTS: &str = "{\n  \"version\": 1,\n  \"rollouts\": {}\n}\n";

/// The example, with a rollouts document.
fn example(kind: Kind) -> Store {
    let env = Env::new();
    fs::write(env.path("feature_flags.json.rollouts.json"), ROLLOUTS).unwrap();
    kind.from(env)
}

storetest!(bad_group_names_and_ids, |kind| {
    let store = example(kind);
    store.rejects(
        &["--group", "beta testers", "--add-user", "1"],
        2,
        "names may use only A-Z a-z 0-9 _ . -",
    );
    store.rejects(&["--group", "", "--add-user", "1"], 2, "must not be empty");
    let long = "g".repeat(129);
    store.rejects(
        &["--group", &long, "--add-user", "1"],
        2,
        "at most 128 characters",
    );
    store.rejects(
        &["--feature", "new_gpt_model", "--add-user-group", "bad/name"],
        2,
        "names may use only",
    );
    for (id, says) in [
        ("12ab", "is not a decimal integer"),
        ("1.5", "is not a decimal integer"),
        ("", "is not a decimal integer"),
        (
            "9223372036854775808",
            "does not fit in a signed 64-bit integer",
        ),
    ] {
        store.rejects(&["--group", "beta_testers", "--add-user", id], 2, says);
        store.rejects(&["--group", "beta_testers", "--remove-user", id], 2, says);
    }
});

storetest!(
    removing_a_user_who_is_not_in_the_group_names_the_group,
    |kind| {
        let store = example(kind);
        store.rejects(
            &["--group", "beta_testers", "--remove-user", "5"],
            1,
            "user 5 is not in group beta_testers",
        );
        // One bad id fails the whole command, valid ones included.
        store.rejects(
            &[
                "--group",
                "beta_testers",
                "--remove-user",
                "111111111",
                "--remove-user",
                "5",
            ],
            1,
            "user 5 is not in group beta_testers",
        );
        store.rejects(
            &["--group", "beta_tester", "--remove-user", "111111111"],
            1,
            "no group named \"beta_tester\" in the file's groups; did you mean \"beta_testers\"?",
        );
    }
);

storetest!(bad_chat_types_salt_and_bucket_by, |kind| {
    let store = example(kind);
    store.rejects(
        &["--feature", "new_gpt_model", "--chat-types", "privat"],
        2,
        "did you mean \"private\"?",
    );
    store.rejects(
        &["--feature", "new_gpt_model", "--chat-types", "private,grop"],
        2,
        "did you mean \"group\"?",
    );
    store.rejects(
        &["--feature", "new_gpt_model", "--chat-types", ""],
        2,
        "--all-chat-types",
    );
    store.rejects(
        &[
            "--feature",
            "new_gpt_model",
            "--chat-types",
            "private",
            "--all-chat-types",
        ],
        2,
        "cannot be used with",
    );
    store.rejects(
        &["--feature", "new_gpt_model", "--salt", "", "--force"],
        2,
        "a salt must not be empty",
    );
    store.rejects(
        &[
            "--feature",
            "new_gpt_model",
            "--bucket-by",
            "message",
            "--force",
        ],
        2,
        "is not user or chat",
    );
});

storetest!(unknown_flags_and_groups, |kind| {
    let store = example(kind);
    store.rejects(
        &["--feature", "voice_reply", "--delete"],
        1,
        "no flag named \"voice_reply\"; did you mean \"voice_replies\"?",
    );
    store.rejects(
        &[
            "--feature",
            "new_gpt_modle",
            "--add-user-group",
            "beta_testers",
        ],
        1,
        "did you mean \"new_gpt_model\"?",
    );
    store.rejects(&["--group", "nobody"], 1, "no group named \"nobody\"");
    store.rejects(
        &["--group", "nobody", "--delete"],
        1,
        "no group named \"nobody\"",
    );
});

storetest!(commands_that_make_no_sense, |kind| {
    let store = example(kind);
    store.rejects(&["--delete"], 2, "--delete needs --feature NAME");
    store.rejects(
        &["--feature", "voice_replies", "--delete", "--force"],
        2,
        "--force does not apply to deleting a flag",
    );
    store.rejects(
        &[
            "--feature",
            "new_gpt_model",
            "--group",
            "beta_testers",
            "--delete",
        ],
        2,
        "not both",
    );
    store.rejects(
        &["--feature", "new_gpt_model", "--group", "beta_testers"],
        2,
        "needs --explain",
    );
    store.rejects(
        &[
            "--feature",
            "new_gpt_model",
            "--group",
            "beta_testers",
            "--add-user",
            "1",
        ],
        2,
        "cannot be used with",
    );
    store.rejects(&["--add-user", "1"], 2, "--group");
    store.rejects(
        &["--group", "a", "--group", "b", "--add-user", "1"],
        2,
        "give one --group",
    );
    store.rejects(
        &[
            "--group",
            "beta_testers",
            "--add-user",
            "1",
            "--remove-user",
            "1",
        ],
        2,
        "both --add-user and --remove-user",
    );
    store.rejects(
        &[
            "--feature",
            "new_gpt_model",
            "--add-user-group",
            "x",
            "--remove-user-group",
            "x",
        ],
        2,
        "both --add-user-group and --remove-user-group",
    );
    store.rejects(
        &["--feature", "new_gpt_model", "--percentage", "5", "--force"],
        2,
        "--force only confirms",
    );
    store.rejects(
        &[
            "--feature",
            "new_gpt_model",
            "--delete",
            "--percentage",
            "5",
        ],
        2,
        "cannot be used with",
    );
    store.rejects(
        &["--group", "beta_testers", "--list-users", "--dry-run"],
        2,
        "required",
    );
    store.rejects(
        &["--group", "beta_testers", "--add-user", "1", "--json"],
        2,
        "cannot be used with",
    );
    store.rejects(
        &["--list", "--group", "beta_testers"],
        2,
        "cannot be used with",
    );
    store.rejects(&["--description", "x"], 2, "--feature");
});
