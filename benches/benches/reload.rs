//! Reloading: parse + validate + compile + swap (`FlagStore::replace_json`)
//! of large files, and what a storm of reloads costs the readers.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Instant;

use benches::fixtures::{many_flags, message_flags, messages};
use benches::message::Bot;
use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use flags_core::{FlagStore, ReloadOutcome, Snapshot, parse_flag_file};

const EXCLUDED_PER_FLAG: usize = 100;
const MESSAGES: usize = 1024;

fn reload(c: &mut Criterion) {
    let mut group = c.benchmark_group("reload");
    // A 10 000-flag reload takes milliseconds: one per sample is plenty.
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    for flags in [100, 1_000, 10_000] {
        let versions = [0, 1].map(|v| many_flags(flags, EXCLUDED_PER_FLAG, v));
        group.throughput(Throughput::Bytes(versions[0].len() as u64));
        let store = FlagStore::from_json(&versions[0]).expect("valid fixture");
        // Criterion calls the closure more than once: which version comes
        // next must survive between calls, or a reload would be a no-op.
        let mut next = 1;
        group.bench_function(BenchmarkId::new("replace_json", flags), |b| {
            b.iter(|| {
                let outcome = store.replace_json(&versions[next]).expect("valid fixture");
                assert!(matches!(outcome, ReloadOutcome::Loaded { .. }));
                next ^= 1;
            })
        });
        // The parse + validate share of it, to see what limits a reload.
        group.bench_function(BenchmarkId::new("parse_validate", flags), |b| {
            b.iter(|| parse_flag_file(black_box(&versions[0])).expect("valid fixture"))
        });
    }
    group.finish();
}

/// Per-message evaluation by handle on an idle store, then beside a thread
/// that compiles new versions of the file without publishing them (the same
/// CPU and allocator load, no swap), then while that thread swaps each one
/// in as fast as it can. On a two-core machine the neighbour takes a core:
/// the middle figure separates that from what the swaps themselves cost.
fn reload_storm(c: &mut Criterion) {
    // Small exclusion lists make each reload cheap, so swaps come fastest.
    let versions = [0, 1].map(|v| message_flags(10, v));
    let bot = Bot::new(FlagStore::from_json(&versions[0]).expect("valid fixture"));
    let stream = messages(MESSAGES);
    let mut group = c.benchmark_group("reload");
    group.throughput(Throughput::Elements(1));
    let mut evaluate = |name: &str| {
        group.bench_function(name, |b| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % MESSAGES;
                bot.by_handle(black_box(&stream[i]))
            })
        });
    };
    evaluate("per_message_idle");
    beside(
        "compiles",
        |next| {
            black_box(Snapshot::from_json(&versions[next]).expect("valid fixture"));
        },
        || evaluate("per_message_beside_compiling"),
    );
    let generation = bot.store.generation();
    beside(
        "swaps",
        |next| {
            bot.store
                .replace_json(&versions[next])
                .expect("valid fixture");
        },
        || evaluate("per_message_during_reloads"),
    );
    assert!(
        bot.store.generation() > generation,
        "the storm never swapped"
    );
    group.finish();
}

/// Runs `measure` while another thread calls `neighbour` with alternating
/// versions (0, 1, 0, …) as fast as it can; reports the neighbour's rate.
fn beside(what: &str, neighbour: impl Fn(usize) + Sync, measure: impl FnOnce()) {
    let stop = AtomicBool::new(false);
    let done = AtomicU64::new(0);
    let started = Instant::now();
    thread::scope(|scope| {
        scope.spawn(|| {
            let mut next = 1;
            while !stop.load(Ordering::Relaxed) {
                neighbour(next);
                done.fetch_add(1, Ordering::Relaxed);
                next ^= 1;
            }
        });
        measure();
        stop.store(true, Ordering::Relaxed);
    });
    let rate = done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    eprintln!("neighbour thread: {rate:.0} {what}/s");
}

criterion_group!(benches, reload, reload_storm);
criterion_main!(benches);
