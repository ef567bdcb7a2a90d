//! A bad flag file can never hurt a bot: whatever its shape, validation costs
//! memory bounded by the file's size, and its report is bounded outright
//! (docs/bots.md "The budget for a bad file").
//!
//! Peak memory is measured by a counting allocator (`allocation_counter`,
//! per thread), not by timing.

mod common;

use allocation_counter::measure;
use flags_core::{MAX_LISTED_PROBLEMS, parse_flag_file};

/// The budget docs/bots.md states: peak memory while validating, beyond the text.
fn memory_budget(file_len: usize) -> u64 {
    32 * file_len as u64 + (1 << 20)
}

/// The most text a rejected file's report displays as: 100 problems, each a
/// path of at most 256 characters and a message quoting at most 64
/// characters of any value, then the count of the rest.
const REPORT_BUDGET: usize = 64 * 1024;

#[test]
fn every_hostile_shape_stays_within_the_budget() {
    for shape in common::all(2 << 20) {
        let len = shape.text.len();
        let mut listed = 0;
        let mut report = String::new();
        let info = measure(|| {
            let problems = parse_flag_file(&shape.text).expect_err(shape.name);
            listed = problems.listed().len();
            report = problems.to_string();
        });
        assert!(
            info.bytes_max <= memory_budget(len),
            "{}: {len} bytes took {} bytes at peak",
            shape.name,
            info.bytes_max
        );
        assert!(listed <= MAX_LISTED_PROBLEMS, "{}", shape.name);
        assert!(
            report.len() <= REPORT_BUDGET,
            "{}: a report of {} bytes",
            shape.name,
            report.len()
        );
        for line in report.lines() {
            assert!(line.chars().count() <= 600, "{}: {line}", shape.name);
        }
    }
}

#[test]
fn the_report_lists_the_first_problems_and_counts_the_rest() {
    let entries = 50_000;
    let name = "n".repeat(40_000);
    let text = format!(
        r#"{{"version": 1, "flags": {{"{name}": {{"enabled": true, "exclude_chats": [{}]}}}}}}"#,
        vec!["null"; entries].join(",")
    );
    let problems = parse_flag_file(&text).unwrap_err();
    // The name is too long (one problem), then each entry.
    assert_eq!(problems.len(), entries + 1);
    assert_eq!(problems.listed().len(), MAX_LISTED_PROBLEMS);
    assert_eq!(problems.unlisted(), entries + 1 - MAX_LISTED_PROBLEMS);
    let first = &problems.listed()[1];
    assert!(first.path.starts_with("flags.nnnn"), "{}", first.path);
    assert!(first.path.contains('…'), "{}", first.path);
    assert!(first.path.ends_with("n.exclude_chats[0]"), "{}", first.path);
    assert!(first.path.chars().count() <= 256, "{}", first.path);
    let shown = problems.to_string();
    assert!(
        shown.ends_with(&format!("\n... and {} more problems", entries + 1 - 100)),
        "{}",
        &shown[shown.len() - 200..]
    );
    // Problems past the hundredth are not even rendered: the whole check
    // costs about the text's size.
    let info = measure(|| drop(parse_flag_file(&text)));
    assert!(
        info.bytes_max < 2 * text.len() as u64,
        "{} bytes at peak",
        info.bytes_max
    );
}

#[test]
fn duplicates_stay_ordered_when_only_the_first_are_kept() {
    // 300 duplicate top-level keys are found after 300 nested ones (an
    // object learns its duplicates at its end), yet come first in the
    // report, as a walk from the top finds them.
    let nested: Vec<String> = (0..300)
        .map(|i| format!(r#""d{i}": 1, "d{i}": 2"#))
        .collect();
    let top: Vec<String> = (0..300)
        .map(|i| format!(r#""t{i}": 1, "t{i}": 2"#))
        .collect();
    let text = format!(
        r#"{{"version": 1, "flags": {{}}, "x": {{{}}}, {}}}"#,
        nested.join(","),
        top.join(",")
    );
    let problems = parse_flag_file(&text).unwrap_err();
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    let expected: Vec<String> = (0..100).map(|i| format!("t{i}")).collect();
    assert_eq!(paths, expected);
    // 600 duplicates, and 601 unknown fields (`x` and each `t` key twice).
    assert_eq!(problems.len(), 600 + 601);
}

/// Prints each shape's peak memory and report size (docs/bots.md's table):
/// `HOSTILE_SIZE=16000000 cargo test -p flags-core --release --test hostile
/// -- --ignored --nocapture`.
#[test]
#[ignore]
fn print_peaks() {
    let size: usize = std::env::var("HOSTILE_SIZE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64 * 1024);
    for shape in common::all(size) {
        let mut report_len = 0;
        let info = measure(|| {
            report_len = parse_flag_file(&shape.text).map_or_else(|p| p.to_string().len(), |_| 0);
        });
        println!(
            "| {} | {} | {} ({:.1}x) | {} |",
            shape.name,
            shape.text.len(),
            info.bytes_max,
            info.bytes_max as f64 / shape.text.len() as f64,
            report_len
        );
    }
}
