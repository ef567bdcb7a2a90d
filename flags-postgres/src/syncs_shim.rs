//! TEMPORARY SHIM of branch `operators`, to be replaced at merge by the
//! schema branch's migration v2 (table `feature_flags.syncs`, function
//! `feature_flags.sync_heartbeat`) and its `Database::sync_heartbeat` and
//! `Database::syncs`. Until then the table and the function exist only
//! where [`SHIM_SQL`] was run (the operators' tests run it).

use std::time::{Duration, SystemTime};

use crate::{Database, Error};

/// One sync's last report (the schema branch's `heartbeat::SyncRow`).
#[derive(Debug, Clone, PartialEq)]
pub struct SyncRow {
    pub role: String,
    pub host: String,
    pub file: String,
    pub version: Option<i64>,
    pub database_id: Option<String>,
    pub last_success: Option<SystemTime>,
    /// How long ago that was, by the server's clock.
    pub since_success: Option<Duration>,
    pub last_error: Option<String>,
}

/// The table and the function, as the schema branch's migration v2 makes
/// them (shim: run by tests only).
pub const SHIM_SQL: &str = r#"
CREATE TABLE IF NOT EXISTS feature_flags.syncs (
  role text NOT NULL DEFAULT session_user, host text NOT NULL, file text NOT NULL,
  version bigint, database_id text, last_success timestamptz, last_error text,
  PRIMARY KEY (role, host, file));
CREATE OR REPLACE FUNCTION feature_flags.sync_heartbeat(host text, file text, version bigint, last_error text)
RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS $$
  INSERT INTO feature_flags.syncs AS s (role, host, file, version, database_id, last_success, last_error)
  VALUES (session_user, $1, $2, $3, (SELECT database_id FROM feature_flags.schema_version),
          CASE WHEN $4 IS NULL THEN now() END, $4)
  ON CONFLICT (role, host, file) DO UPDATE SET version = COALESCE(EXCLUDED.version, s.version),
    database_id = EXCLUDED.database_id,
    last_success = COALESCE(EXCLUDED.last_success, s.last_success),
    last_error = EXCLUDED.last_error
$$;
"#;

impl Database {
    /// Records this sync's state: after every poll, `last_error` None when
    /// the file is current.
    pub fn sync_heartbeat(
        &mut self,
        host: &str,
        file: &str,
        version: Option<i64>,
        last_error: Option<&str>,
    ) -> Result<(), Error> {
        self.client
            .execute(
                "SELECT feature_flags.sync_heartbeat($1, $2, $3, $4)",
                &[&host, &file, &version, &last_error],
            )
            .map(|_| ())
            .map_err(|e| self.fail(e))
    }

    /// Every sync's last heartbeat, by host and file.
    pub fn syncs(&mut self) -> Result<Vec<SyncRow>, Error> {
        let rows = self
            .client
            .query(
                "SELECT role, host, file, version, database_id, last_success, \
                        extract(epoch FROM now() - last_success)::float8, last_error \
                 FROM feature_flags.syncs ORDER BY role, host, file LIMIT 100000",
                &[],
            )
            .map_err(|e| self.fail(e))?;
        Ok(rows
            .iter()
            .map(|r| SyncRow {
                role: r.get(0),
                host: r.get(1),
                file: r.get(2),
                version: r.get(3),
                database_id: r.get(4),
                last_success: r.get(5),
                since_success: r
                    .get::<_, Option<f64>>(6)
                    .and_then(|s| Duration::try_from_secs_f64(s.max(0.0)).ok()),
                last_error: r.get(7),
            })
            .collect())
    }
}
