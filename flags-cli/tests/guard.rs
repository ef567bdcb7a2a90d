//! The guard's file handling: acting under the lock (two guards never act
//! twice), and invalid or read-only files reported on every check with
//! nothing written. Whole rollouts with real bots are the end-to-end tests
//! in tests/guard_e2e (run by scripts/test.sh).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use flags_cli::plans::apply::{Actor, Applied, apply_step};
use flags_cli::store::file::FileStore;
use flags_rollout::measure::{CohortWindow, FlagWindow, Measurements, MemoryReading};
use flags_rollout::{Action, RolloutsFile, decide};

use crate::util::{Env, bin};

const FLAGS: &str = r#"{"version": 1, "flags": {"gpt": {"enabled": true, "rollout_percentage": 5}}}
"#;

/// A running plan `5:1s,25:1s,100` whose first phase started long ago.
fn rollouts(state: &str) -> String {
    format!(
        r#"{{"version": 1, "rollouts": {{"gpt": {{
  "phases": [{{"percentage": 5, "hold": "1s"}}, {{"percentage": 25, "hold": "1s"}}, {{"percentage": 100}}],
  "triggers": {{"error_rate": 0.05, "response_time": 5, "memory_usage": 0.9, "complaints": 10}},
  "window": "5m", "min_samples": 10, "sustain": 2, "on_trigger": "disable",
  "state": "{state}", "phase": 1, "since": "2026-01-01T00:00:00Z",
  "streaks": {{"error_rate": 0, "response_time": 0, "memory_usage": 0, "complaints": 0}},
  "last_decision": null}}}}}}
"#
    )
}

fn env_with_plan(state: &str) -> Env {
    let env = Env::with(FLAGS);
    fs::write(rollouts_path(&env), rollouts(state)).unwrap();
    env
}

fn rollouts_path(env: &Env) -> std::path::PathBuf {
    let mut p = env.file.clone().into_os_string();
    p.push(".rollouts.json");
    p.into()
}

fn healthy() -> Measurements {
    let cohort = CohortWindow {
        ok: 1000.0,
        errors: 5.0,
        duration_le: [1005.0; 10],
    };
    Measurements {
        flag: Ok(FlagWindow {
            on: cohort,
            off: cohort,
            complaints_last_hour: 0.0,
            on_outcomes_in_phase: 1005.0,
            bad: Vec::new(),
        }),
        memory: Ok(Some(MemoryReading {
            max_ratio: 0.2,
            processes: 1,
        })),
        evidence: None,
    }
}

