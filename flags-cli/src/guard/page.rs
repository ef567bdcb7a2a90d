//! The status page at `/`: plain HTML and CSS, no scripts, refreshing
//! itself, so that it works from any browser an operator has at hand; and
//! each plan's view on it, made from what a check did with the plan.

use std::fmt::Write;

use flags_rollout::criteria::Z_DEGRADATION;
use flags_rollout::plan::fmt_number;
use flags_rollout::{
    Action, Criterion, CriterionReading, HoldReason, Outcome, Reading, Rollout, Status,
    format_duration,
};

use super::board::{Board, CriterionView, PlanView, TriggerView};
use super::run::{PlanCheck, pct, unix};

/// Seconds between refreshes of the page.
pub const REFRESH_SECONDS: u32 = 5;

pub fn render(board: &Board, now: f64) -> String {
    let mut h = String::with_capacity(8 * 1024 + board.plans.len() * 2048);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>feature_flags guard</title><style>{CSS}</style></head><body>\
<h1>feature_flags guard</h1><p class=\"meta\">"
    );
    let _ = write!(
        h,
        "source {} · every {} · ",
        esc(&board.source),
        duration(board.interval_seconds)
    );
    match board.last_check {
        Some(at) => {
            let _ = write!(h, "check {} ({} ago)", board.checks, duration(now - at));
        }
        None => h.push_str("no check yet"),
    }
    h.push_str("</p>");
    for problem in &board.problems {
        let _ = write!(h, "<p class=\"problem\">{}</p>", esc(problem));
    }
    if board.plans.is_empty() {
        h.push_str("<p id=\"no-plans\">No rollout plans.</p>");
    }
    for plan in &board.plans {
        plan_section(&mut h, plan, now);
    }
    h.push_str("<h2>Recent decisions</h2>");
    if board.recent.is_empty() {
        h.push_str("<p>None yet.</p>");
    } else {
        h.push_str("<ul id=\"decisions\">");
        for d in &board.recent {
            let _ = write!(
                h,
                "<li><span class=\"t\">{}</span> {}</li>",
                ago(now - d.at),
                esc(&d.text)
            );
        }
        h.push_str("</ul>");
    }
    h.push_str("</body></html>\n");
    h
}

fn plan_section(h: &mut String, p: &PlanView, now: f64) {
    let _ = write!(
        h,
        "<section class=\"plan {state}\" id=\"plan-{id}\"><h2>{flag} <span class=\"state\">{state_text}</span></h2>",
        state = esc(&p.state),
        id = esc(&p.flag),
        flag = esc(&p.flag),
        state_text = esc(&p.state.replace('_', " ")),
    );
    h.push_str("<ol class=\"phases\">");
    for (i, pct) in p.phase_percentages.iter().enumerate() {
        let class = match (i + 1).cmp(&p.phase) {
            std::cmp::Ordering::Less => "past",
            std::cmp::Ordering::Equal => "current",
            std::cmp::Ordering::Greater => "future",
        };
        let _ = write!(h, "<li class=\"{class}\">{} %</li>", number(*pct));
    }
    h.push_str("</ol>");
    let _ = write!(
        h,
        "<p>phase {}/{} at {} % since {} · window {} · {} <i>on</i> outcomes in phase (needs {}) · ",
        p.phase,
        p.phases,
        number(p.percentage),
        ago(now - p.since),
        esc(&p.window),
        number(p.in_phase),
        p.min_samples
    );
    if !p.phase_criteria.is_empty() {
        let _ = write!(
            h,
            "to advance: <b class=\"success\">{}</b> · ",
            esc(&p.phase_criteria)
        );
    }
    match (p.state.as_str(), p.next_step) {
        ("running", Some(at)) if at > now => {
            let _ = write!(
                h,
                "next step in <b class=\"next\">{}</b>",
                duration(at - now)
            );
        }
        ("running", Some(_)) if p.waiting == Some("inconclusive") => h.push_str(
            "<b class=\"next inconclusive\">inconclusive</b>: a success criterion is not met; a person decides (--advance or --abort)",
        ),
        ("running", Some(_)) => {
            h.push_str("<b class=\"next\">next step due</b> (when healthy with enough outcomes)")
        }
        ("running", None) => h.push_str("last phase"),
        _ => h.push_str("the guard leaves it alone"),
    }
    let _ = write!(h, "</p><p class=\"reason\">{}</p>", esc(&p.reason));
    if !p.bad.is_empty() {
        let _ = write!(
            h,
            "<p class=\"problem\">no data from: {}</p>",
            esc(&p.bad.join("; "))
        );
    }
    if !p.criteria.is_empty() {
        h.push_str(
            "<table class=\"criteria\"><thead><tr><th>success criterion</th><th>reading</th>\
<th>needs</th><th>outcome</th></tr></thead><tbody>",
        );
        for c in &p.criteria {
            let _ = write!(
                h,
                "<tr class=\"{outcome}\"><td>{name}</td><td>{text}</td><td>{needs}</td><td>{outcome_text}</td></tr>",
                outcome = esc(&c.outcome),
                name = esc(&c.name),
                text = esc(&c.text),
                needs = esc(&c.needs),
                outcome_text = esc(&c.outcome.replace('_', " ")),
            );
        }
        h.push_str("</tbody></table>");
    }
    h.push_str(
        "<table><thead><tr><th>trigger</th><th>on</th><th>off</th><th>threshold</th>\
<th>samples (on/off)</th><th>verdict</th></tr></thead><tbody>",
    );
    for t in &p.triggers {
        trigger_row(h, t);
    }
    h.push_str("</tbody></table></section>");
}

