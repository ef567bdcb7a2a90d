//! The per-message job from one and from two threads at once: the time is
//! per message per thread, so equal times mean the engine scales and the
//! throughput line counts messages per second over all threads.

use benches::fixtures::{message_flags, messages};
use benches::message::Bot;
use benches::parallel::{time_on_threads, time_on_threads_with};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use flags_core::FlagStore;

const MESSAGES: usize = 1024;

fn contention(c: &mut Criterion) {
    let bot = Bot::new(FlagStore::from_json(&message_flags(1000, 0)).expect("valid fixture"));
    let stream = messages(MESSAGES);
    let mut group = c.benchmark_group("contention");
    for threads in [1, 2] {
        group.throughput(Throughput::Elements(threads as u64));
        group.bench_function(BenchmarkId::new("by_name", threads), |b| {
            b.iter_custom(|iters| {
                time_on_threads(threads, iters, |t, i| {
                    bot.by_name(&stream[(i as usize + t * 512) % MESSAGES])
                })
            })
        });
        group.bench_function(BenchmarkId::new("by_handle", threads), |b| {
            b.iter_custom(|iters| {
                time_on_threads(threads, iters, |t, i| {
                    bot.by_handle(&stream[(i as usize + t * 512) % MESSAGES])
                })
            })
        });
        // Each thread with its own `Reader`, as worker threads would.
        group.bench_function(BenchmarkId::new("reader_by_handle", threads), |b| {
            b.iter_custom(|iters| {
                time_on_threads_with(
                    threads,
                    iters,
                    |_| bot.store.reader(),
                    |reader, t, i| {
                        bot.by_handle_on(
                            reader.snapshot(),
                            &stream[(i as usize + t * 512) % MESSAGES],
                        )
                    },
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, contention);
criterion_main!(benches);
