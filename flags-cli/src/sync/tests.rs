//! The sync against a real PostgreSQL (one shared cluster for most tests;
//! the outage test stops its own).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use flags_postgres::testing::{Cluster, PASSWORD};
use flags_postgres::{Database, DatabaseUrl, Error, Update};

use super::*;
use crate::http::Client;

fn doc(percentage: u32) -> String {
    format!(
        "{{\n  \"version\": 1,\n  \"flags\": {{\n    \"new_gpt_model\": {{\"enabled\": true, \"rollout_percentage\": {percentage}}}\n  }}\n}}\n"
    )
}

fn edit(url: &DatabaseUrl, body: &str) {
    let mut db = Database::connect(url).unwrap();
    db.edit(|_| {
        Ok::<_, Error>((
            Some(Update {
                flags: Some(body.to_owned()),
                audit: audit_row(),
                ..Update::default()
            }),
            (),
        ))
    })
    .unwrap();
}

/// The database name in `url`.
fn database_name(url: &DatabaseUrl) -> String {
    url.masked()
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned()
}

/// What psql would do: a document written by hand, bypassing validation.
fn write_by_hand(cluster: &Cluster, url: &DatabaseUrl, body_sql: &str) {
    let dbname = database_name(url);
    cluster
        .admin(&dbname)
        .batch_execute(&format!(
            "UPDATE feature_flags.documents SET body = {body_sql}, version = version + 1 WHERE name = 'flags'; \
             NOTIFY feature_flags"
        ))
        .unwrap();
}

fn database(cluster: &Cluster, first: &str) -> DatabaseUrl {
    let url = cluster.new_database();
    let mut db = Database::connect(&url).unwrap();
    db.init().unwrap();
    db.import(first, None, &[]).unwrap();
    url
}

struct Running {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), String>>>,
    lines: Arc<Mutex<Vec<String>>>,
    metrics: Arc<Mutex<Metrics>>,
}

impl Running {
    fn start(
        url: &DatabaseUrl,
        file: &Path,
        poll: Duration,
        listen: Option<SocketAddr>,
    ) -> Running {
        let stop = Arc::new(AtomicBool::new(false));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let metrics = Arc::new(Mutex::new(Metrics::default()));
        let (url, file) = (url.clone(), file.to_owned());
        let (s, l, m) = (Arc::clone(&stop), Arc::clone(&lines), Arc::clone(&metrics));
        let thread = thread::spawn(move || {
            let mut log = |line: &str| l.lock().unwrap().push(line.to_owned());
            run_with_metrics(&Hosts::single(url), &file, poll, listen, &s, &mut log, m)
        });
        Running {
            stop,
            thread: Some(thread),
            lines,
            metrics,
        }
    }

    fn log(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    fn count(&self, part: &str) -> usize {
        self.log().iter().filter(|l| l.contains(part)).count()
    }

    /// The file holds `body` and the sync has finished with version
    /// `version` (the marker is written and the change logged).
    fn synced(&self, file: &Path, body: &str, version: i64) -> bool {
        read(file) == body && self.metrics().version == Some(version)
    }

    fn metrics(&self) -> Metrics {
        self.metrics.lock().unwrap().clone()
    }

    fn wait(
        &self,
        what: &str,
        limit: Duration,
        mut done: impl FnMut(&Running) -> bool,
    ) -> Duration {
        let started = Instant::now();
        while !done(self) {
            assert!(
                started.elapsed() < limit,
                "{what}: not within {limit:?}; log:\n{}",
                self.log().join("\n")
            );
            thread::sleep(Duration::from_millis(10));
        }
        started.elapsed()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let result = t.join();
            if !thread::panicking() {
                result.unwrap().unwrap();
            }
        }
    }
}

fn read(file: &Path) -> String {
    std::fs::read_to_string(file).unwrap_or_default()
}

fn flag_file() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("feature_flags.json");
    (dir, file)
}

