//! Least privilege against a real PostgreSQL: what a reader (bot server),
//! an editor (operator, guard) and the owner may do, the audit stamped by
//! the database, the heartbeats, and a version-1 database migrated in
//! place. Roles are cluster-wide: each test makes login roles of its own.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use flags_postgres::testing::Cluster;
use flags_postgres::{
    AuditEntry, Database, DatabaseUrl, EDITOR, Error, READER, Roles, SCHEMA_VERSION, Update,
};
use serde_json::{Value, json};

const LOGIN_PASSWORD: &str = "l0gin-Pw";

fn entry(v: Value) -> AuditEntry {
    v.as_object().unwrap().clone()
}

fn change(flag: &str, old: Value, new: Value) -> AuditEntry {
    entry(
        json!({"time": "2020-01-01T00:00:00Z", "user": "guard", "host": "forged-host",
                 "flag": flag, "field": "percentage", "old": old, "new": new}),
    )
}

/// Both group roles, made by the superuser if no test made them yet (the
/// owner `flags` may not create roles; `init` then only grants).
fn group_roles(cluster: &Cluster) {
    cluster.sql(
        "DO $$ BEGIN \
           CREATE ROLE feature_flags_reader NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$; \
         DO $$ BEGIN \
           CREATE ROLE feature_flags_editor NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$;",
    );
}

/// A database of the shared cluster, initialised by its owner `flags`, with
/// a flag document; the owner's connection and the database's name.
fn fleet() -> (Database, String) {
    let cluster = Cluster::shared();
    group_roles(cluster);
    let url = cluster.new_database();
    let mut owner = Database::connect(&url).unwrap();
    let setup = owner.setup().unwrap();
    assert_eq!(setup.roles, Roles::Granted { created: vec![] }, "{setup:?}");
    owner
        .import("v1", Some("{}"), &[change("a", json!(0), json!(1))])
        .unwrap();
    (owner, db_name(&url))
}

/// The database's name, from its URL (`postgres://…/NAME?…`).
fn db_name(url: &DatabaseUrl) -> String {
    let masked = url.masked();
    let path = masked.rsplit_once('/').map_or("", |(_, p)| p);
    path.split('?').next().unwrap_or_default().to_owned()
}

/// The first column of the first row, as text, through a statement that
/// raises it as an error (the crate runs SQL for tests only by batch).
fn query_text(db: &mut Database, sql: &str) -> String {
    let err = db
        .batch_execute(&format!(
            "DO $$ BEGIN RAISE EXCEPTION 'value=%', ({sql}); END $$"
        ))
        .unwrap_err()
        .to_string();
    err.split_once("value=")
        .map(|(_, v)| v.to_owned())
        .unwrap_or(err)
}

/// A new login role holding `group` (None: no group), and its connection
/// to database `db`.
fn login(db: &str, group: Option<&str>) -> (String, Database) {
    static N: AtomicUsize = AtomicUsize::new(0);
    let cluster = Cluster::shared();
    let role = format!(
        "bot_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    );
    cluster.sql(&format!(
        "CREATE ROLE {role} LOGIN PASSWORD '{LOGIN_PASSWORD}'"
    ));
    if let Some(group) = group {
        cluster.sql(&format!("GRANT {group} TO {role}"));
    }
    let url = DatabaseUrl::parse(&format!(
        "postgres://{role}:{LOGIN_PASSWORD}@127.0.0.1:{}/{db}?sslmode=disable",
        cluster.port
    ))
    .unwrap();
    (role, Database::connect(&url).unwrap())
}

fn edit(db: &mut Database, flags: &str, audit: Vec<AuditEntry>) -> Result<(), Error> {
    db.edit(|_| {
        Ok::<_, Error>((
            Some(Update {
                flags: Some(flags.into()),
                rollouts: None,
                audit,
            }),
            (),
        ))
    })
}

#[test]
fn a_reader_syncs_and_cannot_write() {
    let (mut owner, name) = fleet();
    let (role, mut reader) = login(&name, Some(READER));
    let before = reader.read().unwrap();
    assert_eq!((before.flags.as_str(), before.flags_version), ("v1", 1));
    reader.listen().unwrap();

    let err = edit(&mut reader, "v2", vec![change("a", json!(1), json!(2))]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "permission denied: role {role} is a feature_flags_reader; edits, plans and the guard need feature_flags_editor (GRANT feature_flags_editor TO {role})"
        )
    );
    let err = reader.import("x", None, &[]).unwrap_err().to_string();
    assert!(
        err.contains("only the owner of schema feature_flags (flags)"),
        "{err}"
    );
    let err = reader.history(None, 10).unwrap_err().to_string();
    assert!(
        err.contains("--history and --fleet need feature_flags_editor"),
        "{err}"
    );
    for sql in [
        "UPDATE feature_flags.documents SET body = 'x'",
        "INSERT INTO feature_flags.audit (entry) VALUES ('{}')",
        "DELETE FROM feature_flags.audit",
        "SELECT * FROM feature_flags.lock_documents(10)",
        "SELECT feature_flags.append_audit('{}', 1, false)",
        "SELECT * FROM feature_flags.syncs",
    ] {
        let err = reader.batch_execute(sql).unwrap_err().to_string();
        assert!(err.contains("permission denied"), "{sql}: {err}");
    }
    assert_eq!(owner.read().unwrap(), before, "nothing changed");
    assert_eq!(owner.history(None, 10).unwrap().len(), 1);

    // The sync hears an editor's edit.
    let (_, mut editor) = login(&name, Some(EDITOR));
    edit(&mut editor, "v2", vec![change("a", json!(1), json!(2))]).unwrap();
    assert!(
        reader
            .wait_for_notification(Duration::from_secs(5))
            .unwrap()
    );
    assert_eq!(reader.read().unwrap().flags, "v2");

    // A role with no group at all is told which it needs.
    let (nobody, mut stranger) = login(&name, None);
    let err = stranger.read().unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "permission denied: role {nobody} holds neither feature_flags_reader nor feature_flags_editor; reading the flag document and listening need feature_flags_reader (GRANT feature_flags_reader TO {nobody})"
        )
    );
}

