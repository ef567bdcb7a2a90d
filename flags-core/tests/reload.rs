//! Hot reload (docs/spec.md "Hot reload"): every way a flag file changes is seen,
//! a bad file never replaces a good one, and readers never see a mix.
//!
//! Each version `n` of a test file has every flag at `rollout_percentage`
//! n/1000 (`n` thousandths of a percent), so what is served tells which
//! version it is. Tests wait for conditions with a deadline, never a fixed
//! sleep.

use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::mem::ManuallyDrop;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::thread;
use std::time::{Duration, Instant};

use flags_core::{
    Context, Error, FlagStore, ReloadEvent, ReloadOutcome, ReloadStatus, Snapshot, StoreOptions,
};

const FLAGS_PER_VERSION: usize = 8;
const WAIT_LIMIT: Duration = Duration::from_secs(10);

/// The flag file of version `n` (1 ..= 99 999): every flag at n/1000 %.
fn version_json(n: u32) -> String {
    let flags: Vec<String> = (0..FLAGS_PER_VERSION)
        .map(|i| {
            format!(
                r#""flag_{i}": {{"enabled": true, "rollout_percentage": {}.{:03}}}"#,
                n / 1000,
                n % 1000
            )
        })
        .collect();
    format!("{{\"version\": 1, \"flags\": {{{}}}}}\n", flags.join(",\n"))
}

/// The version a snapshot serves, after checking that all its flags agree
/// and that every decision follows that version's percentage.
fn served_version(snapshot: &Snapshot) -> u32 {
    let file = snapshot.file();
    assert_eq!(file.flags.len(), FLAGS_PER_VERSION);
    let millis = file.flags[0].1.rollout_percentage.millis();
    for (name, def) in &file.flags {
        assert_eq!(
            def.rollout_percentage.millis(),
            millis,
            "{name} is from another version than flag_0"
        );
    }
    for user in [1_i64, 42, 7_000_000, -5] {
        let ctx = Context::new().user(user);
        for (name, _) in &file.flags {
            let decision = snapshot.evaluate(name, &ctx);
            let bucket = decision.bucket.expect("a partial rollout hashes the user");
            assert_eq!(
                decision.enabled,
                bucket < millis,
                "{name} for user {user} disagrees with version {millis}"
            );
        }
    }
    millis
}

fn version(store: &FlagStore) -> u32 {
    served_version(&store.snapshot())
}

fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT_LIMIT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

fn wait_for_version(store: &FlagStore, n: u32) {
    wait_until(&format!("version {n} to be served"), || version(store) == n);
}

/// Writes `text` to a temporary file beside `path` and renames it over
/// `path`, as editors, `sed -i` and the CLI do.
fn replace_by_rename(path: &Path, text: &str) {
    let tmp = path.with_file_name(format!(
        ".{}.tmp",
        path.file_name().unwrap().to_string_lossy()
    ));
    fs::write(&tmp, text).unwrap();
    fs::rename(&tmp, path).unwrap();
}

/// Every event the store reported, in order.
#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<ReloadEvent>>>);

impl Events {
    fn options(&self) -> StoreOptions {
        let events = Arc::clone(&self.0);
        FlagStore::options().on_event(move |event| events.lock().unwrap().push(event.clone()))
    }

    fn failures(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                ReloadEvent::Failed { message } => Some(message.clone()),
                _ => None,
            })
            .collect()
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    path: PathBuf,
}

fn fixture(first_version: u32) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let path = root.join("flags.json");
    fs::write(&path, version_json(first_version)).unwrap();
    Fixture {
        _dir: dir,
        root,
        path,
    }
}

#[test]
fn rewritten_in_place_without_truncating() {
    let f = fixture(101);
    let store = FlagStore::open(&f.path).unwrap();
    assert!(store.is_watching());
    assert_eq!(version(&store), 101);
    // Same length, same inode: only the bytes change. Twice, as the first
    // change could be caught by the re-read made when the watch is armed.
    for n in [102, 103] {
        let mut file = fs::OpenOptions::new().write(true).open(&f.path).unwrap();
        file.seek(SeekFrom::Start(0)).unwrap();
        file.write_all(version_json(n).as_bytes()).unwrap();
        drop(file);
        wait_for_version(&store, n);
    }
    assert_eq!(store.generation(), 3);
    assert_eq!(
        store.fingerprint(),
        xxhash_rust::xxh3::xxh3_64(version_json(103).as_bytes())
    );
}

