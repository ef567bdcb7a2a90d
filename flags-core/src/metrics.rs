//! The store's state in the Prometheus text exposition format, and the
//! decision counts behind it.

use std::fmt::{self, Display, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::counters::DecisionCounts;
use crate::outcomes::{Cohort, DURATION_BOUNDS, OutcomeCounts, Segment, chat_type_label};
use crate::snapshot::Snapshot;
use crate::store::{FlagStore, ReloadStatus};

impl FlagStore {
    /// How often flag `name` decided each way in this process. `None` when
    /// the file being served does not define `name`, or the store was opened
    /// with [`crate::StoreOptions::count_decisions`] off.
    pub fn decision_counts(&self, name: &str) -> Option<DecisionCounts> {
        let snapshot = self.snapshot();
        snapshot.decision_counts_at(snapshot.position(name)?)
    }

    /// The outcomes and complaints counted for flag `name` in this process.
    /// `None` when the file being served does not define `name`, or the
    /// store was opened with [`crate::StoreOptions::count_outcomes`] off.
    pub fn outcome_counts(&self, name: &str) -> Option<OutcomeCounts> {
        let snapshot = self.snapshot();
        snapshot.outcome_counts_at(snapshot.position(name)?)
    }

    /// How many evaluations asked for a flag the file did not define (one
    /// count for the whole store); `None` when the store does not count.
    pub fn unknown_flag_decisions(&self) -> Option<u64> {
        self.snapshot().unknown_flag_decisions()
    }

    /// The store's metrics in the Prometheus text exposition format
    /// (version 0.0.4), for a `/metrics` endpoint:
    ///
    /// | metric | type | labels |
    /// |---|---|---|
    /// | `feature_flags_reloads_total` | counter | `result` = `success` / `failure` |
    /// | `feature_flags_last_reload_successful` | gauge (0/1) | |
    /// | `feature_flags_last_reload_success_timestamp_seconds` | gauge | |
    /// | `feature_flags_generation` | gauge | |
    /// | `feature_flags_file_info` | gauge (always 1) | `fingerprint` (16 hex digits) |
    /// | `feature_flags_flag_enabled` | gauge (0/1) | `flag` |
    /// | `feature_flags_flag_rollout_percentage` | gauge (0–100) | `flag` |
    /// | `feature_flags_decisions_total` | counter | `flag`, `outcome` = `on` / `off`, `reason` |
    /// | `feature_flags_unknown_flag_decisions_total` | counter | |
    /// | `feature_flags_outcomes_total` | counter | `flag`, `cohort` = `on` / `off`, `via` = `group` / `rollout`, `chat_type` = `private` / `group` / `supergroup` / `channel` / `none`, `result` = `ok` / `error` |
    /// | `feature_flags_outcome_duration_seconds` | histogram ([`DURATION_BOUNDS`]) | `flag`, `cohort` |
    /// | `feature_flags_complaints_total` | counter | `flag` |
    ///
    /// The first load counts as a successful reload. The two decision
    /// families are left out when the store does not count decisions, the
    /// three outcome families when it does not count outcomes; every
    /// possible `(outcome, reason)` pair and every segment ([`Segment::all`],
    /// fifteen: `off` is always `via="rollout"`), result and bucket of every
    /// flag is written, zeros included, so that ratios over them never miss
    /// a series.
    pub fn metrics_text(&self) -> String {
        let status = self.status();
        let snapshot = self.snapshot();
        Exposition {
            status: &status,
            snapshot: &snapshot,
        }
        .to_string()
    }
}

struct Exposition<'a> {
    /// Reload health.
    status: &'a ReloadStatus,
    /// Generation, fingerprint and flags all come from this one version, so
    /// a reload during the scrape cannot mix two.
    snapshot: &'a Snapshot,
}

impl Display for Exposition<'_> {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.status;
        family(
            out,
            "reloads_total",
            "counter",
            "Loads of the flag file, by result (the first load included).",
        )?;
        writeln!(
            out,
            "feature_flags_reloads_total{{result=\"success\"}} {}",
            status.reloads_succeeded
        )?;
        writeln!(
            out,
            "feature_flags_reloads_total{{result=\"failure\"}} {}",
            status.reloads_failed
        )?;

        family(
            out,
            "last_reload_successful",
            "gauge",
            "Whether the latest load of the flag file succeeded (0: an older version is serving).",
        )?;
        writeln!(
            out,
            "feature_flags_last_reload_successful {}",
            u8::from(status.last_error.is_none())
        )?;

        family(
            out,
            "last_reload_success_timestamp_seconds",
            "gauge",
            "When the version being served was loaded, in seconds since the Unix epoch.",
        )?;
        writeln!(
            out,
            "feature_flags_last_reload_success_timestamp_seconds {:.3}",
            unix_seconds(status.last_success)
        )?;

        family(
            out,
            "generation",
            "gauge",
            "Generation of the version being served: 1 for the first load, +1 per new version.",
        )?;
        writeln!(
            out,
            "feature_flags_generation {}",
            self.snapshot.generation()
        )?;

        family(
            out,
            "file_info",
            "gauge",
            "The version of the flag file being served, by fingerprint (xxh3-64 of its bytes).",
        )?;
        writeln!(
            out,
            "feature_flags_file_info{{fingerprint=\"{:016x}\"}} 1",
            self.snapshot.fingerprint()
        )?;

        self.flag_gauges(out)?;
        self.decisions(out)?;
        self.outcomes(out)
    }
}