#[test]
fn an_editor_edit_is_stamped_by_the_database() {
    let (mut owner, name) = fleet();
    let (role, mut editor) = login(&name, Some(EDITOR));
    edit(&mut editor, "v2", vec![change("a", json!(1), json!(2))]).unwrap();
    let server_day = query_text(
        &mut owner,
        "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    );
    let history = editor.history(None, 10).unwrap();
    let last = history.last().unwrap();
    assert_eq!(last["role"], json!(role));
    assert_eq!(last["version"], json!(2));
    assert!(
        last["time"].as_str().unwrap().starts_with(&server_day),
        "the server's time, not the declared 2020: {last:?}"
    );
    assert_eq!(last["declared_time"], json!("2020-01-01T00:00:00Z"));
    assert_eq!(last["user"], json!("guard"), "kept as declared");
    assert_eq!(last["host"], json!("forged-host"), "kept as declared");
    assert!(last["id"].as_i64().unwrap() > history[0]["id"].as_i64().unwrap());
    // The owner's import row is stamped with the owner's role.
    assert_eq!(history[0]["role"], json!("flags"));
}

#[test]
fn an_editor_cannot_rewrite_history_or_write_behind_the_audit() {
    let (mut owner, name) = fleet();
    let (_, mut editor) = login(&name, Some(EDITOR));
    let before = owner.read().unwrap();
    let write =
        |v: i64| format!("SELECT feature_flags.write_documents('evil', NULL, {v}, 1, '[]')");
    for sql in [
        "UPDATE feature_flags.documents SET body = 'evil' WHERE name = 'flags'".to_owned(),
        "UPDATE feature_flags.audit SET \"user\" = 'x'".to_owned(),
        "DELETE FROM feature_flags.audit".to_owned(),
        "TRUNCATE feature_flags.audit".to_owned(),
        "ALTER TABLE feature_flags.audit DISABLE TRIGGER audit_append_only".to_owned(),
        "ALTER TABLE feature_flags.audit DISABLE TRIGGER audit_stamp".to_owned(),
        "INSERT INTO feature_flags.audit (entry, role, time) VALUES ('{}', 'guard', '2020-01-01')"
            .to_owned(),
        "SELECT feature_flags.append_audit('{\"user\": \"guard\"}', 1, false)".to_owned(),
        "CREATE OR REPLACE FUNCTION feature_flags.audit_stamp() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'".to_owned(),
        "DROP TRIGGER audit_stamp ON feature_flags.audit".to_owned(),
        "CREATE TABLE feature_flags.mine (x int)".to_owned(),
        "ALTER FUNCTION feature_flags.write_documents(text, text, bigint, bigint, jsonb) SECURITY INVOKER"
            .to_owned(),
        // Through the audited path, but without the audit rows.
        write(1),
        // Stale versions: a write must be on what was read.
        "SELECT feature_flags.write_documents('evil', NULL, 0, 1, '[{\"flag\": \"a\"}]')".to_owned(),
    ] {
        let err = editor.batch_execute(&sql).unwrap_err().to_string();
        let refused = [
            "permission denied",
            "must be owner",
            "needs the audit rows",
            "changed since they were read",
        ];
        assert!(refused.iter().any(|r| err.contains(r)), "{sql}: {err}");
    }
    // A rollouts change of substance needs audit rows; a guard's hold
    // (streaks, last decision) does not.
    let plan = |streak: u32, sustain: u32| {
        json!({"version": 1, "rollouts": {"a": {"sustain": sustain, "streaks": {"error_rate": streak},
               "last_decision": {"reason": format!("hold {streak}")}}}})
        .to_string()
    };
    let rollouts = |db: &mut Database, text: String, audit: Vec<AuditEntry>| {
        db.edit(|_| {
            Ok::<_, Error>((
                Some(Update {
                    flags: None,
                    rollouts: Some(text),
                    audit,
                }),
                (),
            ))
        })
    };
    rollouts(
        &mut editor,
        plan(0, 2),
        vec![change("a", json!(null), json!(2))],
    )
    .unwrap();
    rollouts(&mut editor, plan(1, 2), vec![]).unwrap();
    let err = rollouts(&mut editor, plan(1, 9), vec![]).unwrap_err();
    assert!(err.to_string().contains("needs the audit rows"), "{err}");
    let err = edit(&mut editor, "v2", vec![]).unwrap_err();
    assert!(err.to_string().contains("needs the audit rows"), "{err}");

    let after = owner.read().unwrap();
    assert_eq!(after.flags, before.flags);
    assert_eq!(after.rollouts.as_deref(), Some(plan(1, 2).as_str()));
    let history = owner.history(None, 100).unwrap();
    assert_eq!(
        history.len(),
        2,
        "the import's row and the plan's: {history:?}"
    );
    // Only the owner imports or replaces.
    let err = editor.replace("evil", None, &[]).unwrap_err().to_string();
    assert!(
        err.starts_with("permission denied: role bot_")
            && err.contains(
                "is a feature_flags_editor; --import and --import --replace only the owner"
            ),
        "{err}"
    );
    assert_eq!(owner.read().unwrap().flags, before.flags);
}

#[test]
fn imported_history_is_marked_with_the_importer() {
    let cluster = Cluster::shared();
    group_roles(cluster);
    let url = cluster.new_database();
    let mut owner = Database::connect(&url).unwrap();
    owner.init().unwrap();
    let file_line = change("a", json!(0), json!(1));
    let own = entry(
        json!({"time": "2020-01-01T00:00:00Z", "user": "ops", "action": "import",
                           "field": "import", "old": null, "new": "/srv/flags.json"}),
    );
    owner
        .import_with_history("v1", None, &[file_line], &[own])
        .unwrap();
    let history = owner.history(None, 10).unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(
        history[0]["time"],
        json!("2020-01-01T00:00:00Z"),
        "as the file says"
    );
    assert_eq!(history[0]["user"], json!("guard"), "as the file says");
    assert_eq!(history[0]["imported"]["role"], json!("flags"));
    assert!(history[0].get("role").is_none());
    assert!(history[1].get("imported").is_none());
    assert_eq!(history[1]["role"], json!("flags"));
    assert_eq!(
        history[0]["imported"]["time"], history[1]["time"],
        "one import, one server time"
    );
}

#[test]
fn heartbeats_are_kept_per_role_and_read_by_editors() {
    let (_, name) = fleet();
    let (bot_a, mut a) = login(&name, Some(READER));
    let (bot_b, mut b) = login(&name, Some(READER));
    let (_, mut editor) = login(&name, Some(EDITOR));
    a.sync_heartbeat("blue", "/srv/bot/flags.json", Some(1), None)
        .unwrap();
    b.sync_heartbeat("green", "/srv/bot/flags.json", Some(1), None)
        .unwrap();
    a.sync_heartbeat("blue", "/srv/bot/flags.json", None, Some("database down"))
        .unwrap();
    let err = a.syncs().unwrap_err().to_string();
    assert!(err.contains("need feature_flags_editor"), "{err}");
    // A reader cannot touch another's row (nor its own) but by heartbeat.
    let err = a
        .batch_execute("UPDATE feature_flags.syncs SET last_error = NULL")
        .unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");

    let rows = editor.syncs().unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let row_a = rows.iter().find(|r| r.role == bot_a).unwrap();
    assert_eq!((row_a.host.as_str(), row_a.version), ("blue", Some(1)));
    assert_eq!(row_a.last_error.as_deref(), Some("database down"));
    assert!(row_a.last_success.is_some(), "the last success is kept");
    assert!(row_a.since_success.unwrap() < Duration::from_secs(60));
    assert_eq!(row_a.database_id.as_ref().map(String::len), Some(36));
    let row_b = rows.iter().find(|r| r.role == bot_b).unwrap();
    assert_eq!(row_b.last_error, None);
    // A success clears the error.
    a.sync_heartbeat("blue", "/srv/bot/flags.json", Some(2), None)
        .unwrap();
    let rows = editor.syncs().unwrap();
    let row_a = rows.iter().find(|r| r.role == bot_a).unwrap();
    assert_eq!(
        (row_a.version, row_a.last_error.as_deref()),
        (Some(2), None)
    );
    // Bounded: one role reports at most 100 syncs.
    for i in 0..99 {
        b.sync_heartbeat(&format!("h{i}"), "f", Some(1), None)
            .unwrap();
    }
    let err = b.sync_heartbeat("h100", "f", Some(1), None).unwrap_err();
    assert!(err.to_string().contains("100 syncs"), "{err}");
    b.sync_heartbeat("h1", "f", Some(3), None).unwrap();
}

#[test]
fn a_version_1_database_migrates_in_place() {
    let cluster = Cluster::shared();
    group_roles(cluster);
    let url = cluster.new_database();
    let mut owner = Database::connect(&url).unwrap();
    // Version 1 as its --init left it, with a document and audit rows.
    owner
        .batch_execute(include_str!("../migrations/V1__initial.sql"))
        .unwrap();
    owner
        .batch_execute(
            "UPDATE feature_flags.schema_version SET version = 1; \
             UPDATE feature_flags.documents SET body = 'old', version = 7 WHERE name = 'flags'; \
             INSERT INTO feature_flags.audit (time, \"user\", host, flag, field, old, new, entry) VALUES \
               ('2026-01-01T00:00:00Z', 'ops', 'h1', 'a', 'percentage', '1', '2', \
                '{\"time\": \"2026-01-01T00:00:00Z\", \"user\": \"ops\", \"host\": \"h1\", \"flag\": \"a\", \
                  \"field\": \"percentage\", \"old\": 1, \"new\": 2}')",
        )
        .unwrap();
    let name = db_name(&url);
    let (_, mut editor) = login(&name, Some(EDITOR));
    // Before the migration this build's edits need the new schema.
    let err = edit(&mut editor, "new", vec![change("a", json!(2), json!(3))]).unwrap_err();
    assert!(
        matches!(err, Error::OlderSchema | Error::PermissionDenied(_)),
        "{err}"
    );
    // The owner's too: this build's edits and history need version 2.
    let err = edit(&mut owner, "new", vec![change("a", json!(2), json!(3))]).unwrap_err();
    assert_eq!(err, Error::OlderSchema);
    assert_eq!(owner.history(None, 10).unwrap_err(), Error::OlderSchema);
    assert!(err.to_string().contains("runs --init"), "{err}");
    let setup = owner.setup().unwrap();
    assert_eq!((setup.from, setup.to), (1, SCHEMA_VERSION));
    assert_eq!(setup.roles, Roles::Granted { created: vec![] });
    let docs = editor.read().unwrap();
    assert_eq!((docs.flags.as_str(), docs.flags_version), ("old", 7));
    edit(&mut editor, "new", vec![change("a", json!(2), json!(3))]).unwrap();
    let history = editor.history(None, 10).unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0]["time"], json!("2026-01-01T00:00:00Z"));
    assert!(
        history[0].get("role").is_none(),
        "a version-1 row has no stamp"
    );
    assert_eq!(history[1]["version"], json!(8));
    assert!(history[1]["role"].as_str().unwrap().starts_with("bot_"));
    assert_eq!(owner.init().unwrap(), (SCHEMA_VERSION, SCHEMA_VERSION));
}

#[test]
fn init_says_what_an_administrator_must_run() {
    // Its own cluster: no test of the shared one has made the roles here.
    let cluster = Cluster::start();
    let mut owner = Database::connect(&cluster.url("bot")).unwrap();
    let setup = owner.setup().unwrap();
    assert_eq!(
        (setup.from, setup.to),
        (0, SCHEMA_VERSION),
        "the schema is made"
    );
    let Roles::Missing { role, statements } = setup.roles else {
        panic!("{setup:?}");
    };
    assert_eq!(role, "flags");
    assert_eq!(
        statements,
        [
            "CREATE ROLE feature_flags_reader NOLOGIN;",
            "CREATE ROLE feature_flags_editor NOLOGIN;"
        ]
    );
    // The owner works meanwhile.
    owner.import("v1", None, &[]).unwrap();
    // A role that may create roles makes them, and grants them their rights.
    cluster.sql("ALTER ROLE flags CREATEROLE");
    let setup = owner.setup().unwrap();
    assert_eq!(
        setup.roles,
        Roles::Granted {
            created: vec![READER.to_owned(), EDITOR.to_owned()]
        }
    );
    let setup = owner.setup().unwrap();
    assert_eq!(setup.roles, Roles::Granted { created: vec![] });
}
