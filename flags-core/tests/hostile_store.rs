//! docs/spec.md "Hot reload": a bad file never replaces the loaded flags. Here
//! the bad files are hostile (tests/common/mod.rs) and the store runs in a
//! child process under a hard memory limit (`prlimit --as`), as a bot in a
//! container would: each shape is written over the file and reloaded; the store must keep serving its last good version, keep
//! `last_error` bounded, and not grow. Before the bounded report, the first
//! shape alone needed gigabytes and the child was killed by the limit.

mod common;

use std::process::Command;

use allocation_counter::measure;
use flags_core::{Context, FlagStore, Reason, StoreOptions};

/// The child's address-space limit. Its baseline (test harness, watcher
/// thread, malloc arenas) is well under 200 MB of address space.
const LIMIT_BYTES: u64 = 512 << 20;

/// Each hostile file's size: a quarter of the budget's 16 MB (a debug
/// build parses slowly), so the worst shape's peak (about 25 bytes per byte
/// of file) fits under the limit with room.
const SHAPE_BYTES: usize = 4 << 20;

const GOOD: &str =
    r#"{"version": 1, "flags": {"served": {"enabled": true, "rollout_percentage": 100}}}"#;
const NEWER: &str = r#"{"version": 1, "flags": {"served": {"enabled": false}}}"#;

const CHILD: &str = "FLAGS_HOSTILE_STORE_CHILD";

#[test]
fn a_store_under_a_memory_limit_survives_every_hostile_reload() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    if Command::new("prlimit").arg("--version").output().is_err() {
        // util-linux is on every Debian; say so rather than pass silently.
        panic!("prlimit (util-linux) is needed for this test");
    }
    let exe = std::env::current_exe().unwrap();
    let output = Command::new("prlimit")
        .arg(format!("--as={LIMIT_BYTES}"))
        .arg("--")
        .arg(exe)
        .args([
            "--exact",
            "child_serves_through_hostile_reloads",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the child failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(
        stdout.contains("every shape survived"),
        "{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("1 passed"),
        "the child test did not run:\n{stdout}"
    );
}

/// Runs only as the child of the test above.
#[test]
fn child_serves_through_hostile_reloads() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feature_flags.json");
    std::fs::write(&path, GOOD).unwrap();
    // Not watched: each reload below is the one measured (the watcher
    // runs the same reload on its own thread).
    let store = StoreOptions::new().watch(false).open(&path).unwrap();
    let ctx = Context::new().user(42);
    let generation = store.generation();
    let served = |store: &FlagStore| {
        let d = store.evaluate("served", &ctx);
        (d.enabled, d.reason)
    };
    assert_eq!(served(&store), (true, Reason::Rollout));

    for shape in common::all(SHAPE_BYTES) {
        std::fs::write(&path, &shape.text).unwrap();
        drop(shape.text);
        let info = measure(|| {
            let error = store.reload().expect_err(shape.name);
            assert!(error.to_string().len() < 70_000, "{}", shape.name);
        });
        // The last good version still serves.
        assert_eq!(store.generation(), generation, "{}", shape.name);
        assert_eq!(served(&store), (true, Reason::Rollout), "{}", shape.name);
        let last_error = store.last_error().expect("the failure is reported");
        assert!(
            last_error.len() < 70_000,
            "{}: last_error of {} bytes",
            shape.name,
            last_error.len()
        );
        // Nothing kept but the bounded error text.
        assert!(
            info.bytes_current < 200_000,
            "{}: {} bytes kept after the reload",
            shape.name,
            info.bytes_current
        );
        println!(
            "{}: peak {} MB, last_error {} bytes",
            shape.name,
            info.bytes_max >> 20,
            last_error.len()
        );
    }
    // And a good file still loads afterwards.
    std::fs::write(&path, NEWER).unwrap();
    store.reload().unwrap();
    assert_eq!(served(&store), (false, Reason::Disabled));
    assert_eq!(store.last_error(), None);
    println!("every shape survived");
}
