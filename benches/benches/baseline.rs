//! The per-message job on the design a team writes first
//! (`RwLock<HashMap<String, Flag>>`, std hash sets, SipHash; see
//! `benches::baseline`), timed exactly as `per_message/by_name` and
//! `contention/by_name/*`, so each run shows the engine's ratio to it.

use std::hint::black_box;

use benches::baseline::RwLockStore;
use benches::fixtures::{MESSAGE_FLAGS, message_flags, messages};
use benches::parallel::time_on_threads;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const MESSAGES: usize = 1024;

fn baseline(c: &mut Criterion) {
    let store = RwLockStore::from_json(&message_flags(1000, 0)).expect("valid fixture");
    let stream = messages(MESSAGES);
    let mut group = c.benchmark_group("baseline");
    group.throughput(Throughput::Elements(1));
    group.bench_function("rwlock_by_name", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % MESSAGES;
            store.count_enabled(&MESSAGE_FLAGS, black_box(&stream[i]))
        })
    });
    for threads in [1, 2] {
        group.throughput(Throughput::Elements(threads as u64));
        group.bench_function(BenchmarkId::new("rwlock_by_name_threads", threads), |b| {
            b.iter_custom(|iters| {
                time_on_threads(threads, iters, |t, i| {
                    store.count_enabled(&MESSAGE_FLAGS, &stream[(i as usize + t * 512) % MESSAGES])
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, baseline);
criterion_main!(benches);
