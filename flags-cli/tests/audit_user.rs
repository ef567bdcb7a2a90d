//! The audit log names a user even when the environment names none: a
//! systemd service, a container or cron runs the tool with no `$USER`.

use std::process::Command;

use crate::util::Env;

/// The name `id -un` gives the user running the tests, or `uid N` when it
/// has none (what the audit log falls back to).
fn expected_user() -> String {
    let id = |flag: &str| {
        let out = Command::new("id").arg(flag).output().expect("run id");
        (
            out.status.success(),
            String::from_utf8(out.stdout).unwrap().trim().to_owned(),
        )
    };
    let (named, name) = id("-un");
    if named && !name.is_empty() {
        name
    } else {
        format!("uid {}", id("-u").1)
    }
}

#[test]
fn with_no_user_in_the_environment_the_audit_names_the_processs_user() {
    let env = Env::new();
    // `env -i`: nothing inherited, not even PATH or HOME.
    let status = Command::new(env!("CARGO_BIN_EXE_feature_flags"))
        .env_clear()
        .arg("--file")
        .arg(&env.file)
        .args(["--feature", "new_gpt_model", "--percentage", "20"])
        .status()
        .expect("run feature_flags");
    assert!(status.success());
    let user = env.audit_lines()[0]["user"].clone();
    assert_eq!(user, serde_json::json!(expected_user()));
    assert_ne!(user, serde_json::json!("unknown"));

    // An empty $USER is no user either; $SUDO_USER still comes first.
    let status = Command::new(env!("CARGO_BIN_EXE_feature_flags"))
        .env_clear()
        .env("USER", "")
        .arg("--file")
        .arg(&env.file)
        .args(["--feature", "new_gpt_model", "--percentage", "30"])
        .status()
        .expect("run feature_flags");
    assert!(status.success());
    assert_eq!(
        env.audit_lines()[1]["user"],
        serde_json::json!(expected_user())
    );
    let status = Command::new(env!("CARGO_BIN_EXE_feature_flags"))
        .env_clear()
        .env("SUDO_USER", "alice")
        .arg("--file")
        .arg(&env.file)
        .args(["--feature", "new_gpt_model", "--percentage", "40"])
        .status()
        .expect("run feature_flags");
    assert!(status.success());
    assert_eq!(env.audit_lines()[2]["user"], serde_json::json!("alice"));
}
