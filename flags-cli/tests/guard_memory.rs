//! The scraping guard's memory budget (docs/operators.md "The guard"): 100 plans with
//! a 1-day window cost at most 6.4 MiB of history per bot process, so 10
//! processes stay within 64 MiB. Counted by a global allocator that tracks
//! live bytes: its own test binary, one test, so nothing else allocates.

use std::alloc::System;
use std::time::{Duration, Instant, SystemTime};

use flags_cli::guard::scrape::Process;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const BUDGET_PER_PROCESS: isize = 64 * 1024 * 1024 / 10;

/// A bot's reply: `flags` flags with every outcome series, at `n` messages.
fn reply(flags: usize, n: u64) -> String {
    let mut text = String::new();
    for f in 0..flags {
        for cohort in ["on", "off"] {
            for result in ["ok", "error"] {
                text += &format!(
                    "feature_flags_outcomes_total{{flag=\"flag_{f}\",cohort=\"{cohort}\",result=\"{result}\"}} {n}\n"
                );
            }
            for le in [
                "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.0", "5.0", "10.0", "30.0", "+Inf",
            ] {
                text += &format!(
                    "feature_flags_outcome_duration_seconds_bucket{{flag=\"flag_{f}\",cohort=\"{cohort}\",le=\"{le}\"}} {}\n",
                    2 * n
                );
            }
        }
        text += &format!("feature_flags_complaints_total{{flag=\"flag_{f}\"}} 0\n");
    }
    text + "process_resident_memory_bytes 1e9\nprocess_start_time_seconds 1.7e9\n"
}

#[test]
fn one_process_with_100_day_long_plans_stays_in_budget() {
    let day = Duration::from_secs(86_400);
    // 200 flags exported, 100 of them planned.
    let planned: Vec<(String, Duration)> = (0..100).map(|f| (format!("flag_{f}"), day)).collect();
    let replies: Vec<String> = (0..4).map(|i| reply(200, 1000 + i)).collect();
    let t0 = Instant::now();
    let w0 = SystemTime::now();
    let region = Region::new(GLOBAL);
    let live = || {
        let c = region.change();
        // Reallocations are already in both (stats_alloc 0.1).
        c.bytes_allocated as isize - c.bytes_deallocated as isize
    };
    let mut p = Process::new("http://127.0.0.1:9100/metrics");
    let mut peak = 0;
    // Scrapes 11.25 minutes apart (1/128 of the day) fill every point the
    // history keeps; 160 of them run past the day.
    for s in 0..160u64 {
        let at = Duration::from_secs(s * 675);
        let bad = p
            .ingest(&replies[(s % 4) as usize], t0 + at, w0 + at, &planned)
            .unwrap();
        // Counters that go 1000..1003 and back are decreases: bad samples,
        // still kept in history like any scrape.
        assert!(bad.is_empty() || bad.iter().all(|r| *r == "decrease"));
        for (flag, window) in &planned {
            let _ = p.flag_window(flag, *window, w0);
        }
        peak = peak.max(live());
    }
    let live = live();
    println!(
        "history of 100 planned flags, 1-day window: {:.2} MiB live, {:.2} MiB peak",
        live as f64 / (1 << 20) as f64,
        peak as f64 / (1 << 20) as f64
    );
    assert!(live <= BUDGET_PER_PROCESS, "{live} bytes");
    // The budget is not vacuous: the history is really there.
    assert!(live >= 100 * 128 * 27 * 8, "{live} bytes");
    drop(p);
}
