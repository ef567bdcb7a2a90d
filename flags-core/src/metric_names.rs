//! Every metric name the project writes or reads back, in one place: the
//! bots' metrics (this crate's [`crate::FlagStore::metrics_text`]), the
//! guard's and the sync's own (`feature_flags --guard`, `--sync`), and the
//! standard process metrics the guard reads from a bot.
//!
//! These names are a contract: the Grafana dashboard, the alert rules in
//! `examples/prometheus/` and operators' queries spell them too, so a name
//! changes only with docs/spec.md.

/// Loads of the flag file, by `result`.
pub const RELOADS_TOTAL: &str = "feature_flags_reloads_total";
pub const LAST_RELOAD_SUCCESSFUL: &str = "feature_flags_last_reload_successful";
pub const LAST_RELOAD_SUCCESS_TIMESTAMP_SECONDS: &str =
    "feature_flags_last_reload_success_timestamp_seconds";
pub const GENERATION: &str = "feature_flags_generation";
pub const FILE_INFO: &str = "feature_flags_file_info";
pub const FLAG_ENABLED: &str = "feature_flags_flag_enabled";
pub const FLAG_ROLLOUT_PERCENTAGE: &str = "feature_flags_flag_rollout_percentage";
pub const DECISIONS_TOTAL: &str = "feature_flags_decisions_total";
pub const UNKNOWN_FLAG_DECISIONS_TOTAL: &str = "feature_flags_unknown_flag_decisions_total";
/// Outcomes by flag, `cohort`, `via`, `chat_type` and `result`: what the
/// guard's triggers read.
pub const OUTCOMES_TOTAL: &str = "feature_flags_outcomes_total";
/// A histogram: its samples are this name plus `_bucket`, `_sum`, `_count`.
pub const OUTCOME_DURATION_SECONDS: &str = "feature_flags_outcome_duration_seconds";
/// The buckets of [`OUTCOME_DURATION_SECONDS`], the series the guard reads.
pub const OUTCOME_DURATION_SECONDS_BUCKET: &str = "feature_flags_outcome_duration_seconds_bucket";
pub const COMPLAINTS_TOTAL: &str = "feature_flags_complaints_total";

/// A bot process's memory, as the Prometheus clients export it (not written
/// by this crate; the guard's `memory_usage` trigger reads it).
pub const PROCESS_RESIDENT_MEMORY_BYTES: &str = "process_resident_memory_bytes";
/// When a bot process started: the guard tells a restart by its change.
pub const PROCESS_START_TIME_SECONDS: &str = "process_start_time_seconds";

/// The guard's own metrics (`feature_flags --guard`, its `/metrics`).
pub mod guard {
    pub const PLAN_STATE: &str = "feature_flags_guard_plan_state";
    pub const PLAN_PHASE: &str = "feature_flags_guard_plan_phase";
    pub const PLAN_PHASES: &str = "feature_flags_guard_plan_phases";
    pub const PLAN_PERCENTAGE: &str = "feature_flags_guard_plan_percentage";
    pub const PLAN_SINCE_TIMESTAMP_SECONDS: &str =
        "feature_flags_guard_plan_since_timestamp_seconds";
    pub const PLAN_HOLD_END_TIMESTAMP_SECONDS: &str =
        "feature_flags_guard_plan_hold_end_timestamp_seconds";
    pub const PLAN_WAITING: &str = "feature_flags_guard_plan_waiting";
    pub const PLAN_CRITERION_VALUE: &str = "feature_flags_guard_plan_criterion_value";
    pub const PLAN_CRITERION_MET: &str = "feature_flags_guard_plan_criterion_met";
    pub const TRIGGER_VALUE: &str = "feature_flags_guard_trigger_value";
    pub const TRIGGER_THRESHOLD: &str = "feature_flags_guard_trigger_threshold";
    pub const TRIGGER_TRIPPED: &str = "feature_flags_guard_trigger_tripped";
    pub const ACTIONS_TOTAL: &str = "feature_flags_guard_actions_total";
    pub const ROLLBACK_VALUE: &str = "feature_flags_guard_rollback_value";
    pub const ROLLBACK_THRESHOLD: &str = "feature_flags_guard_rollback_threshold";
    pub const BAD_SAMPLES_TOTAL: &str = "feature_flags_guard_bad_samples_total";
    pub const SOURCE_ERRORS_TOTAL: &str = "feature_flags_guard_source_errors_total";
    pub const CHECKS_TOTAL: &str = "feature_flags_guard_checks_total";
    pub const LAST_CHECK_TIMESTAMP_SECONDS: &str =
        "feature_flags_guard_last_check_timestamp_seconds";
}

/// The sync's own metrics (`feature_flags --sync --listen`, its `/metrics`).
pub mod sync {
    pub const VERSION: &str = "feature_flags_sync_version";
    pub const DATABASE_VERSION: &str = "feature_flags_sync_database_version";
    pub const LAST_SUCCESS_TIMESTAMP_SECONDS: &str =
        "feature_flags_sync_last_success_timestamp_seconds";
    pub const UP: &str = "feature_flags_sync_up";
    pub const ERRORS_TOTAL: &str = "feature_flags_sync_errors_total";
}
