//! The fleet's one flag truth in PostgreSQL: the flag document and the
//! rollouts document (text exactly as edited, each with a version), the
//! append-only audit log, and change notifications. Storage only: callers
//! validate documents with flags-core before they write them.
//!
//! Least privilege: the role that runs `init` owns the schema (migrations
//! in `migrations/`, `schema.rs`); bot servers' syncs connect as members of
//! [`READER`], operators and the guard as members of [`EDITOR`], who change
//! documents only through the schema's functions that also write the audit
//! rows. The database stamps each audit row with the writing role and its
//! own time (`audit.rs`); a refusal names the right it lacks (`rights.rs`).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use postgres::error::SqlState;

use crate::client::{Client, ConnectFailure, Transaction};

mod audit;
mod audit_entry;
mod client;
mod config;
mod heartbeat;
mod pgpass;
mod rights;
mod schema;
mod tls;
mod url;

#[cfg(feature = "testing")]
pub mod testing;

pub use config::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_QUERY_TIMEOUT, DatabaseUrl, SslMode};
pub use heartbeat::SyncRow;
pub use pgpass::pgpass_lookup;
pub use schema::{EDITOR, READER, Roles, Setup};

/// The largest document read or written (a flag file is a few KiB).
pub const MAX_DOCUMENT_BYTES: usize = 4 * 1024 * 1024;
/// The schema this build creates and understands.
pub const SCHEMA_VERSION: u32 = 2;
/// The NOTIFY channel; the payload is the new flag document's version.
pub const CHANNEL: &str = "feature_flags";

/// Why a database operation failed. Display is one line and never holds a
/// password.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The connection settings make no sense.
    Url(String),
    /// No host could be reached (or the connection broke).
    Connect(String),
    /// The database refused or failed a statement.
    Query(String),
    NotInitialized,
    NewerSchema {
        found: u32,
        known: u32,
    },
    NoDocument,
    NotEmpty,
    TooLarge {
        bytes: u64,
    },
    /// A standby (read-only) server answered a write.
    ReadOnly,
    /// The connecting role lacks a right: the message names the role, what
    /// it is and the grant it needs.
    PermissionDenied(String),
    /// The schema predates what this command needs: its owner runs --init.
    OlderSchema,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Url(m) => write!(f, "database URL: {m}"),
            Error::Connect(m) => write!(f, "cannot connect to the database: {m}"),
            Error::Query(m) => write!(f, "database: {m}"),
            Error::NotInitialized => {
                f.write_str("the database has no feature_flags schema: run --init")
            }
            Error::NewerSchema { found, known } => write!(
                f,
                "the database's feature_flags schema is version {found}, newer than this feature_flags knows ({known}): upgrade feature_flags"
            ),
            Error::NoDocument => {
                f.write_str("the database holds no flag document yet: run --import FILE")
            }
            Error::NotEmpty => f.write_str(
                "the database already holds a flag document: --import only fills an empty one (--import FILE --replace overwrites it)",
            ),
            Error::TooLarge { bytes } => write!(
                f,
                "the document is {bytes} bytes, over the limit of {MAX_DOCUMENT_BYTES}"
            ),
            Error::ReadOnly => f.write_str(
                "the database server is read-only (a standby): use target_session_attrs=read-write with every host",
            ),
            Error::PermissionDenied(m) => write!(f, "permission denied: {m}"),
            Error::OlderSchema => write!(
                f,
                "the database's feature_flags schema is older than this feature_flags (version {SCHEMA_VERSION}): the schema's owner runs --init to migrate it"
            ),
        }
    }
}

impl std::error::Error for Error {}

/// Both documents as one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Documents {
    pub flags: String,
    pub flags_version: i64,
    /// None: no plans (like a missing rollouts file).
    pub rollouts: Option<String>,
    pub rollouts_version: i64,
    /// Random id made by `init`: a sync that sees another id knows the
    /// database was replaced, and takes its document even if its version is
    /// lower than the file's.
    pub database_id: String,
}

/// What an edit writes: each document that is Some and differs, and the
/// audit rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Update {
    pub flags: Option<String>,
    pub rollouts: Option<String>,
    pub audit: Vec<AuditEntry>,
}

