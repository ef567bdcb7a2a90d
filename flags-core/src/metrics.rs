//! The store's state in the Prometheus text exposition format, and the
//! decision counts behind it.

use std::fmt::{self, Display};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::counters::DecisionCounts;
use crate::exposition::{Kind, Labels, header, histogram, sample};
use crate::metric_names as names;
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
        header(
            out,
            names::RELOADS_TOTAL,
            Kind::Counter,
            "Loads of the flag file, by result (the first load included).",
        )?;
        for (result, count) in [
            ("success", status.reloads_succeeded),
            ("failure", status.reloads_failed),
        ] {
            sample(out, names::RELOADS_TOTAL, &[("result", &result)], count)?;
        }

        header(
            out,
            names::LAST_RELOAD_SUCCESSFUL,
            Kind::Gauge,
            "Whether the latest load of the flag file succeeded (0: an older version is serving).",
        )?;
        let successful = u8::from(status.last_error.is_none());
        sample(out, names::LAST_RELOAD_SUCCESSFUL, &[], successful)?;

        header(
            out,
            names::LAST_RELOAD_SUCCESS_TIMESTAMP_SECONDS,
            Kind::Gauge,
            "When the version being served was loaded, in seconds since the Unix epoch.",
        )?;
        sample(
            out,
            names::LAST_RELOAD_SUCCESS_TIMESTAMP_SECONDS,
            &[],
            format_args!("{:.3}", unix_seconds(status.last_success)),
        )?;

        header(
            out,
            names::GENERATION,
            Kind::Gauge,
            "Generation of the version being served: 1 for the first load, +1 per new version.",
        )?;
        sample(out, names::GENERATION, &[], self.snapshot.generation())?;

        header(
            out,
            names::FILE_INFO,
            Kind::Gauge,
            "The version of the flag file being served, by fingerprint (xxh3-64 of its bytes).",
        )?;
        let fingerprint = format_args!("{:016x}", self.snapshot.fingerprint());
        sample(out, names::FILE_INFO, &[("fingerprint", &fingerprint)], 1)?;

        self.flag_gauges(out)?;
        self.decisions(out)?;
        self.outcomes(out)
    }
}

impl Exposition<'_> {
    fn flag_gauges(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flags = &self.snapshot.file().flags;
        header(
            out,
            names::FLAG_ENABLED,
            Kind::Gauge,
            "A flag's configured `enabled` (its kill switch) in the version being served.",
        )?;
        for (name, def) in flags {
            let enabled = u8::from(def.enabled);
            sample(out, names::FLAG_ENABLED, &[("flag", name)], enabled)?;
        }
        header(
            out,
            names::FLAG_ROLLOUT_PERCENTAGE,
            Kind::Gauge,
            "A flag's configured `rollout_percentage` (0-100) in the version being served.",
        )?;
        for (name, def) in flags {
            let percentage = &def.rollout_percentage;
            sample(
                out,
                names::FLAG_ROLLOUT_PERCENTAGE,
                &[("flag", name)],
                percentage,
            )?;
        }
        Ok(())
    }

    fn decisions(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(unknown) = self.snapshot.unknown_flag_decisions() else {
            return Ok(());
        };
        header(
            out,
            names::DECISIONS_TOTAL,
            Kind::Counter,
            "Flag decisions made by this process, by outcome and by the evaluation step that decided.",
        )?;
        for (position, name) in self.snapshot.flag_names().enumerate() {
            let counts = self
                .snapshot
                .decision_counts_at(position)
                .unwrap_or_default();
            for (enabled, reason) in DecisionCounts::PAIRS {
                let outcome = if enabled { "on" } else { "off" };
                sample(
                    out,
                    names::DECISIONS_TOTAL,
                    &[("flag", &name), ("outcome", &outcome), ("reason", &reason)],
                    counts.get(enabled, reason),
                )?;
            }
        }
        header(
            out,
            names::UNKNOWN_FLAG_DECISIONS_TOTAL,
            Kind::Counter,
            "Evaluations of a flag the file does not define (answered with the caller's default).",
        )?;
        sample(out, names::UNKNOWN_FLAG_DECISIONS_TOTAL, &[], unknown)
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
        header(
            out,
            names::OUTCOMES_TOTAL,
            Kind::Counter,
            "Messages handled by this process that asked about the flag, by the flag's cohort, the step that put the message there (via: group or rollout), the chat type and the outcome the bot reported.",
        )?;
        for (name, counts) in &counts {
            for (segment, c) in Segment::all().zip(&counts.segments) {
                for (result, value) in [("ok", c.ok), ("error", c.error)] {
                    let labels: &Labels<'_> = &[
                        ("flag", name),
                        ("cohort", &segment.cohort.as_str()),
                        ("via", &segment.via.as_str()),
                        ("chat_type", &chat_type_label(segment.chat_type)),
                        ("result", &result),
                    ];
                    sample(out, names::OUTCOMES_TOTAL, labels, value)?;
                }
            }
        }
        header(
            out,
            names::OUTCOME_DURATION_SECONDS,
            Kind::Histogram,
            "How long handling a message that asked about the flag took, by the flag's cohort, as the bot reported it.",
        )?;
        for (name, counts) in &counts {
            for cohort in Cohort::ALL {
                let c = counts.cohort(cohort);
                histogram(
                    out,
                    names::OUTCOME_DURATION_SECONDS,
                    &[("flag", name), ("cohort", &cohort.as_str())],
                    DURATION_BOUNDS.into_iter().zip(c.buckets),
                    c.count(),
                    c.sum_seconds(),
                )?;
            }
        }
        header(
            out,
            names::COMPLAINTS_TOTAL,
            Kind::Counter,
            "Complaints about the flag that users made to this process (a /feedback command, a support ticket).",
        )?;
        for (name, counts) in &counts {
            sample(
                out,
                names::COMPLAINTS_TOTAL,
                &[("flag", name)],
                counts.complaints,
            )?;
        }
        Ok(())
    }
}

fn unix_seconds(time: SystemTime) -> f64 {
    // A clock set before 1970 is not worth failing a scrape over.
    time.duration_since(UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_before_the_epoch_read_as_zero() {
        let before = UNIX_EPOCH - std::time::Duration::from_secs(5);
        assert_eq!(unix_seconds(before), 0.0);
        let after = UNIX_EPOCH + std::time::Duration::from_millis(1500);
        assert_eq!(unix_seconds(after), 1.5);
    }
}
