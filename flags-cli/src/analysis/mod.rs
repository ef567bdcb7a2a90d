//! `feature_flags --report FLAG`: the post-rollout analysis of a plan's
//! run, per phase: each cohort's outcomes, error share and p95 with 95 %
//! intervals, the `on` − `off` error difference with its interval, the
//! complaints, and the decision that ended the phase with who took it.
//!
//! Where the counts come from: with `--prometheus URL` (and `--selector`),
//! Prometheus' counters over each phase's span (historical, the fleet's
//! sum); without it, the counts the guard recorded in the rollouts file
//! when the phase ended (a scraping guard measures a phase from its start,
//! or from its own start if it started later; a phase a person ended
//! carries the guard's last measurement of it).

use std::fmt::Write as _;
use std::time::Duration;

use flags_rollout::analysis::{CohortSummary, Interval, error_difference, summarize};
use flags_rollout::jiff::Timestamp;
use flags_rollout::state::PhaseCounts;
use flags_rollout::{Rollout, Status, format_duration, phases_spec};
use serde_json::{Value, json};

use crate::Failure;
use crate::args::Cli;
use crate::http::{Client, DEFAULT_MAX_REPLY};
use crate::plans::apply::now;
use crate::store::{self, parse_rollouts};

type Out<'a> = dyn FnMut(&str) + 'a;

/// One phase of the report, before its counts are analysed.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseRow {
    /// 1-based.
    pub phase: usize,
    pub percentage: f64,
    pub from: Timestamp,
    pub to: Timestamp,
    /// `advance`, `done`, `rollback`, or the plan's state for the phase it
    /// is in.
    pub decision: String,
    pub reason: String,
    pub by: String,
    pub counts: Option<PhaseCounts>,
}

/// The phases of the plan's current run: those it left, then the one it
/// is in while running or paused.
pub fn rows(r: &Rollout, now: Timestamp) -> Vec<PhaseRow> {
    let pct = |p: flags_core::Percentage| f64::from(p.millis()) / 1000.0;
    let mut rows: Vec<PhaseRow> = r
        .state
        .history
        .iter()
        .map(|h| PhaseRow {
            phase: h.phase + 1,
            percentage: pct(h.percentage),
            from: h.from,
            to: h.to,
            decision: h.action.clone(),
            reason: h.reason.clone(),
            by: h.by.clone(),
            counts: h.counts,
        })
        .collect();
    if matches!(r.state.status, Status::Running | Status::Paused) {
        rows.push(PhaseRow {
            phase: r.state.phase + 1,
            percentage: pct(r.plan.phases[r.state.phase].percentage),
            from: r.state.since,
            to: now,
            decision: r.state.status.name().to_owned(),
            reason: r
                .state
                .last_decision
                .as_ref()
                .map(|d| d.reason.clone())
                .unwrap_or_default(),
            by: String::new(),
            counts: r.state.phase_counts,
        });
    }
    rows
}

/// A row's analysis as `--json` gives it.
pub fn row_json(row: &PhaseRow) -> Value {
    let counts = row.counts.as_ref();
    let cohort = |c: Option<CohortSummary>| match c {
        None => Value::Null,
        Some(s) => json!({
            "outcomes": num(s.outcomes),
            "errors": num(s.errors),
            "error_share": num(s.error_share),
            "error_share_95": interval(s.error_share_95),
            "p95_seconds": num(s.p95),
            "p95_seconds_95": interval(s.p95_95),
        }),
    };
    let difference = counts.map_or(Value::Null, |c| {
        let (d, ci) = error_difference(&c.on, &c.off);
        json!({"error_share": num(d), "error_share_95": interval(ci)})
    });
    json!({
        "phase": row.phase,
        "percentage": row.percentage,
        "from": row.from.to_string(),
        "to": row.to.to_string(),
        "decision": row.decision,
        "reason": row.reason,
        "by": row.by,
        "on": cohort(counts.map(|c| summarize(&c.on))),
        "off": cohort(counts.map(|c| summarize(&c.off))),
        "on_minus_off": difference,
        "complaints": counts.map_or(Value::Null, |c| num(c.complaints)),
    })
}

fn num(v: f64) -> Value {
    if v.is_finite() { json!(v) } else { Value::Null }
}

/// `[low, high]`; an infinite end (a p95 above the last bucket) is null.
fn interval(i: Interval) -> Value {
    json!([num(i.low), num(i.high)])
}

