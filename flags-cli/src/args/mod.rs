//! The command line, as clap derive: the doc comments are the `--help` text.

use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgGroup, Parser};
use flags_core::{ChatType, Percentage, parse_id};

use crate::Failure;

pub mod command;
pub mod fleet;
pub mod manage;
pub mod operate;
pub mod rollout;

const EXAMPLES: &str = "\
Examples:
  feature_flags --list
  feature_flags --check
  feature_flags --feature new_gpt_model
  feature_flags --feature new_gpt_model --explain --user 123 --chat 123 --chat-type private
  feature_flags --feature new_gpt_model --percentage 25
  feature_flags --feature enhanced_video_download --exclude-chat -1001234567890
  feature_flags --feature new_gpt_model --disable          # kill switch
  feature_flags --feature weather_v2 --create --percentage 5
  feature_flags --history --feature new_gpt_model
  feature_flags --group beta_testers --add-user 123456789   # creates the group if need be
  feature_flags --feature new_gpt_model --add-user-group beta_testers --chat-types private
  feature_flags --database postgres://flags@db1,db2/bot?target_session_attrs=read-write --init
  feature_flags --database $DB --import config/feature_flags.json
  feature_flags --database $DB --feature new_gpt_model --percentage 50   # every server
  feature_flags --database $DB --sync --file /srv/bot/config/feature_flags.json --listen 127.0.0.1:9182
  feature_flags --revert 42                                  # undo entry 42 of --history
  feature_flags --database $DB --fleet                       # every server's sync
  feature_flags --database $PROD --diff postgres://flags@staging-db/bot
  feature_flags --database $PROD --promote new_gpt_model --from postgres://flags@staging-db/bot --yes

Exit status: 0 ok, 1 an invalid file or a failed command, 2 a usage error.";

