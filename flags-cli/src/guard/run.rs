//! The guard's loop: each check measures every running plan (no lock),
//! decides with flags-rollout's pure `decide`, and acts through the locked,
//! re-reading apply; one log line per plan and check. What each plan came
//! to is a [`PlanCheck`], which page.rs shows.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use flags_core::{Percentage, parse_flag_file};
use flags_rollout::measure::Measurements;
use flags_rollout::state::PhaseCounts;
use flags_rollout::{
    Action, Cause, HoldReason, Reading, RollBackTo, Rollout, RolloutsFile, State, Status, Step,
    Trigger, decide, format_duration, never_raise,
};
use jiff::{SignedDuration, Timestamp};

use super::board::{Board, DecisionLine};
use super::page::{plan_view, value};
use super::prometheus::PrometheusSource;
use super::scrape::ScrapeSource;
use crate::plans::apply::{Actor, Applied, apply_step, now as now_to_the_second};
use crate::report::invalid_line;
use crate::store::{Store, parse_rollouts};

/// Who the audit log names for the guard's edits.
pub const ACTOR: &str = "guard";

pub enum Source {
    Scrape(ScrapeSource),
    Prometheus(PrometheusSource, String),
}

impl Source {
    /// Reads the source for the running plans' flags and windows.
    fn refresh(&mut self, planned: &[(String, Duration)]) {
        match self {
            Source::Scrape(s) => s.refresh(planned),
            Source::Prometheus(p, _) => {
                let windows: Vec<Duration> = planned.iter().map(|(_, w)| *w).collect();
                p.refresh(&windows)
            }
        }
    }

    /// The bad samples' reasons since the last refresh.
    fn take_bad_samples(&mut self) -> Vec<&'static str> {
        match self {
            Source::Scrape(s) => std::mem::take(&mut s.bad_samples),
            Source::Prometheus(p, _) => std::mem::take(&mut p.bad_samples),
        }
    }

    /// The sources that failed on the last refresh (URLs).
    fn failed(&self) -> Vec<String> {
        match self {
            Source::Scrape(s) => s.failed_urls().to_vec(),
            Source::Prometheus(p, url) => {
                p.failure().map(|_| vec![url.clone()]).unwrap_or_default()
            }
        }
    }

    fn failure(&self) -> Option<&str> {
        match self {
            Source::Scrape(s) => s.failure(),
            Source::Prometheus(p, _) => p.failure(),
        }
    }

    /// The phase's counts from its start, for the plan's history.
    fn phase_counts(&self, flag: &str, since: Timestamp, now: Timestamp) -> Option<PhaseCounts> {
        match self {
            Source::Scrape(s) => s.phase_counts(flag, system_time(since)),
            Source::Prometheus(p, _) => p.phase_counts(flag, since, now).ok(),
        }
    }

    /// Each instance's own measurements, for a rollback to say where
    /// (none when the source cannot tell).
    fn per_instance(
        &mut self,
        flag: &str,
        window: Duration,
        since: SystemTime,
    ) -> Vec<(String, Measurements)> {
        match self {
            Source::Scrape(s) => s.per_instance(flag, window, since),
            Source::Prometheus(p, _) => p.per_instance(flag, window).unwrap_or_default(),
        }
    }

    fn measure(
        &mut self,
        flag: &str,
        window: Duration,
        since: SystemTime,
        now: SystemTime,
    ) -> Measurements {
        match self {
            Source::Scrape(s) => s.measure(flag, window, since),
            Source::Prometheus(p, _) => p.measure(flag, window, since, now),
        }
    }
}

pub struct Guard {
    /// The flag file, or the fleet's database: the guard does not know
    /// which; every check reads both documents again.
    pub store: Box<dyn Store>,
    pub source: Source,
    pub board: Arc<Mutex<Board>>,
    /// The (flag, trigger) pairs already warned of as never having data.
    pub warned: std::collections::BTreeSet<(String, Trigger)>,
}

fn std_duration(d: SignedDuration) -> Duration {
    d.try_into().unwrap_or(Duration::ZERO)
}