fn share(v: f64) -> String {
    if v.is_finite() {
        format!("{:.2} %", v * 100.0)
    } else {
        "-".into()
    }
}

fn seconds(v: f64) -> String {
    if v.is_infinite() {
        "∞".into()
    } else if v.is_finite() {
        format!("{} s", (v * 1000.0).round() / 1000.0)
    } else {
        "-".into()
    }
}

fn count(v: f64) -> String {
    if v.is_finite() {
        format!("{}", v.round() as i64)
    } else {
        "-".into()
    }
}

/// A row as text: a heading line, then one line per cohort, the
/// difference and the complaints.
pub fn row_text(row: &PhaseRow) -> String {
    let mut t = String::new();
    let span = format_duration(row.to.duration_since(row.from));
    let by = if row.by.is_empty() {
        String::new()
    } else {
        format!(" by {}", row.by)
    };
    let _ = writeln!(
        t,
        "phase {} at {} %: {} to {} ({span}): {}{by}: {}",
        row.phase, row.percentage, row.from, row.to, row.decision, row.reason
    );
    let Some(c) = &row.counts else {
        let _ = writeln!(
            t,
            "  no counts: the guard did not measure this phase (--prometheus URL reads them from Prometheus)"
        );
        return t;
    };
    for (name, cohort) in [("on", &c.on), ("off", &c.off)] {
        let s = summarize(cohort);
        let _ = writeln!(
            t,
            "  {name:<4}{} outcomes, {} errors: error share {} (95 % CI {} to {}), p95 {} (95 % CI {} to {})",
            count(s.outcomes),
            count(s.errors),
            share(s.error_share),
            share(s.error_share_95.low),
            share(s.error_share_95.high),
            seconds(s.p95),
            seconds(s.p95_95.low),
            seconds(s.p95_95.high),
        );
    }
    let (d, ci) = error_difference(&c.on, &c.off);
    let pp = |v: f64| {
        if v.is_finite() {
            format!("{:+.2} pp", v * 100.0)
        } else {
            "-".into()
        }
    };
    let _ = writeln!(
        t,
        "  on - off error share {} (95 % CI {} to {}); complaints {}",
        pp(d),
        pp(ci.low),
        pp(ci.high),
        count(c.complaints)
    );
    t
}

/// `--report FLAG`.
pub fn run(cli: &Cli, flag: &str, out: &mut Out<'_>) -> Result<u8, Failure> {
    let mut store = store::open(cli)?;
    let docs = store.read()?;
    let rollouts = parse_rollouts(store.rollouts_name(), docs.rollouts.as_deref())?;
    let Some(rollout) = rollouts.rollouts.get(flag) else {
        return Err(Failure::new(format!(
            "{flag} has no rollout plan; --feature {flag} --plan sets one"
        )));
    };
    let mut rows = rows(rollout, now());
    let source = match &cli.prometheus {
        Some(url) => {
            let matchers =
                crate::guard::prometheus::selector_matchers(cli.selector.as_deref().unwrap_or(""))
                    .map_err(Failure::usage)?;
            let client = Client::new(Duration::from_secs(10), DEFAULT_MAX_REPLY);
            let base = url.trim_end_matches('/');
            for row in &mut rows {
                row.counts = Some(
                    crate::guard::phase_counts::phase_counts(
                        &client, base, &matchers, flag, row.from, row.to,
                    )
                    .map_err(|e| Failure::new(format!("--prometheus: {e}")))?,
                );
            }
            "prometheus"
        }
        None => "guard",
    };
    if cli.json {
        let report = json!({
            "flag": flag,
            "plan": phases_spec(&rollout.plan.phases),
            "state": rollout.state.status.name(),
            "counts_from": source,
            "phases": rows.iter().map(row_json).collect::<Vec<_>>(),
        });
        let mut text = serde_json::to_string_pretty(&report).unwrap_or_default();
        text.push('\n');
        out(&text);
        return Ok(0);
    }
    let mut text = format!(
        "{flag}: plan {} ({}); counts from {}\n",
        phases_spec(&rollout.plan.phases),
        rollout.state.status,
        if source == "guard" {
            "the guard's measurements"
        } else {
            "Prometheus"
        }
    );
    if rows.is_empty() {
        text.push_str("no phase to report yet (--start starts the plan)\n");
    }
    for row in &rows {
        text.push_str(&row_text(row));
    }
    out(&text);
    Ok(0)
}
