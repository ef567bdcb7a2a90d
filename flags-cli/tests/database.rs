//! What only the fleet's database (`--database URL`) does, against a real
//! PostgreSQL that the tests start (`flags_postgres::testing`): the schema,
//! import and export, edits as one transaction each with the database's
//! stamps, plans, history, roles, and a password that is never printed.
//! The scenarios both stores share (edits, groups, plans, bad input that
//! changes nothing, --revert) are `storetest!`s in the other modules.

use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};

use flags_core::parse_flag_file;
use flags_postgres::testing::{Cluster, PASSWORD};
use serde_json::Value;

use crate::stores::{Kind, db, new_database};
use crate::util::{EXAMPLE, Env, Run, bin};

/// A database with the example imported.
fn imported() -> String {
    Kind::Database.example().url()
}

fn export(url: &str) -> String {
    db(url, &["--export"]).ok().stdout.clone()
}

fn history(url: &str) -> Vec<Value> {
    serde_json::from_str::<Value>(&db(url, &["--history", "--json"]).ok().stdout)
        .expect("history is JSON")
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn init_twice_import_export_gives_the_same_bytes() {
    let url = new_database();
    assert!(db(&url, &["--init"]).ok().stdout.contains("created"));
    assert!(db(&url, &["--init"]).ok().stdout.contains("nothing to do"));
    // Nothing imported yet: a read says what to do.
    let line = db(&url, &["--list"]).fails(1).to_owned();
    assert!(line.contains("--import"), "{line}");

    let env = Env::with(&EXAMPLE.replace("  ", "\t"));
    let run = db(&url, &["--import", env.file.to_str().unwrap()]);
    assert!(run.ok().stdout.contains("3 flags"), "{run:?}");
    assert_eq!(export(&url), env.text(), "export is byte for byte");
    // A second import would overwrite the fleet's truth: refused.
    let line = db(&url, &["--import", env.file.to_str().unwrap()])
        .fails(1)
        .to_owned();
    assert!(
        line.contains("not empty") || line.contains("already"),
        "{line}"
    );
    assert_eq!(export(&url), env.text());
}

#[test]
fn import_refuses_an_invalid_file_and_loads_nothing() {
    let url = new_database();
    db(&url, &["--init"]).ok();
    let env =
        Env::with(&EXAMPLE.replace("\"rollout_percentage\": 10", "\"rollout_percentage\": 150"));
    let run = db(&url, &["--import", env.file.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("rollout_percentage"), "{run:?}");
    assert!(db(&url, &["--export"]).fails(1).contains("--import"));
}

#[test]
fn an_edit_is_one_transaction_with_its_audit_row() {
    let url = imported();
    let before = history(&url).len();
    let run = db(&url, &["--feature", "new_gpt_model", "--percentage", "50"]);
    assert_eq!(
        run.ok().stdout,
        "new_gpt_model: rollout_percentage 10 -> 50\n"
    );
    let text = export(&url);
    let file = parse_flag_file(&text).unwrap();
    assert_eq!(
        file.flag("new_gpt_model")
            .unwrap()
            .rollout_percentage
            .to_string(),
        "50"
    );
    // Only that line changed: the document is edited in place.
    assert_eq!(
        text,
        EXAMPLE.replace("\"rollout_percentage\": 10", "\"rollout_percentage\": 50")
    );
    let entries = history(&url);
    assert_eq!(entries.len(), before + 1);
    let last = entries.last().unwrap();
    assert_eq!(last["flag"], "new_gpt_model");
    assert_eq!(last["field"], "rollout_percentage");
    assert_eq!(last["user"], "tester");
    assert!(last["host"].is_string(), "{last}");
    let shown = db(&url, &["--history", "--feature", "new_gpt_model"]);
    assert!(
        shown
            .ok()
            .stdout
            .contains("role flags (user tester)  new_gpt_model: rollout_percentage 10 -> 50")
    );
}

#[test]
fn file_and_database_together_are_refused() {
    let url = imported();
    let env = Env::new();
    let run = Run::from(
        bin()
            .args(["--database", &url, "--file"])
            .arg(&env.file)
            .args(["--feature", "new_gpt_model", "--percentage", "50"])
            .output()
            .unwrap(),
    );
    assert!(run.fails(2).contains("--file and --database"));
    assert_eq!(env.text(), EXAMPLE);
    assert_eq!(export(&url), EXAMPLE);
}

#[test]
fn read_only_commands_work_on_the_database() {
    let url = imported();
    assert!(
        db(&url, &["--check"])
            .ok()
            .stdout
            .starts_with("ok: database postgres://flags:")
    );
    assert!(
        db(&url, &["--list"])
            .ok()
            .stdout
            .contains("enhanced_video_download")
    );
    assert!(
        db(&url, &["--feature", "voice_replies"])
            .ok()
            .stdout
            .contains("voice_replies")
    );
    let explained = db(
        &url,
        &[
            "--feature",
            "new_gpt_model",
            "--explain",
            "--user",
            "111111111",
            "--chat",
            "5",
            "--chat-type",
            "private",
        ],
    );
    assert!(
        explained.ok().stdout.contains("beta_testers"),
        "{explained:?}"
    );
}

#[test]
fn plans_run_on_the_database_and_a_hand_edit_pauses_in_the_same_transaction() {
    let url = imported();
    db(
        &url,
        &[
            "--feature",
            "new_gpt_model",
            "--plan",
            "5:1d,100",
            "--start",
        ],
    )
    .ok();
    let status = db(&url, &["--status"]);
    assert!(status.ok().stdout.contains("running"), "{status:?}");
    let run = db(&url, &["--feature", "new_gpt_model", "--percentage", "30"]);
    assert!(
        run.ok()
            .stdout
            .contains("rollout plan paused by this hand edit"),
        "{run:?}"
    );
    let status = db(&url, &["--status", "--json"]);
    let plans: Value = serde_json::from_str(&status.ok().stdout).unwrap();
    assert_eq!(plans[0]["state"], "paused", "{plans}");
    let entries = history(&url);
    let fields: Vec<&str> = entries.iter().filter_map(|e| e["field"].as_str()).collect();
    assert!(
        fields.ends_with(&["rollout_percentage", "plan.state"]),
        "{fields:?}"
    );
}

#[test]
fn racing_edits_from_many_processes_lose_nothing() {
    let url = imported();
    let before = history(&url).len();
    let ids: Vec<i64> = (0..20).map(|i| -1_000_000_000_000 - i).collect();
    let children: Vec<_> = ids
        .iter()
        .map(|id| {
            bin()
                .args([
                    "--database",
                    &url,
                    "--feature",
                    "enhanced_video_download",
                    "--exclude-chat",
                ])
                .arg(id.to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let file = parse_flag_file(&export(&url)).unwrap();
    let excluded = &file.flag("enhanced_video_download").unwrap().exclude_chats;
    for id in &ids {
        assert!(excluded.contains(id), "{id} lost");
    }
    assert_eq!(history(&url).len(), before + ids.len());
}

#[test]
fn a_password_is_never_printed() {
    let url = imported();
    // A wrong password: the error names the database, masked.
    let wrong = url.replace(PASSWORD, "Wr0ng-Secret-9");
    let run = Run::from(
        bin()
            .args(["--database", &wrong, "--list"])
            .output()
            .unwrap(),
    );
    let line = run.fails(1).to_owned();
    assert!(!line.contains("Wr0ng-Secret-9"), "{line}");
    assert!(line.contains("postgres://flags:***@"), "{line}");
    // --help with the URL in the environment does not show it.
    let help = Run::from(
        bin()
            .env("FEATURE_FLAGS_DATABASE_URL", &url)
            .arg("--help")
            .output()
            .unwrap(),
    );
    assert!(!help.ok().stdout.contains(PASSWORD));
    // Nor the audit rows.
    db(&url, &["--feature", "voice_replies", "--enable"]).ok();
    assert!(
        !db(&url, &["--history", "--json"])
            .ok()
            .stdout
            .contains(PASSWORD)
    );
}

/// Two guards (two servers) decide the same rollback from the same reading
/// at the same moment: exactly one applies it, in its transaction; the
/// other finds the plan changed and writes nothing.
#[test]
fn two_guards_racing_on_one_decision_act_once() {
    use flags_cli::plans::apply::{Actor, Applied, apply_step};
    use flags_cli::store::Store;
    use flags_cli::store::database::DatabaseStore;
    use flags_rollout::{RolloutsFile, decide};

    let url = imported();
    db(
        &url,
        &[
            "--feature",
            "new_gpt_model",
            "--plan",
            "--triggers",
            "memory_usage=off",
            "--sustain",
            "1",
            "--start",
        ],
    )
    .ok();
    let mut reader = DatabaseStore::new(&url).unwrap();
    let rollouts = reader.read().unwrap().rollouts.unwrap();
    let decided_on = RolloutsFile::parse(&rollouts).unwrap().rollouts["new_gpt_model"].clone();
    let m = crate::util::error_rate_trips();
    let step = decide(
        &decided_on.plan,
        &decided_on.state,
        &m,
        flags_rollout::jiff::Timestamp::now(),
    );
    let before = history(&url).len();
    let barrier = std::sync::Barrier::new(2);
    let outcomes: Vec<Applied> = std::thread::scope(|s| {
        let guards: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let mut store = DatabaseStore::new(&url).unwrap();
                    store.database().unwrap();
                    barrier.wait();
                    apply_step(
                        &mut store,
                        "new_gpt_model",
                        &decided_on,
                        &step,
                        Actor::Guard,
                    )
                    .unwrap()
                })
            })
            .collect();
        guards.into_iter().map(|g| g.join().unwrap()).collect()
    });
    let written = outcomes
        .iter()
        .filter(|o| matches!(o, Applied::Written { .. }))
        .count();
    assert_eq!(written, 1, "{outcomes:?}");
    assert!(
        outcomes.iter().any(|o| matches!(o, Applied::Stale { .. })),
        "{outcomes:?}"
    );
    let entries = history(&url);
    let rollbacks: Vec<_> = entries[before..]
        .iter()
        .filter(|e| e["field"] == "enabled")
        .collect();
    assert_eq!(rollbacks.len(), 1, "{entries:?}");
    assert_eq!(rollbacks[0]["user"], "guard");
    assert_eq!(rollbacks[0]["trigger"], "error_rate");
    let file = parse_flag_file(&export(&url)).unwrap();
    assert!(!file.flag("new_gpt_model").unwrap().enabled);
}

/// Both group roles exist in the shared cluster (the owner `flags` may not
/// create them; --init then grants them their rights).
fn group_roles() {
    Cluster::shared().sql(
        "DO $$ BEGIN CREATE ROLE feature_flags_reader NOLOGIN; \
           EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$; \
         DO $$ BEGIN CREATE ROLE feature_flags_editor NOLOGIN; \
           EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$;",
    );
}

/// A new login role in `group` and the URL of `url`'s database for it.
fn login(url: &str, group: &str) -> (String, String) {
    static N: AtomicUsize = AtomicUsize::new(0);
    let role = format!(
        "cli_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    );
    let cluster = Cluster::shared();
    cluster.sql(&format!(
        "CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'; GRANT {group} TO {role}"
    ));
    let url = url.replacen("postgres://flags:", &format!("postgres://{role}:"), 1);
    (role, url)
}

#[test]
fn a_reader_syncs_an_editor_edits_and_only_the_owner_imports() {
    group_roles();
    let url = new_database();
    let init = db(&url, &["--init"]);
    assert!(
        init.ok()
            .stdout
            .contains("rights granted: feature_flags_reader"),
        "{init:?}"
    );
    let env = Env::new();
    db(&url, &["--import", env.file.to_str().unwrap()]).ok();
    let (reader, reader_url) = login(&url, "feature_flags_reader");
    let (editor, editor_url) = login(&url, "feature_flags_editor");

    // The reader mirrors the document, and may not edit it.
    let mirror = tempfile::tempdir().unwrap();
    let mirrored = mirror.path().join("flags.json");
    let mut sync = bin()
        .args(["--database", &reader_url, "--sync", "--file"])
        .arg(&mirrored)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while std::fs::read_to_string(&mirrored).ok().as_deref() != Some(EXAMPLE) {
        assert!(
            std::time::Instant::now() < deadline,
            "the reader's sync wrote nothing"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        db(&reader_url, &["--list"])
            .ok()
            .stdout
            .contains("voice_replies")
    );
    let line = db(&reader_url, &["--feature", "voice_replies", "--enable"])
        .fails(1)
        .to_owned();
    assert!(
        line.ends_with(&format!(
            "permission denied: role {reader} is a feature_flags_reader; edits, plans and the guard need feature_flags_editor (GRANT feature_flags_editor TO {reader})"
        )),
        "{line}"
    );
    assert!(!line.contains(PASSWORD));
    assert_eq!(export(&url), EXAMPLE, "nothing changed");

    // The editor's edit is stamped with its role, and reaches the sync.
    db(&editor_url, &["--feature", "voice_replies", "--enable"]).ok();
    while std::fs::read_to_string(&mirrored).unwrap() == EXAMPLE {
        assert!(
            std::time::Instant::now() < deadline,
            "the edit did not reach the sync"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    sync.kill().unwrap();
    sync.wait().unwrap();
    let last = history(&editor_url).pop().unwrap();
    assert_eq!(last["role"], editor.as_str());
    assert_eq!(last["user"], "tester", "as declared");
    assert_eq!(last["version"], 2);
    let shown = db(&editor_url, &["--history", "--feature", "voice_replies"]);
    let text = shown.ok().stdout.clone();
    assert!(
        text.contains("  version 2  host ")
            && text.contains(&format!(
                "  role {editor} (user tester)  voice_replies: enabled false -> true"
            )),
        "{text}"
    );
    // Only the owner imports, or replaces.
    let line = db(
        &editor_url,
        &["--import", env.file.to_str().unwrap(), "--replace"],
    )
    .fails(1)
    .to_owned();
    assert!(
        line.contains("only the owner of schema feature_flags (flags) may run"),
        "{line}"
    );
}

#[test]
fn history_escapes_control_characters_and_names_an_unknown_flag() {
    let url = imported();
    let run = Run::from(
        bin()
            .env("USER", "\u{1b}[31mmallory\u{1b}[0m")
            .args(["--database", &url, "--feature", "voice_replies", "--enable"])
            .output()
            .unwrap(),
    );
    run.ok();
    let shown = db(&url, &["--history"]);
    let text = shown.ok().stdout.clone();
    assert!(!text.contains('\u{1b}'), "{text:?}");
    assert!(
        text.contains("(user \\x1b[31mmallory\\x1b[0m)  voice_replies: enabled false -> true"),
        "{text}"
    );
    // JSON keeps the declared user exactly (escaped as JSON does).
    let last = history(&url).pop().unwrap();
    assert_eq!(last["user"], "\u{1b}[31mmallory\u{1b}[0m");

    let line = db(&url, &["--history", "--feature", "new_gpt_modl"])
        .fails(1)
        .to_owned();
    assert!(line.contains("did you mean \"new_gpt_model\"?"), "{line}");
    // A deleted flag's history still shows.
    db(&url, &["--feature", "voice_replies", "--delete"]).ok();
    let shown = db(&url, &["--history", "--feature", "voice_replies"]);
    assert_eq!(shown.ok().stdout.lines().count(), 2, "{shown:?}");
}

/// A guard's hold rewrites only the plan's bookkeeping (streaks, evidence,
/// last decision, the phase's counts) and adds no audit row: the database lets it through, but
/// no other rollouts change without its audit rows.
#[test]
fn a_hold_needs_no_audit_row_but_a_plan_change_does() {
    use flags_cli::store::database::DatabaseStore;
    use flags_cli::store::{Commit, Store};
    use flags_rollout::RolloutsFile;

    let url = imported();
    db(
        &url,
        &[
            "--feature",
            "new_gpt_model",
            "--plan",
            "5:1d,100",
            "--start",
        ],
    )
    .ok();
    let mut store = DatabaseStore::new(&url).unwrap();
    let text = store.read().unwrap().rollouts.unwrap();
    let before = history(&url).len();
    let write = |store: &mut DatabaseStore, edit: &dyn Fn(&mut flags_rollout::Rollout)| {
        let mut file = RolloutsFile::parse(&text).unwrap();
        edit(file.rollouts.get_mut("new_gpt_model").unwrap());
        let rollouts = file.to_text();
        store.update(&mut |_| {
            Ok(Some(Commit {
                flags: None,
                rollouts: Some(rollouts.clone()),
                audit: vec![],
            }))
        })
    };
    write(&mut store, &|r| r.state.streaks[0] = 1).unwrap();
    assert_ne!(
        store.read().unwrap().rollouts.unwrap(),
        text,
        "the hold was written"
    );
    // A hold also keeps the current phase's counts for `--report`.
    write(&mut store, &|r| {
        r.state.phase_counts = Some(flags_rollout::state::PhaseCounts {
            complaints: 2.0,
            ..Default::default()
        })
    })
    .unwrap();
    assert!(
        store
            .read()
            .unwrap()
            .rollouts
            .unwrap()
            .contains("phase_counts"),
        "the hold's phase counts were written"
    );
    let err = write(&mut store, &|r| r.plan.sustain = 9).unwrap_err();
    assert!(
        err.lines
            .join(" ")
            .contains("needs the audit rows of the change"),
        "{err:?}"
    );
    assert_eq!(history(&url).len(), before);
}

/// The guard's own hold (a tripped check that only adds to a streak) goes
/// through the database's audited path without an audit row.
#[test]
fn the_guards_hold_is_written_on_the_database() {
    use flags_cli::plans::apply::{Actor, Applied, apply_step};
    use flags_cli::store::Store;
    use flags_cli::store::database::DatabaseStore;
    use flags_rollout::{RolloutsFile, decide};

    let url = imported();
    db(
        &url,
        &[
            "--feature",
            "new_gpt_model",
            "--plan",
            "--triggers",
            "memory_usage=off",
            "--sustain",
            "3",
            "--start",
        ],
    )
    .ok();
    let mut store = DatabaseStore::new(&url).unwrap();
    let text = store.read().unwrap().rollouts.unwrap();
    let decided_on = RolloutsFile::parse(&text).unwrap().rollouts["new_gpt_model"].clone();
    let step = decide(
        &decided_on.plan,
        &decided_on.state,
        &crate::util::error_rate_trips(),
        flags_rollout::jiff::Timestamp::now(),
    );
    let before = history(&url).len();
    let applied = apply_step(
        &mut store,
        "new_gpt_model",
        &decided_on,
        &step,
        Actor::Guard,
    );
    assert_eq!(applied.unwrap(), Applied::Written { changes: vec![] });
    let after = store.read().unwrap().rollouts.unwrap();
    let state = &RolloutsFile::parse(&after).unwrap().rollouts["new_gpt_model"].state;
    assert_eq!(state.streaks.iter().sum::<u32>(), 1, "{after}");
    assert_eq!(history(&url).len(), before, "a hold adds no audit row");
}

/// A file's audit log comes in marked imported: what it declares (a user
/// `guard`, a time in 2020) is kept as declared, beside who imported it.
#[test]
fn an_imported_audit_log_is_marked_with_the_importer() {
    let url = new_database();
    db(&url, &["--init"]).ok();
    let env = Env::new();
    std::fs::write(
        env.path(&format!("{}.audit.jsonl", crate::util::FILE_NAME)),
        "{\"time\": \"2020-01-01T00:00:00Z\", \"user\": \"guard\", \"role\": \"postgres\", \
         \"flag\": \"voice_replies\", \"field\": \"enabled\", \"old\": true, \"new\": false}\n",
    )
    .unwrap();
    db(&url, &["--import", env.file.to_str().unwrap()]).ok();
    let rows = history(&url);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0]["time"], "2020-01-01T00:00:00Z");
    assert_eq!(rows[0]["user"], "guard");
    assert!(rows[0].get("role").is_none(), "a claimed role is not shown");
    assert_eq!(rows[0]["imported"]["role"], "flags");
    assert_eq!(rows[1]["action"], "import");
    assert_eq!(rows[1]["role"], "flags");
    let text = db(&url, &["--history"]).ok().stdout.clone();
    let first = text.lines().next().unwrap();
    assert!(
        first
            .contains("  guard  voice_replies: enabled true -> false  [imported by role flags at "),
        "{text}"
    );
}