pub(super) fn unix(t: Timestamp) -> f64 {
    t.as_millisecond() as f64 / 1000.0
}

fn system_time(t: Timestamp) -> SystemTime {
    let ms = t.as_millisecond();
    if ms >= 0 {
        SystemTime::UNIX_EPOCH + Duration::from_millis(ms.unsigned_abs())
    } else {
        SystemTime::UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
    }
}

pub(super) fn pct(p: Percentage) -> f64 {
    f64::from(p.millis()) / 1000.0
}

/// The plan's window, never reaching back past the phase's start: a phase
/// is judged on its own data, and a rollback cites numbers from the phase
/// it ends (right after a move the window is short, so it has too few
/// outcomes: no data, which holds).
fn phase_window(r: &Rollout, now: Timestamp) -> Duration {
    let in_phase = std_duration(now.duration_since(r.state.since));
    std_duration(r.plan.window)
        .min(in_phase)
        .max(Duration::from_secs(1))
}

/// What a check found wrong with the documents: each stops every action.
/// The last item says whether the read itself failed.
fn read_documents(store: &mut dyn Store) -> (Option<RolloutsFile>, Vec<String>, Percentages, bool) {
    let mut problems = Vec::new();
    let mut percentages = Percentages::new();
    let docs = match store.read() {
        Ok(docs) => docs,
        Err(failure) => return (None, failure.lines, percentages, true),
    };
    match parse_flag_file(&docs.flags) {
        Ok(flags) => {
            percentages = flags
                .flags
                .iter()
                .map(|(name, def)| (name.clone(), def.rollout_percentage))
                .collect();
        }
        Err(p) => problems.push(invalid_line(store.flags_name(), &p)),
    }
    let plans = match parse_rollouts(store.rollouts_name(), docs.rollouts.as_deref()) {
        Ok(plans) => Some(plans),
        Err(failure) => {
            problems.extend(failure.lines);
            None
        }
    };
    if let Some(plans) = &plans
        && plans
            .rollouts
            .values()
            .any(|r| r.state.status == Status::Running)
    {
        problems.extend(store.cannot_write());
    }
    (plans, problems, percentages, false)
}

/// Each flag's percentage in the flag file: a rollback never goes above it.
type Percentages = std::collections::HashMap<String, Percentage>;

/// One running plan, measured and decided in a check (no lock taken yet).
struct Decision<'a> {
    flag: &'a str,
    rollout: &'a Rollout,
    step: Step,
    /// The phase's `on` outcomes so far (NaN without data).
    in_phase: f64,
    /// Why some of the flag's counts are NaN (the log line and the page
    /// name them).
    bad: Vec<String>,
}

/// What became of a decided step.
enum Fate {
    /// A hold whose only news is its numbers: the files keep what they
    /// have (see [`needs_write`]).
    Unwritten,
    Written,
    /// The plan changed since it was measured: nothing done, and why.
    Stale(String),
    /// The write failed.
    Failed(String),
}

/// A running plan after the check: its decision, what became of it, and
/// its log line.
pub struct PlanCheck<'a> {
    decision: Decision<'a>,
    fate: Fate,
    line: String,
}

impl PlanCheck<'_> {
    /// This check's step, applied or not.
    pub fn step(&self) -> &Step {
        &self.decision.step
    }

    /// The step, when the files hold what it decided (written, or a hold
    /// that needed no write).
    pub fn applied(&self) -> Option<&Step> {
        match self.fate {
            Fate::Unwritten | Fate::Written => Some(&self.decision.step),
            Fate::Stale(_) | Fate::Failed(_) => None,
        }
    }

    /// The plan's state as the files have it after the check: a step that
    /// was not written (stale, failed, or a hold with nothing new) left the
    /// state it was measured in.
    pub fn state(&self) -> &State {
        match self.fate {
            Fate::Written => &self.decision.step.state,
            _ => &self.decision.rollout.state,
        }
    }

    pub fn in_phase(&self) -> f64 {
        self.decision.in_phase
    }

    pub fn bad(&self) -> &[String] {
        &self.decision.bad
    }

    /// Advances, completions and rollbacks the guard wrote: counted in
    /// `/metrics` and listed among the page's recent decisions.
    fn acted(&self) -> bool {
        matches!(self.fate, Fate::Written) && self.decision.step.action.name() != "hold"
    }
}

