//! The fleet's options (PostgreSQL as the flag truth), flattened into
//! [`crate::args::Cli`].

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgGroup, Args};

#[derive(Debug, Args)]
#[command(group(
    ArgGroup::new("fleet_command")
        .args(["init", "import", "export", "sync"])
        .conflicts_with_all(["action", "edit", "guard", "feature", "status"])
))]
#[command(next_help_heading = "Fleet (PostgreSQL)")]
pub struct FleetArgs {
    /// The fleet's PostgreSQL instead of --file: a URL or a key=value
    /// string; writers give every host with target_session_attrs=read-write
    /// (postgres://flags@db1,db2/bot?target_session_attrs=read-write). The
    /// password comes from the URL, $PGPASSWORD or ~/.pgpass and is never
    /// printed.
    #[arg(
        long,
        value_name = "URL",
        env = "FEATURE_FLAGS_DATABASE_URL",
        hide_env_values = true
    )]
    pub database: Option<String>,

    /// Create the database's schema, or bring it up to date; harmless to
    /// repeat. Refuses a schema newer than this feature_flags knows.
    #[arg(long, requires = "database")]
    pub init: bool,

    /// Load a flag file into the database, which must hold none yet, with
    /// FILE.rollouts.json and FILE.audit.jsonl beside it if they exist.
    #[arg(long, value_name = "FILE", requires = "database")]
    pub import: Option<PathBuf>,

    /// With --import: overwrite the database's documents with FILE's (and
    /// its rollouts file's, if it has one), whatever they hold now: the
    /// repair after a document written by hand that cannot be edited.
    #[arg(long, requires = "import")]
    pub replace: bool,

    /// Print the database's flag document, byte for byte.
    #[arg(long, requires = "database")]
    pub export: bool,

    /// Keep --file a copy of the database's flag document for this
    /// server's bots (listening for changes, and polling), until SIGINT or
    /// SIGTERM. --listen ADDR serves its metrics.
    #[arg(long, requires = "database")]
    pub sync: bool,

    /// With --sync: how often to read the database besides listening for
    /// changes (default 5s; notifications are lost when a connection drops).
    #[arg(long, value_name = "DURATION", requires = "sync", value_parser = poll_arg)]
    pub poll: Option<Duration>,
}

fn poll_arg(s: &str) -> Result<Duration, String> {
    super::duration_arg(
        s,
        Duration::from_millis(100)..=Duration::from_secs(3600),
        "a poll interval from 100ms to 1h",
    )
}
