//! The sync's own metrics, and `--listen`'s `/metrics`.
//!
//! Served by the same bounded server as the guard's ([`crate::serve`]).

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use flags_core::exposition::{GoFloat, Kind, header, sample};
use flags_core::metric_names::sync as names;

use crate::serve::{METRICS_TYPE, Pages, Server};

/// The kinds of `feature_flags_sync_errors_total`, all exported from the start.
pub const ERROR_KINDS: [&str; 4] = ["connect", "query", "invalid", "write"];

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    /// The database version in the file now (from the marker).
    pub version: Option<i64>,
    /// The newest version seen in the database, valid or not.
    pub database_version: Option<i64>,
    /// Unix seconds of the last check that left the file equal to the
    /// database's document.
    pub last_success: Option<f64>,
    pub errors: [u64; 4],
    pub up: bool,
    /// The `environment` label of every series (`--environment`).
    pub environment: Option<String>,
}

impl Metrics {
    pub fn count_error(&mut self, kind: &str) {
        if let Some(i) = ERROR_KINDS.iter().position(|k| *k == kind) {
            self.errors[i] += 1;
        }
    }

    pub fn errors(&self, kind: &str) -> u64 {
        ERROR_KINDS
            .iter()
            .position(|k| *k == kind)
            .map_or(0, |i| self.errors[i])
    }

    pub fn text(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = self.write(&mut out);
        crate::operate::environment::labelled(out, self.environment.as_deref())
    }

    fn write(&self, out: &mut String) -> fmt::Result {
        // A gauge the sync does not know yet has its header and no sample.
        let gauges = [
            (
                names::VERSION,
                "The database version of the flag document in the file.",
                self.version.map(|v| v as f64),
            ),
            (
                names::DATABASE_VERSION,
                "The newest flag document version seen in the database, valid or not.",
                self.database_version.map(|v| v as f64),
            ),
            (
                names::LAST_SUCCESS_TIMESTAMP_SECONDS,
                "When the file last matched the database's newest valid document.",
                self.last_success,
            ),
            (
                names::UP,
                "1 while the sync is connected to the database.",
                Some(if self.up { 1.0 } else { 0.0 }),
            ),
        ];
        for (name, help, value) in gauges {
            header(out, name, Kind::Gauge, help)?;
            if let Some(v) = value {
                sample(out, name, &[], GoFloat(v))?;
            }
        }
        header(
            out,
            names::ERRORS_TOTAL,
            Kind::Counter,
            "Failed checks by kind: connect, query, invalid (a document that fails validation), write.",
        )?;
        for (kind, n) in ERROR_KINDS.iter().zip(self.errors) {
            sample(out, names::ERRORS_TOTAL, &[("kind", kind)], n)?;
        }
        Ok(())
    }
}

struct SyncPages(Arc<Mutex<Metrics>>);

impl Pages for SyncPages {
    fn page(&self, path: &str) -> Option<(&'static str, String)> {
        let metrics = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        (path == "/metrics").then(|| (METRICS_TYPE, metrics.text()))
    }

    fn not_found(&self) -> &'static str {
        "not found: try /metrics\n"
    }
}

/// Serves `metrics` at `/metrics` on `addr` until the server is dropped.
pub fn serve(addr: SocketAddr, metrics: Arc<Mutex<Metrics>>) -> Result<Server, String> {
    Server::start(&addr.to_string(), Arc::new(SyncPages(metrics)))
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::TcpStream;
    use std::time::Duration;

    use super::*;
    use crate::http::Client;

    #[test]
    fn metrics_are_served_with_every_error_kind_from_the_start() {
        let metrics = Arc::new(Mutex::new(Metrics::default()));
        let server = serve("127.0.0.1:0".parse().unwrap(), Arc::clone(&metrics)).unwrap();
        let client = Client::new(Duration::from_secs(5), 1 << 20);
        let url = format!("http://{}/metrics", server.addr);
        let text = client.get(&url, &[], "text/plain").unwrap();
        for kind in ERROR_KINDS {
            assert!(
                text.contains(&format!(
                    "feature_flags_sync_errors_total{{kind=\"{kind}\"}} 0"
                )),
                "{text}"
            );
        }
        assert!(text.contains("feature_flags_sync_up 0"));
        assert!(
            !text.contains("\nfeature_flags_sync_version "),
            "unknown yet"
        );
        {
            let mut m = metrics.lock().unwrap();
            m.version = Some(7);
            m.count_error("invalid");
            m.up = true;
        }
        let text = client.get(&url, &[], "text/plain").unwrap();
        assert!(text.contains("feature_flags_sync_version 7\n"));
        assert!(text.contains("feature_flags_sync_errors_total{kind=\"invalid\"} 1"));
        let err = client
            .get(&format!("http://{}/", server.addr), &[], "text/plain")
            .unwrap_err();
        assert!(err.contains("404"), "{err}");
        // A client that never finishes its request is cut off, and the
        // server still answers afterwards.
        let mut silent = TcpStream::connect(server.addr).unwrap();
        silent.write_all(b"GET /metr").unwrap();
        assert!(client.get(&url, &[], "text/plain").is_ok());
    }
}