fn trigger_row(h: &mut String, t: &TriggerView) {
    let show = |v: f64| {
        if v.is_nan() {
            "–".to_owned()
        } else {
            value(&t.name, v)
        }
    };
    let off = if t.by_cohort() {
        show(t.off)
    } else {
        String::new()
    };
    let samples = if t.by_cohort() {
        format!("{}/{}", number(t.samples), number(t.off_samples))
    } else {
        number(t.samples)
    };
    let streak = if t.verdict == "tripped" {
        format!(" {}/{}", t.streak, t.sustain)
    } else {
        String::new()
    };
    let _ = write!(
        h,
        "<tr class=\"{v}\"><td>{name}</td><td>{on}</td><td>{off}</td><td>{th}</td><td>{samples}</td><td>{vt}{streak}</td></tr>",
        v = esc(&t.verdict),
        name = esc(&t.name),
        on = show(t.on),
        th = value(&t.name, t.threshold),
        vt = esc(&t.verdict.replace('_', " ")),
    );
}

/// A plan as the page shows it: as the files have it after the check (a
/// step that was not applied shows nothing it did not do), with this
/// check's readings; a plan the check did not decide, with its last
/// decision's.
pub fn plan_view(flag: &str, r: &Rollout, check: Option<&PlanCheck>) -> PlanView {
    let applied = check.and_then(PlanCheck::applied);
    let state = check.map_or(&r.state, PlanCheck::state);
    let plan = &r.plan;
    let readings: Vec<Reading> = match check {
        Some(c) => c.step().readings.clone(),
        None => state
            .last_decision
            .as_ref()
            .map(|d| d.readings.clone())
            .unwrap_or_default(),
    };
    let phase = state.phase.min(plan.phases.len().saturating_sub(1));
    let next_step = plan.phases[phase]
        .hold
        .filter(|_| state.status == Status::Running)
        .and_then(|h| state.since.checked_add(h).ok())
        .map(unix);
    PlanView {
        flag: flag.to_owned(),
        state: state.status.name().to_owned(),
        phase: phase + 1,
        phases: plan.phases.len(),
        percentage: pct(plan.phases[phase].percentage),
        phase_percentages: plan.phases.iter().map(|p| pct(p.percentage)).collect(),
        since: unix(state.since),
        next_step,
        in_phase: check.map_or(f64::NAN, PlanCheck::in_phase),
        min_samples: plan.min_samples,
        window: format_duration(plan.window),
        triggers: readings
            .iter()
            .map(|rd| TriggerView {
                name: rd.trigger.name().to_owned(),
                on: rd.on,
                off: rd.off,
                threshold: rd.threshold,
                samples: rd.samples,
                off_samples: rd.off_samples,
                verdict: rd.verdict.name().to_owned(),
                streak: state.streak(rd.trigger),
                sustain: plan.sustain,
            })
            .collect(),
        // An applied hold that was not written still has this check's
        // reason (its numbers are new).
        reason: applied
            .and_then(|s| s.state.last_decision.as_ref())
            .or(state.last_decision.as_ref())
            .map(|d| d.reason.clone())
            .unwrap_or_default(),
        bad: check.map(|c| c.bad().to_vec()).unwrap_or_default(),
        criteria: applied
            .map(|s| s.criteria.iter().map(criterion_view).collect())
            .unwrap_or_default(),
        phase_criteria: match plan.criteria(phase) {
            [] => String::new(),
            c => flags_rollout::criteria::conditions_spec(c),
        },
        waiting: applied
            .filter(|s| state.status == Status::Running && s.state.status == Status::Running)
            .and_then(|s| match &s.action {
                Action::Hold(why) => waiting(why),
                _ => None,
            }),
    }
}

/// Why a running plan holds, as `feature_flags_guard_plan_waiting` names it.
fn waiting(why: &HoldReason) -> Option<&'static str> {
    Some(match why {
        HoldReason::NotRunning(_) => return None,
        HoldReason::HoldTime { .. } => "hold",
        HoldReason::FewSamplesInPhase { .. } => "samples",
        HoldReason::NoData { .. } => "no_data",
        HoldReason::SourceError { .. } => "source_error",
        HoldReason::Sustaining { .. } => "sustaining",
        HoldReason::Inconclusive(_) => "inconclusive",
        HoldReason::CriterionNoData(_) => "criterion_no_data",
    })
}