#[test]
fn truncated_then_written_never_serves_the_empty_file() {
    let f = fixture(1);
    let events = Events::default();
    // A debounce long enough that the truncate and the write land in one
    // burst even on a loaded machine.
    let store = events
        .options()
        .debounce(Duration::from_millis(500))
        .open(&f.path)
        .unwrap();
    let mut file = fs::OpenOptions::new().write(true).open(&f.path).unwrap();
    file.set_len(0).unwrap();
    file.sync_all().unwrap();
    file.write_all(version_json(2).as_bytes()).unwrap();
    drop(file);
    wait_for_version(&store, 2);
    assert_eq!(events.failures(), Vec::<String>::new());
    let status = store.status();
    assert_eq!(status.reloads_failed, 0);
    assert_eq!(status.generation, 2);
}

#[test]
fn a_file_left_empty_is_reported_and_the_old_version_keeps_serving() {
    let f = fixture(1);
    let events = Events::default();
    let store = events.options().open(&f.path).unwrap();
    fs::OpenOptions::new()
        .write(true)
        .open(&f.path)
        .unwrap()
        .set_len(0)
        .unwrap();
    wait_until("the empty file to be reported", || {
        store.last_error().is_some()
    });
    assert_eq!(version(&store), 1);
    assert_eq!(store.generation(), 1);
    assert_eq!(events.failures().len(), 1);
    let before = store.status();
    assert!(before.reloads_failed >= 1);

    fs::write(&f.path, version_json(2)).unwrap();
    wait_for_version(&store, 2);
    let after = store.status();
    assert_eq!(after.last_error, None, "a good load clears the error");
    assert_eq!(after.reloads_succeeded, before.reloads_succeeded + 1);
    assert!(after.last_success > before.last_success);
}

#[test]
fn replaced_by_rename_three_times() {
    let f = fixture(1);
    let store = FlagStore::open(&f.path).unwrap();
    for n in 2..=4 {
        replace_by_rename(&f.path, &version_json(n));
        wait_for_version(&store, n);
        assert_eq!(store.generation(), u64::from(n));
    }
    assert_eq!(store.status().reloads_succeeded, 4);
    assert_eq!(store.last_error(), None);
}

#[test]
fn deleted_then_recreated() {
    let f = fixture(1);
    let store = FlagStore::open(&f.path).unwrap();
    fs::remove_file(&f.path).unwrap();
    wait_until("the missing file to be reported", || {
        store.last_error().is_some()
    });
    let error = store.last_error().unwrap();
    assert!(error.contains("flags.json"), "{error}");
    assert_eq!(version(&store), 1, "a deleted file keeps the flags");

    fs::write(&f.path, version_json(2)).unwrap();
    wait_for_version(&store, 2);
    assert_eq!(store.last_error(), None);
    // The watch still works on the recreated file.
    fs::write(&f.path, version_json(3)).unwrap();
    wait_for_version(&store, 3);
}

/// A Kubernetes ConfigMap mount: `flags.json -> ..data/flags.json`,
/// `..data -> ..<timestamp>`, updated by renaming a new `..data_tmp` symlink
/// over `..data` and removing the old folder.
#[cfg(unix)]
#[test]
fn configmap_symlink_swapped_twice() {
    use std::os::unix::fs::symlink;

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let publish = |n: u32| {
        let versioned = root.join(format!("..2026_11_27_{n}"));
        fs::create_dir(&versioned).unwrap();
        fs::write(versioned.join("flags.json"), version_json(n)).unwrap();
        versioned
    };
    let mut current = publish(1);
    symlink(current.file_name().unwrap(), root.join("..data")).unwrap();
    symlink("..data/flags.json", root.join("flags.json")).unwrap();

    let store = FlagStore::open(root.join("flags.json")).unwrap();
    assert_eq!(version(&store), 1);
    for n in [2, 3] {
        let next = publish(n);
        symlink(next.file_name().unwrap(), root.join("..data_tmp")).unwrap();
        fs::rename(root.join("..data_tmp"), root.join("..data")).unwrap();
        fs::remove_dir_all(&current).unwrap();
        current = next;
        wait_for_version(&store, n);
    }
    assert_eq!(store.generation(), 3);
    assert_eq!(store.last_error(), None);
}

/// A file that is a symlink into another folder: edits of the target in
/// place are seen too.
#[cfg(unix)]
#[test]
fn symlink_target_in_another_folder_edited_in_place() {
    let f = fixture(1);
    let elsewhere = f.root.join("real");
    fs::create_dir(&elsewhere).unwrap();
    let target = elsewhere.join("live.json");
    fs::write(&target, version_json(1)).unwrap();
    let link = f.root.join("linked.json");
    std::os::unix::fs::symlink(&target, &link).unwrap();

    let store = FlagStore::open(&link).unwrap();
    for n in [2, 3] {
        fs::write(&target, version_json(n)).unwrap();
        wait_for_version(&store, n);
    }
}

