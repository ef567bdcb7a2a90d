//! The fleet's one flag truth in PostgreSQL: the flag document and the
//! rollouts document (text exactly as edited, each with a version), the
//! append-only audit log, and change notifications. Storage only: callers
//! validate documents with flags-core before they write them.

use std::fmt;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, Transaction};

mod audit_entry;
// TEMPORARY (branch operators): replaced by the schema branch's v2 at merge.
pub mod syncs_shim;
mod tls;
mod url;

#[cfg(feature = "testing")]
pub mod testing;

pub use syncs_shim::SyncRow;
pub use url::{DEFAULT_CONNECT_TIMEOUT, DatabaseUrl, SslMode, pgpass_lookup};

/// The largest document read or written (a flag file is a few KiB).
pub const MAX_DOCUMENT_BYTES: usize = 4 * 1024 * 1024;
/// The schema this build creates and understands.
pub const SCHEMA_VERSION: u32 = 1;
/// The NOTIFY channel; the payload is the new flag document's version.
pub const CHANNEL: &str = "feature_flags";

/// Key of the advisory lock that serialises `init` (any constant; "ffsc").
const INIT_LOCK: i64 = 0x6666_7363;

/// Migration `n` (1-based) brings the schema from version n-1 to n.
const MIGRATIONS: [&str; 1] = [r#"
CREATE SCHEMA feature_flags;
CREATE TABLE feature_flags.schema_version (version int NOT NULL, database_id text NOT NULL);
INSERT INTO feature_flags.schema_version VALUES (0, gen_random_uuid()::text);
CREATE TABLE feature_flags.documents (
  name text PRIMARY KEY CHECK (name IN ('flags', 'rollouts')),
  body text,
  version bigint NOT NULL DEFAULT 0,
  updated_at timestamptz);
INSERT INTO feature_flags.documents (name) VALUES ('flags'), ('rollouts');
CREATE TABLE feature_flags.audit (
  id bigserial PRIMARY KEY,
  time timestamptz NOT NULL DEFAULT now(),
  "user" text, host text, flag text, field text, old jsonb, new jsonb,
  action text, reason text, readings jsonb,
  entry jsonb NOT NULL);
CREATE INDEX audit_flag ON feature_flags.audit (flag, id);
CREATE FUNCTION feature_flags.audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'feature_flags.audit is append-only (% refused)', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON feature_flags.audit
  FOR EACH ROW EXECUTE FUNCTION feature_flags.audit_is_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON feature_flags.audit
  FOR EACH STATEMENT EXECUTE FUNCTION feature_flags.audit_is_append_only();
-- A document changed by hand (psql) without a new version would never
-- reach the syncs, which take only newer versions: the change gets one.
CREATE FUNCTION feature_flags.documents_versioned() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.body IS DISTINCT FROM OLD.body AND NEW.version = OLD.version THEN
    NEW.version := OLD.version + 1;
    NEW.updated_at := now();
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER documents_versioned BEFORE UPDATE ON feature_flags.documents
  FOR EACH ROW EXECUTE FUNCTION feature_flags.documents_versioned();
"#];

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
    /// within the connect timeout; with target_session_attrs=read-write a
    /// read-only server is skipped.
    pub fn connect(url: &DatabaseUrl) -> Result<Database, Error> {
        Self::connect_with_env(url, &|k| std::env::var(k).ok())
    }

    /// As [`Database::connect`], reading PGPASSWORD, PGPASSFILE and HOME
    /// through `env`.
    pub fn connect_with_env(
        url: &DatabaseUrl,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Database, Error> {
        let tls = tls::connector(url)?;
        let mut failures = Vec::new();
        for i in 0..url.hosts.len() {
            let password = url.password_for(i, env);
            let config = url.config(i, password.as_deref())?;
            match config.connect(tls.clone()) {
                Ok(client) => {
                    return Ok(Database {
                        client,
                        password,
                        host: url.host_label(i),
                    });
                }
                Err(e) => failures.push(format!(
                    "{}: {}",
                    url.host_label(i),
                    scrub(&describe(&e), password.as_deref().or(url.known_password()))
                )),
            }
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

    /// Creates or migrates schema `feature_flags`; idempotent; refuses a
    /// schema newer than this build knows. Returns (from, to) versions.
    pub fn init(&mut self) -> Result<(u32, u32), Error> {
        let mut from = None;
        let (host, password) = (self.host.clone(), self.password.clone());
        let fail = |e| fail_detached(&host, password.as_deref(), false, e);
        loop {
            let mut tx = self.client.transaction().map_err(fail)?;
            let step = (|| {
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&INIT_LOCK])?;
                let exists: bool = tx
                    .query_one(
                        "SELECT to_regclass('feature_flags.schema_version') IS NOT NULL",
                        &[],
                    )?
                    .get(0);
                let version: i32 = if exists {
                    tx.query_one("SELECT version FROM feature_flags.schema_version", &[])?
                        .get(0)
                } else {
                    0
                };
                Ok::<_, postgres::Error>((tx, version.max(0) as u32))
            })();
            let (mut tx, version) = match step {
                Ok(v) => v,
                Err(e) => return Err(fail(e)),
            };
            let from = *from.get_or_insert(version);
            if version > SCHEMA_VERSION {
                return Err(Error::NewerSchema {
                    found: version,
                    known: SCHEMA_VERSION,
                });
            }
            if version == SCHEMA_VERSION {
                drop(tx);
                return Ok((from, version));
            }
            let sql = MIGRATIONS[version as usize];
            let next = version as i32 + 1;
            let applied = tx.batch_execute(sql).and_then(|()| {
                tx.execute(
                    "UPDATE feature_flags.schema_version SET version = $1",
                    &[&next],
                )?;
                tx.commit()
            });
            if let Err(e) = applied {
                return Err(fail(e));
            }
        }
    }

    /// Both documents and their versions, one snapshot, no locks.
    pub fn read(&mut self) -> Result<Documents, Error> {
        let rows = self
            .client
            .query(READ_DOCUMENTS, &[&(MAX_DOCUMENT_BYTES as i64)])
            .map_err(|e| self.fail(e))?;
        documents(rows)
    }

    /// One transaction: lock both document rows, re-read, call `f`;
    /// `Ok((None, t))` changes nothing; `Ok((Some(update), t))` writes each
    /// document that is Some and differs (its version + 1), the audit rows,
    /// NOTIFY, and commits. Any error: nothing written.
    pub fn edit<T, E: From<Error>>(
        &mut self,
        f: impl FnOnce(&Documents) -> Result<(Option<Update>, T), E>,
    ) -> Result<T, E> {
        let password = self.password.clone();
        let host = self.host.clone();
        // The transaction borrows the client: errors are mapped without it.
        let fail =
            |_: bool, e: postgres::Error| fail_detached(&host, password.as_deref(), false, e);
        let mut tx = self.client.transaction().map_err(|e| fail(false, e))?;
        let rows = tx
            .query(
                &format!("{READ_DOCUMENTS} FOR UPDATE OF d"),
                &[&(MAX_DOCUMENT_BYTES as i64)],
            )
            .map_err(|e| fail(false, e))?;
        let current = documents(rows)?;
        let (update, value) = f(&current)?;
        let Some(update) = update else {
            return Ok(value);
        };
        write_update(&mut tx, &current, &update).map_err(|e| match e {
            Written::Db(e) => fail(false, e),
            Written::Other(e) => e,
        })?;
        tx.commit().map_err(|e| fail(false, e))?;
        Ok(value)
    }

    /// Fills a database that has no flag document yet (else NotEmpty).
    pub fn import(
        &mut self,
        flags: &str,
        rollouts: Option<&str>,
        audit: &[AuditEntry],
    ) -> Result<Documents, Error> {
        self.put(flags, rollouts, audit, true)
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
        self.put(flags, rollouts, audit, false)
    }

    fn put(
        &mut self,
        flags: &str,
        rollouts: Option<&str>,
        audit: &[AuditEntry],
        only_if_empty: bool,
    ) -> Result<Documents, Error> {
        let (host, password) = (self.host.clone(), self.password.clone());
        let fail = |e| fail_detached(&host, password.as_deref(), false, e);
        let mut tx = self.client.transaction().map_err(fail)?;
        let result = (|| {
            // Lock both rows without fetching a body that may be huge.
            let rows = tx
                .query(
                    "SELECT name, body IS NOT NULL FROM feature_flags.documents ORDER BY name FOR UPDATE",
                    &[],
                )
                .map_err(Written::Db)?;
            let has_flags = rows
                .iter()
                .any(|r| r.get::<_, &str>(0) == "flags" && r.get::<_, bool>(1));
            if only_if_empty && has_flags {
                return Err(Written::Other(Error::NotEmpty));
            }
            let current = empty_documents(&mut tx).map_err(Written::Db)?;
            let update = Update {
                flags: Some(flags.to_owned()),
                rollouts: rollouts.map(str::to_owned),
                audit: audit.to_vec(),
            };
            write_update(&mut tx, &current, &update)?;
            let rows = tx
                .query(READ_DOCUMENTS, &[&(MAX_DOCUMENT_BYTES as i64)])
                .map_err(Written::Db)?;
            let docs = documents(rows).map_err(Written::Other)?;
            Ok((tx, docs))
        })();
        match result {
            Ok((tx, docs)) => {
                tx.commit().map_err(fail)?;
                Ok(docs)
            }
            Err(Written::Db(e)) => Err(fail(e)),
            Err(Written::Other(e)) => Err(e),
        }
    }

    /// Audit entries, oldest first, optionally one flag's; the `limit` newest.
    pub fn history(&mut self, flag: Option<&str>, limit: usize) -> Result<Vec<AuditEntry>, Error> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .client
            .query(
                "SELECT (entry || jsonb_build_object('id', id))::text FROM (SELECT id, entry FROM feature_flags.audit \
                 WHERE $1::text IS NULL OR flag = $1 ORDER BY id DESC LIMIT $2) t ORDER BY id",
                &[&flag, &limit],
            )
            .map_err(|e| self.fail(e))?;
        rows.iter()
            .map(|row| {
                let text: String = row.get(0);
                serde_json::from_str(&text).map_err(|e| Error::Query(format!("audit entry: {e}")))
            })
            .collect()
    }

    /// LISTEN on [`CHANNEL`] (fails on a hot standby: then only poll).
    pub fn listen(&mut self) -> Result<(), Error> {
        self.client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .map_err(|e| self.fail(e))
    }

    /// Waits up to `timeout` for a notification; Ok(true) if one came.
    pub fn wait_for_notification(&mut self, timeout: Duration) -> Result<bool, Error> {
        let mut notifications = self.client.notifications();
        let first = notifications.timeout_iter(timeout).next();
        let mut got = match first {
            Ok(Some(_)) => true,
            Err(e) => {
                drop(notifications);
                return Err(self.fail(e));
            }
            Ok(None) => false,
        };
        // Several edits in a row wake the caller once.
        while let Ok(Some(_)) = notifications.iter().next() {
            got = true;
        }
        drop(notifications);
        if !got && self.client.is_closed() {
            return Err(Error::Connect(format!(
                "{}: the connection closed",
                self.host
            )));
        }
        Ok(got)
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

enum Written {
    Db(postgres::Error),
    Other(Error),
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

fn write_update(
    tx: &mut Transaction<'_>,
    current: &Documents,
    update: &Update,
) -> Result<(), Written> {
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
            return Err(Written::Other(Error::TooLarge {
                bytes: body.len() as u64,
            }));
        }
        tx.execute(
            "UPDATE feature_flags.documents SET body = $1, version = version + 1, \
             updated_at = now() WHERE name = $2",
            &[body, &name],
        )
        .map_err(Written::Db)?;
        changed = true;
    }
    for entry in &update.audit {
        insert_audit(tx, entry).map_err(Written::Db)?;
    }
    if changed {
        tx.execute(
            "SELECT pg_notify($1, $2)",
            &[&CHANNEL, &flags_version.to_string()],
        )
        .map_err(Written::Db)?;
    }
    Ok(())
}

fn insert_audit(tx: &mut Transaction<'_>, entry: &AuditEntry) -> Result<(), postgres::Error> {
    let text = |k: &str| entry.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let json = |k: &str| entry.get(k).map(|v| v.to_string());
    let readings: serde_json::Map<_, _> = ["trigger", "value", "threshold", "samples"]
        .iter()
        .filter_map(|k| entry.get(*k).map(|v| ((*k).to_owned(), v.clone())))
        .collect();
    let readings = (!readings.is_empty()).then(|| serde_json::Value::Object(readings).to_string());
    let whole = serde_json::Value::Object(entry.clone()).to_string();
    // A time that is not RFC 3339 is kept in `entry` only: the row still goes in.
    tx.execute(
        "INSERT INTO feature_flags.audit \
         (time, \"user\", host, flag, field, old, new, action, reason, readings, entry) VALUES \
         (CASE WHEN $1::text ~ '^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(\\.\\d+)?(Z|[+-]\\d\\d:?\\d\\d)$' \
               THEN $1::text::timestamptz ELSE now() END, \
          $2, $3, $4, $5, $6::text::jsonb, $7::text::jsonb, $8, $9, $10::text::jsonb, $11::text::jsonb)",
        &[
            &text("time"),
            &text("user"),
            &text("host"),
            &text("flag"),
            &text("field"),
            &json("old"),
            &json("new"),
            &text("action"),
            &text("reason"),
            &readings,
            &whole,
        ],
    )?;
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
