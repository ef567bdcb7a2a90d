//! The operators' commands across sources and time: `--revert ENTRY`,
//! `--fleet`, `--diff OTHER`, `--promote FLAG --from OTHER`, and the
//! `--environment` label of the guard's and the sync's metrics. Flattened
//! into [`crate::args::Cli`].

use std::time::Duration;

use clap::{ArgGroup, Args};

#[derive(Debug, Default, Args)]
#[command(group(
    ArgGroup::new("operate")
        .args(["revert", "fleet_view", "diff", "promote"])
        .conflicts_with_all(["action", "edit", "targeting", "membership", "rollout_edit", "guard", "fleet_command", "status"])
))]
#[command(next_help_heading = "Operators")]
pub struct OperateArgs {
    /// Undo one audit entry (its id, as --history shows it): the field is
    /// set back to the entry's old value, as a new audited edit that names
    /// the entry. Refused when the field changed since, unless --force;
    /// a field already back at the old value is left alone.
    #[arg(long, value_name = "ENTRY")]
    pub revert: Option<u64>,

    /// With --database: the document's version and every sync's server,
    /// file, version, last success and lag; stale syncs are marked.
    #[arg(long = "fleet", requires = "database")]
    pub fleet_view: bool,

    /// With --fleet: a sync whose last success is older than this is
    /// stale (default 10s: the default --poll 5s plus 5s; raise it for
    /// syncs that poll less often).
    #[arg(long, value_name = "DURATION", requires = "fleet_view", value_parser = stale_arg)]
    pub stale_after: Option<Duration>,

    /// Compare this source with OTHER (a postgres:// URL, a key=value
    /// connection string, or a flag file): flag by flag, group by group,
    /// plan by plan (not a plan's state). Exit 0 when they agree, 1 when
    /// they differ, 2 on error.
    #[arg(long, value_name = "OTHER")]
    pub diff: Option<String>,

    /// Make FLAG here as it is in --from OTHER (or every flag of OTHER,
    /// with --all): shows the change, and applies it as one audited edit
    /// only with --yes.
    #[arg(long, value_name = "FLAG", num_args = 0..=1, requires = "from")]
    pub promote: Option<Option<String>>,

    /// With --promote: the source to copy from (URL, key=value, or file).
    #[arg(long, value_name = "OTHER", requires = "promote")]
    pub from: Option<String>,

    /// With --promote: every flag of OTHER (flags only here are kept).
    #[arg(long, requires = "promote")]
    pub all: bool,

    /// With --promote: apply the change (without it, only shown).
    #[arg(long, requires = "promote")]
    pub yes: bool,

    /// With --guard or --sync: the environment label of its metrics
    /// (production, staging); default: the database's name (none for a
    /// file).
    #[arg(long, value_name = "NAME", value_parser = environment_arg)]
    pub environment: Option<String>,
}

fn stale_arg(s: &str) -> Result<Duration, String> {
    super::duration_arg(
        s,
        Duration::from_secs(1)..=Duration::from_secs(7 * 86_400),
        "a duration from 1s to 7d",
    )
}

/// A label value that stays readable in a dashboard's variable and an
/// alert's text: a short name, no spaces or quotes.
pub fn environment_arg(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "{:?} is not an environment name: 1 to 64 letters, digits, '-', '_' or '.'",
            s.chars().take(80).collect::<String>()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_names_are_short_and_plain() {
        for good in ["production", "staging", "bot_prod-2", "eu.west"] {
            assert_eq!(environment_arg(good).as_deref(), Ok(good));
        }
        for bad in ["", "prod env", "a\"b", "x{y}", &"a".repeat(65), "ümlaut"] {
            assert!(environment_arg(bad).is_err(), "{bad:?}");
        }
    }
}