#[test]
fn directory_removed_and_recreated() {
    let f = fixture(1);
    let conf = f.root.join("conf");
    fs::create_dir(&conf).unwrap();
    let path = conf.join("flags.json");
    fs::write(&path, version_json(1)).unwrap();
    let store = FlagStore::open(&path).unwrap();

    for round in 0..2 {
        let n = 2 + round * 2;
        fs::remove_dir_all(&conf).unwrap();
        wait_until("the missing folder to be reported", || {
            store.last_error().is_some()
        });
        assert_eq!(
            version(&store),
            n - 1,
            "flags kept while the folder is gone"
        );

        fs::create_dir(&conf).unwrap();
        fs::write(&path, version_json(n)).unwrap();
        wait_for_version(&store, n);
        // The new folder is watched, not only polled once.
        replace_by_rename(&path, &version_json(n + 1));
        wait_for_version(&store, n + 1);
        assert_eq!(store.last_error(), None);
    }
}

#[test]
fn polling_alone_sees_changes() {
    let f = fixture(1);
    let store = FlagStore::options()
        .watch(false)
        .poll_interval(Duration::from_millis(20))
        .open(&f.path)
        .unwrap();
    assert!(store.is_watching());
    replace_by_rename(&f.path, &version_json(2));
    wait_for_version(&store, 2);
    // Same size, same inode: the content is compared once the cheap
    // fingerprint cannot be trusted (the file was modified just now).
    let mut file = fs::OpenOptions::new().write(true).open(&f.path).unwrap();
    file.write_all(version_json(3).as_bytes()).unwrap();
    drop(file);
    wait_for_version(&store, 3);
}

