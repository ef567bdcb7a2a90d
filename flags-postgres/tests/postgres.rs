//! Against a real PostgreSQL started by the test (one cluster per binary,
//! a database per test; the failover test starts its own pair).

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

mod common;

use common::other_ca;
use flags_postgres::testing::{Cluster, PASSWORD};
use flags_postgres::{
    AuditEntry, Database, DatabaseUrl, Error, MAX_DOCUMENT_BYTES, SCHEMA_VERSION, Update,
};
use serde_json::json;

fn entry(flag: &str, old: serde_json::Value, new: serde_json::Value) -> AuditEntry {
    json!({"time": "2026-12-04T10:00:00Z", "user": "ops", "host": "h1", "flag": flag,
           "field": "percentage", "old": old, "new": new})
    .as_object()
    .unwrap()
    .clone()
}

fn fresh() -> (DatabaseUrl, Database) {
    let url = Cluster::shared().new_database();
    let mut db = Database::connect(&url).unwrap();
    db.init().unwrap();
    (url, db)
}

fn audit_count(url: &DatabaseUrl) -> i64 {
    let mut db = Database::connect(url).unwrap();
    db.history(None, 1_000_000).unwrap().len() as i64
}

#[test]
fn init_twice_is_harmless_and_a_newer_schema_is_refused() {
    let url = Cluster::shared().new_database();
    let mut db = Database::connect(&url).unwrap();
    assert_eq!(db.read().unwrap_err(), Error::NotInitialized);
    assert_eq!(db.init().unwrap(), (0, SCHEMA_VERSION));
    assert_eq!(db.init().unwrap(), (SCHEMA_VERSION, SCHEMA_VERSION));
    assert_eq!(db.read().unwrap_err(), Error::NoDocument);
    // Two --init racing on a fresh database: the advisory lock orders them.
    let url2 = Cluster::shared().new_database();
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let url = url2.clone();
            thread::spawn(move || Database::connect(&url).unwrap().init().unwrap())
        })
        .collect();
    let mut results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    results.sort();
    let v = SCHEMA_VERSION;
    assert_eq!(results, [(0, v), (v, v), (v, v)]);

    db.batch_execute("UPDATE feature_flags.schema_version SET version = 99")
        .unwrap();
    assert_eq!(
        db.init().unwrap_err(),
        Error::NewerSchema {
            found: 99,
            known: SCHEMA_VERSION
        }
    );
    assert!(matches!(
        db.read(),
        Err(Error::NewerSchema { found: 99, .. })
    ));
}

#[test]
fn import_fills_an_empty_database_only() {
    let (_, mut db) = fresh();
    let flags = "{\n  \"version\": 1,\n  \"flags\": {}\n}\n";
    let docs = db
        .import(
            flags,
            Some("{\"plans\": []}"),
            &[entry("a", json!(1), json!(2))],
        )
        .unwrap();
    assert_eq!(docs.flags, flags, "byte for byte");
    assert_eq!((docs.flags_version, docs.rollouts_version), (1, 1));
    assert_eq!(docs.rollouts.as_deref(), Some("{\"plans\": []}"));
    assert_eq!(docs.database_id.len(), 36);
    assert_eq!(db.import(flags, None, &[]).unwrap_err(), Error::NotEmpty);
    assert_eq!(db.read().unwrap(), docs);
    assert_eq!(db.history(None, 10).unwrap().len(), 1);
}

