//! Readers evaluating while other threads replace the file: every batch read
//! through one snapshot sees one version, never a mix (docs/spec.md
//! "Evaluation"), and a reader never sees the generation go back.
//!
//! Every version of the file gives all its flags the same percentage, salt
//! and description, so a torn read shows up as two flags that disagree.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use flags_core::{
    Context, Decision, FlagStore, Handle, ReloadOutcome, Snapshot, bucket, seed_for_salt,
};

const FLAG_COUNT: usize = 40;
const SALT: &str = "one_salt_for_all";
const READERS: usize = 2;
const WRITERS: usize = 2;
/// Versions each reader must see change under it before the writers stop.
const CHANGES_SEEN: u64 = 50;
const DEADLINE: Duration = Duration::from_secs(40);

/// Version `seq` of writer `writer`: every flag at `seq % 101` percent and
/// described as `w{writer}-{seq}`. With `valid: false`, one flag is at 150 %
/// and the whole file must be rejected.
fn version(writer: usize, seq: u64, valid: bool) -> String {
    let percent = seq % 101;
    let flags: Vec<String> = (0..FLAG_COUNT)
        .map(|i| {
            let p = if !valid && i == FLAG_COUNT / 2 { 150 } else { percent };
            format!(
                r#""flag_{i}": {{"enabled": true, "rollout_percentage": {p}, "salt": "{SALT}", "description": "w{writer}-{seq}"}}"#
            )
        })
        .collect();
    format!(r#"{{"version": 1, "flags": {{{}}}}}"#, flags.join(", "))
}

/// What one snapshot says its version is, after checking that every flag in
/// its file and every compiled decision agree on it.
fn check_one_version(snapshot: &Snapshot, handles: &[Handle], user: i64) -> (String, u32) {
    let file = snapshot.file();
    assert_eq!(file.flags.len(), FLAG_COUNT);
    let (_, first) = &file.flags[0];
    let description = first.description.clone().unwrap();
    let threshold = first.rollout_percentage.millis();
    for (name, def) in &file.flags {
        assert_eq!(
            (def.description.as_deref(), def.rollout_percentage.millis()),
            (Some(description.as_str()), threshold),
            "torn file: {name} disagrees with flag_0"
        );
    }

    // The compiled flags must be those of the same version as the file.
    let ctx = Context::new().user(user);
    let expected = threshold >= 100_000 || bucket(user, seed_for_salt(SALT)) < threshold;
    let mut decisions = [Decision::UNKNOWN; FLAG_COUNT];
    assert_eq!(snapshot.evaluate_all(&ctx, &mut decisions), FLAG_COUNT);
    for (i, decision) in decisions.iter().enumerate() {
        assert_eq!(
            decision.enabled, expected,
            "{description}: flag_{i} decided {decision:?} at threshold {threshold}"
        );
    }
    let mut by_handle = [Decision::UNKNOWN; FLAG_COUNT];
    snapshot.evaluate_handles(handles, &ctx, &mut by_handle);
    assert_eq!(by_handle, decisions, "{description}: handles disagree");
    let mut bits = [0u64; 1];
    snapshot.enabled_bits(&ctx, &mut bits);
    let all = (1u64 << FLAG_COUNT) - 1;
    assert_eq!(bits[0], if expected { all } else { 0 }, "{description}");
    (description, threshold)
}

/// Stops the writers if the thread holding it panics, so a failed check
/// ends the test at once instead of at the deadline.
struct StopOnPanic<'a>(&'a AtomicBool);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::Release);
        }
    }
}

