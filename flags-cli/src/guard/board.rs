//! What the guard knows after each check, shared with its status server:
//! per plan its state and trigger readings, the recent decisions, and the
//! counters of its own metrics. The loop replaces it after each check; the
//! server only reads it.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use flags_core::exposition::{GoFloat, Kind, Labels, header, sample};
use flags_core::metric_names::guard as names;
use flags_rollout::{Action, Cause, Trigger};

use super::scrape::BAD_REASONS;

/// How many decisions the status page keeps.
pub const RECENT_DECISIONS: usize = 50;

/// The plan states the guard's metrics export, one series each.
pub const STATES: [&str; 5] = ["pending", "running", "paused", "rolled_back", "done"];

/// The (action, trigger) pairs of `feature_flags_guard_actions_total`.
pub const ACTION_SERIES: [(&str, &str); 6] = [
    ("advanced", "none"),
    ("done", "none"),
    ("rolled_back", Trigger::ErrorRate.name()),
    ("rolled_back", Trigger::ResponseTime.name()),
    ("rolled_back", Trigger::MemoryUsage.name()),
    ("rolled_back", Trigger::Complaints.name()),
];

/// One trigger on the last check.
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerView {
    pub name: String,
    /// `on` and `off` values (error share, p95 seconds); for memory and
    /// complaints `on` is the value and `off` is NaN.
    pub on: f64,
    pub off: f64,
    pub threshold: f64,
    pub samples: f64,
    pub off_samples: f64,
    /// healthy, tripped, no_data, source_error.
    pub verdict: String,
    /// Consecutive tripped checks, and how many it takes to act.
    pub streak: u32,
    pub sustain: u32,
}

impl TriggerView {
    /// error_rate and response_time compare the cohorts; the others are
    /// one number for the whole flag or process.
    pub fn by_cohort(&self) -> bool {
        matches!(self.name.as_str(), "error_rate" | "response_time")
    }
}

/// Why a running plan is not moving on, one series each in
/// `feature_flags_guard_plan_waiting`: the alert on a stalled plan names it.
pub const WAITING: [&str; 7] = [
    "hold",
    "samples",
    "no_data",
    "source_error",
    "sustaining",
    "inconclusive",
    "criterion_no_data",
];

/// One success criterion of the current phase on the last check.
#[derive(Debug, Clone, PartialEq)]
pub struct CriterionView {
    /// `error_rate`, `response_time`, `complaints`, `no_degradation`.
    pub name: String,
    /// What it needs, such as `< 1 %` or `z <= 1.645`.
    pub needs: String,
    /// Its reading (share, seconds, complaints; for no_degradation the z).
    pub value: f64,
    /// met, unmet, no_data.
    pub outcome: String,
    /// One line for people: `error_rate 3.0 % (needs < 1 %)`.
    pub text: String,
}

/// One plan as the status page and the metrics show it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanView {
    pub flag: String,
    pub state: String,
    /// 1-based.
    pub phase: usize,
    pub phases: usize,
    pub percentage: f64,
    /// Percentages of every phase, to draw the progress.
    pub phase_percentages: Vec<f64>,
    /// Unix seconds.
    pub since: f64,
    /// Earliest time the plan may advance (unix seconds), if it can.
    pub next_step: Option<f64>,
    /// `on` outcomes seen in the phase, and how many it needs.
    pub in_phase: f64,
    pub min_samples: u64,
    pub window: String,
    pub triggers: Vec<TriggerView>,
    /// Why the plan stands where it does, in one line.
    pub reason: String,
    /// Samples of the last check that were missing or not counts (why a
    /// trigger has no data).
    pub bad: Vec<String>,
    /// The current phase's success criteria as last judged (empty before
    /// its hold is over, or when it has none).
    pub criteria: Vec<CriterionView>,
    /// For a running plan that holds: one of [`WAITING`].
    pub waiting: Option<&'static str>,
    /// The current phase's success criteria as `--success` writes them
    /// (empty: none).
    pub phase_criteria: String,
}