impl Guard {
    /// One check. `log` gets one line per plan (and per problem, with
    /// `error: `), as printed.
    pub fn check(&mut self, log: &mut dyn FnMut(&str)) {
        let now = now_to_the_second();
        let (plans, problems, percentages, unread) = read_documents(&mut *self.store);
        let (outage, line) = super::outage::Outage::observe(
            &mut self.board.lock().unwrap_or_else(|p| p.into_inner()),
            &*self.store,
            unread.then_some(&problems[..]),
        );
        line.iter().for_each(|l| log(l));
        for p in problems.iter().filter(|_| !outage) {
            log(&format!("error: {p}; nothing written"));
        }
        let plans = plans.unwrap_or_default();
        let running: Vec<(&String, &Rollout)> = plans
            .rollouts
            .iter()
            .filter(|(_, r)| r.state.status == Status::Running)
            .collect();
        let mut failed = Vec::new();
        let mut bad_samples = Vec::new();
        let mut decisions = Vec::new();
        if problems.is_empty() && !running.is_empty() {
            let planned: Vec<(String, Duration)> = running
                .iter()
                .map(|(flag, r)| ((*flag).clone(), phase_window(r, now)))
                .collect();
            self.source.refresh(&planned);
            failed = self.source.failed();
            bad_samples = self.source.take_bad_samples();
            if let Some(f) = self.source.failure() {
                log(&format!("error: metrics source: {f}; every plan holds"));
            }
            // Every plan is decided before any is applied: the warnings of
            // all come before the first decision line.
            for (flag, rollout) in running {
                decisions.push(self.measure_and_decide(flag, rollout, &percentages, now, log));
            }
        }
        let checks: Vec<PlanCheck> = decisions
            .into_iter()
            .map(|decision| self.apply(decision, log))
            .collect();

        let mut board = self.board.lock().unwrap_or_else(|p| p.into_inner());
        board.problems = problems;
        if let Some(f) = self.source.failure().filter(|_| !failed.is_empty()) {
            board.problems.push(format!("metrics source: {f}"));
        }
        for url in &failed {
            board.count_source_error(url);
        }
        for flag in plans.rollouts.keys() {
            board.know_flag(flag);
        }
        for reason in bad_samples {
            board.count_bad_sample(reason);
        }
        let at = unix(now);
        for c in checks.iter().filter(|c| c.acted()) {
            board.count_action(c.decision.flag, &c.decision.step.action);
            board.decided(DecisionLine {
                at,
                flag: c.decision.flag.to_owned(),
                text: c.line.clone(),
            });
        }
        // Through an outage the page keeps the plans as last read.
        if !outage {
            board.plans = plans
                .rollouts
                .iter()
                .map(|(flag, r)| {
                    let check = checks.iter().find(|c| c.decision.flag == flag.as_str());
                    plan_view(flag, r, check)
                })
                .collect();
        }
        board.checks += 1;
        board.last_check = Some(unix(Timestamp::now()));
    }

