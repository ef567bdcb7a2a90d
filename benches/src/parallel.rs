//! Timing the same job on several threads at once, for criterion's
//! `iter_custom`.

use std::hint::black_box;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

/// Runs `job(thread, i)` for `i in 0..iters` on each of `threads` threads,
/// released together by a barrier, and returns the slowest thread's time.
///
/// Each thread does all `iters`, so a time per iteration equal to the
/// one-thread time means perfect scaling; twice it means the threads
/// serialised. The slowest thread is what a loaded bot waits for.
pub fn time_on_threads<R>(
    threads: usize,
    iters: u64,
    job: impl Fn(usize, u64) -> R + Sync,
) -> Duration {
    let barrier = Barrier::new(threads);
    thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|thread| {
                let (barrier, job) = (&barrier, &job);
                scope.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    for i in 0..iters {
                        black_box(job(thread, i));
                    }
                    start.elapsed()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("a benchmark thread panicked"))
            .max()
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn every_thread_runs_every_iteration() {
        let calls = AtomicU64::new(0);
        let seen_threads = AtomicU64::new(0);
        time_on_threads(3, 50, |thread, _| {
            calls.fetch_add(1, Ordering::Relaxed);
            seen_threads.fetch_or(1 << thread, Ordering::Relaxed);
        });
        assert_eq!(calls.load(Ordering::Relaxed), 150);
        assert_eq!(seen_threads.load(Ordering::Relaxed), 0b111);
    }

    #[test]
    fn reports_the_slowest_thread() {
        let elapsed = time_on_threads(2, 1, |thread, _| {
            if thread == 1 {
                thread::sleep(Duration::from_millis(20));
            }
        });
        assert!(elapsed >= Duration::from_millis(20), "{elapsed:?}");
    }
}
