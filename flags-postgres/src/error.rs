//! Why a database operation failed, and how a rust-postgres error becomes
//! one line that never holds a password.

use std::fmt;

use postgres::error::SqlState;

use crate::client;
use crate::documents::MAX_DOCUMENT_BYTES;
use crate::schema::SCHEMA_VERSION;

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

pub(crate) fn fail_detached(
    host: &str,
    password: Option<&str>,
    closed: bool,
    e: postgres::Error,
) -> Error {
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

/// One line for an error of rust-postgres, with the server's message.
pub(crate) fn describe(e: &postgres::Error) -> String {
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
pub(crate) fn scrub(text: &str, password: Option<&str>) -> String {
    match password {
        Some(pw) if !pw.is_empty() => text.replace(pw, "***"),
        _ => text.to_owned(),
    }
}
