//! A phase's counts from Prometheus: the increases of the outcome, bucket
//! and complaint counters over the phase's span, evaluated at its end
//! (`/api/v1/query` with `time`), summed over every series of the flag (any
//! label beyond `cohort`, `result` and `le` is summed away).

use std::time::Duration;

use flags_rollout::jiff::Timestamp;
use flags_rollout::measure::{CohortWindow, DURATION_BOUNDS};
use flags_rollout::state::PhaseCounts;

use crate::http::Client;

use super::prometheus::{Series, parse_vector};
use super::scrape::{COMPLAINTS, DURATION_BUCKETS, OUTCOMES, bad_reason};

/// `metric{matchers,flag="F"}`.
fn selected(metric: &str, matchers: &str, flag: &str) -> String {
    let flag = flag.replace('\\', "\\\\").replace('"', "\\\"");
    if matchers.is_empty() {
        format!("{metric}{{flag=\"{flag}\"}}")
    } else {
        format!("{metric}{{{matchers},flag=\"{flag}\"}}")
    }
}

fn query(client: &Client, base: &str, promql: &str, at: Timestamp) -> Result<Vec<Series>, String> {
    let url = format!("{base}/api/v1/query");
    let time = format!("{:.3}", at.as_millisecond() as f64 / 1000.0);
    let body = client.get(
        &url,
        &[("query", promql), ("time", &time)],
        "application/json",
    )?;
    parse_vector(&body).map_err(|e| format!("{url} {promql}: {e}"))
}

/// A value that is a count, else NaN (never a silent zero).
fn checked(v: f64) -> f64 {
    if bad_reason(v).is_some() { f64::NAN } else { v }
}

/// The series' cohort in `counts` (`None`: a series of neither cohort).
fn cohort<'a>(counts: &'a mut PhaseCounts, s: &Series) -> Option<&'a mut CohortWindow> {
    match s.labels.get("cohort").map(String::as_str) {
        Some("on") => Some(&mut counts.on),
        Some("off") => Some(&mut counts.off),
        _ => None,
    }
}

/// The flag's counts over `[from, to]`.
pub fn phase_counts(
    client: &Client,
    base: &str,
    matchers: &str,
    flag: &str,
    from: Timestamp,
    to: Timestamp,
) -> Result<PhaseCounts, String> {
    let span = Duration::try_from(to.duration_since(from)).unwrap_or_default();
    let range = format!("{}s", span.as_secs().max(1));
    // `aggregation(increase(metric{...}[range]))` at the phase's end.
    let increase = |aggregation: &str, metric: &str| {
        let series = selected(metric, matchers, flag);
        query(
            client,
            base,
            &format!("{aggregation}(increase({series}[{range}]))"),
            to,
        )
    };
    let mut counts = PhaseCounts {
        at: Some(to),
        ..PhaseCounts::default()
    };
    for s in increase("sum by (cohort, result) ", OUTCOMES)? {
        let Some(target) = cohort(&mut counts, &s) else {
            continue;
        };
        match s.labels.get("result").map(String::as_str) {
            Some("ok") => target.ok += checked(s.value),
            Some("error") => target.errors += checked(s.value),
            _ => {}
        }
    }
    for s in increase("sum by (cohort, le) ", DURATION_BUCKETS)? {
        let Some(target) = cohort(&mut counts, &s) else {
            continue;
        };
        let Some(le) = s.labels.get("le").and_then(|l| l.parse::<f64>().ok()) else {
            continue;
        };
        if let Some(i) = DURATION_BOUNDS
            .iter()
            .position(|b| (b - le).abs() <= 1e-9 * b)
        {
            target.duration_le[i] += checked(s.value);
        }
    }
    let complaints = increase("sum", COMPLAINTS)?;
    counts.complaints = complaints.first().map_or(0.0, |s| checked(s.value));
    Ok(counts)
}