/// One audit line as the file audit log writes it (time, user, host, flag,
/// field, old, new; the guard's action, reason, trigger, value, threshold,
/// samples). Stored whole (jsonb `entry`) and in columns.
pub type AuditEntry = serde_json::Map<String, serde_json::Value>;

/// One connection.
pub struct Database {
    client: Client,
    /// The password sent, to scrub it from any error text that might echo it.
    password: Option<String>,
    host: String,
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Database({})", self.host)
    }
}

impl Database {
    /// Tries each host in turn (with its own password from ~/.pgpass), each
    /// within the connect timeout (TCP, TLS and authentication together);
    /// with target_session_attrs=read-write a read-only server is skipped.
    /// Every later round trip is bounded by the query deadline; a missed
    /// deadline drops the connection ([`Database::is_closed`]).
    pub fn connect(url: &DatabaseUrl) -> Result<Database, Error> {
        Self::connect_with_env(url, &|k| std::env::var(k).ok())
    }

    /// As [`Database::connect`], and both connecting and every later round
    /// trip give up within 50 ms once `stop` is set (a stopping sync does not
    /// wait out a silent server); the connection is then dropped.
    pub fn connect_with_stop(url: &DatabaseUrl, stop: Arc<AtomicBool>) -> Result<Database, Error> {
        Self::connect_inner(url, &|k| std::env::var(k).ok(), Some(stop))
    }

    /// As [`Database::connect`], reading PGPASSWORD, PGPASSFILE and HOME
    /// through `env`.
    pub fn connect_with_env(
        url: &DatabaseUrl,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Database, Error> {
        Self::connect_inner(url, env, None)
    }

    fn connect_inner(
        url: &DatabaseUrl,
        env: &dyn Fn(&str) -> Option<String>,
        stop: Option<Arc<AtomicBool>>,
    ) -> Result<Database, Error> {
        let tls = tls::connector(url, env)?;
        let mut failures = Vec::new();
        for i in 0..url.hosts.len() {
            let password = url.password_for(i, env);
            let config = url.config(i, password.as_deref());
            let attempt = Client::connect(
                &config,
                tls.clone(),
                url.connect_timeout,
                url.query_timeout,
                stop.clone(),
            );
            let why = match attempt {
                Ok(client) => {
                    return Ok(Database {
                        client,
                        password,
                        host: url.host_label(i),
                    });
                }
                Err(ConnectFailure::Refused(e)) => {
                    scrub(&describe(&e), password.as_deref().or(url.known_password()))
                }
                Err(ConnectFailure::TimedOut) => format!(
                    "no connection within connect_timeout ({} s)",
                    url.connect_timeout.as_secs()
                ),
                Err(ConnectFailure::Stopped) => {
                    return Err(Error::Connect("interrupted: stopping".into()));
                }
                Err(ConnectFailure::Runtime(e)) => format!("cannot start the client: {e}"),
            };
            failures.push(format!("{}: {why}", url.host_label(i)));
        }
        Err(Error::Connect(failures.join("; ")))
    }

    /// `host:port` of the server this connection reached.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    fn fail(&self, e: postgres::Error) -> Error {
        fail_detached(
            &self.host,
            self.password.as_deref(),
            self.client.is_closed(),
            e,
        )
    }

    /// Both documents and their versions, one snapshot, no locks.
    pub fn read(&mut self) -> Result<Documents, Error> {
        let rows = self
            .client
            .query(READ_DOCUMENTS, &[&(MAX_DOCUMENT_BYTES as i64)]);
        let rows = rows.map_err(|e| self.fail_as(e, Action::Read))?;
        documents(rows)
    }

    /// One transaction: lock both document rows, re-read, call `f`;
    /// `Ok((None, t))` changes nothing; `Ok((Some(update), t))` writes each
    /// document that is Some and differs (its version + 1), the audit rows,
    /// NOTIFY, and commits. Any error: nothing written. Locking and writing
    /// go through the schema's functions (`lock_documents`,
    /// `write_documents`), so that an editor, who may not write a table,
    /// changes documents only together with their audit rows.
    pub fn edit<T, E: From<Error>>(
        &mut self,
        f: impl FnOnce(&Documents) -> Result<(Option<Update>, T), E>,
    ) -> Result<T, E> {
        match self.edit_once(f) {
            Ok(value) => Ok(value),
            Err(Failed::Db(e)) => Err(E::from(self.fail_as(e, Action::Edit))),
            Err(Failed::Other(e)) => Err(e),
        }
    }

