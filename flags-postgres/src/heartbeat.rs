//! The syncs' heartbeats (table `feature_flags.syncs`): each sync reports
//! its last success or error under its own role; operators read them all.

use std::time::{Duration, SystemTime};

use crate::rights::Action;
use crate::{Database, Error};

/// One sync's last report.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncRow {
    /// The database role the sync connected as (stamped by the database).
    pub role: String,
    /// The host and file the sync declared.
    pub host: String,
    pub file: String,
    /// The flag document version it last wrote or found current.
    pub version: Option<i64>,
    /// The database's id when it last reported.
    pub database_id: Option<String>,
    /// The server's time of its last success.
    pub last_success: Option<SystemTime>,
    /// How long ago that was, by the server's clock (no client clock skew).
    pub since_success: Option<Duration>,
    /// Its last error; None once it succeeds again.
    pub last_error: Option<String>,
}

impl Database {
    /// Records this sync's report: a success (`last_error` None, stamped
    /// with the server's time) or an error (the last success is kept). A
    /// reader may call it; the row is keyed by its own role.
    pub fn sync_heartbeat(
        &mut self,
        host: &str,
        file: &str,
        version: Option<i64>,
        last_error: Option<&str>,
    ) -> Result<(), Error> {
        let done = self.client.execute(
            "SELECT feature_flags.sync_heartbeat($1, $2, $3, $4)",
            &[&host, &file, &version, &last_error],
        );
        done.map(|_| ())
            .map_err(|e| self.fail_as(e, Action::Heartbeat))
    }

    /// Every sync's last report, by role, host and file (editors and the
    /// owner may read them).
    pub fn syncs(&mut self) -> Result<Vec<SyncRow>, Error> {
        let rows = self.client.query(
            "SELECT role::text, host, file, version, database_id, last_success, \
                    extract(epoch FROM now() - last_success)::float8, last_error \
             FROM feature_flags.syncs ORDER BY role, host, file LIMIT 100000",
            &[],
        );
        let rows = rows.map_err(|e| self.fail_as(e, Action::Syncs))?;
        Ok(rows
            .iter()
            .map(|row| SyncRow {
                role: row.get(0),
                host: row.get(1),
                file: row.get(2),
                version: row.get(3),
                database_id: row.get(4),
                last_success: row.get(5),
                since_success: row
                    .get::<_, Option<f64>>(6)
                    .and_then(|s| Duration::try_from_secs_f64(s.max(0.0)).ok()),
                last_error: row.get(7),
            })
            .collect())
    }
}
