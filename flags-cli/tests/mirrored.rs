//! A flag file that a sync mirrors from the database (it has a
//! `FILE.sync.json` marker beside it) is read-only to the CLI's writers:
//! every kind of write is refused with a message naming the database, and
//! nothing beside the file changes; reading it still works.

use std::fs;

use crate::util::Env;

const MARKER: &str = r#"{"database": "postgres://flags:***@db1,db2/bot", "database_id": "d1", "version": 7, "fingerprint": "0000000000000000"}"#;

fn mirrored() -> Env {
    let env = Env::new();
    fs::write(env.path("feature_flags.json.sync.json"), MARKER).unwrap();
    env
}

#[test]
fn every_write_is_refused_and_names_the_database() {
    let env = mirrored();
    let writes: &[&[&str]] = &[
        &["--feature", "new_gpt_model", "--percentage", "50"],
        &["--feature", "new_gpt_model", "--disable"],
        &["--feature", "brand_new", "--create"],
        &["--group", "beta_testers", "--add-user", "5"],
        &["--feature", "voice_replies", "--delete"],
        &[
            "--feature",
            "new_gpt_model",
            "--plan",
            "5:1d,100",
            "--start",
        ],
    ];
    for args in writes {
        let run = env.run(args);
        let line = run.fails(1);
        assert!(
            line.contains("mirrored from the database postgres://flags:***@db1,db2/bot")
                && line.contains("--database"),
            "{args:?}: {line}"
        );
        assert_eq!(
            env.text(),
            crate::util::EXAMPLE,
            "{args:?} changed the file"
        );
        assert_eq!(
            env.listing(),
            ["feature_flags.json", "feature_flags.json.sync.json"],
            "{args:?} left files beside it"
        );
    }
}

#[test]
fn reading_a_mirrored_file_works() {
    let env = mirrored();
    env.run(&["--check"]).ok();
    assert!(env.run(&["--list"]).ok().stdout.contains("new_gpt_model"));
    let dry = env.run(&[
        "--feature",
        "new_gpt_model",
        "--percentage",
        "50",
        "--dry-run",
    ]);
    assert!(dry.ok().stdout.contains("dry run: nothing written"));
}