impl Exposition<'_> {
    fn flag_gauges(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flags = &self.snapshot.file().flags;
        family(
            out,
            "flag_enabled",
            "gauge",
            "A flag's configured `enabled` (its kill switch) in the version being served.",
        )?;
        for (name, def) in flags {
            writeln!(
                out,
                "feature_flags_flag_enabled{{flag=\"{}\"}} {}",
                LabelValue(name),
                u8::from(def.enabled)
            )?;
        }
        family(
            out,
            "flag_rollout_percentage",
            "gauge",
            "A flag's configured `rollout_percentage` (0-100) in the version being served.",
        )?;
        for (name, def) in flags {
            writeln!(
                out,
                "feature_flags_flag_rollout_percentage{{flag=\"{}\"}} {}",
                LabelValue(name),
                def.rollout_percentage
            )?;
        }
        Ok(())
    }

    fn decisions(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(unknown) = self.snapshot.unknown_flag_decisions() else {
            return Ok(());
        };
        family(
            out,
            "decisions_total",
            "counter",
            "Flag decisions made by this process, by outcome and by the evaluation step that decided.",
        )?;
        for (position, name) in self.snapshot.flag_names().enumerate() {
            let counts = self
                .snapshot
                .decision_counts_at(position)
                .unwrap_or_default();
            for (enabled, reason) in DecisionCounts::PAIRS {
                writeln!(
                    out,
                    "feature_flags_decisions_total{{flag=\"{}\",outcome=\"{}\",reason=\"{}\"}} {}",
                    LabelValue(name),
                    if enabled { "on" } else { "off" },
                    reason,
                    counts.get(enabled, reason)
                )?;
            }
        }
        family(
            out,
            "unknown_flag_decisions_total",
            "counter",
            "Evaluations of a flag the file does not define (answered with the caller's default).",
        )?;
        writeln!(out, "feature_flags_unknown_flag_decisions_total {unknown}")
    }
}

impl Exposition<'_> {
    fn outcomes(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.snapshot.counts_outcomes() {
            return Ok(());
        }
        // One read per flag, so the three families agree with each other.
        let counts: Vec<(&str, OutcomeCounts)> = self
            .snapshot
            .flag_names()
            .enumerate()
            .map(|(position, name)| {
                let counts = self
                    .snapshot
                    .outcome_counts_at(position)
                    .unwrap_or_default();
                (name, counts)
            })
            .collect();
        family(
            out,
            "outcomes_total",
            "counter",
            "Messages handled by this process that asked about the flag, by the flag's cohort, the step that put the message there (via: group or rollout), the chat type and the outcome the bot reported.",
        )?;
        for (name, counts) in &counts {
            for (segment, c) in Segment::all().zip(&counts.segments) {
                for (result, value) in [("ok", c.ok), ("error", c.error)] {
                    writeln!(
                        out,
                        "feature_flags_outcomes_total{{flag=\"{}\",cohort=\"{}\",via=\"{}\",chat_type=\"{}\",result=\"{result}\"}} {value}",
                        LabelValue(name),
                        segment.cohort.as_str(),
                        segment.via.as_str(),
                        chat_type_label(segment.chat_type),
                    )?;
                }
            }
        }
        family(
            out,
            "outcome_duration_seconds",
            "histogram",
            "How long handling a message that asked about the flag took, by the flag's cohort, as the bot reported it.",
        )?;
        for (name, counts) in &counts {
            for cohort in Cohort::ALL {
                let c = counts.cohort(cohort);
                let labels = format!(
                    "flag=\"{}\",cohort=\"{}\"",
                    LabelValue(name),
                    cohort.as_str()
                );
                for (bound, value) in DURATION_BOUNDS.iter().zip(c.buckets) {
                    writeln!(
                        out,
                        "feature_flags_outcome_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {value}"
                    )?;
                }
                writeln!(
                    out,
                    "feature_flags_outcome_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                    c.count()
                )?;
                writeln!(
                    out,
                    "feature_flags_outcome_duration_seconds_sum{{{labels}}} {}",
                    c.sum_seconds()
                )?;
                writeln!(
                    out,
                    "feature_flags_outcome_duration_seconds_count{{{labels}}} {}",
                    c.count()
                )?;
            }
        }
        family(
            out,
            "complaints_total",
            "counter",
            "Complaints about the flag that users made to this process (a /feedback command, a support ticket).",
        )?;
        for (name, counts) in &counts {
            writeln!(
                out,
                "feature_flags_complaints_total{{flag=\"{}\"}} {}",
                LabelValue(name),
                counts.complaints
            )?;
        }
        Ok(())
    }
}

fn family(out: &mut fmt::Formatter<'_>, name: &str, kind: &str, help: &str) -> fmt::Result {
    writeln!(out, "# HELP feature_flags_{name} {help}")?;
    writeln!(out, "# TYPE feature_flags_{name} {kind}")
}

fn unix_seconds(time: SystemTime) -> f64 {
    // A clock set before 1970 is not worth failing a scrape over.
    time.duration_since(UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64())
}

/// A label value with `\`, `"` and newlines escaped, as the text format
/// requires. Flag names are validated to need none of it; this keeps the
/// output parseable should that rule ever loosen.
struct LabelValue<'a>(&'a str);

impl Display for LabelValue<'_> {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '\\' => out.write_str("\\\\")?,
                '"' => out.write_str("\\\"")?,
                '\n' => out.write_str("\\n")?,
                c => out.write_char(c)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        assert_eq!(LabelValue("a\\b\"c\nd").to_string(), "a\\\\b\\\"c\\nd");
        assert_eq!(
            LabelValue("new_gpt-model.v2").to_string(),
            "new_gpt-model.v2"
        );
    }

    #[test]
    fn times_before_the_epoch_read_as_zero() {
        let before = UNIX_EPOCH - std::time::Duration::from_secs(5);
        assert_eq!(unix_seconds(before), 0.0);
        let after = UNIX_EPOCH + std::time::Duration::from_millis(1500);
        assert_eq!(unix_seconds(after), 1.5);
    }
}