#[test]
fn edit_writes_documents_and_audit_atomically() {
    let (url, mut db) = fresh();
    let before = db.import("v1", None, &[]).unwrap();
    assert_eq!(before.rollouts, None);
    // An error in f: nothing written.
    let err = db
        .edit(|_| -> Result<(Option<Update>, ()), Error> { Err(Error::Query("no".into())) })
        .unwrap_err();
    assert_eq!(err, Error::Query("no".into()));
    // None: nothing written either.
    let seen = db
        .edit(|docs| Ok::<_, Error>((None, docs.flags.clone())))
        .unwrap();
    assert_eq!(seen, "v1");
    // A failing audit row (here: a document over the limit) rolls back the lot.
    let big = "x".repeat(MAX_DOCUMENT_BYTES + 1);
    let err = db
        .edit(|_| {
            Ok::<_, Error>((
                Some(Update {
                    flags: Some("v2".into()),
                    rollouts: Some(big),
                    audit: vec![entry("a", json!(1), json!(2))],
                }),
                (),
            ))
        })
        .unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    assert_eq!(db.read().unwrap(), before);
    assert_eq!(audit_count(&url), 0);

    db.edit(|_| {
        Ok::<_, Error>((
            Some(Update {
                flags: Some("v2".into()),
                rollouts: Some("plans".into()),
                audit: vec![
                    entry("a", json!(1), json!(2)),
                    entry("b", json!(null), json!("x")),
                ],
            }),
            (),
        ))
    })
    .unwrap();
    let after = db.read().unwrap();
    assert_eq!((after.flags.as_str(), after.flags_version), ("v2", 2));
    assert_eq!(
        (after.rollouts.as_deref(), after.rollouts_version),
        (Some("plans"), 1)
    );
    // An unchanged document keeps its version.
    db.edit(|_| {
        Ok::<_, Error>((
            Some(Update {
                flags: Some("v3".into()),
                rollouts: Some("plans".into()),
                audit: vec![entry("b", json!("x"), json!("y"))],
            }),
            (),
        ))
    })
    .unwrap();
    let last = db.read().unwrap();
    assert_eq!((last.flags_version, last.rollouts_version), (3, 1));
    let history = db.history(None, 10).unwrap();
    assert_eq!(history.len(), 3);
    assert_eq!(history[0]["flag"], "a");
    assert_eq!(history[1]["new"], "x");
    assert_eq!(db.history(Some("b"), 10).unwrap().len(), 2);
    assert_eq!(db.history(None, 1).unwrap()[0]["flag"], "b", "the newest");
}