/// One decision line, as logged.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionLine {
    pub at: f64,
    pub flag: String,
    pub text: String,
}

#[derive(Debug, Clone, Default)]
pub struct Board {
    pub plans: Vec<PlanView>,
    pub recent: VecDeque<DecisionLine>,
    /// (flag, action, trigger) → count; action = advanced, done,
    /// rolled_back; trigger = the tripping one for a rollback, else none.
    pub actions: BTreeMap<(String, String, String), u64>,
    /// (flag, trigger) → (reading, threshold) at the last applied rollback.
    pub rollbacks: BTreeMap<(String, String), (f64, f64)>,
    /// reason → samples not used (`BAD_REASONS`).
    pub bad_samples: BTreeMap<String, u64>,
    /// source → count.
    pub source_errors: BTreeMap<String, u64>,
    pub checks: u64,
    pub last_check: Option<f64>,
    /// Problems of the last check that stop every plan (an invalid or
    /// read-only file), shown at the top of the page.
    pub problems: Vec<String>,
    /// The metrics source, as given (`--scrape ...` or `--prometheus ...`).
    pub source: String,
    pub interval_seconds: f64,
    /// A database outage in progress (see [`super::outage`]).
    pub outage: super::outage::Outage,
}

impl Board {
    pub fn decided(&mut self, line: DecisionLine) {
        if self.recent.len() == RECENT_DECISIONS {
            self.recent.pop_back();
        }
        self.recent.push_front(line);
    }

    /// Every (action, trigger) pair of `flag` at 0, so that `increase()`
    /// sees the first one.
    pub fn know_flag(&mut self, flag: &str) {
        for (action, trigger) in ACTION_SERIES {
            self.actions
                .entry((flag.to_owned(), action.to_owned(), trigger.to_owned()))
                .or_default();
        }
    }

    /// Counts a step the guard applied (advances, completions, rollbacks;
    /// holds and operator commands are not counted).
    pub fn count_action(&mut self, flag: &str, action: &Action) {
        self.know_flag(flag);
        let (name, trigger) = match action {
            Action::Advance { .. } => ("advanced", "none"),
            Action::Done { .. } => ("done", "none"),
            Action::RollBack {
                cause:
                    Cause::Trigger {
                        trigger,
                        value,
                        threshold,
                        ..
                    },
                ..
            } => {
                self.rollbacks.insert(
                    (flag.to_owned(), trigger.name().to_owned()),
                    (*value, *threshold),
                );
                ("rolled_back", trigger.name())
            }
            _ => return,
        };
        *self
            .actions
            .entry((flag.to_owned(), name.to_owned(), trigger.to_owned()))
            .or_default() += 1;
    }

    pub fn count_bad_sample(&mut self, reason: &str) {
        *self.bad_samples.entry(reason.to_owned()).or_default() += 1;
    }

    pub fn count_source_error(&mut self, source: &str) {
        *self.source_errors.entry(source.to_owned()).or_default() += 1;
    }

    /// The guard's own metrics (CONTRACT.md), Prometheus text format.
    pub fn metrics_text(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = self
            .plan_metrics(&mut out)
            .and_then(|()| self.trigger_metrics(&mut out))
            .and_then(|()| self.counter_metrics(&mut out));
        out
    }

