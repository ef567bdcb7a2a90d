//! The status page in a real browser: headless Chromium loads it from a
//! running guard, and the test reads the DOM it built and checks that the
//! screenshot is not blank. Without Chromium the test is skipped, unless CI
//! is set (CI installs it: .ci/run).

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{Env, bin};

const CHROMIUM: &str = "/usr/bin/chromium";

fn chromium(args: &[&str]) -> std::process::Output {
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(CHROMIUM);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1000,700",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(args)
    .stdin(Stdio::null());
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Bounded: a hung browser fails the test instead of hanging it.
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("chromium did not finish in 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A bot's /metrics whose counters grow on every scrape (20 % errors `on`).
fn fake_bot() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut n = 0u64;
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 2048];
            let _ = s.read(&mut buf);
            n += 100;
            let mut body = String::new();
            for (cohort, ok, err) in [("on", n * 8 / 10, n * 2 / 10), ("off", n * 9, n / 10)] {
                body += &format!(
                    "feature_flags_outcomes_total{{flag=\"gpt\",cohort=\"{cohort}\",result=\"ok\"}} {ok}\n"
                );
                body += &format!(
                    "feature_flags_outcomes_total{{flag=\"gpt\",cohort=\"{cohort}\",result=\"error\"}} {err}\n"
                );
                for le in [
                    "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2", "5", "10", "30", "+Inf",
                ] {
                    body += &format!(
                        "feature_flags_outcome_duration_seconds_bucket{{flag=\"gpt\",cohort=\"{cohort}\",le=\"{le}\"}} {}\n",
                        ok + err
                    );
                }
            }
            body += "feature_flags_complaints_total{flag=\"gpt\"} 0\nprocess_resident_memory_bytes 1e8\n";
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{addr}/metrics")
}

struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

fn png_size(path: &Path) -> usize {
    let bytes = fs::read(path).unwrap();
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "not a PNG: {}",
        path.display()
    );
    bytes.len()
}

#[test]
fn status_page_renders_plans_in_headless_chromium() {
    if !Path::new(CHROMIUM).exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have chromium (.ci/run installs it)"
        );
        eprintln!("skipped: no {CHROMIUM}");
        return;
    }
    let env = Env::with(
        r#"{"version": 1, "flags": {"gpt": {"enabled": true, "rollout_percentage": 5}}}"#,
    );
    let since = jiff::Timestamp::now();
    let mut rollouts = env.file.clone().into_os_string();
    rollouts.push(".rollouts.json");
    fs::write(
        &rollouts,
        format!(
            r#"{{"version": 1, "rollouts": {{"gpt": {{
  "phases": [{{"percentage": 5, "hold": "1h"}}, {{"percentage": 25, "hold": "1d"}}, {{"percentage": 100}}],
  "triggers": {{"error_rate": 0.05, "response_time": 5, "memory_usage": 0.9, "complaints": 10}},
  "window": "1m", "min_samples": 10, "sustain": 1000, "on_trigger": "disable",
  "state": "running", "phase": 1, "since": "{since}",
  "streaks": {{"error_rate": 0, "response_time": 0, "memory_usage": 0, "complaints": 0}},
  "last_decision": null}}}}}}"#
        ),
    )
    .unwrap();
    let mut child = bin()
        .args([
            "--file",
            env.file.to_str().unwrap(),
            "--guard",
            "--interval",
            "1s",
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--scrape")
        .arg(fake_bot())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let guard = Guard(child);
    let mut first = String::new();
    BufReader::new(stdout).read_line(&mut first).unwrap();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://") && w.ends_with('/'))
        .unwrap_or_else(|| panic!("no status page address in {first:?}"))
        .to_owned();

    // Wait (bounded) for checks with data: two scrapes make a window.
    let client = flags_cli::http::Client::new(Duration::from_secs(2), 1 << 20);
    let started = Instant::now();
    loop {
        let metrics = client
            .get(&format!("{url}metrics"), &[], "text/plain")
            .unwrap_or_default();
        if metrics.contains("trigger=\"error_rate\",cohort=\"on\"} 0.2") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no error_rate reading:\n{metrics}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let dom = String::from_utf8(chromium(&["--dump-dom", &url]).stdout).unwrap();
    assert!(dom.contains("id=\"plan-gpt\""), "{dom}");
    assert!(dom.contains("phase 1/3 at 5 %"), "{dom}");
    assert!(
        dom.contains("<td>error_rate</td><td>20 %</td><td>1.1 %</td><td>5 %</td>"),
        "{dom}"
    );
    assert!(dom.contains("next step in <b class=\"next\">59m"), "{dom}");

    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("page.png");
    let blank = dir.path().join("blank.png");
    chromium(&[&format!("--screenshot={}", page.display()), &url]);
    chromium(&[
        &format!("--screenshot={}", blank.display()),
        "data:text/html,<body></body>",
    ]);
    let (page_size, blank_size) = (png_size(&page), png_size(&blank));
    // Text, table and colours compress far worse than an empty page.
    assert!(
        page_size > 4 * blank_size && page_size > 10_000,
        "page {page_size} bytes, blank {blank_size}"
    );
    drop(guard);
}