#[test]
fn two_guards_measuring_the_same_state_act_once() {
    let env = env_with_plan("running");
    let plans = RolloutsFile::parse(&fs::read_to_string(rollouts_path(&env)).unwrap()).unwrap();
    let rollout = plans.rollouts["gpt"].clone();
    let state = rollout.state.clone();
    let step = decide(
        &plans.rollouts["gpt"].plan,
        &state,
        &healthy(),
        jiff::Timestamp::now(),
    );
    assert!(
        matches!(step.action, Action::Advance { to: 1, .. }),
        "{:?}",
        step.action
    );

    let guards = 4;
    let barrier = Arc::new(Barrier::new(guards));
    let results: Vec<Applied> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..guards)
            .map(|_| {
                let (barrier, file, rollout, step) = (
                    Arc::clone(&barrier),
                    env.file.clone(),
                    rollout.clone(),
                    step.clone(),
                );
                s.spawn(move || {
                    barrier.wait();
                    apply_step(
                        &mut FileStore::new(&file),
                        "gpt",
                        &rollout,
                        &step,
                        Actor::Guard,
                    )
                    .unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let written = results
        .iter()
        .filter(|r| matches!(r, Applied::Written { .. }))
        .count();
    assert_eq!(written, 1, "{results:?}");
    assert!(results.iter().any(
        |r| matches!(r, Applied::Stale { why } if why.contains("changed since the decision"))
    ));
    assert!(
        env.text().contains("\"rollout_percentage\": 25"),
        "{}",
        env.text()
    );
    let after = RolloutsFile::parse(&fs::read_to_string(rollouts_path(&env)).unwrap()).unwrap();
    assert_eq!(after.rollouts["gpt"].state.phase, 1);
    let audit = env.audit_lines();
    let advances = audit
        .iter()
        .filter(|l| l["action"] == "advance" && l["field"] == "rollout_percentage")
        .count();
    assert_eq!(advances, 1, "{audit:?}");
    assert!(audit.iter().all(|l| l["user"] == "guard"));
}

/// `--guard --once` against a Prometheus that is not there: only the file
/// problems matter here (they are found before any query).
fn once(env: &Env) -> std::process::Output {
    bin()
        .args([
            "--file",
            env.file.to_str().unwrap(),
            "--guard",
            "--once",
            "--prometheus",
            "http://127.0.0.1:1",
            "--selector",
            "{}",
            "--memory-limit",
            "1000000000",
        ])
        .output()
        .unwrap()
}

#[test]
fn invalid_rollouts_file_is_reported_and_nothing_written() {
    let env = Env::with(FLAGS);
    let bad = "{\"version\": 1, \"rollouts\": {\"gpt\": {\"phases\": 5}}\n";
    fs::write(rollouts_path(&env), bad).unwrap();
    let out = once(&env);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: ") && stderr.contains("rollouts.json"),
        "{stderr}"
    );
    assert_eq!(env.text(), FLAGS);
    assert_eq!(fs::read_to_string(rollouts_path(&env)).unwrap(), bad);
}

#[test]
fn invalid_flag_file_is_reported_and_nothing_written() {
    let env = env_with_plan("running");
    let bad = "{\"version\": 1, \"flags\": {\"gpt\": {\"enabled\": \"yes\"}}}\n";
    fs::write(&env.file, bad).unwrap();
    let out = once(&env);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("gpt.enabled"),
        "{out:?}"
    );
    assert_eq!(env.text(), bad);
    assert_eq!(
        fs::read_to_string(rollouts_path(&env)).unwrap(),
        rollouts("running")
    );
}

#[test]
fn read_only_files_are_reported_on_every_check_until_stopped() {
    for read_only in ["flags", "rollouts"] {
        let env = env_with_plan("running");
        let path = if read_only == "flags" {
            env.file.clone()
        } else {
            rollouts_path(&env)
        };
        fs::set_permissions(&path, fs::Permissions::from_mode(0o444)).unwrap();
        // A scraping guard whose bot is down: the file problem comes first.
        let child = bin()
            .args([
                "--file",
                env.file.to_str().unwrap(),
                "--guard",
                "--interval",
                "1s",
                "--scrape",
                "http://127.0.0.1:1/metrics",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(2500));
        // SIGTERM ends it cleanly between checks.
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        let started = Instant::now();
        let out = child.wait_with_output().unwrap();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let reports = stderr
            .lines()
            .filter(|l| l.starts_with("error: ") && l.contains("read-only"))
            .count();
        assert!(reports >= 2, "{read_only}: {stderr}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("guard: stopped"));
        assert_eq!(env.text(), FLAGS);
        assert_eq!(
            fs::read_to_string(rollouts_path(&env)).unwrap(),
            rollouts("running")
        );
        assert!(!env.path("feature_flags.json.audit.jsonl").exists());
    }
}

#[test]
fn usage_errors() {
    let env = env_with_plan("running");
    for (args, says) in [
        (vec!["--guard"], "needs a metrics source"),
        (
            vec![
                "--guard",
                "--once",
                "--scrape",
                "http://127.0.0.1:1/metrics",
            ],
            "--once needs --prometheus",
        ),
        (
            vec![
                "--guard",
                "--scrape",
                "http://x/metrics",
                "--prometheus",
                "http://y",
            ],
            "not both",
        ),
        (
            vec![
                "--guard",
                "--prometheus",
                "http://y",
                "--selector",
                "job=bot",
            ],
            "in braces",
        ),
        (
            vec![
                "--guard",
                "--scrape",
                "http://x/metrics",
                "--interval",
                "soon",
            ],
            "--interval",
        ),
        (
            vec!["--guard", "--scrape", "127.0.0.1:8080/metrics"],
            "is not an http:// or https:// URL",
        ),
        (
            vec!["--guard", "--prometheus", "http://"],
            "is not an http:// or https:// URL",
        ),
        (
            vec!["--guard", "--prometheus", "http://127.0.0.1:1"],
            "--prometheus needs --selector",
        ),
    ] {
        let out = bin()
            .arg("--file")
            .arg(&env.file)
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.starts_with("error: ") && stderr.contains(says),
            "{args:?}: {stderr}"
        );
    }
}