#[test]
fn an_edit_reaches_the_file_and_the_marker_and_the_metrics() {
    let cluster = Cluster::shared();
    let url = database(cluster, &doc(10));
    let (_dir, file) = flag_file();
    // A long poll: only the notification can be this quick.
    let sync = Running::start(
        &url,
        &file,
        Duration::from_secs(30),
        Some("127.0.0.1:0".parse().unwrap()),
    );
    sync.wait("first mirror", Duration::from_secs(10), |s| {
        s.synced(&file, &doc(10), 1)
    });
    edit(&url, &doc(50));
    let took = sync.wait("propagation", Duration::from_secs(2), |s| {
        s.synced(&file, &doc(50), 2)
    });
    println!("propagation edit -> file: {took:?}");
    let marker = Marker::read(&file).unwrap().unwrap();
    assert_eq!(marker.version, 2);
    assert_eq!(marker.fingerprint, fingerprint(doc(50).as_bytes()));
    assert!(!marker.database.contains(PASSWORD) && marker.database.contains(":***@"));
    assert_eq!(
        marker_for(&file),
        marker_path(&file.canonicalize().unwrap())
    );
    let metrics_line = sync
        .log()
        .into_iter()
        .find(|l| l.starts_with("metrics at "))
        .unwrap();
    let metrics_url = metrics_line.trim_start_matches("metrics at ").to_owned();
    let text = Client::new(Duration::from_secs(5), 1 << 20)
        .get(&metrics_url, &[], "text/plain")
        .unwrap();
    assert!(text.contains("feature_flags_sync_version 2\n"), "{text}");
    assert!(
        text.contains("feature_flags_sync_database_version 2\n"),
        "{text}"
    );
    assert!(text.contains("feature_flags_sync_up 1\n"), "{text}");
    assert!(
        text.contains("feature_flags_sync_last_success_timestamp_seconds 1"),
        "{text}"
    );
    for line in sync.log() {
        assert!(!line.contains(PASSWORD), "{line}");
    }
    assert_eq!(sync.count("takes database version"), 2, "{:?}", sync.log());

    // A hand change is logged and overwritten by the next check.
    std::fs::write(&file, doc(99)).unwrap();
    drop(sync);
    let sync = Running::start(&url, &file, Duration::from_millis(200), None);
    sync.wait("hand change undone", Duration::from_secs(5), |s| {
        s.count("was changed by hand") == 1
    });
    assert_eq!(read(&file), doc(50));
    assert_eq!(sync.count("was changed by hand"), 1, "{:?}", sync.log());
}

#[test]
fn bad_documents_keep_the_last_good_file() {
    let cluster = Cluster::shared();
    let url = database(cluster, &doc(10));
    let (_dir, file) = flag_file();
    let sync = Running::start(&url, &file, Duration::from_millis(300), None);
    sync.wait("first mirror", Duration::from_secs(10), |s| {
        s.synced(&file, &doc(10), 1)
    });
    let bad = [
        // An invalid flag: a percentage over 100.
        format!("'{}'", doc(150)),
        // Truncated JSON.
        format!("'{}'", &doc(20)[..30]),
        // 16 MB of hostile JSON.
        "'{\"version\": 1, \"flags\": {\"x\": \"' || repeat('a', 16 * 1024 * 1024) || '\"}}'"
            .into(),
    ];
    for (i, body) in bad.iter().enumerate() {
        let before = sync.metrics().errors("invalid");
        write_by_hand(cluster, &url, body);
        sync.wait("the bad document noticed", Duration::from_secs(5), |s| {
            s.metrics().errors("invalid") > before
        });
        assert_eq!(read(&file), doc(10), "bad document {i} kept out");
        assert_eq!(Marker::read(&file).unwrap().unwrap().version, 1);
    }
    // Several polls over the same bad document log it once.
    let errors = sync.metrics().errors("invalid");
    thread::sleep(Duration::from_millis(1000));
    assert!(
        sync.metrics().errors("invalid") >= errors + 2,
        "counted on every poll"
    );
    assert_eq!(sync.count("over the limit"), 1, "{:?}", sync.log());
    assert_eq!(sync.count("error (invalid)"), 3, "{:?}", sync.log());
    let m = sync.metrics();
    assert_eq!((m.version, m.database_version), (Some(1), Some(3)));
    // The next good document repairs it (edit() refuses to read the 16 MB
    // document; replace() does not read it).
    let mut db = Database::connect(&url).unwrap();
    assert!(matches!(
        db.edit(|_| Ok::<_, Error>((None, ()))),
        Err(Error::TooLarge { .. })
    ));
    db.replace(&doc(30), None, &[]).unwrap();
    sync.wait("repaired", Duration::from_secs(5), |s| {
        s.synced(&file, &doc(30), 5)
    });
    assert_eq!(sync.count("recovered"), 1);
}

