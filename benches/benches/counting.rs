//! What counting decisions for metrics costs: the per-message job by handle
//! with `StoreOptions::count_decisions` on (the default) and off, from one
//! and two threads (time per message per thread, as in `contention`).

use benches::fixtures::{MESSAGE_FLAGS, message_flags, messages};
use benches::message::Bot;
use benches::parallel::time_on_threads;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use flags_core::FlagStore;

const MESSAGES: usize = 1024;

fn counting(c: &mut Criterion) {
    let stream = messages(MESSAGES);
    let mut group = c.benchmark_group("counting");
    for (label, count) in [("on", true), ("off", false)] {
        let store = FlagStore::options()
            .count_decisions(count)
            .from_json(&message_flags(1000, 0))
            .expect("valid fixture");
        let bot = Bot::new(store);
        bot.by_handle(&stream[0]);
        let counted = bot.store.decision_counts(MESSAGE_FLAGS[0]);
        assert_eq!(counted.is_some_and(|c| c.total() == 1), count, "{label}");
        for threads in [1, 2] {
            group.throughput(Throughput::Elements(threads as u64));
            group.bench_function(BenchmarkId::new(label, threads), |b| {
                b.iter_custom(|iters| {
                    time_on_threads(threads, iters, |t, i| {
                        bot.by_handle(&stream[(i as usize + t * 512) % MESSAGES])
                    })
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, counting);
criterion_main!(benches);
