//! Where the documents live, behind one seam: the flag document and the
//! rollouts document, read together, and written together with their audit
//! entries, all of it or nothing.
//!
//! Two stores implement it: a flag file with its rollouts file and audit
//! log beside it, serialized by a lock file ([`file::FileStore`]), and the
//! fleet's PostgreSQL, serialized by row locks in one transaction
//! ([`database::DatabaseStore`]). Edits, plans and the guard are written
//! against [`Store`] and do not know which one they have.

pub mod audit;
pub mod database;
pub mod file;
pub mod locked;
pub mod marker;

use std::path::Path;

use flags_rollout::RolloutsFile;
use serde_json::{Map, Value};

use crate::Failure;
use crate::args::Cli;
use crate::report::invalid_line;

pub use audit::History;

/// The two documents as one read saw them, as text exactly as edited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Documents {
    pub flags: String,
    /// `None`: there is no rollouts document yet (no plan was ever set).
    pub rollouts: Option<String>,
}

/// What one command writes: each document that changes (`None` keeps it),
/// and one audit entry per change, complete (time, user, …).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Commit {
    pub flags: Option<String>,
    pub rollouts: Option<String>,
    pub audit: Vec<Map<String, Value>>,
}

impl Commit {
    pub fn is_empty(&self) -> bool {
        self.flags.is_none() && self.rollouts.is_none() && self.audit.is_empty()
    }
}

/// The decision an [`Store::update`] closure makes on the documents it was
/// given under the lock.
pub type Change<'a> = dyn FnMut(&Documents) -> Result<Option<Commit>, Failure> + 'a;

pub trait Store {
    /// How messages name the flag document: its path, or `database URL`
    /// (the password masked).
    fn flags_name(&self) -> &Path;

    /// How messages name the rollouts document.
    fn rollouts_name(&self) -> &Path;

    /// How messages name the audit log.
    fn audit_name(&self) -> String;

    /// Both documents, read without taking the lock: for read-only
    /// commands, dry runs and the guard's measurements.
    fn read(&mut self) -> Result<Documents, Failure>;

    /// Serialized against every other update: both documents re-read under
    /// the lock, `change` decides on them, and what it returns is written
    /// with its audit entries at once. `Ok(None)` writes nothing. An error
    /// from `change` leaves everything as it was.
    fn update(&mut self, change: &mut Change<'_>) -> Result<(), Failure>;

    /// The audit entries, oldest first.
    fn history(&mut self) -> Result<History, Failure>;

    /// Why the guard could not write now (a read-only file), if it could not.
    fn cannot_write(&mut self) -> Option<String> {
        None
    }
}

/// The store the command line names: `--database URL` (or
/// `$FEATURE_FLAGS_DATABASE_URL`), else the flag file.
pub fn open(cli: &Cli) -> Result<Box<dyn Store>, Failure> {
    match &cli.fleet.database {
        Some(url) => {
            refuse_file_with_database(cli)?;
            Ok(Box::new(database::DatabaseStore::new(url)?))
        }
        None => Ok(Box::new(file::FileStore::new(&cli.file))),
    }
}

/// `--file` and `--database` name two truths; only `--sync` takes both
/// (the file it mirrors). `$FEATURE_FLAGS_FILE`, set for a server's bots,
/// does not count.
pub fn refuse_file_with_database(cli: &Cli) -> Result<(), Failure> {
    if cli.file_given {
        return Err(Failure::usage(
            "--file and --database name two different flag truths; give one \
             (with --database, --file only names the file that --sync mirrors)",
        ));
    }
    Ok(())
}

/// The rollouts document parsed; none is an empty one.
pub fn parse_rollouts(store_name: &Path, text: Option<&str>) -> Result<RolloutsFile, Failure> {
    let Some(text) = text else {
        return Ok(RolloutsFile::default());
    };
    RolloutsFile::parse(text).map_err(|problems| {
        Failure::new(
            invalid_line(store_name, &problems).replace("valid flag file", "valid rollouts file"),
        )
    })
}
