//! The per-message job on the design a team writes first
//! (`RwLock<HashMap<String, Flag>>`, std hash sets, SipHash; see
//! `benches::baseline`), timed exactly as `per_message/by_name` and
//! `contention/by_name/*`, so each run shows the engine's ratio to it.

mod common;

use benches::baseline::RwLockStore;
use benches::fixtures::{MESSAGE_FLAGS, message_flags, messages};
use benches::parallel::time_on_threads;
use common::{MESSAGES, each_message};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn baseline(c: &mut Criterion) {
    let store = RwLockStore::from_json(&message_flags(1000, 0)).expect("valid fixture");
    let stream = messages(MESSAGES);
    let mut group = c.benchmark_group("baseline");
    group.throughput(Throughput::Elements(1));
    group.bench_function("rwlock_by_name", |b| {
        each_message(b, &stream, |m| store.count_enabled(&MESSAGE_FLAGS, m))
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