#[test]
fn reload_storm_readers_never_see_a_mix() {
    const VERSIONS: u32 = 1000;
    const READERS: usize = 4;
    let f = fixture(1);
    // A short debounce, so that many versions are swapped in while the
    // readers run, not only the last.
    let store = Arc::new(
        FlagStore::options()
            .debounce(Duration::from_millis(1))
            .open(&f.path)
            .unwrap(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let batches = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            let (store, stop, batches) = (store.clone(), stop.clone(), batches.clone());
            thread::spawn(move || {
                let mut last_seen = 0;
                while !stop.load(Ordering::Relaxed) {
                    let seen = version(&store);
                    assert!(seen >= last_seen, "went back from {last_seen} to {seen}");
                    last_seen = seen;
                    batches.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for n in 2..=VERSIONS {
        replace_by_rename(&f.path, &version_json(n));
    }
    wait_for_version(&store, VERSIONS);
    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.join().expect("no reader panicked");
    }
    assert!(batches.load(Ordering::Relaxed) > 0);
    let status = store.status();
    eprintln!(
        "storm: {} batches, {} versions swapped in",
        batches.load(Ordering::Relaxed),
        status.reloads_succeeded
    );
    assert_eq!(
        status.reloads_failed, 0,
        "a rename never exposes a partial file"
    );
    assert_eq!(status.last_error, None);
    assert_eq!(
        status.fingerprint,
        xxhash_rust::xxh3::xxh3_64(fs::read(&f.path).unwrap().as_slice())
    );
}

#[test]
fn startup_with_a_missing_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.json");
    let error = FlagStore::open(&path).unwrap_err();
    assert!(matches!(error, Error::Read { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("missing.json"), "{message}");
}

#[test]
fn startup_with_an_invalid_file_lists_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flags.json");
    fs::write(
        &path,
        r#"{"version": 1, "flags": {"a": {"enabled": true, "rollout_percentage": 150}}}"#,
    )
    .unwrap();
    let error = FlagStore::open(&path).unwrap_err();
    let problems = error.problems().expect("an invalid file lists problems");
    assert!(
        problems
            .iter()
            .any(|p| p.path.contains("rollout_percentage")),
        "{error}"
    );
}

#[test]
fn dropping_the_store_stops_the_watcher() {
    let f = fixture(1);
    // The callback lives as long as the store's shared state; a watcher
    // thread left running would keep that alive.
    let alive = Arc::new(());
    let held = Arc::clone(&alive);
    let store = FlagStore::options()
        .on_event(move |_| {
            let _ = &held;
        })
        .open(&f.path)
        .unwrap();
    assert_eq!(Arc::strong_count(&alive), 2);
    drop(store);
    assert_eq!(Arc::strong_count(&alive), 1, "the watcher let go on drop");
}

#[test]
fn stop_watching_keeps_serving_and_reload_still_works() {
    let f = fixture(1);
    let store = FlagStore::open(&f.path).unwrap();
    store.stop_watching();
    assert!(!store.is_watching());
    store.stop_watching();
    replace_by_rename(&f.path, &version_json(2));
    assert_eq!(version(&store), 1);
    assert!(matches!(
        store.reload(),
        Ok(ReloadOutcome::Loaded { generation: 2 })
    ));
    assert_eq!(version(&store), 2);
}

#[test]
fn repeated_identical_failure_is_reported_once() {
    let f = fixture(1);
    let events = Events::default();
    let store = events.options().open(&f.path).unwrap();
    let broken = r#"{"version": 1, "flags": {"a": {"enabled": tru"#;
    // Renamed into place, so no empty file is ever seen in between.
    replace_by_rename(&f.path, broken);
    wait_until("the broken file to be reported", || {
        !events.failures().is_empty()
    });
    let failed = store.status().reloads_failed;
    // The same broken content, written again and again.
    for _ in 0..3 {
        replace_by_rename(&f.path, broken);
    }
    wait_until("the rewrites to be read", || {
        store.status().reloads_failed > failed
    });
    assert_eq!(events.failures().len(), 1, "{:?}", events.failures());
    assert_eq!(version(&store), 1);

    // A different problem is news.
    replace_by_rename(&f.path, r#"{"version": 2, "flags": {}}"#);
    wait_until("the new problem to be reported", || {
        events.failures().len() == 2
    });
    fs::write(&f.path, version_json(2)).unwrap();
    wait_for_version(&store, 2);
    assert_eq!(store.last_error(), None);
    let loaded = events
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, ReloadEvent::Loaded { generation: 2, .. }))
        .count();
    assert_eq!(loaded, 1);
}

#[test]
fn explicit_reload_returns_the_error_of_a_bad_file() {
    let f = fixture(1);
    let store = FlagStore::options().watch(false).open(&f.path).unwrap();
    assert!(!store.is_watching());
    fs::write(&f.path, "{ not json").unwrap();
    let error = store.reload().unwrap_err();
    assert!(matches!(error, Error::Invalid(_)), "{error:?}");
    assert_eq!(store.last_error(), Some(error.to_string()));
    assert_eq!(version(&store), 1);
    assert_eq!(store.status().reloads_failed, 1);

    fs::remove_file(&f.path).unwrap();
    assert!(matches!(store.reload(), Err(Error::Read { .. })));

    fs::write(&f.path, version_json(2)).unwrap();
    assert_eq!(
        store.reload().unwrap(),
        ReloadOutcome::Loaded { generation: 2 }
    );
    assert_eq!(store.reload().unwrap(), ReloadOutcome::Unchanged);
    assert_eq!(store.last_error(), None);
    assert_eq!(version(&store), 2);
}

#[test]
fn event_callback_may_ask_the_store_for_its_status() {
    let f = fixture(1);
    let cell: Arc<OnceLock<Weak<FlagStore>>> = Arc::default();
    let seen: Arc<Mutex<Vec<(ReloadEvent, ReloadStatus)>>> = Arc::default();
    let (store_ref, log) = (Arc::clone(&cell), Arc::clone(&seen));
    let store = Arc::new(
        FlagStore::options()
            .on_event(move |event| {
                if let Some(store) = store_ref.get().and_then(Weak::upgrade) {
                    log.lock().unwrap().push((event.clone(), store.status()));
                }
            })
            .open(&f.path)
            .unwrap(),
    );
    cell.set(Arc::downgrade(&store)).unwrap();
    // Should the callback deadlock, a failing test must not also hang
    // joining the watcher thread.
    let store = ManuallyDrop::new(store);

    replace_by_rename(&f.path, &version_json(2));
    wait_until("the watcher's callback to read the status", || {
        !seen.lock().unwrap().is_empty()
    });
    let (event, status) = seen.lock().unwrap()[0].clone();
    assert!(
        matches!(event, ReloadEvent::Loaded { generation: 2, .. }),
        "{event:?}"
    );
    assert_eq!(status.generation, 2);

    // An explicit reload runs the callback on this thread.
    fs::write(&f.path, "{").unwrap();
    let error = store.reload().unwrap_err();
    let failed_status = seen
        .lock()
        .unwrap()
        .iter()
        .find(|(e, _)| matches!(e, ReloadEvent::Failed { .. }))
        .map(|(_, status)| status.clone())
        .expect("the failure was reported");
    assert_eq!(failed_status.last_error, Some(error.to_string()));
    drop(ManuallyDrop::into_inner(store));
}