    fn edit_once<T, E: From<Error>>(
        &mut self,
        f: impl FnOnce(&Documents) -> Result<(Option<Update>, T), E>,
    ) -> Result<T, Failed<E>> {
        let mut tx = self.client.transaction().map_err(Failed::Db)?;
        let rows = tx
            .query(
                "SELECT * FROM feature_flags.lock_documents($1)",
                &[&(MAX_DOCUMENT_BYTES as i64)],
            )
            .map_err(Failed::Db)?;
        let current = documents(rows).map_err(|e| Failed::Other(E::from(e)))?;
        let (update, value) = f(&current).map_err(Failed::Other)?;
        let Some(update) = update else {
            return Ok(value);
        };
        let flags = update.flags.as_ref().filter(|t| **t != current.flags);
        let rollouts = update
            .rollouts
            .as_ref()
            .filter(|t| Some(*t) != current.rollouts.as_ref());
        for body in flags.iter().chain(rollouts.iter()) {
            if body.len() > MAX_DOCUMENT_BYTES {
                return Err(Failed::Other(E::from(Error::TooLarge {
                    bytes: body.len() as u64,
                })));
            }
        }
        if flags.is_none() && rollouts.is_none() && update.audit.is_empty() {
            return Ok(value);
        }
        tx.execute(
            "SELECT feature_flags.write_documents($1, $2, $3, $4, $5::text::jsonb)",
            &[
                &flags,
                &rollouts,
                &current.flags_version,
                &current.rollouts_version,
                &audit::entries_json(&update.audit),
            ],
        )
        .map_err(Failed::Db)?;
        tx.commit().map_err(Failed::Db)?;
        Ok(value)
    }

    /// Fills a database that has no flag document yet (else NotEmpty);
    /// `audit` rows are this import's own.
    pub fn import(
        &mut self,
        flags: &str,
        rollouts: Option<&str>,
        audit: &[AuditEntry],
    ) -> Result<Documents, Error> {
        self.put(flags, rollouts, &[], audit, true)
    }

    /// As [`Database::import`], with `history` (a file's audit log) before
    /// the import's own rows, each marked imported: the database vouches
    /// only for who imported it and when.
    pub fn import_with_history(
        &mut self,
        flags: &str,
        rollouts: Option<&str>,
        history: &[AuditEntry],
        audit: &[AuditEntry],
    ) -> Result<Documents, Error> {
        self.put(flags, rollouts, history, audit, true)
    }

    /// Writes the documents whatever the database holds now, without
    /// reading the old ones: the repair after a document written by hand
    /// that cannot be edited (invalid, or over [`MAX_DOCUMENT_BYTES`]).
    /// `rollouts` None leaves the rollouts document as it is.
    pub fn replace(
        &mut self,
        flags: &str,
        rollouts: Option<&str>,
        audit: &[AuditEntry],
    ) -> Result<Documents, Error> {
        self.put(flags, rollouts, &[], audit, false)
    }

    /// The owner's write (import, replace): tables directly, which only the
    /// schema's owner may.
    fn put(
        &mut self,
        flags: &str,
        rollouts: Option<&str>,
        history: &[AuditEntry],
        audit: &[AuditEntry],
        only_if_empty: bool,
    ) -> Result<Documents, Error> {
        let update = Update {
            flags: Some(flags.to_owned()),
            rollouts: rollouts.map(str::to_owned),
            audit: audit.to_vec(),
        };
        match self.put_once(&update, history, only_if_empty) {
            Ok(docs) => Ok(docs),
            Err(Failed::Db(e)) => Err(self.fail_as(e, Action::Import)),
            Err(Failed::Other(e)) => Err(e),
        }
    }