/// Inspect and safely edit a feature-flag file while bots are reading it.
///
/// Read-only commands: --list, --feature NAME (show one flag), --check,
/// --explain, --history; add --json for machine-readable output.
///
/// Edits (--percentage, --exclude-chat, --include-chat, --disable, --enable,
/// --create, the targeting and rebucketing options, --delete) need --feature
/// NAME; user group edits need --group NAME. All edits of one command are one
/// write: under a lock on FILE.lock the file is re-read, edited in place
/// (every other byte stays as it was), validated as a whole, written to a
/// temporary file in the same folder and renamed over the original. Each
/// change is printed and appended to FILE.audit.jsonl.
///
/// A fleet keeps its flags in PostgreSQL: with --database URL every command
/// works on the database (an edit is one transaction with its audit rows),
/// and --sync keeps each server's file a copy of it for the bots.
#[derive(Debug, Parser)]
#[command(name = "feature_flags", version, after_help = EXAMPLES)]
#[command(group(ArgGroup::new("action").args(["list", "check", "explain", "history"])))]
#[command(group(ArgGroup::new("reads_metrics").args(["guard", "report"]).multiple(true)))]
#[command(group(
    ArgGroup::new("edit")
        .args(["percentage", "exclude_chat", "include_chat", "disable", "enable", "create"])
        .multiple(true)
        .requires("feature")
        .conflicts_with("action")
))]
pub struct Cli {
    /// The flag file.
    #[arg(
        long,
        value_name = "PATH",
        env = "FEATURE_FLAGS_FILE",
        default_value = "config/feature_flags.json"
    )]
    pub file: PathBuf,

    /// The flag to show, explain or edit. Alone, shows the flag.
    #[arg(long, value_name = "NAME")]
    pub feature: Option<String>,

    /// Print a table of every flag: name, enabled, percentage, user groups,
    /// chat types and how many chats are excluded.
    #[arg(long, help_heading = "Read-only commands")]
    pub list: bool,

    /// Validate the file and list every problem; exit 1 if there is any.
    #[arg(long, help_heading = "Read-only commands")]
    pub check: bool,

    /// Show how --feature decides for one message (--user, --chat,
    /// --chat-type, --group): the decision, the reason, the bucket, and
    /// which percentage would flip it.
    #[arg(long, requires = "feature", help_heading = "Read-only commands")]
    pub explain: bool,

    /// Show the audit log of edits (only those of --feature, if given).
    #[arg(long, help_heading = "Read-only commands")]
    pub history: bool,

    /// With --explain: the user id.
    #[arg(long, value_name = "ID", requires = "explain", help_heading = "Message to explain", allow_hyphen_values = true, value_parser = id_arg)]
    pub user: Option<i64>,

    /// With --explain: the chat id (negative for groups, e.g. -1001234567890).
    #[arg(long, value_name = "ID", requires = "explain", help_heading = "Message to explain", allow_hyphen_values = true, value_parser = id_arg)]
    pub chat: Option<i64>,

    /// With --explain: the chat type (private, group, supergroup, channel).
    #[arg(long, value_name = "TYPE", requires = "explain", help_heading = "Message to explain", value_parser = chat_type_arg)]
    pub chat_type: Option<ChatType>,

    /// A user group: alone, shows its size and the flags that target it;
    /// with --add-user, --remove-user, --list-users or --delete, manages it.
    /// With --explain instead: a group the bot knows the user to be in
    /// (repeatable).
    #[arg(
        long,
        value_name = "NAME",
        conflicts_with_all = ["list", "check", "history"],
        help_heading = "User groups"
    )]
    pub group: Vec<String>,

    /// Set rollout_percentage: 0 to 100, at most 3 decimals (12.5).
    #[arg(long, value_name = "P", help_heading = "Edits", allow_hyphen_values = true, value_parser = percentage_arg)]
    pub percentage: Option<Percentage>,

    /// Turn the flag off in this chat (repeatable). A chat already excluded
    /// stays listed once.
    #[arg(long, value_name = "ID", help_heading = "Edits", allow_hyphen_values = true, value_parser = id_arg)]
    pub exclude_chat: Vec<i64>,

    /// Remove this chat from exclude_chats (repeatable).
    #[arg(long, value_name = "ID", help_heading = "Edits", allow_hyphen_values = true, value_parser = id_arg)]
    pub include_chat: Vec<i64>,

    /// Kill switch: set enabled to false (off for everyone).
    #[arg(long, conflicts_with = "enable", help_heading = "Edits")]
    pub disable: bool,

    /// Set enabled to true.
    #[arg(long, help_heading = "Edits")]
    pub enable: bool,

    /// Add --feature as a new flag (fails if it exists): enabled, at
    /// rollout_percentage 0 (nobody) unless --percentage is given; add
    /// --disable to create it switched off.
    #[arg(long, help_heading = "Edits")]
    pub create: bool,

    /// Print what an edit would change, and write nothing.
    #[arg(long, requires = "writes", help_heading = "Edits")]
    pub dry_run: bool,

    /// Run the rollout guard: every --interval, measure each running plan,
    /// advance it when healthy and its hold is over, roll it back when a
    /// trigger trips; until SIGINT or SIGTERM (or one check with --once).
    #[arg(long, conflicts_with_all = ["action", "edit"], help_heading = "Rollout guard")]
    pub guard: bool,

    /// With --guard: a bot process's metrics endpoint, such as
    /// http://127.0.0.1:8080/metrics (repeatable: every process).
    #[arg(
        long,
        value_name = "URL",
        requires = "guard",
        help_heading = "Rollout guard"
    )]
    pub scrape: Vec<String>,

    /// With --guard or --report: a Prometheus server that scrapes every
    /// bot, such as http://prometheus:9090.
    #[arg(
        long,
        value_name = "URL",
        requires = "reads_metrics",
        help_heading = "Rollout guard"
    )]
    pub prometheus: Option<String>,

    /// With --prometheus: a file holding the HTTP basic auth password (the
    /// user comes from the URL, http://USER@prometheus:9090); read before
    /// each query, so a changed password is picked up.
    #[arg(
        long,
        value_name = "FILE",
        requires = "prometheus",
        help_heading = "Rollout guard"
    )]
    pub prometheus_password_file: Option<PathBuf>,

    /// With --prometheus: a file holding a bearer token, sent as
    /// `Authorization: Bearer`; read before each query (a rotated token is
    /// picked up).
    #[arg(
        long,
        value_name = "FILE",
        requires = "prometheus",
        conflicts_with = "prometheus_password_file",
        help_heading = "Rollout guard"
    )]
    pub prometheus_bearer_token_file: Option<PathBuf>,

    /// With --prometheus: label matchers for the bots' series, such as
    /// '{job="bot"}'.
    #[arg(
        long,
        value_name = "MATCHERS",
        requires = "prometheus",
        help_heading = "Rollout guard"
    )]
    pub selector: Option<String>,

    /// With --guard: one check, then exit (cron, a systemd timer). Needs
    /// --prometheus: a scraping guard needs its own history for rates.
    #[arg(long, requires = "guard", help_heading = "Rollout guard")]
    pub once: bool,

    /// With --guard: time between checks (15s, 1m).
    #[arg(
        long,
        value_name = "DURATION",
        requires = "guard",
        help_heading = "Rollout guard"
    )]
    pub interval: Option<String>,

    /// With --guard: serve a status page (/) and the guard's metrics
    /// (/metrics) on this address, such as 127.0.0.1:9181. With --sync:
    /// the sync's metrics (/metrics).
    #[arg(long, value_name = "ADDR", help_heading = "Rollout guard")]
    pub listen: Option<String>,

    /// With --guard: the bots' memory limit in bytes, for memory_usage
    /// (default: the guard's cgroup limit, else the machine's memory).
    #[arg(
        long,
        value_name = "BYTES",
        requires = "guard",
        help_heading = "Rollout guard"
    )]
    pub memory_limit: Option<u64>,

    /// Machine-readable output (JSON) for the read-only commands.
    #[arg(long, conflicts_with = "edit")]
    pub json: bool,

    /// Groups, targeting, rebucketing and life cycle (args/manage.rs).
    #[command(flatten)]
    pub manage: crate::args::manage::ManageArgs,

    #[command(flatten)]
    pub rollout: crate::args::rollout::RolloutArgs,

    #[command(flatten)]
    pub fleet: crate::args::fleet::FleetArgs,

    #[command(flatten)]
    pub operate: crate::args::operate::OperateArgs,

    /// Whether --file was given on the command line (not by
    /// $FEATURE_FLAGS_FILE or its default): set by [`Cli::parse_from_env`].
    #[arg(skip)]
    pub file_given: bool,
}