fn criterion_view(r: &CriterionReading) -> CriterionView {
    let (needs, value) = match r.criterion {
        Criterion::ErrorRate(b) => (format!("< {} %", fmt_number(b * 100.0)), r.value),
        Criterion::ResponseTime(b) => (format!("< {} s", fmt_number(b)), r.value),
        Criterion::Complaints(b) => (format!("< {}", fmt_number(b)), r.value),
        Criterion::NoDegradation => (format!("z <= {Z_DEGRADATION}"), r.z),
    };
    CriterionView {
        name: r.criterion.name().to_owned(),
        needs,
        value,
        outcome: match r.outcome {
            Outcome::Met => "met",
            Outcome::Unmet => "unmet",
            Outcome::NoData => "no_data",
        }
        .to_owned(),
        text: r.to_string(),
    }
}

/// A trigger's value in its unit: shares as percentages, seconds.
pub fn value(trigger: &str, v: f64) -> String {
    match trigger {
        "error_rate" | "memory_usage" => format!("{} %", round(v * 100.0, 1)),
        "response_time" => format!("{} s", round(v, 2)),
        _ => number(v),
    }
}

fn round(v: f64, digits: i32) -> String {
    let f = 10f64.powi(digits);
    number((v * f).round() / f)
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// `3d 4h`, `5m 10s`, `12s`.
pub fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    let (d, h, m, s) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

fn ago(seconds: f64) -> String {
    format!("{} ago", duration(seconds))
}

pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = "body{font:15px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}\
h1{font-size:1.4em;margin:0}.meta{color:#666;margin-top:.2em}\
section.plan{background:#fff;border:1px solid #ddd;border-left:6px solid #888;border-radius:6px;padding:.6em 1em;margin:1em 0}\
section.running{border-left-color:#2a7de1}section.done{border-left-color:#2e9d4f}\
section.rolled_back{border-left-color:#d33}section.paused,section.pending{border-left-color:#c90}\
h2{font-size:1.15em;margin:.3em 0}.state{font-size:.8em;padding:.1em .5em;border-radius:1em;background:#eee}\
ol.phases{list-style:none;display:flex;gap:4px;padding:0;margin:.4em 0}\
ol.phases li{flex:1;text-align:center;padding:.2em;border-radius:3px;background:#e4e4e4}\
ol.phases li.past{background:#9fd3ad}ol.phases li.current{background:#2a7de1;color:#fff;font-weight:bold}\
.rolled_back ol.phases li.current{background:#d33}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.25em .6em;border-bottom:1px solid #eee}\
tr.tripped td{background:#fde2e2;font-weight:bold}tr.unmet td{background:#fff3cd;font-weight:bold}\
table.criteria{margin-bottom:.5em}.inconclusive{color:#a60}tr.no_data td,tr.source_error td{color:#888}\
.reason{font-style:italic;color:#444}.problem{background:#fde2e2;padding:.5em;border-radius:4px}\
#decisions{font-family:ui-monospace,monospace;font-size:.9em}.t{color:#888}";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::board::tests::sample_board;

    #[test]
    fn shows_plans_triggers_side_by_side_and_decisions() {
        let html = render(&sample_board(), 1_700_000_200.0);
        assert!(html.contains("<meta http-equiv=\"refresh\""));
        assert!(html.contains("id=\"plan-new_gpt_model\""));
        assert!(html.contains("phase 2/4 at 25 %"));
        assert!(html.contains("<tr class=\"tripped\"><td>error_rate</td><td>7.9 %</td><td>0.8 %</td><td>5 %</td><td>412/4000</td><td>tripped 1/2</td></tr>"), "{html}");
        assert!(html.contains("next step in <b class=\"next\">2d 23h</b>"));
        assert!(html.contains("new_gpt_model: advanced to 25 %"));
        assert!(!html.contains("<script"));
    }

    #[test]
    fn an_inconclusive_phase_names_its_unmet_criterion() {
        let mut board = sample_board();
        let p = &mut board.plans[0];
        p.waiting = Some("inconclusive");
        p.next_step = Some(1_700_000_100.0);
        p.criteria = vec![crate::guard::board::CriterionView {
            name: "error_rate".into(),
            needs: "< 1 %".into(),
            value: 0.03,
            outcome: "unmet".into(),
            text: "error_rate 3.0 % (needs < 1 %)".into(),
        }];
        let html = render(&board, 1_700_000_200.0);
        assert!(
            html.contains("<b class=\"next inconclusive\">inconclusive</b>"),
            "{html}"
        );
        assert!(
            html.contains("<tr class=\"unmet\"><td>error_rate</td><td>error_rate 3.0 % (needs &lt; 1 %)</td><td>&lt; 1 %</td><td>unmet</td></tr>"),
            "{html}"
        );
    }

    #[test]
    fn escapes_what_it_shows() {
        let mut board = sample_board();
        board.problems.push("<b>flags.json</b> & co".into());
        let html = render(&board, 0.0);
        assert!(html.contains("&lt;b&gt;flags.json&lt;/b&gt; &amp; co"));
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(12.4), "12s");
        assert_eq!(duration(310.0), "5m 10s");
        assert_eq!(duration(3.0 * 3600.0 + 60.0), "3h 1m");
        assert_eq!(duration(86_400.0 * 2.0 + 3600.0), "2d 1h");
        assert_eq!(duration(-5.0), "0s");
    }
}
