//! Prometheus's own checker on real `metrics_text()` output and on the
//! example recording and alert rules. Needs `promtool` on PATH (Debian:
//! `apt-get install prometheus`): without it these tests skip with a note,
//! unless the `CI` environment variable is set, where a missing promtool
//! fails them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use std::time::Duration;

use flags_core::{ChatType, Context, FlagStore, Outcome};

fn promtool() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("promtool"))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "promtool is not on PATH, and CI is set: install it (apt-get install prometheus)"
        );
        eprintln!("note: promtool not found on PATH; skipping (apt-get install prometheus)");
    }
    found
}

fn run(promtool: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(promtool)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn assert_success(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what}: promtool exited with {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn example_flags() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/feature_flags.json"
    );
    std::fs::read_to_string(path).unwrap()
}

/// A store that has evaluated every flag, recorded outcomes and
/// complaints, and failed a reload.
fn busy_store(counting: bool) -> FlagStore {
    let text = example_flags();
    let store = FlagStore::options()
        .count_decisions(counting)
        .count_outcomes(counting)
        .from_json(&text)
        .unwrap();
    for user in 0..500 {
        let ctx = Context::new().user(user).chat(-user, ChatType::Supergroup);
        for name in store.snapshot().flag_names() {
            store.evaluate(name, &ctx);
        }
        store.is_enabled("not_in_the_file", &ctx);
        // Outcomes in every bucket and both cohorts, and complaints.
        let mut msg = store.message(ctx);
        for name in store.snapshot().flag_names() {
            msg.is_enabled(name);
        }
        let millis = (user as u64 * 7_919) % 40_000;
        msg.record(Outcome {
            error: user % 9 == 0,
            duration: Duration::from_millis(millis),
        });
        if user % 50 == 0 {
            store.complaint("new_gpt_model");
        }
    }
    assert!(store.replace_json("{ broken").is_err());
    store
}

#[test]
fn metrics_text_passes_promtool_check_metrics() {
    let Some(promtool) = promtool() else { return };
    for counting in [true, false] {
        let text = busy_store(counting).metrics_text();
        let output = run(&promtool, &["check", "metrics"], &text);
        assert_success(
            &output,
            &format!("check metrics (counting {counting}) on\n{text}"),
        );
    }
}

/// The checker must actually look at its input, or the test above proves
/// nothing: a counter without `_total` is one of its lint errors.
#[test]
fn promtool_check_metrics_rejects_a_bad_exposition() {
    let Some(promtool) = promtool() else { return };
    let bad = "# HELP feature_flags_reloads Loads.\n# TYPE feature_flags_reloads counter\nfeature_flags_reloads 1\n";
    let output = run(&promtool, &["check", "metrics"], bad);
    assert!(!output.status.success(), "promtool accepted {bad:?}");
}

/// Both rule files load: the recording rules (rules.yml, shared by the
/// dashboard and the alerts) and the alerts (alerts.yml), as Prometheus
/// loads them (`rule_files: [rules.yml, alerts.yml]`).
#[test]
fn rule_files_pass_promtool_check_rules() {
    let Some(promtool) = promtool() else { return };
    let output = run(
        &promtool,
        &[
            "check",
            "rules",
            "../examples/prometheus/rules.yml",
            "../examples/prometheus/alerts.yml",
        ],
        "",
    );
    assert_success(&output, "check rules");
}

/// One set of recording rules: rules.yml records, alerts.yml only alerts
/// (on the recorded series), so an expression is never computed twice
/// under two names.
#[test]
fn recording_rules_live_in_rules_yml_and_alerts_in_alerts_yml() {
    let read = |name: &str| {
        let path = format!(
            "{}/../examples/prometheus/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(path).unwrap()
    };
    let count = |text: &str, key: &str| {
        text.lines()
            .filter(|line| line.trim_start().starts_with(&format!("- {key}:")))
            .count()
    };
    let (rules, alerts) = (read("rules.yml"), read("alerts.yml"));
    assert_eq!(count(&alerts, "record"), 0, "alerts.yml records a series");
    assert_eq!(count(&rules, "alert"), 0, "rules.yml holds an alert");
    assert!(count(&rules, "record") > 0 && count(&alerts, "alert") > 0);
    assert!(
        alerts.contains("job_flag:feature_flags_outcomes_errors:z_ratio_rate5m"),
        "the rollout alerts read the recorded z statistic"
    );
}

/// The alerts fire when they should, and only then, on top of the
/// recording rules (`examples/prometheus/alerts_test.yml` loads both files).
#[test]
fn alert_rules_pass_their_promtool_unit_tests() {
    let Some(promtool) = promtool() else { return };
    let output = run(
        &promtool,
        &["test", "rules", "../examples/prometheus/alerts_test.yml"],
        "",
    );
    assert_success(&output, "test rules");
}

/// The recording rules behind the dashboard and the rollout alerts record
/// what they say on known series (`examples/prometheus/rules_test.yml`).
#[test]
fn recording_rules_pass_their_promtool_unit_tests() {
    let Some(promtool) = promtool() else { return };
    let output = run(
        &promtool,
        &["test", "rules", "../examples/prometheus/rules_test.yml"],
        "",
    );
    assert_success(&output, "test rules");
}
