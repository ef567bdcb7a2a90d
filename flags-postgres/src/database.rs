//! One connection: each host tried in turn, every round trip bounded.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::client::{Client, ConnectFailure};
use crate::error::{describe, fail_detached, scrub};
use crate::{DatabaseUrl, Error, tls};

/// One connection.
pub struct Database {
    pub(crate) client: Client,
    /// The password sent, to scrub it from any error text that might echo it.
    pub(crate) password: Option<String>,
    pub(crate) host: String,
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

    pub(crate) fn fail(&self, e: postgres::Error) -> Error {
        fail_detached(
            &self.host,
            self.password.as_deref(),
            self.client.is_closed(),
            e,
        )
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