    /// Measures one running plan and decides its step, named and counted as
    /// it would be written; logs the plan's warnings.
    fn measure_and_decide<'a>(
        &mut self,
        flag: &'a str,
        rollout: &'a Rollout,
        percentages: &Percentages,
        now: Timestamp,
        log: &mut dyn FnMut(&str),
    ) -> Decision<'a> {
        let m = self.source.measure(
            flag,
            phase_window(rollout, now),
            system_time(rollout.state.since),
            system_time(now),
        );
        let in_phase = m.flag.as_ref().map_or(f64::NAN, |w| w.on_outcomes_in_phase);
        let bad = m.flag.as_ref().map(|w| w.bad.clone()).unwrap_or_default();
        let mut step = never_raise(
            decide(&rollout.plan, &rollout.state, &m, now),
            percentages.get(flag).copied(),
        );
        self.name_the_worst(flag, rollout, &mut step, now);
        for line in self.never_data(flag, rollout, &m) {
            log(&line);
        }
        self.record_counts(flag, rollout, &mut step, now);
        Decision {
            flag,
            rollout,
            step,
            in_phase,
            bad,
        }
    }

    /// Applies a step through the CLI's shared apply (under the lock, both
    /// files read again, nothing written unless the plan is still as
    /// measured), and logs what became of it.
    fn apply<'a>(&mut self, decision: Decision<'a>, log: &mut dyn FnMut(&str)) -> PlanCheck<'a> {
        let Decision {
            flag,
            rollout,
            step,
            bad,
            ..
        } = &decision;
        let fate = if !needs_write(&rollout.state, step) {
            Fate::Unwritten
        } else {
            match apply_step(&mut *self.store, flag, rollout, step, Actor::Guard) {
                Ok(Applied::Written { .. }) => Fate::Written,
                Ok(Applied::Stale { why }) => Fate::Stale(why),
                Err(f) => Fate::Failed(f.lines.join("; ")),
            }
        };
        let mut line = decision_line(flag, rollout, step);
        if !bad.is_empty() {
            let _ = write!(line, "; bad data: {}", bad.join(", "));
        }
        match &fate {
            Fate::Unwritten | Fate::Written => log(&line),
            Fate::Stale(why) => log(&format!("{why}; nothing done")),
            Fate::Failed(e) => log(&format!("error: {flag}: {e}; nothing written")),
        }
        PlanCheck {
            decision,
            fate,
            line,
        }
    }

    /// Warnings, once per flag and trigger, for a trigger this source can
    /// never give data: no process memory (or no limit to divide by), or
    /// outcomes of the flag but no complaints series. Without them the
    /// plan holds for good, and the reason in every hold line is easy to
    /// read past.
    fn never_data(&mut self, flag: &str, rollout: &Rollout, m: &Measurements) -> Vec<String> {
        let mut out = Vec::new();
        let active = |t: Trigger| rollout.plan.triggers.get(t).is_some();
        if active(Trigger::MemoryUsage) && matches!(m.memory, Ok(None)) {
            let why = match &self.source {
                Source::Scrape(_) => "no scraped process exports process_resident_memory_bytes",
                Source::Prometheus(p, _) if !p.knows_memory_limit() => {
                    "no --memory-limit (the bots' limit in bytes)"
                }
                Source::Prometheus(..) => {
                    "no process_resident_memory_bytes series matches --selector"
                }
            };
            out.push((Trigger::MemoryUsage, why));
        }
        if let Ok(w) = &m.flag
            && active(Trigger::Complaints)
            && w.complaints_last_hour.is_nan()
            && w.on.total() + w.off.total() > 0.0
        {
            out.push((
                Trigger::Complaints,
                "the flag has outcomes but no feature_flags_complaints_total series",
            ));
        }
        out.into_iter()
            .filter(|(t, _)| self.warned.insert((flag.to_owned(), *t)))
            .map(|(t, why)| {
                format!(
                    "warning: {flag}: the {t} trigger has no data and holds the plan: {why} \
                     (turn it off with --feature {flag} --triggers {t}=off)"
                )
            })
            .collect()
    }

    /// A rollback on a trigger says where: the instances where the trigger
    /// read worst, in the action (so in the audit's reason), the state's
    /// last decision and the log line.
    fn name_the_worst(&mut self, flag: &str, rollout: &Rollout, step: &mut Step, now: Timestamp) {
        let Action::RollBack {
            cause: Cause::Trigger { trigger, worst, .. },
            ..
        } = &mut step.action
        else {
            return;
        };
        let each = self.source.per_instance(
            flag,
            phase_window(rollout, now),
            system_time(rollout.state.since),
        );
        *worst = flags_rollout::worst(&rollout.plan, *trigger, &each);
        let reason = step.action.to_string();
        if let Some(d) = &mut step.state.last_decision {
            d.reason = reason;
        }
    }

    /// Keeps the phase's counts in the state that is written anyway: in
    /// the history when the step ends the phase, else as the current
    /// phase's counts (so a person's `--advance` carries them).
    fn record_counts(&self, flag: &str, rollout: &Rollout, step: &mut Step, now: Timestamp) {
        let ends = matches!(
            step.action,
            Action::Advance { .. } | Action::Done { .. } | Action::RollBack { .. }
        );
        if !ends && !needs_write(&rollout.state, step) {
            return;
        }
        let Some(counts) = self.source.phase_counts(flag, rollout.state.since, now) else {
            return;
        };
        match step.state.history.last_mut() {
            // Newer than what the state carried from an earlier write.
            Some(r) if ends => r.counts = Some(counts),
            _ if !ends => step.state.phase_counts = Some(counts),
            _ => {}
        }
    }

    /// Checks every `interval` until `stop` is set; a stop request ends the
    /// wait at once, never a check half-way.
    pub fn run(&mut self, interval: Duration, stop: &AtomicBool, log: &mut dyn FnMut(&str)) {
        while !stop.load(Ordering::Relaxed) {
            let started = Instant::now();
            self.check(log);
            while started.elapsed() < interval && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50).min(interval));
            }
        }
    }
}