    fn put_once(
        &mut self,
        update: &Update,
        history: &[AuditEntry],
        only_if_empty: bool,
    ) -> Result<Documents, Failed<Error>> {
        let mut tx = self.client.transaction().map_err(Failed::Db)?;
        // Lock both rows without fetching a body that may be huge.
        let rows = tx
            .query(
                "SELECT name, body IS NOT NULL FROM feature_flags.documents ORDER BY name FOR UPDATE",
                &[],
            )
            .map_err(Failed::Db)?;
        let has_flags = rows
            .iter()
            .any(|r| r.get::<_, &str>(0) == "flags" && r.get::<_, bool>(1));
        if only_if_empty && has_flags {
            return Err(Failed::Other(Error::NotEmpty));
        }
        let current = empty_documents(&mut tx).map_err(Failed::Db)?;
        for entry in history {
            audit::append(&mut tx, entry, None, true).map_err(Failed::Db)?;
        }
        write_update(&mut tx, &current, update)?;
        let rows = tx
            .query(READ_DOCUMENTS, &[&(MAX_DOCUMENT_BYTES as i64)])
            .map_err(Failed::Db)?;
        let docs = documents(rows).map_err(Failed::Other)?;
        tx.commit().map_err(Failed::Db)?;
        Ok(docs)
    }

    /// LISTEN on [`CHANNEL`] (fails on a hot standby: then only poll).
    pub fn listen(&mut self) -> Result<(), Error> {
        self.client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .map_err(|e| self.fail(e))
    }

    /// Waits up to `timeout` for a notification; Ok(true) if one came
    /// (several edits in a row wake the caller once). A server gone silent
    /// is not seen here: the caller's next query meets its deadline.
    pub fn wait_for_notification(&mut self, timeout: Duration) -> Result<bool, Error> {
        self.client
            .wait_for_notification(timeout)
            .map_err(|_| Error::Connect(format!("{}: the connection closed", self.host)))
    }

    /// Runs SQL as given (tests and tools); errors are scrubbed as usual.
    pub fn batch_execute(&mut self, sql: &str) -> Result<(), Error> {
        self.client.batch_execute(sql).map_err(|e| self.fail(e))
    }

    /// This connection's server process id (for `pg_terminate_backend`).
    pub fn backend_pid(&mut self) -> Result<i32, Error> {
        let row = self
            .client
            .query_one("SELECT pg_backend_pid()", &[])
            .map_err(|e| self.fail(e))?;
        Ok(row.get(0))
    }
}

const READ_DOCUMENTS: &str = "SELECT d.name, d.version, octet_length(d.body)::bigint, \
     CASE WHEN octet_length(d.body) <= $1::bigint THEN d.body END, s.version, s.database_id \
     FROM feature_flags.documents d CROSS JOIN feature_flags.schema_version s";

/// Why a transaction failed: the database (mapped once the transaction
/// has ended and the connection is free to explain a refusal), or not.
enum Failed<E> {
    Db(postgres::Error),
    Other(E),
}

/// What a refused statement was for: names the right it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Read,
    Edit,
    Import,
    History,
    Init,
    Heartbeat,
    Syncs,
}

fn fail_detached(host: &str, password: Option<&str>, closed: bool, e: postgres::Error) -> Error {
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        if *code == SqlState::INVALID_SCHEMA_NAME || *code == SqlState::UNDEFINED_TABLE {
            return Error::NotInitialized;
        }
        if *code == SqlState::READ_ONLY_SQL_TRANSACTION {
            return Error::ReadOnly;
        }
        // The functions and columns of a later schema version.
        if *code == SqlState::UNDEFINED_COLUMN
            || (*code == SqlState::UNDEFINED_FUNCTION && db.message().contains("feature_flags"))
        {
            return Error::OlderSchema;
        }
    }
    if client::is_deadline(&e) {
        return Error::Connect(format!(
            "{host}: no answer within the query deadline (query_timeout): the connection was dropped"
        ));
    }
    let text = scrub(&describe(&e), password);
    if e.is_closed() || closed {
        Error::Connect(format!("{host}: {text}"))
    } else {
        Error::Query(text)
    }
}