#[test]
fn concurrent_edits_lose_nothing() {
    let (url, mut db) = fresh();
    db.import("0", None, &[]).unwrap();
    const THREADS: usize = 4;
    const EDITS: usize = 10;
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (url, barrier) = (url.clone(), Arc::clone(&barrier));
            thread::spawn(move || {
                let mut db = Database::connect(&url).unwrap();
                barrier.wait();
                for _ in 0..EDITS {
                    db.edit(|docs| {
                        let n: i64 = docs.flags.parse().unwrap();
                        Ok::<_, Error>((
                            Some(Update {
                                flags: Some((n + 1).to_string()),
                                rollouts: None,
                                audit: vec![entry("n", json!(n), json!(n + 1))],
                            }),
                            (),
                        ))
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let total = (THREADS * EDITS) as i64;
    let docs = db.read().unwrap();
    assert_eq!(docs.flags, total.to_string());
    assert_eq!(docs.flags_version, total + 1);
    let history = db.history(None, 1000).unwrap();
    let olds: Vec<i64> = history.iter().map(|e| e["old"].as_i64().unwrap()).collect();
    assert_eq!(
        olds,
        (0..total).collect::<Vec<_>>(),
        "one row per change, in order"
    );
}

#[test]
fn a_document_changed_by_hand_gets_a_new_version() {
    let (_, mut db) = fresh();
    db.import("v1", None, &[]).unwrap();
    let before = db.read().unwrap().flags_version;
    db.batch_execute("UPDATE feature_flags.documents SET body = 'v2' WHERE name = 'flags'")
        .unwrap();
    let after = db.read().unwrap();
    assert_eq!(
        (after.flags.as_str(), after.flags_version),
        ("v2", before + 1)
    );
    // A write that names its version keeps it; one that changes nothing
    // keeps the old one.
    db.batch_execute(
        "UPDATE feature_flags.documents SET body = 'v3', version = 40 WHERE name = 'flags'",
    )
    .unwrap();
    db.batch_execute("UPDATE feature_flags.documents SET body = 'v3' WHERE name = 'flags'")
        .unwrap();
    assert_eq!(db.read().unwrap().flags_version, 40);
}

#[test]
fn the_audit_table_is_append_only() {
    let (_, mut db) = fresh();
    db.import("v1", None, &[entry("a", json!(1), json!(2))])
        .unwrap();
    for sql in [
        "UPDATE feature_flags.audit SET flag = 'x'",
        "DELETE FROM feature_flags.audit",
        "TRUNCATE feature_flags.audit",
    ] {
        let err = db.batch_execute(sql).unwrap_err().to_string();
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    assert_eq!(db.history(None, 10).unwrap().len(), 1);
}

#[test]
fn a_huge_document_is_refused_without_fetching_it() {
    let (url, mut db) = fresh();
    db.import("small", None, &[]).unwrap();
    // 16 MB written by hand, as a hostile operator with psql would.
    db.batch_execute(
        "UPDATE feature_flags.documents SET body = repeat('x', 16 * 1024 * 1024), \
         version = version + 1 WHERE name = 'flags'",
    )
    .unwrap();
    let started = Instant::now();
    assert_eq!(
        db.read().unwrap_err(),
        Error::TooLarge {
            bytes: 16 * 1024 * 1024
        }
    );
    // Fetching 16 MB over loopback would take visibly longer than the check.
    assert!(started.elapsed() < Duration::from_secs(1));
    let err = db.edit(|_| Ok::<_, Error>((None, ()))).unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }));
    assert!(Database::connect(&url).unwrap().read().is_err());
    // The repair: replace() writes without reading the old body.
    let docs = db
        .replace("repaired", None, &[entry("x", json!(1), json!(2))])
        .unwrap();
    assert_eq!((docs.flags.as_str(), docs.flags_version), ("repaired", 3));
    assert_eq!(db.read().unwrap(), docs);
    assert_eq!(db.history(None, 10).unwrap().len(), 1);
    // replace() on a database never imported works like import().
    let (_, mut empty) = fresh();
    assert_eq!(
        empty
            .replace("first", Some("plans"), &[])
            .unwrap()
            .flags_version,
        1
    );
    assert_eq!(empty.import("x", None, &[]).unwrap_err(), Error::NotEmpty);
}

#[test]
fn a_listener_hears_each_edit() {
    let (url, mut db) = fresh();
    db.import("v1", None, &[]).unwrap();
    let mut listener = Database::connect(&url).unwrap();
    listener.listen().unwrap();
    assert!(
        !listener
            .wait_for_notification(Duration::from_millis(100))
            .unwrap()
    );
    let edit = |db: &mut Database, body: &str| {
        db.edit(|_| {
            Ok::<_, Error>((
                Some(Update {
                    flags: Some(body.into()),
                    rollouts: None,
                    audit: vec![entry("f", json!(null), json!(body))],
                }),
                (),
            ))
        })
        .unwrap()
    };
    edit(&mut db, "v2");
    let started = Instant::now();
    assert!(
        listener
            .wait_for_notification(Duration::from_secs(5))
            .unwrap()
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    // Two edits wake the listener once; no edit, no wake-up.
    edit(&mut db, "v3");
    edit(&mut db, "v4");
    thread::sleep(Duration::from_millis(100));
    assert!(
        listener
            .wait_for_notification(Duration::from_secs(5))
            .unwrap()
    );
    assert!(
        !listener
            .wait_for_notification(Duration::from_millis(100))
            .unwrap()
    );
    // A killed connection is an error, not a silent "nothing came".
    let pid = listener.backend_pid().unwrap();
    Cluster::shared().sql(&format!("SELECT pg_terminate_backend({pid})"));
    let err = listener
        .wait_for_notification(Duration::from_secs(2))
        .unwrap_err();
    assert!(matches!(err, Error::Connect(_)), "{err}");
    assert!(listener.is_closed());
}

#[test]
fn passwords_never_show() {
    let cluster = Cluster::shared();
    let wrong = DatabaseUrl::parse(&format!(
        "postgres://flags:{PASSWORD}x@127.0.0.1:{}/bot?sslmode=disable",
        cluster.port
    ))
    .unwrap();
    assert!(!wrong.masked().contains(PASSWORD));
    let err = Database::connect(&wrong).unwrap_err().to_string();
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(!err.contains(PASSWORD), "{err}");
    // Nobody listening: the error names the host, not the password.
    let nobody = DatabaseUrl::parse(&format!(
        "postgres://flags:{PASSWORD}@127.0.0.1:{}/bot?connect_timeout=2",
        flags_postgres::testing::free_port()
    ))
    .unwrap();
    let err = Database::connect(&nobody).unwrap_err().to_string();
    assert!(
        err.starts_with("cannot connect to the database: 127.0.0.1:"),
        "{err}"
    );
    assert!(!err.contains(PASSWORD), "{err}");
    // The password from $PGPASSWORD and from a password file.
    let bare = DatabaseUrl::parse(&format!(
        "postgres://flags@127.0.0.1:{}/bot?sslmode=disable",
        cluster.port
    ))
    .unwrap();
    let env_pw = |k: &str| (k == "PGPASSWORD").then(|| PASSWORD.to_string());
    Database::connect_with_env(&bare, &env_pw).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pgpass");
    std::fs::write(
        &file,
        format!("127.0.0.1:{}:bot:flags:{PASSWORD}\n", cluster.port),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let f = file.display().to_string();
    Database::connect_with_env(&bare, &|k| (k == "PGPASSFILE").then(|| f.clone())).unwrap();
    let err = Database::connect_with_env(&bare, &|_| None).unwrap_err();
    assert!(matches!(err, Error::Connect(_)), "{err}");
}

#[test]
fn the_writer_is_found_before_and_after_a_failover() {
    let primary = Cluster::start();
    let standby = primary.standby();
    let url_for = |hosts: [&Cluster; 2]| {
        DatabaseUrl::parse(&format!(
            "postgres://flags:{PASSWORD}@127.0.0.1:{},127.0.0.1:{}/bot?target_session_attrs=read-write&sslmode=disable",
            hosts[0].port, hosts[1].port
        ))
        .unwrap()
    };
    // The standby first in the list: it is read-only and skipped.
    let url = url_for([&standby, &primary]);
    let mut db = Database::connect(&url).unwrap();
    assert_eq!(db.host(), format!("127.0.0.1:{}", primary.port));
    db.init().unwrap();
    db.import("before", None, &[]).unwrap();
    // A reader on the standby sees it; LISTEN and writes are refused there.
    let any = DatabaseUrl::parse(&format!(
        "postgres://flags:{PASSWORD}@127.0.0.1:{}/bot?sslmode=disable",
        standby.port
    ))
    .unwrap();
    let mut reader = Database::connect(&any).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while reader.read().map(|d| d.flags) != Ok("before".into()) {
        assert!(Instant::now() < deadline, "replication");
        thread::sleep(Duration::from_millis(50));
    }
    assert!(reader.listen().is_err());
    let err = reader.import("x", None, &[]).unwrap_err();
    assert!(matches!(err, Error::NotEmpty | Error::ReadOnly), "{err}");
    let err = reader
        .edit(|_| {
            Ok::<_, Error>((
                Some(Update {
                    flags: Some("y".into()),
                    ..Update::default()
                }),
                (),
            ))
        })
        .unwrap_err();
    assert_eq!(err, Error::ReadOnly);

    primary.stop();
    standby.promote();
    let mut db = Database::connect(&url).unwrap();
    assert_eq!(db.host(), format!("127.0.0.1:{}", standby.port));
    assert_eq!(db.read().unwrap().flags, "before");
    db.edit(|_| {
        Ok::<_, Error>((
            Some(Update {
                flags: Some("after".into()),
                rollouts: None,
                audit: vec![entry("f", json!("before"), json!("after"))],
            }),
            (),
        ))
    })
    .unwrap();
    assert_eq!(db.read().unwrap().flags_version, 2);
}

#[test]
fn tls_modes_follow_libpq() {
    let cluster = Cluster::start();
    let ca = cluster.enable_tls();
    let other_dir = tempfile::tempdir().unwrap();
    let other_ca = other_ca(other_dir.path());
    let connect = |host: &str, query: &str| {
        let url = DatabaseUrl::parse(&format!(
            "postgres://flags:{PASSWORD}@{host}:{}/bot?{query}",
            cluster.port
        ))
        .unwrap();
        Database::connect(&url)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let ca = ca.display().to_string();
    let other = other_ca.display().to_string();
    // The server refuses plain connections: each Ok below went over TLS.
    assert!(connect("127.0.0.1", "sslmode=disable").is_err());
    let cases = [
        ("127.0.0.1", "sslmode=prefer".to_owned(), true),
        ("127.0.0.1", "sslmode=require".to_owned(), true),
        (
            "localhost",
            format!("sslmode=verify-full&sslrootcert={ca}"),
            true,
        ),
        // The certificate names localhost, not 127.0.0.1: verify-ca ignores it.
        (
            "127.0.0.1",
            format!("sslmode=verify-full&sslrootcert={ca}"),
            false,
        ),
        (
            "127.0.0.1",
            format!("sslmode=verify-ca&sslrootcert={ca}"),
            true,
        ),
        (
            "localhost",
            format!("sslmode=verify-full&sslrootcert={other}"),
            false,
        ),
        (
            "localhost",
            format!("sslmode=verify-ca&sslrootcert={other}"),
            false,
        ),
        // As libpq: require with a root certificate checks the chain.
        (
            "localhost",
            format!("sslmode=require&sslrootcert={other}"),
            false,
        ),
        (
            "localhost",
            format!("sslmode=require&sslrootcert={ca}"),
            true,
        ),
    ];
    for (host, query, ok) in cases {
        let result = connect(host, &query);
        assert_eq!(result.is_ok(), ok, "{host} {query}: {result:?}");
        if let Err(e) = result {
            assert!(!e.contains(PASSWORD), "{e}");
        }
    }
}
