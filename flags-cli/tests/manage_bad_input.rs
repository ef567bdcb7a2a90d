//! Bad input to the group, targeting and life-cycle commands: one `error:`
//! line, and the flag file and the rollouts file byte-for-byte as they were.

use std::fs;

use crate::util::{Env, rejects_in};

const ROLLOUTS: &str = "{\n  \"version\": 1,\n  \"rollouts\": {}\n}\n";

/// Runs `args` on the example (with a rollouts file beside it), expects
/// failure `code` with a message containing `says`, and checks that
/// nothing changed.
#[track_caller]
fn rejects(args: &[&str], code: i32, says: &str) {
    let env = Env::new();
    fs::write(env.path("feature_flags.json.rollouts.json"), ROLLOUTS).unwrap();
    rejects_in(&env, args, code, says);
}

#[test]
fn bad_group_names_and_ids() {
    rejects(
        &["--group", "beta testers", "--add-user", "1"],
        2,
        "names may use only A-Z a-z 0-9 _ . -",
    );
    rejects(&["--group", "", "--add-user", "1"], 2, "must not be empty");
    let long = "g".repeat(129);
    rejects(
        &["--group", &long, "--add-user", "1"],
        2,
        "at most 128 characters",
    );
    rejects(
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
        rejects(&["--group", "beta_testers", "--add-user", id], 2, says);
        rejects(&["--group", "beta_testers", "--remove-user", id], 2, says);
    }
}

#[test]
fn removing_a_user_who_is_not_in_the_group_names_the_group() {
    rejects(
        &["--group", "beta_testers", "--remove-user", "5"],
        1,
        "user 5 is not in group beta_testers",
    );
    // One bad id fails the whole command, valid ones included.
    rejects(
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
    rejects(
        &["--group", "beta_tester", "--remove-user", "111111111"],
        1,
        "no group named \"beta_tester\" in the file's groups; did you mean \"beta_testers\"?",
    );
}

#[test]
fn bad_chat_types_salt_and_bucket_by() {
    rejects(
        &["--feature", "new_gpt_model", "--chat-types", "privat"],
        2,
        "did you mean \"private\"?",
    );
    rejects(
        &["--feature", "new_gpt_model", "--chat-types", "private,grop"],
        2,
        "did you mean \"group\"?",
    );
    rejects(
        &["--feature", "new_gpt_model", "--chat-types", ""],
        2,
        "--all-chat-types",
    );
    rejects(
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
    rejects(
        &["--feature", "new_gpt_model", "--salt", "", "--force"],
        2,
        "a salt must not be empty",
    );
    rejects(
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
}

#[test]
fn unknown_flags_and_groups() {
    rejects(
        &["--feature", "voice_reply", "--delete"],
        1,
        "no flag named \"voice_reply\"; did you mean \"voice_replies\"?",
    );
    rejects(
        &[
            "--feature",
            "new_gpt_modle",
            "--add-user-group",
            "beta_testers",
        ],
        1,
        "did you mean \"new_gpt_model\"?",
    );
    rejects(&["--group", "nobody"], 1, "no group named \"nobody\"");
    rejects(
        &["--group", "nobody", "--delete"],
        1,
        "no group named \"nobody\"",
    );
}

#[test]
fn commands_that_make_no_sense() {
    rejects(&["--delete"], 2, "--delete needs --feature NAME");
    rejects(
        &["--feature", "voice_replies", "--delete", "--force"],
        2,
        "--force does not apply to deleting a flag",
    );
    rejects(
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
    rejects(
        &["--feature", "new_gpt_model", "--group", "beta_testers"],
        2,
        "needs --explain",
    );
    rejects(
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
    rejects(&["--add-user", "1"], 2, "--group");
    rejects(
        &["--group", "a", "--group", "b", "--add-user", "1"],
        2,
        "give one --group",
    );
    rejects(
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
    rejects(
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
    rejects(
        &["--feature", "new_gpt_model", "--percentage", "5", "--force"],
        2,
        "--force only confirms",
    );
    rejects(
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
    rejects(
        &["--group", "beta_testers", "--list-users", "--dry-run"],
        2,
        "required",
    );
    rejects(
        &["--group", "beta_testers", "--add-user", "1", "--json"],
        2,
        "cannot be used with",
    );
    rejects(
        &["--list", "--group", "beta_testers"],
        2,
        "cannot be used with",
    );
    rejects(&["--description", "x"], 2, "--feature");
}
