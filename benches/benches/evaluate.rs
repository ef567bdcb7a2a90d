//! One flag, one message: by name and by handle through the store (what a
//! one-off check costs) and through a `Reader` (what a worker thread's
//! check costs), and each evaluation path on a held snapshot.

use std::hint::black_box;

use benches::fixtures::{PATHS, missing_key_message, path_flags, path_message};
use criterion::{Criterion, criterion_group, criterion_main};
use flags_core::{FlagStore, Reason};

fn evaluate(c: &mut Criterion) {
    let store = FlagStore::from_json(&path_flags()).expect("the fixture is valid");
    let ctx = path_message();
    let mut group = c.benchmark_group("evaluate");

    // The full path: exclusion probe, group check, rollout hash.
    let half = store.handle("half");
    assert_eq!(store.evaluate("half", &ctx).reason, Reason::Rollout);
    group.bench_function("store/by_name", |b| {
        b.iter(|| store.evaluate(black_box("half"), black_box(&ctx)))
    });
    group.bench_function("store/by_handle", |b| {
        b.iter(|| store.evaluate_handle(black_box(half), black_box(&ctx)))
    });

    // The same through a `Reader`, as a worker thread checks one flag.
    let mut reader = store.reader();
    assert_eq!(reader.evaluate_handle(half, &ctx).reason, Reason::Rollout);
    group.bench_function("reader/by_name", |b| {
        b.iter(|| reader.evaluate(black_box("half"), black_box(&ctx)))
    });
    group.bench_function("reader/by_handle", |b| {
        b.iter(|| reader.evaluate_handle(black_box(half), black_box(&ctx)))
    });

    let snapshot = store.snapshot();
    for (bench, flag, reason) in PATHS {
        let handle = store.handle(flag);
        assert_eq!(
            snapshot.evaluate_handle(handle, &ctx).reason,
            reason,
            "{bench}"
        );
        group.bench_function(format!("path/{bench}"), |b| {
            b.iter(|| snapshot.evaluate_handle(black_box(handle), black_box(&ctx)))
        });
    }

    let channel_post = missing_key_message();
    assert_eq!(
        snapshot.evaluate_handle(half, &channel_post).reason,
        Reason::MissingKey
    );
    group.bench_function("path/missing_key", |b| {
        b.iter(|| snapshot.evaluate_handle(black_box(half), black_box(&channel_post)))
    });

    assert_eq!(
        snapshot.evaluate("no_such_flag", &ctx).reason,
        Reason::UnknownFlag
    );
    group.bench_function("path/unknown_flag_by_name", |b| {
        b.iter(|| snapshot.evaluate(black_box("no_such_flag"), black_box(&ctx)))
    });
    group.finish();
}

criterion_group!(benches, evaluate);
criterion_main!(benches);
