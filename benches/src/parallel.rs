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
    time_on_threads_with(threads, iters, |_| (), |_, thread, i| job(thread, i))
}

/// [`time_on_threads`] with per-thread state: each thread first makes its
/// own with `state(thread)` (untimed, on that thread, so it need not be
/// `Send`: a `Reader`, say), then runs `job(&mut state, thread, i)`.
pub fn time_on_threads_with<S, R>(
    threads: usize,
    iters: u64,
    state: impl Fn(usize) -> S + Sync,
    job: impl Fn(&mut S, usize, u64) -> R + Sync,
) -> Duration {
    let barrier = Barrier::new(threads);
    thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|thread| {
                let (barrier, state, job) = (&barrier, &state, &job);
                scope.spawn(move || {
                    let mut mine = state(thread);
                    barrier.wait();
                    let start = Instant::now();
                    for i in 0..iters {
                        black_box(job(&mut mine, thread, i));
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
    fn each_thread_keeps_its_own_state() {
        let sums = std::sync::Mutex::new(Vec::new());
        struct Sum<'a>(u64, &'a std::sync::Mutex<Vec<u64>>);
        impl Drop for Sum<'_> {
            fn drop(&mut self) {
                self.1.lock().unwrap().push(self.0);
            }
        }
        time_on_threads_with(
            2,
            10,
            |thread| Sum(thread as u64 * 1000, &sums),
            |sum, _, i| sum.0 += i,
        );
        let mut sums = sums.into_inner().unwrap();
        sums.sort_unstable();
        assert_eq!(sums, [45, 1045]);
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
