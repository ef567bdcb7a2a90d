//! The rollout plan's options, flattened into [`crate::args::Cli`].

use clap::{ArgGroup, Args};
use flags_core::Percentage;
use flags_rollout::jiff::SignedDuration;
use flags_rollout::plan::{DEFAULT_PHASES, MAX_MIN_SAMPLES, MAX_SUSTAIN};
use flags_rollout::{OnTrigger, Phase, SuccessSpec, Triggers, parse_duration, parse_phases};

/// `--advance [PCT]`: the phase it means to leave, if named.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdvanceArg(pub Option<Percentage>);

/// Phases as `--plan` gives them.
#[derive(Debug, Clone, PartialEq)]
pub struct PhasesArg(pub Vec<Phase>);

/// `--triggers` as given, checked against the default thresholds; applied
/// to the plan's own triggers under the lock.
#[derive(Debug, Clone, PartialEq)]
pub struct TriggersArg(pub String);

#[derive(Debug, Args)]
#[command(group(
    ArgGroup::new("rollout_edit")
        .args(["plan", "triggers", "success", "window", "min_samples", "sustain", "on_trigger", "start", "pause", "resume", "abort", "advance"])
        .multiple(true)
        .requires("feature")
        .conflicts_with_all(["action", "edit", "json", "status"])
))]
#[command(group(ArgGroup::new("plan_control").args(["start", "pause", "resume", "abort", "advance"])))]
#[command(next_help_heading = "Rollout plans")]
pub struct RolloutArgs {
    /// Set --feature's rollout plan: phases PERCENTAGE:HOLD, the last
    /// without a hold. Alone: 5:1d,25:3d,50:5d,100. Replacing the phases
    /// of a running plan needs --pause first.
    #[arg(long, value_name = "SPEC", num_args = 0..=1, default_missing_value = DEFAULT_PHASES, value_parser = phases_arg)]
    pub plan: Option<PhasesArg>,

    /// Trigger thresholds, e.g. error_rate=0.02,response_time=3,memory_usage=0.85,complaints=5;
    /// NAME=off drops one. Defaults: error_rate=0.05,response_time=5,memory_usage=0.9,complaints=10.
    #[arg(long, value_name = "NAME=VALUE,...", value_parser = triggers_arg)]
    pub triggers: Option<TriggersArg>,

    /// A phase's success criteria, checked once its hold is over:
    /// PERCENTAGE:COND[+COND...] with error_rate<X, response_time<SECONDS
    /// (p95), complaints<N (per hour), no_degradation; PERCENTAGE:none
    /// clears one phase, none every phase. Repeatable. Defaults: the 2nd
    /// phase error_rate<0.01, the 3rd no_degradation.
    #[arg(long, value_name = "PCT:COND[+COND]", value_parser = success_arg)]
    pub success: Vec<SuccessSpec>,

    /// How far back the triggers look (default 5m).
    #[arg(long, value_name = "DURATION", value_parser = window_arg)]
    pub window: Option<SignedDuration>,

    /// `on` outcomes needed in the window before error rate and response
    /// time are judged, and in a phase before it advances (default 100).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=MAX_MIN_SAMPLES))]
    pub min_samples: Option<u64>,

    /// Consecutive tripped checks before a trigger rolls back (default 2).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_SUSTAIN)))]
    pub sustain: Option<u32>,

    /// What a trip does: disable (the kill switch, default) or
    /// previous-phase.
    #[arg(long, value_name = "ACTION", value_parser = on_trigger_arg)]
    pub on_trigger: Option<OnTrigger>,

    /// Start the plan: the flag to the first phase's percentage, enabled.
    #[arg(long)]
    pub start: bool,

    /// Pause a running plan (the guard leaves it where it is).
    #[arg(long)]
    pub pause: bool,

    /// Continue a paused or rolled-back plan at its current phase (the
    /// phase's percentage, enabled; its hold starts again).
    #[arg(long)]
    pub resume: bool,

    /// Roll back by hand, as a trip would (--on-trigger).
    #[arg(long)]
    pub abort: bool,

    /// Move a running plan to its next phase by hand (a person's decision,
    /// audited), such as out of an inconclusive phase. Alone: only a phase
    /// whose hold is over. With the percentage of the phase to leave: that
    /// phase only, hold over or not.
    #[arg(long, value_name = "PCT", num_args = 0..=1, default_missing_value = "", value_parser = advance_arg)]
    pub advance: Option<AdvanceArg>,

    /// The post-rollout analysis of FLAG's plan, per phase: on and off
    /// outcomes, error share and p95 with 95 % intervals, the difference
    /// with its interval, complaints, the decision and who took it. Counts
    /// from --prometheus URL, else from the guard's records; --json too.
    #[arg(long, value_name = "FLAG", conflicts_with_all = ["action", "edit", "status", "guard", "rollout_edit"])]
    pub report: Option<String>,

    /// Every rollout plan: state, phase, since, earliest next step, last
    /// decision (only --feature's, if given).
    #[arg(long, conflicts_with_all = ["action", "edit"])]
    pub status: bool,
}

impl RolloutArgs {
    /// Whether any option changes a plan.
    pub fn is_edit(&self) -> bool {
        self.plan.is_some()
            || self.triggers.is_some()
            || self.window.is_some()
            || self.min_samples.is_some()
            || self.sustain.is_some()
            || self.on_trigger.is_some()
            || self.start
            || self.pause
            || self.resume
            || self.abort
            || !self.success.is_empty()
            || self.advance.is_some()
    }
}

fn phases_arg(s: &str) -> Result<PhasesArg, String> {
    parse_phases(s).map(PhasesArg)
}

fn triggers_arg(s: &str) -> Result<TriggersArg, String> {
    Triggers::default()
        .apply_overrides(s)
        .map(|()| TriggersArg(s.to_owned()))
}

fn window_arg(s: &str) -> Result<SignedDuration, String> {
    parse_duration(s)
}

fn on_trigger_arg(s: &str) -> Result<OnTrigger, String> {
    OnTrigger::from_name(s).ok_or_else(|| format!("{s:?} is not disable or previous-phase"))
}

fn success_arg(s: &str) -> Result<SuccessSpec, String> {
    SuccessSpec::parse(s)
}

fn advance_arg(s: &str) -> Result<AdvanceArg, String> {
    if s.is_empty() {
        return Ok(AdvanceArg(None));
    }
    s.trim()
        .parse::<Percentage>()
        .map(|p| AdvanceArg(Some(p)))
        .map_err(|e| format!("{s:?} {e}; the percentage of the phase to leave, such as 25"))
}
