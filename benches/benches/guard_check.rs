//! One guard check over 100 running plans, scraping 10 bot processes that
//! export 200 flags each over loopback (SPEC: ≤ 50 ms of guard CPU). The
//! plans are healthy and holding, the steady state: each check scrapes and
//! parses 10 replies, measures and decides 100 plans, and writes nothing.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use flags_cli::guard::board::Board;
use flags_cli::guard::run::{Guard, Source};
use flags_cli::guard::scrape::ScrapeSource;
use flags_cli::http::Client;
use flags_cli::store::file::FileStore;

const PROCESSES: usize = 10;
const FLAGS: usize = 200;
const PLANS: usize = 100;
const BOUNDS: [&str; 11] = [
    "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.0", "5.0", "10.0", "30.0", "+Inf",
];

/// What a bot serves after `n` rounds of traffic, in prometheus_client's
/// shape (with `_created` series and decision counters to skip).
fn exposition(n: u64) -> String {
    let mut t = String::with_capacity(FLAGS * 4096);
    t += "# HELP feature_flags_decisions_total Decisions\n# TYPE feature_flags_decisions_total counter\n";
    for f in 0..FLAGS {
        for reason in ["rollout", "disabled", "excluded_chat", "chat_type"] {
            t += &format!(
                "feature_flags_decisions_total{{flag=\"flag_{f}\",outcome=\"off\",reason=\"{reason}\"}} {}.0\n",
                n * 3
            );
        }
    }
    t += "# HELP feature_flags_outcomes_total Outcomes\n# TYPE feature_flags_outcomes_total counter\n";
    for f in 0..FLAGS {
        for (cohort, ok, err) in [("on", n * 95, n * 2), ("off", n * 900, n * 18)] {
            t += &format!(
                "feature_flags_outcomes_total{{cohort=\"{cohort}\",flag=\"flag_{f}\",result=\"ok\"}} {ok}.0\n"
            );
            t += &format!(
                "feature_flags_outcomes_total{{cohort=\"{cohort}\",flag=\"flag_{f}\",result=\"error\"}} {err}.0\n"
            );
            t += &format!(
                "feature_flags_outcomes_created{{cohort=\"{cohort}\",flag=\"flag_{f}\",result=\"ok\"}} 1.7e9\n"
            );
        }
    }
    t += "# TYPE feature_flags_outcome_duration_seconds histogram\n";
    for f in 0..FLAGS {
        for (cohort, total) in [("on", n * 97), ("off", n * 918)] {
            for (i, le) in BOUNDS.iter().enumerate() {
                let v = if i < 4 { total / 2 } else { total };
                t += &format!(
                    "feature_flags_outcome_duration_seconds_bucket{{cohort=\"{cohort}\",flag=\"flag_{f}\",le=\"{le}\"}} {v}.0\n"
                );
            }
            t += &format!(
                "feature_flags_outcome_duration_seconds_sum{{cohort=\"{cohort}\",flag=\"flag_{f}\"}} {}.5\n",
                total / 4
            );
            t += &format!(
                "feature_flags_outcome_duration_seconds_count{{cohort=\"{cohort}\",flag=\"flag_{f}\"}} {total}.0\n"
            );
        }
    }
    for f in 0..FLAGS {
        t += &format!("feature_flags_complaints_total{{flag=\"flag_{f}\"}} 0.0\n");
    }
    t += "process_resident_memory_bytes 2.5e+08\n";
    t
}

/// A bot process: serves precomputed replies with growing counters.
fn bot(replies: Arc<Vec<Vec<u8>>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for (i, stream) in listener.incoming().enumerate() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(&replies[i % replies.len()]);
        }
    });
    format!("http://{addr}/metrics")
}

fn setup() -> (tempfile::TempDir, Guard) {
    let replies: Vec<Vec<u8>> = (1..=32)
        .map(|n| {
            let body = exposition(n);
            let mut r = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes();
            r.extend_from_slice(body.as_bytes());
            r
        })
        .collect();
    let replies = Arc::new(replies);
    let urls: Vec<String> = (0..PROCESSES).map(|_| bot(Arc::clone(&replies))).collect();

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("flags.json");
    let flags: Vec<String> = (0..FLAGS)
        .map(|f| format!("\"flag_{f}\": {{\"enabled\": true, \"rollout_percentage\": 5}}"))
        .collect();
    std::fs::write(
        &file,
        format!("{{\"version\": 1, \"flags\": {{{}}}}}\n", flags.join(",\n")),
    )
    .unwrap();
    let since = jiff::Timestamp::now();
    let plans: Vec<String> = (0..PLANS)
        .map(|f| {
            format!(
                r#""flag_{f}": {{"phases": [{{"percentage": 5, "hold": "1d"}}, {{"percentage": 100}}],
  "triggers": {{"error_rate": 0.05, "response_time": 5, "memory_usage": 0.9, "complaints": 10}},
  "window": "5m", "min_samples": 100, "sustain": 2, "on_trigger": "disable",
  "state": "running", "phase": 1, "since": "{since}",
  "streaks": {{"error_rate": 0, "response_time": 0, "memory_usage": 0, "complaints": 0}},
  "last_decision": null}}"#
            )
        })
        .collect();
    std::fs::write(
        dir.path().join("flags.json.rollouts.json"),
        format!(
            "{{\"version\": 1, \"rollouts\": {{{}}}}}\n",
            plans.join(",\n")
        ),
    )
    .unwrap();
    let client = Client::new(Duration::from_secs(5), 64 << 20);
    let guard = Guard {
        store: Box::new(FileStore::new(&file)),
        source: Source::Scrape(ScrapeSource::new(
            client,
            &urls,
            8 << 30,
            Duration::from_secs(15),
        )),
        board: Arc::new(Mutex::new(Board::default())),
        warned: Default::default(),
    };
    (dir, guard)
}

fn guard_check(c: &mut Criterion) {
    let (_dir, mut guard) = setup();
    // Two checks make a window; the first also writes each plan's first
    // decision. Then every plan must be healthy and holding.
    let mut lines = Vec::new();
    for _ in 0..3 {
        lines.clear();
        guard.check(&mut |l| lines.push(l.to_owned()));
    }
    assert_eq!(lines.len(), PLANS, "{lines:?}");
    assert!(
        lines.iter().all(|l| l.contains("healthy, holding")),
        "{:?}",
        &lines[..3]
    );
    c.bench_function("guard_check/100_plans_10_processes_200_flags", |b| {
        b.iter(|| guard.check(&mut |_| {}))
    });
}

criterion_group!(benches, guard_check);
criterion_main!(benches);
