//! The fleet's PostgreSQL as a [`Store`]: both documents and the audit
//! table in schema `feature_flags`, one update one transaction (row locks,
//! re-read, write, audit rows, notify, commit).

use std::path::{Path, PathBuf};

use flags_postgres::{Database, DatabaseUrl, EDITOR, READER, Roles, Update};
use serde_json::Value;

use super::{Change, Documents, History, Store};
use crate::Failure;

/// How many audit entries `--history` reads at most (the newest).
const HISTORY_LIMIT: usize = 100_000;

pub struct DatabaseStore {
    url: DatabaseUrl,
    /// Connected on first use, and again after a connection failed (the
    /// guard outlives a failover; its next check finds the new primary).
    db: Option<Database>,
    flags_name: PathBuf,
    rollouts_name: PathBuf,
}

impl DatabaseStore {
    /// Parses `url` (nothing is connected yet: a usage error never waits
    /// for a database).
    pub fn new(url: &str) -> Result<DatabaseStore, Failure> {
        let url =
            DatabaseUrl::parse(url).map_err(|e| Failure::usage(format!("--database: {e}")))?;
        let masked = url.masked();
        Ok(DatabaseStore {
            flags_name: PathBuf::from(format!("database {masked}")),
            rollouts_name: PathBuf::from(format!("database {masked} (rollouts document)")),
            url,
            db: None,
        })
    }

    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// The connection, made if there is none (or the last one broke).
    pub fn database(&mut self) -> Result<&mut Database, Failure> {
        if self.db.as_ref().is_none_or(Database::is_closed) {
            self.db = None;
            let db = Database::connect(&self.url).map_err(|e| self.failure(e))?;
            self.db = Some(db);
        }
        self.db
            .as_mut()
            .ok_or_else(|| Failure::new("no database connection"))
    }

    /// `--init`: creates or migrates the schema and sets up the group
    /// roles; what was done, as lines to print. Roles this role may not
    /// create are not an error (the schema is done, the owner can work):
    /// the lines give the statements an administrator must run.
    pub fn init(&mut self) -> Result<String, Failure> {
        let setup = self.database()?.setup();
        let setup = setup.map_err(|e| self.failure(e))?;
        let name = self.flags_name.display().to_string();
        let mut out = match (setup.from, setup.to) {
            (0, to) => format!("{name}: schema feature_flags created (version {to})\n"),
            (from, to) if from == to => format!(
                "{name}: schema feature_flags is up to date (version {to}); nothing to do\n"
            ),
            (from, to) => {
                format!("{name}: schema feature_flags migrated from version {from} to {to}\n")
            }
        };
        out.push_str(&roles_text(&setup.roles));
        Ok(out)
    }

    /// A database error as one line naming the database (its password
    /// masked); a connection that failed is dropped, to be made anew.
    pub fn failure(&mut self, e: flags_postgres::Error) -> Failure {
        if self.db.as_ref().is_some_and(Database::is_closed) {
            self.db = None;
        }
        Failure::new(format!("{}: {e}", self.flags_name.display()))
    }
}

impl Store for DatabaseStore {
    fn flags_name(&self) -> &Path {
        &self.flags_name
    }

    fn rollouts_name(&self) -> &Path {
        &self.rollouts_name
    }

    fn audit_name(&self) -> String {
        format!("the audit table of {}", self.flags_name.display())
    }

    fn read(&mut self) -> Result<Documents, Failure> {
        let docs = self.database()?.read();
        let docs = docs.map_err(|e| self.failure(e))?;
        Ok(Documents {
            flags: docs.flags,
            rollouts: docs.rollouts,
        })
    }

    fn update(&mut self, change: &mut Change<'_>) -> Result<(), Failure> {
        let host = host_name();
        let result = self.database()?.edit(|docs| {
            let docs = Documents {
                flags: docs.flags.clone(),
                rollouts: docs.rollouts.clone(),
            };
            let Some(commit) = change(&docs).map_err(Failed::Command)? else {
                return Ok((None, ()));
            };
            let audit = commit
                .audit
                .into_iter()
                .map(|mut entry| {
                    entry.entry("host").or_insert_with(|| host.clone());
                    entry
                })
                .collect();
            let update = Update {
                flags: commit.flags.filter(|text| *text != docs.flags),
                rollouts: commit
                    .rollouts
                    .filter(|text| docs.rollouts.as_ref() != Some(text)),
                audit,
            };
            Ok((Some(update), ()))
        });
        match result {
            Ok(()) => Ok(()),
            Err(Failed::Command(failure)) => Err(failure),
            Err(Failed::Database(e)) => Err(self.failure(e)),
        }
    }

    fn history(&mut self) -> Result<History, Failure> {
        let entries = self.database()?.history(None, HISTORY_LIMIT);
        let entries = entries.map_err(|e| self.failure(e))?;
        Ok(History {
            entries,
            unreadable: Vec::new(),
        })
    }
}

/// Why an update failed: the command refused (bad input, a stale plan), or
/// the database did.
enum Failed {
    Command(Failure),
    Database(flags_postgres::Error),
}

impl From<flags_postgres::Error> for Failed {
    fn from(e: flags_postgres::Error) -> Failed {
        Failed::Database(e)
    }
}

/// What `--init` did about the group roles.
fn roles_text(roles: &Roles) -> String {
    match roles {
        Roles::Granted { created } => {
            let mut out = String::new();
            if !created.is_empty() {
                out.push_str(&format!(
                    "created group roles {} (NOLOGIN)\n",
                    created.join(", ")
                ));
            }
            out.push_str(&format!(
                "rights granted: {READER} (syncs: read the flag document, listen), \
                 {EDITOR} (edits, plans, the guard, --history: through the audit only); \
                 give them to login roles, e.g. GRANT {READER} TO bot_blue; GRANT {EDITOR} TO ops\n"
            ));
            out
        }
        Roles::Missing { role, statements } => format!(
            "warning: role {role} may not create roles; an administrator (a role with CREATEROLE) runs:\n{}\
             then run --init again as {role} to grant them their rights\n",
            statements
                .iter()
                .map(|s| format!("  {s}\n"))
                .collect::<String>()
        ),
        Roles::NotOwner { role, owner } => format!(
            "rights not granted: role {role} does not own schema feature_flags; its owner ({owner}) runs --init to grant them\n"
        ),
    }
}

/// This machine's name, for the audit table's `host`.
fn host_name() -> Value {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    if name.is_empty() {
        Value::Null
    } else {
        Value::String(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_gives_an_administrator_the_statements_to_run() {
        let text = roles_text(&Roles::Missing {
            role: "flags".into(),
            statements: vec![
                "CREATE ROLE feature_flags_reader NOLOGIN;".into(),
                "CREATE ROLE feature_flags_editor NOLOGIN;".into(),
            ],
        });
        assert_eq!(
            text,
            "warning: role flags may not create roles; an administrator (a role with CREATEROLE) runs:\n\
             \x20 CREATE ROLE feature_flags_reader NOLOGIN;\n\
             \x20 CREATE ROLE feature_flags_editor NOLOGIN;\n\
             then run --init again as flags to grant them their rights\n"
        );
        let text = roles_text(&Roles::Granted {
            created: vec![READER.into()],
        });
        assert!(
            text.starts_with(
                "created group roles feature_flags_reader (NOLOGIN)\nrights granted: "
            )
        );
    }
}