/// The documents from [`READ_DOCUMENTS`] rows; NoDocument when the flag
/// document was never imported.
fn documents(rows: Vec<postgres::Row>) -> Result<Documents, Error> {
    let mut docs = Documents {
        flags: String::new(),
        flags_version: 0,
        rollouts: None,
        rollouts_version: 0,
        database_id: String::new(),
    };
    let mut have_flags = false;
    for row in &rows {
        let schema: i32 = row.get(4);
        if schema.max(0) as u32 > SCHEMA_VERSION {
            return Err(Error::NewerSchema {
                found: schema as u32,
                known: SCHEMA_VERSION,
            });
        }
        docs.database_id = row.get(5);
        let name: &str = row.get(0);
        let version: i64 = row.get(1);
        let bytes: Option<i64> = row.get(2);
        let body: Option<String> = row.get(3);
        if let Some(n) = bytes
            && body.is_none()
        {
            return Err(Error::TooLarge { bytes: n as u64 });
        }
        match name {
            "flags" => {
                docs.flags_version = version;
                if let Some(b) = body {
                    docs.flags = b;
                    have_flags = true;
                }
            }
            _ => {
                docs.rollouts_version = version;
                docs.rollouts = body;
            }
        }
    }
    if !have_flags {
        return Err(Error::NoDocument);
    }
    Ok(docs)
}

fn empty_documents(tx: &mut Transaction<'_>) -> Result<Documents, postgres::Error> {
    let row = tx.query_one(
        "SELECT (SELECT version FROM feature_flags.documents WHERE name = 'flags'), \
                (SELECT version FROM feature_flags.documents WHERE name = 'rollouts'), \
                (SELECT database_id FROM feature_flags.schema_version)",
        &[],
    )?;
    Ok(Documents {
        flags: String::new(),
        flags_version: row.get(0),
        rollouts: None,
        rollouts_version: row.get(1),
        database_id: row.get(2),
    })
}

/// The owner's write of [`Database::put`]: documents, audit rows, notify.
fn write_update(
    tx: &mut Transaction<'_>,
    current: &Documents,
    update: &Update,
) -> Result<(), Failed<Error>> {
    let mut flags_version = current.flags_version;
    let mut changed = false;
    let mut documents = Vec::new();
    // Version 0 is "never imported" (and import/replace pass an empty
    // placeholder): the document is written even if it equals it.
    if let Some(flags) = &update.flags
        && (*flags != current.flags || current.flags_version == 0)
    {
        documents.push(("flags", flags));
        flags_version += 1;
    }
    if let Some(rollouts) = &update.rollouts
        && Some(rollouts) != current.rollouts.as_ref()
    {
        documents.push(("rollouts", rollouts));
    }
    for (name, body) in documents {
        if body.len() > MAX_DOCUMENT_BYTES {
            return Err(Failed::Other(Error::TooLarge {
                bytes: body.len() as u64,
            }));
        }
        tx.execute(
            "UPDATE feature_flags.documents SET body = $1, version = version + 1, \
             updated_at = now() WHERE name = $2",
            &[body, &name],
        )
        .map_err(Failed::Db)?;
        changed = true;
    }
    for entry in &update.audit {
        audit::append(tx, entry, Some(flags_version), false).map_err(Failed::Db)?;
    }
    if changed {
        tx.execute(
            "SELECT pg_notify($1, $2)",
            &[&CHANNEL, &flags_version.to_string()],
        )
        .map_err(Failed::Db)?;
    }
    Ok(())
}

/// One line for an error of rust-postgres, with the server's message.
fn describe(e: &postgres::Error) -> String {
    use std::error::Error as _;
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => {
            let mut text = e.to_string();
            let mut source = e.source();
            while let Some(s) = source {
                let more = s.to_string();
                if !text.contains(&more) {
                    text.push_str(": ");
                    text.push_str(&more);
                }
                source = s.source();
            }
            text.replace('\n', " ")
        }
    }
}

/// Defence in depth: no server or library message may echo the password.
fn scrub(text: &str, password: Option<&str>) -> String {
    match password {
        Some(pw) if !pw.is_empty() => text.replace(pw, "***"),
        _ => text.to_owned(),
    }
}