/// Holds change only the streaks and the last decision: write them when
/// the streaks or the kind of hold changed, not when only its numbers did
/// (samples seen, time left): a waiting phase would otherwise rewrite the
/// file, with an fsync and a new inode, on every check.
fn needs_write(before: &State, step: &Step) -> bool {
    let kind = |d: Option<&flags_rollout::LastDecision>| {
        d.map(|d| (d.action.clone(), hold_kind(&d.reason)))
    };
    step.action.name() != "hold"
        || before.streaks != step.state.streaks
        || before.evidence != step.state.evidence
        || kind(before.last_decision.as_ref()) != kind(step.state.last_decision.as_ref())
}

/// A hold's reason without its numbers.
fn hold_kind(reason: &str) -> String {
    reason
        .chars()
        .filter(|c| !c.is_ascii_digit() && *c != '.')
        .collect()
}

fn reading_text(r: &Reading) -> String {
    let name = r.trigger.name();
    let shown = |v: f64| {
        if v.is_nan() {
            "no data".to_owned()
        } else {
            value(name, v)
        }
    };
    match name {
        "error_rate" | "response_time" => format!(
            "{name} {} (off {}), {}/{} samples",
            shown(r.on),
            shown(r.off),
            count(r.samples),
            count(r.off_samples)
        ),
        _ => format!("{name} {}", shown(r.on)),
    }
}

fn count(v: f64) -> String {
    if v.is_nan() {
        "0".into()
    } else {
        format!("{}", v.floor() as i64)
    }
}

