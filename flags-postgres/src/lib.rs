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

mod audit;
mod audit_entry;
mod client;
mod config;
mod database;
mod documents;
mod error;
mod heartbeat;
mod notify;
mod pgpass;
mod rights;
mod schema;
mod tls;
mod url;

#[cfg(feature = "testing")]
pub mod testing;

pub use audit::AuditEntry;
pub use config::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_QUERY_TIMEOUT, DatabaseUrl, SslMode};
pub use database::Database;
pub use documents::{Documents, MAX_DOCUMENT_BYTES, Update};
pub use error::Error;
pub use heartbeat::SyncRow;
pub use notify::CHANNEL;
pub use pgpass::pgpass_lookup;
pub use rights::{EDITOR, READER};
pub use schema::{Roles, SCHEMA_VERSION, Setup};