    fn plan_metrics(&self, out: &mut String) -> fmt::Result {
        header(
            out,
            names::PLAN_STATE,
            Kind::Gauge,
            "1 for the plan's current state, 0 for the others.",
        )?;
        for p in &self.plans {
            for state in STATES {
                let current = u8::from(p.state == state);
                let labels: &Labels<'_> = &[("flag", &p.flag), ("state", &state)];
                sample(out, names::PLAN_STATE, labels, current)?;
            }
        }
        self.per_plan(
            out,
            names::PLAN_PHASE,
            "The plan's current phase, from 1.",
            |p| Some(p.phase as f64),
        )?;
        self.per_plan(
            out,
            names::PLAN_PHASES,
            "How many phases the plan has.",
            |p| Some(p.phases as f64),
        )?;
        self.per_plan(
            out,
            names::PLAN_PERCENTAGE,
            "The current phase's rollout percentage.",
            |p| Some(p.percentage),
        )?;
        self.per_plan(
            out,
            names::PLAN_SINCE_TIMESTAMP_SECONDS,
            "When the plan entered its current phase or state (unix time).",
            |p| Some(p.since),
        )?;
        self.per_plan(
            out,
            names::PLAN_HOLD_END_TIMESTAMP_SECONDS,
            "When the current phase's hold ends: the earliest it may advance (unix time).",
            |p| p.next_step,
        )?;
        header(
            out,
            names::PLAN_WAITING,
            Kind::Gauge,
            "1 for why a running plan holds (hold, samples, no_data, source_error, sustaining, inconclusive, criterion_no_data), 0 for the others.",
        )?;
        for p in self.plans.iter().filter(|p| p.state == "running") {
            for why in WAITING {
                let waiting = u8::from(p.waiting == Some(why));
                let labels: &Labels<'_> = &[("flag", &p.flag), ("reason", &why)];
                sample(out, names::PLAN_WAITING, labels, waiting)?;
            }
        }
        header(
            out,
            names::PLAN_CRITERION_VALUE,
            Kind::Gauge,
            "Each success criterion of the current phase on the last check: its reading (a share, p95 seconds, complaints; z for no_degradation), NaN without data; `needs` says what it must be.",
        )?;
        for p in &self.plans {
            for c in &p.criteria {
                let labels: &Labels<'_> = &[
                    ("flag", &p.flag),
                    ("criterion", &c.name),
                    ("needs", &c.needs),
                ];
                sample(out, names::PLAN_CRITERION_VALUE, labels, GoFloat(c.value))?;
            }
        }
        header(
            out,
            names::PLAN_CRITERION_MET,
            Kind::Gauge,
            "1 when the success criterion held on the last check, 0 when not or without data.",
        )?;
        for p in &self.plans {
            for c in &p.criteria {
                let met = u8::from(c.outcome == "met");
                let labels: &Labels<'_> = &[("flag", &p.flag), ("criterion", &c.name)];
                sample(out, names::PLAN_CRITERION_MET, labels, met)?;
            }
        }
        Ok(())
    }

    /// A gauge family with one sample per plan that `value` has a reading
    /// for.
    fn per_plan(
        &self,
        out: &mut String,
        name: &str,
        help: &str,
        value: impl Fn(&PlanView) -> Option<f64>,
    ) -> fmt::Result {
        header(out, name, Kind::Gauge, help)?;
        for p in &self.plans {
            if let Some(v) = value(p) {
                sample(out, name, &[("flag", &p.flag)], GoFloat(v))?;
            }
        }
        Ok(())
    }

    fn trigger_metrics(&self, out: &mut String) -> fmt::Result {
        header(
            out,
            names::TRIGGER_VALUE,
            Kind::Gauge,
            "Each trigger's value on the last check, per cohort; NaN without data.",
        )?;
        for p in &self.plans {
            for t in &p.triggers {
                let by_cohort = [("on", t.on), ("off", t.off)];
                let whole = [("all", t.on)];
                let values: &[(&str, f64)] = if t.by_cohort() { &by_cohort } else { &whole };
                for (cohort, value) in values {
                    let labels: &Labels<'_> =
                        &[("flag", &p.flag), ("trigger", &t.name), ("cohort", cohort)];
                    sample(out, names::TRIGGER_VALUE, labels, GoFloat(*value))?;
                }
            }
        }
        self.per_trigger(
            out,
            names::TRIGGER_THRESHOLD,
            "Each trigger's threshold.",
            |t| t.threshold,
        )?;
        self.per_trigger(
            out,
            names::TRIGGER_TRIPPED,
            "1 when the trigger tripped on the last check.",
            |t| f64::from(u8::from(t.verdict == "tripped")),
        )
    }

    /// A gauge family with one sample per trigger of every plan.
    fn per_trigger(
        &self,
        out: &mut String,
        name: &str,
        help: &str,
        value: impl Fn(&TriggerView) -> f64,
    ) -> fmt::Result {
        header(out, name, Kind::Gauge, help)?;
        for p in &self.plans {
            for t in &p.triggers {
                let labels: &Labels<'_> = &[("flag", &p.flag), ("trigger", &t.name)];
                sample(out, name, labels, GoFloat(value(t)))?;
            }
        }
        Ok(())
    }

    fn counter_metrics(&self, out: &mut String) -> fmt::Result {
        header(
            out,
            names::ACTIONS_TOTAL,
            Kind::Counter,
            "Advances, completions and rollbacks the guard applied; trigger is the one that tripped a rollback, else none.",
        )?;
        for ((flag, action, trigger), n) in &self.actions {
            let labels: &Labels<'_> = &[("flag", flag), ("action", action), ("trigger", trigger)];
            sample(out, names::ACTIONS_TOTAL, labels, n)?;
        }
        self.per_rollback(
            out,
            names::ROLLBACK_VALUE,
            "The reading that tripped the last applied rollback.",
            |&(value, _)| value,
        )?;
        self.per_rollback(
            out,
            names::ROLLBACK_THRESHOLD,
            "The threshold of the last applied rollback's trigger.",
            |&(_, threshold)| threshold,
        )?;
        header(
            out,
            names::BAD_SAMPLES_TOTAL,
            Kind::Counter,
            "Samples of planned flags not used: missing, nan, negative, infinite, decrease (a counter down without a restart), buckets (not cumulative).",
        )?;
        for reason in BAD_REASONS {
            let n = self.bad_samples.get(reason).copied().unwrap_or(0);
            sample(out, names::BAD_SAMPLES_TOTAL, &[("reason", &reason)], n)?;
        }
        header(
            out,
            names::SOURCE_ERRORS_TOTAL,
            Kind::Counter,
            "Checks on which a metrics source could not be read.",
        )?;
        for (source, n) in &self.source_errors {
            sample(out, names::SOURCE_ERRORS_TOTAL, &[("source", source)], n)?;
        }
        header(
            out,
            names::CHECKS_TOTAL,
            Kind::Counter,
            "Checks made since the guard started.",
        )?;
        sample(out, names::CHECKS_TOTAL, &[], self.checks)?;
        header(
            out,
            names::LAST_CHECK_TIMESTAMP_SECONDS,
            Kind::Gauge,
            "When the last check finished (unix time).",
        )?;
        if let Some(at) = self.last_check {
            sample(out, names::LAST_CHECK_TIMESTAMP_SECONDS, &[], GoFloat(at))?;
        }
        Ok(())
    }

    /// A gauge family with one sample per (flag, trigger) of the last
    /// applied rollbacks: `part` picks the reading or the threshold.
    fn per_rollback(
        &self,
        out: &mut String,
        name: &str,
        help: &str,
        part: impl Fn(&(f64, f64)) -> f64,
    ) -> fmt::Result {
        header(out, name, Kind::Gauge, help)?;
        for ((flag, trigger), reading) in &self.rollbacks {
            let labels: &Labels<'_> = &[("flag", flag), ("trigger", trigger)];
            sample(out, name, labels, GoFloat(part(reading)))?;
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::guard::textformat;

    pub fn sample_board() -> Board {
        let mut board = Board {
            source: "--scrape http://127.0.0.1:8080/metrics".into(),
            interval_seconds: 15.0,
            ..Board::default()
        };
        board.plans.push(PlanView {
            flag: "new_gpt_model".into(),
            state: "running".into(),
            phase: 2,
            phases: 4,
            percentage: 25.0,
            phase_percentages: vec![5.0, 25.0, 50.0, 100.0],
            since: 1_700_000_000.0,
            next_step: Some(1_700_259_200.0),
            in_phase: 412.0,
            min_samples: 100,
            window: "5m".into(),
            triggers: vec![
                TriggerView {
                    name: "error_rate".into(),
                    on: 0.079,
                    off: 0.008,
                    threshold: 0.05,
                    samples: 412.0,
                    off_samples: 4000.0,
                    verdict: "tripped".into(),
                    streak: 1,
                    sustain: 2,
                },
                TriggerView {
                    name: "response_time".into(),
                    on: 0.84,
                    off: 0.8,
                    threshold: 5.0,
                    samples: 412.0,
                    off_samples: 4000.0,
                    verdict: "healthy".into(),
                    streak: 0,
                    sustain: 2,
                },
                TriggerView {
                    name: "memory_usage".into(),
                    on: f64::NAN,
                    off: f64::NAN,
                    threshold: 0.9,
                    samples: 0.0,
                    off_samples: 0.0,
                    verdict: "no_data".into(),
                    streak: 0,
                    sustain: 2,
                },
                TriggerView {
                    name: "complaints".into(),
                    on: 2.0,
                    off: f64::NAN,
                    threshold: 10.0,
                    samples: 2.0,
                    off_samples: 0.0,
                    verdict: "healthy".into(),
                    streak: 0,
                    sustain: 2,
                },
            ],
            reason: "holding: error_rate tripped 1 of 2 checks".into(),
            bad: Vec::new(),
            criteria: Vec::new(),
            waiting: Some("sustaining"),
            phase_criteria: "error_rate<0.01".into(),
        });
        board.count_action(
            "new_gpt_model",
            &Action::Advance {
                to: 1,
                percentage: flags_core::Percentage::from_millis(25_000).unwrap(),
            },
        );
        board.count_source_error("http://127.0.0.1:8080/metrics");
        board.checks = 7;
        board.last_check = Some(1_700_000_100.5);
        board.decided(DecisionLine {
            at: 1_700_000_100.0,
            flag: "new_gpt_model".into(),
            text: "new_gpt_model: advanced to 25 %".into(),
        });
        board
    }

    #[test]
    fn metrics_are_valid_text_format_with_every_contract_family() {
        let text = sample_board().metrics_text();
        let mut seen = Vec::new();
        textformat::for_each_sample(
            &text,
            |_| true,
            |name, labels, value| {
                seen.push((
                    name.to_owned(),
                    labels.get("state").map(|s| s.into_owned()),
                    labels.get("cohort").map(|s| s.into_owned()),
                    value,
                ));
            },
        )
        .unwrap();
        for family in [
            "plan_state",
            "plan_phase",
            "plan_phases",
            "plan_percentage",
            "plan_since_timestamp_seconds",
            "plan_hold_end_timestamp_seconds",
            "trigger_value",
            "trigger_threshold",
            "trigger_tripped",
            "actions_total",
            "bad_samples_total",
            "source_errors_total",
            "checks_total",
            "last_check_timestamp_seconds",
            "plan_waiting",
        ] {
            let name = format!("feature_flags_guard_{family}");
            assert!(seen.iter().any(|s| s.0 == name), "{name} missing:\n{text}");
        }
        let running: Vec<_> = seen
            .iter()
            .filter(|s| s.0 == "feature_flags_guard_plan_state")
            .collect();
        assert_eq!(running.len(), STATES.len());
        assert_eq!(running.iter().filter(|s| s.3 == 1.0).count(), 1);
        assert!(
            running
                .iter()
                .any(|s| s.1.as_deref() == Some("running") && s.3 == 1.0)
        );
        assert!(text.contains("feature_flags_guard_trigger_value{flag=\"new_gpt_model\",trigger=\"error_rate\",cohort=\"off\"} 0.008\n"));
        assert!(text.contains("feature_flags_guard_trigger_value{flag=\"new_gpt_model\",trigger=\"memory_usage\",cohort=\"all\"} NaN\n"));
        assert!(text.contains(
            "feature_flags_guard_trigger_tripped{flag=\"new_gpt_model\",trigger=\"error_rate\"} 1\n"
        ));
        assert!(text.contains("feature_flags_guard_checks_total 7\n"));
        assert!(text.contains(
            "feature_flags_guard_plan_waiting{flag=\"new_gpt_model\",reason=\"sustaining\"} 1\n"
        ));
        assert!(text.contains(
            "feature_flags_guard_plan_waiting{flag=\"new_gpt_model\",reason=\"inconclusive\"} 0\n"
        ));
    }

    #[test]
    fn an_inconclusive_plan_exports_its_unmet_criterion() {
        let mut board = sample_board();
        board.plans[0].waiting = Some("inconclusive");
        board.plans[0].criteria = vec![CriterionView {
            name: "error_rate".into(),
            needs: "< 1 %".into(),
            value: 0.03,
            outcome: "unmet".into(),
            text: "error_rate 3.0 % (needs < 1 %)".into(),
        }];
        let text = board.metrics_text();
        textformat::for_each_sample(&text, |_| true, |_, _, _| {}).unwrap();
        for line in [
            "feature_flags_guard_plan_waiting{flag=\"new_gpt_model\",reason=\"inconclusive\"} 1\n",
            "feature_flags_guard_plan_criterion_value{flag=\"new_gpt_model\",criterion=\"error_rate\",needs=\"< 1 %\"} 0.03\n",
            "feature_flags_guard_plan_criterion_met{flag=\"new_gpt_model\",criterion=\"error_rate\"} 0\n",
        ] {
            assert!(text.contains(line), "{line}{text}");
        }
    }

    #[test]
    fn actions_are_exported_at_zero_then_counted_by_trigger() {
        let mut board = Board::default();
        board.know_flag("gpt");
        let text = board.metrics_text();
        for (action, trigger) in ACTION_SERIES {
            let line = format!(
                "feature_flags_guard_actions_total{{flag=\"gpt\",action=\"{action}\",trigger=\"{trigger}\"}} 0\n"
            );
            assert!(text.contains(&line), "{line} missing:\n{text}");
        }
        for reason in BAD_REASONS {
            let line = format!("feature_flags_guard_bad_samples_total{{reason=\"{reason}\"}} 0\n");
            assert!(text.contains(&line), "{line}");
        }
        board.count_action(
            "gpt",
            &Action::RollBack {
                cause: Cause::Trigger {
                    trigger: Trigger::ErrorRate,
                    value: 0.2,
                    threshold: 0.05,
                    samples: 400.0,
                    worst: Vec::new(),
                },
                to: flags_rollout::RollBackTo::Disable,
            },
        );
        board.count_action(
            "gpt",
            &Action::Hold(flags_rollout::HoldReason::NoData {
                trigger: Trigger::Complaints,
                why: "no complaints series".into(),
                also: Vec::new(),
            }),
        );
        board.count_bad_sample("missing");
        let text = board.metrics_text();
        assert!(text.contains("feature_flags_guard_actions_total{flag=\"gpt\",action=\"rolled_back\",trigger=\"error_rate\"} 1\n"));
        assert!(text.contains("feature_flags_guard_actions_total{flag=\"gpt\",action=\"advanced\",trigger=\"none\"} 0\n"));
        assert!(text.contains(
            "feature_flags_guard_rollback_value{flag=\"gpt\",trigger=\"error_rate\"} 0.2\n"
        ));
        assert!(text.contains(
            "feature_flags_guard_rollback_threshold{flag=\"gpt\",trigger=\"error_rate\"} 0.05\n"
        ));
        assert!(text.contains("feature_flags_guard_bad_samples_total{reason=\"missing\"} 1\n"));
        assert_eq!(
            text.matches("feature_flags_guard_actions_total{").count(),
            6
        );
    }

    #[test]
    fn recent_decisions_are_bounded_newest_first() {
        let mut board = Board::default();
        for i in 0..(RECENT_DECISIONS + 10) {
            board.decided(DecisionLine {
                at: i as f64,
                flag: "f".into(),
                text: format!("d{i}"),
            });
        }
        assert_eq!(board.recent.len(), RECENT_DECISIONS);
        assert_eq!(board.recent[0].text, format!("d{}", RECENT_DECISIONS + 9));
    }
}