/// One log line: what was decided, and on what.
pub fn decision_line(flag: &str, rollout: &Rollout, step: &Step) -> String {
    let plan = &rollout.plan;
    let window = format_duration(plan.window);
    let phases = plan.phases.len();
    let readings = step
        .readings
        .iter()
        .map(reading_text)
        .collect::<Vec<_>>()
        .join("; ");
    let met = if step.criteria.is_empty() {
        String::new()
    } else {
        let met: Vec<String> = step.criteria.iter().map(ToString::to_string).collect();
        format!(", criteria met: {}", met.join(", "))
    };
    match &step.action {
        Action::RollBack { cause, to } => {
            let target = match to {
                RollBackTo::Disable => "0 % (disabled)".to_owned(),
                RollBackTo::Phase { index, percentage } => {
                    format!("{} % (phase {}/{phases})", pct(*percentage), index + 1)
                }
            };
            match cause {
                Cause::Trigger {
                    trigger,
                    value: v,
                    threshold,
                    samples,
                    worst,
                } => {
                    let name = trigger.name();
                    let off = step
                        .readings
                        .iter()
                        .find(|r| r.trigger == *trigger)
                        .filter(|r| {
                            !r.off.is_nan() && matches!(name, "error_rate" | "response_time")
                        })
                        .map(|r| format!(" (off cohort {})", value(name, r.off)))
                        .unwrap_or_default();
                    let worst = if worst.is_empty() {
                        String::new()
                    } else {
                        let each: Vec<String> = worst
                            .iter()
                            .map(|w| {
                                let samples = match name {
                                    "error_rate" | "response_time" => {
                                        format!(" ({} samples)", count(w.samples))
                                    }
                                    _ => String::new(),
                                };
                                format!("{} {}{samples}", w.instance, value(name, w.value))
                            })
                            .collect();
                        format!("; worst: {}", each.join(", "))
                    };
                    format!(
                        "{flag}: rolled back to {target}: {name} {} > {}{off}, {} samples in {window}{worst}",
                        value(name, *v),
                        value(name, *threshold),
                        count(*samples)
                    )
                }
                Cause::Operator => format!("{flag}: rolled back to {target}: aborted"),
            }
        }
        Action::Advance { to, percentage } => format!(
            "{flag}: advanced to phase {}/{phases} ({} %): healthy{met}; {readings}",
            to + 1,
            pct(*percentage)
        ),
        Action::Done { percentage } => format!(
            "{flag}: done at {} %: healthy{met}; {readings}",
            pct(*percentage)
        ),
        Action::Hold(reason) => {
            let phase = rollout.state.phase;
            let at = pct(plan.phases[phase].percentage);
            let why = match reason {
                HoldReason::HoldTime { until } => {
                    // Whole seconds, rounded up: "1s more", never "963ms 57µs".
                    let left = until
                        .duration_since(Timestamp::now())
                        .as_secs_f64()
                        .ceil()
                        .max(1.0);
                    format!(
                        "healthy, holding {} more",
                        format_duration(SignedDuration::from_secs(left as i64))
                    )
                }
                other => other.to_string(),
            };
            if readings.is_empty() {
                format!(
                    "{flag}: holds at phase {}/{phases} ({at} %): {why}",
                    phase + 1
                )
            } else {
                format!(
                    "{flag}: holds at phase {}/{phases} ({at} %): {why}; {readings}",
                    phase + 1
                )
            }
        }
        other => format!("{flag}: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flags_rollout::measure::{CohortWindow, FlagWindow};
    use flags_rollout::{Plan, Trigger, Triggers};

    fn rollout() -> Rollout {
        let since: Timestamp = "2026-03-01T00:00:00Z".parse().unwrap();
        let mut state = State::pending(since);
        state.status = Status::Running;
        state.phase = 1;
        let mut plan = Plan::default();
        let mut t = Triggers::none();
        t.set(Trigger::ErrorRate, Some(0.05));
        plan.triggers = t;
        plan.sustain = 1;
        Rollout { plan, state }
    }

    fn failing() -> Measurements {
        let c = |n: f64, e: f64| CohortWindow {
            ok: n - e,
            errors: e,
            duration_le: [n; 10],
        };
        Measurements {
            flag: Ok(FlagWindow {
                on: c(1000.0, 300.0),
                off: c(20_000.0, 200.0),
                on_outcomes_in_phase: 1000.0,
                ..FlagWindow::default()
            }),
            memory: Ok(None),
            evidence: None,
        }
    }

    /// What a check leaves of `step` for the page: applied (written, or a
    /// hold with nothing new to write) or not (stale).
    fn checked(r: &Rollout, step: Step, applied: bool, in_phase: f64) -> PlanCheck<'_> {
        let fate = match applied {
            false => Fate::Stale("the plan changed".into()),
            true if needs_write(&r.state, &step) => Fate::Written,
            true => Fate::Unwritten,
        };
        PlanCheck {
            decision: Decision {
                flag: "gpt",
                rollout: r,
                step,
                in_phase,
                bad: Vec::new(),
            },
            fate,
            line: String::new(),
        }
    }

    #[test]
    fn the_board_shows_the_state_as_applied() {
        let r = rollout();
        let now: Timestamp = "2026-03-02T00:00:00Z".parse().unwrap();
        let step = decide(&r.plan, &r.state, &failing(), now);
        assert_eq!(step.action.name(), "rollback");
        // Written: the new state.
        let view = plan_view("gpt", &r, Some(&checked(&r, step.clone(), true, 1000.0)));
        assert_eq!(view.state, "rolled_back");
        assert!(view.reason.starts_with("rollback:"), "{}", view.reason);
        // Stale or failed: what the file still says, with this check's
        // readings.
        let view = plan_view("gpt", &r, Some(&checked(&r, step, false, 1000.0)));
        assert_eq!(view.state, "running");
        assert_eq!(view.phase, 2);
        assert!(!view.reason.starts_with("rollback"), "{}", view.reason);
        assert_eq!(view.triggers[0].verdict, "tripped");
    }

    #[test]
    fn the_window_never_reaches_back_past_the_phase_start() {
        let r = rollout(); // 5m window, phase since 2026-03-01T00:00:00Z
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        assert_eq!(
            phase_window(&r, at("2026-03-01T00:00:40Z")),
            Duration::from_secs(40)
        );
        assert_eq!(
            phase_window(&r, at("2026-03-01T01:00:00Z")),
            Duration::from_secs(300)
        );
        // A check in the second the phase began still asks for something.
        assert_eq!(
            phase_window(&r, at("2026-03-01T00:00:00Z")),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn an_inconclusive_phase_is_logged_and_shown_with_its_unmet_criterion() {
        let mut r = rollout();
        r.plan.triggers = Triggers::default();
        let c = |n: f64, e: f64| CohortWindow {
            ok: n - e,
            errors: e,
            duration_le: [n; 10],
        };
        let m = Measurements {
            flag: Ok(FlagWindow {
                on: c(1000.0, 30.0),
                off: c(20_000.0, 200.0),
                on_outcomes_in_phase: 5000.0,
                ..FlagWindow::default()
            }),
            memory: Ok(Some(flags_rollout::measure::MemoryReading {
                max_ratio: 0.2,
                processes: 1,
            })),
            evidence: None,
        };
        let now: Timestamp = "2026-03-05T00:00:00Z".parse().unwrap();
        let step = decide(&r.plan, &r.state, &m, now);
        let line = decision_line("gpt", &r, &step);
        assert!(
            line.starts_with("gpt: holds at phase 2/4 (25 %): inconclusive: error_rate 3.0 % (needs < 1 %); holds until a person decides"),
            "{line}"
        );
        let view = plan_view("gpt", &r, Some(&checked(&r, step, true, 5000.0)));
        assert_eq!(view.waiting, Some("inconclusive"));
        assert_eq!(view.criteria.len(), 1);
        assert_eq!(view.criteria[0].needs, "< 1 %");
        assert_eq!(view.criteria[0].outcome, "unmet");
        assert!((view.criteria[0].value - 0.03).abs() < 1e-12);
    }

    #[test]
    fn holds_are_written_when_their_kind_changes_not_their_numbers() {
        let r = rollout();
        let mut plan = r.plan.clone();
        plan.triggers = Triggers::none();
        plan.min_samples = 1_000_000;
        let now: Timestamp = "2026-03-10T00:00:00Z".parse().unwrap();
        let mut m = failing();
        let step = decide(&plan, &r.state, &m, now);
        assert!(needs_write(&r.state, &step), "a first hold is written");
        if let Ok(w) = &mut m.flag {
            w.on_outcomes_in_phase = 2000.0;
        }
        let later = decide(&plan, &step.state, &m, now);
        assert_ne!(
            step.state.last_decision.as_ref().unwrap().reason,
            later.state.last_decision.as_ref().unwrap().reason
        );
        assert!(!needs_write(&step.state, &later));
        // A different kind of hold is written.
        let mut tripped_plan = plan.clone();
        tripped_plan.triggers.set(Trigger::ErrorRate, Some(0.05));
        tripped_plan.sustain = 5;
        tripped_plan.min_samples = 100;
        let sustaining = decide(&tripped_plan, &step.state, &failing(), now);
        assert!(needs_write(&step.state, &sustaining));
    }
}