#[test]
fn batches_see_one_version_while_the_file_is_replaced() {
    let store = FlagStore::from_json(&version(0, 0, true)).unwrap();
    let handles: Vec<Handle> = (0..FLAG_COUNT)
        .map(|i| store.handle(&format!("flag_{i}")))
        .collect();
    let changes_seen: Vec<AtomicU64> = (0..READERS).map(|_| AtomicU64::new(0)).collect();
    let stop_writing = AtomicBool::new(false);
    let stop_reading = AtomicBool::new(false);
    let loads = AtomicU64::new(0);
    let rejections = AtomicU64::new(0);
    let started = Instant::now();
    let failure: Mutex<Option<String>> = Mutex::new(None);

    std::thread::scope(|scope| {
        for reader in 0..READERS {
            let (store, handles, changes_seen, stop_reading, stop_writing) = (
                &store,
                &handles,
                &changes_seen,
                &stop_reading,
                &stop_writing,
            );
            scope.spawn(move || {
                let _stop_on_panic = StopOnPanic(stop_writing);
                let mut last_generation = 0;
                let mut last_description = String::new();
                let mut user = reader as i64 * 1_000_000;
                while !stop_reading.load(Ordering::Acquire) {
                    let snapshot = store.snapshot();
                    let generation = snapshot.generation();
                    assert!(
                        generation >= last_generation,
                        "reader {reader}: generation went back from {last_generation} to {generation}"
                    );
                    user += 1;
                    let (description, _) = check_one_version(&snapshot, handles, user);
                    if generation == last_generation {
                        assert_eq!(
                            description, last_description,
                            "one generation, two versions"
                        );
                    } else {
                        changes_seen[reader].fetch_add(1, Ordering::Relaxed);
                        last_generation = generation;
                        last_description = description;
                    }
                }
            });
        }

        for writer in 1..=WRITERS {
            let (store, changes_seen, stop_writing, loads, rejections, failure) = (
                &store,
                &changes_seen,
                &stop_writing,
                &loads,
                &rejections,
                &failure,
            );
            scope.spawn(move || {
                let _stop_on_panic = StopOnPanic(stop_writing);
                let mut last_generation = 0;
                let mut seq = 0;
                while !stop_writing.load(Ordering::Acquire) {
                    seq += 1;
                    let valid = seq % 5 != 0;
                    match store.replace_json(&version(writer, seq, valid)) {
                        Ok(ReloadOutcome::Loaded { generation }) if valid => {
                            assert!(
                                generation > last_generation,
                                "writer {writer}: generation {generation} after {last_generation}"
                            );
                            last_generation = generation;
                            loads.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(error) if !valid => {
                            assert!(
                                error.to_string().contains("150 is not in 0..=100"),
                                "{error}"
                            );
                            rejections.fetch_add(1, Ordering::Relaxed);
                        }
                        other => {
                            panic!("writer {writer}, version {seq} (valid: {valid}): {other:?}")
                        }
                    }
                    let enough = changes_seen
                        .iter()
                        .all(|seen| seen.load(Ordering::Relaxed) >= CHANGES_SEEN);
                    if enough {
                        stop_writing.store(true, Ordering::Release);
                    } else if started.elapsed() > DEADLINE {
                        *failure.lock().unwrap() = Some(format!(
                            "readers saw only {:?} version changes in {DEADLINE:?}",
                            changes_seen
                                .iter()
                                .map(|s| s.load(Ordering::Relaxed))
                                .collect::<Vec<_>>()
                        ));
                        stop_writing.store(true, Ordering::Release);
                    }
                }
            });
        }

        // Readers stop once the writers have; a thread that panics stops the
        // writers, and the scope then re-raises its panic.
        while !stop_writing.load(Ordering::Acquire) {
            std::thread::park_timeout(Duration::from_millis(5));
        }
        stop_reading.store(true, Ordering::Release);
    });

    if let Some(failure) = failure.into_inner().unwrap() {
        panic!("{failure}");
    }
    let loads = loads.into_inner();
    let status = store.status();
    assert_eq!(status.generation, 1 + loads, "one generation per load");
    assert_eq!(status.reloads_succeeded, 1 + loads);
    assert_eq!(status.reloads_failed, rejections.into_inner());
    // What is served at the end is a whole version written by a writer.
    let snapshot = store.snapshot();
    check_one_version(&snapshot, &handles, 42);
}

#[test]
fn a_held_snapshot_keeps_its_version_through_reloads() {
    let store = FlagStore::from_json(&version(0, 10, true)).unwrap();
    let handles: Vec<Handle> = (0..FLAG_COUNT)
        .map(|i| store.handle(&format!("flag_{i}")))
        .collect();
    let held = store.snapshot();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for seq in 11..=60 {
                store.replace_json(&version(1, seq, true)).unwrap();
            }
        });
    });
    assert_eq!(store.generation(), 51);
    assert_eq!(held.generation(), 1);
    assert_eq!(
        check_one_version(&held, &handles, 7),
        ("w0-10".to_owned(), 10_000)
    );
    let now = store.snapshot();
    assert_eq!(
        check_one_version(&now, &handles, 7),
        ("w1-60".to_owned(), 60_000)
    );
}

#[test]
fn the_version_check_catches_a_mixed_file() {
    // A file whose flags disagree is what a torn read would look like; the
    // check above must reject it, or the concurrent test proves nothing.
    let mixed = version(1, 30, true).replacen(
        r#""rollout_percentage": 30"#,
        r#""rollout_percentage": 31"#,
        1,
    );
    let store = FlagStore::from_json(&mixed).unwrap();
    let handles: Vec<Handle> = (0..FLAG_COUNT)
        .map(|i| store.handle(&format!("flag_{i}")))
        .collect();
    let snapshot = store.snapshot();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        check_one_version(&snapshot, &handles, 1)
    }));
    assert!(caught.is_err(), "a mixed version passed the check");
}