#[test]
fn an_outage_keeps_the_file_and_the_sync_catches_up() {
    let cluster = Cluster::start();
    let url = database(&cluster, &doc(10));
    let (_dir, file) = flag_file();
    let sync = Running::start(&url, &file, Duration::from_secs(1), None);
    sync.wait("first mirror", Duration::from_secs(10), |s| {
        s.synced(&file, &doc(10), 1)
    });
    cluster.stop();
    sync.wait("outage noticed", Duration::from_secs(5), |s| {
        s.metrics().errors("connect") >= 2 && !s.metrics().up
    });
    assert_eq!(read(&file), doc(10));
    // A second server booting now serves its last file and retries.
    let (_dir2, file2) = flag_file();
    std::fs::write(&file2, doc(5)).unwrap();
    let booting = Running::start(&url, &file2, Duration::from_secs(1), None);
    booting.wait("boot while down", Duration::from_secs(5), |s| {
        s.metrics().errors("connect") >= 2
    });
    assert_eq!(read(&file2), doc(5));
    thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        sync.count("error (connect)"),
        1,
        "logged once: {:?}",
        sync.log()
    );

    cluster.start_server();
    edit(&url, &doc(40));
    for (running, f) in [(&sync, &file), (&booting, &file2)] {
        running.wait("caught up", Duration::from_secs(4), |s| {
            s.synced(f, &doc(40), 2)
        });
        running.wait("up again", Duration::from_secs(1), |s| s.metrics().up);
        assert_eq!(running.count("recovered"), 1, "{:?}", running.log());
    }
    assert_eq!(
        booting.count("takes database version 2"),
        1,
        "{:?}",
        booting.log()
    );
}

#[test]
fn a_lost_notification_is_caught_up_by_the_poll() {
    let cluster = Cluster::shared();
    let url = database(cluster, &doc(10));
    let dbname = database_name(&url);
    let (_dir, file) = flag_file();
    let poll = Duration::from_secs(1);
    let sync = Running::start(&url, &file, poll, None);
    sync.wait("first mirror", Duration::from_secs(10), |s| {
        s.synced(&file, &doc(10), 1)
    });
    cluster.sql(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{dbname}' AND usename = 'flags'"
    ));
    edit(&url, &doc(60));
    let took = sync.wait("caught up", poll + Duration::from_secs(1), |s| {
        s.synced(&file, &doc(60), 2)
    });
    println!("caught up after a lost notification in {took:?}");
}

#[test]
fn another_database_replaces_a_newer_file() {
    let cluster = Cluster::shared();
    let first = database(cluster, &doc(10));
    edit(&first, &doc(20));
    edit(&first, &doc(30));
    let (_dir, file) = flag_file();
    let sync = Running::start(&first, &file, Duration::from_secs(5), None);
    sync.wait("mirror", Duration::from_secs(10), |s| {
        s.synced(&file, &doc(30), 3)
    });
    drop(sync);
    assert_eq!(Marker::read(&file).unwrap().unwrap().version, 3);
    // A new database (another id) at version 1: its document wins.
    let second = database(cluster, &doc(70));
    let sync = Running::start(&second, &file, Duration::from_secs(5), None);
    sync.wait("replaced", Duration::from_secs(10), |s| {
        s.synced(&file, &doc(70), 1)
    });
    assert_eq!(sync.count("another database"), 1, "{:?}", sync.log());
    assert_eq!(Marker::read(&file).unwrap().unwrap().version, 1);
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A measurement (run with --ignored --nocapture): one edit transaction's
/// wall time, and the sync's memory over 1,000 edits it mirrors.
#[test]
#[ignore = "a measurement, ~20 s"]
fn measure_edit_time_and_sync_memory() {
    let cluster = Cluster::shared();
    let url = database(cluster, &doc(0));
    let (_dir, file) = flag_file();
    let sync = Running::start(&url, &file, Duration::from_secs(5), None);
    sync.wait("first mirror", Duration::from_secs(10), |s| {
        s.synced(&file, &doc(0), 1)
    });
    let mut db = Database::connect(&url).unwrap();
    let mut times = Vec::new();
    let mut rss_after_100 = 0;
    for i in 1..=1000u32 {
        let started = Instant::now();
        db.edit(|_| {
            Ok::<_, Error>((
                Some(Update {
                    flags: Some(doc(i % 100 + 1)),
                    audit: audit_row(),
                    ..Update::default()
                }),
                (),
            ))
        })
        .unwrap();
        times.push(started.elapsed());
        if i == 100 {
            rss_after_100 = rss_kib();
        }
    }
    sync.wait("last edit mirrored", Duration::from_secs(10), |s| {
        s.metrics().version == Some(1001)
    });
    times.sort();
    let rss_end = rss_kib();
    println!(
        "edit transaction: median {:?}, p95 {:?}; RSS after 100 edits {rss_after_100} KiB, after 1000 {rss_end} KiB",
        times[times.len() / 2],
        times[times.len() * 95 / 100]
    );
    assert!(times[times.len() / 2] < Duration::from_millis(50));
    assert!(
        rss_end < rss_after_100 + 8 * 1024,
        "memory grows with edits"
    );
}

/// The database refuses a document change without its audit rows.
fn audit_row() -> Vec<flags_postgres::AuditEntry> {
    vec![serde_json::Map::from_iter([(
        "flag".to_owned(),
        serde_json::json!("test"),
    )])]
}