impl Cli {
    /// The command line of this process.
    pub fn parse_from_env() -> Result<Cli, clap::Error> {
        Cli::parse_args(std::env::args_os())
    }

    pub fn parse_args<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::{CommandFactory, FromArgMatches, parser::ValueSource};
        let matches = Cli::command().try_get_matches_from(args)?;
        let mut cli = Cli::from_arg_matches(&matches)?;
        cli.file_given = matches.value_source("file") == Some(ValueSource::CommandLine);
        Ok(cli)
    }
}

fn percentage_arg(s: &str) -> Result<Percentage, String> {
    s.parse::<Percentage>()
        .map_err(|e| format!("{e}; give a number from 0 to 100 such as 25 or 12.5"))
}

fn id_arg(s: &str) -> Result<i64, String> {
    parse_id(s).map_err(|e| format!("{e}; ids are integers such as -1001234567890"))
}

/// A positive duration (15s, 1m) within `range`; else an error that asks
/// for `wanted` (the range in words).
fn duration_arg(
    s: &str,
    range: RangeInclusive<Duration>,
    wanted: &str,
) -> Result<Duration, String> {
    let d = flags_rollout::parse_duration(s)?;
    let d: Duration = d
        .try_into()
        .map_err(|_| format!("{s:?} is not a positive duration"))?;
    if !range.contains(&d) {
        return Err(format!("{s:?}: give {wanted}"));
    }
    Ok(d)
}

/// Refuses an id given to both of two options that undo each other
/// (`--exclude-chat` and `--include-chat`): which one is meant is not for
/// the tool to guess. `what` names the id (chat, user).
pub fn refuse_in_both(
    what: &str,
    (ids, option): (&[i64], &str),
    (undo_ids, undo_option): (&[i64], &str),
) -> Result<(), Failure> {
    match ids.iter().find(|id| undo_ids.contains(id)) {
        Some(id) => Err(Failure::usage(format!(
            "{what} {id} is given to both {option} and {undo_option}"
        ))),
        None => Ok(()),
    }
}

fn chat_type_arg(s: &str) -> Result<ChatType, String> {
    s.parse::<ChatType>().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
