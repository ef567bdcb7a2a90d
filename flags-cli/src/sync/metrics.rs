//! The sync's own metrics, and `--listen`'s `/metrics`.
//!
//! The guard's status server (guard/server.rs) is bound to the guard's
//! board, so the sync has this smaller one: one connection at a time, the
//! request head read up to 8 KiB within 2 s, only `GET /metrics`.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

const MAX_REQUEST_HEAD: usize = 8 * 1024;
const IO_TIMEOUT: Duration = Duration::from_secs(2);

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
        let mut gauge = |name: &str, help: &str, value: Option<f64>| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            if let Some(v) = value {
                let _ = writeln!(out, "{name} {v}");
            }
        };
        gauge(
            "feature_flags_sync_version",
            "The database version of the flag document in the file.",
            self.version.map(|v| v as f64),
        );
        gauge(
            "feature_flags_sync_database_version",
            "The newest flag document version seen in the database, valid or not.",
            self.database_version.map(|v| v as f64),
        );
        gauge(
            "feature_flags_sync_last_success_timestamp_seconds",
            "When the file last matched the database's newest valid document.",
            self.last_success,
        );
        gauge(
            "feature_flags_sync_up",
            "1 while the sync is connected to the database.",
            Some(if self.up { 1.0 } else { 0.0 }),
        );
        let name = "feature_flags_sync_errors_total";
        let _ = writeln!(
            out,
            "# HELP {name} Failed checks by kind: connect, query, invalid (a document that fails validation), write.\n# TYPE {name} counter"
        );
        for (kind, n) in ERROR_KINDS.iter().zip(self.errors) {
            let _ = writeln!(out, "{name}{{kind=\"{kind}\"}} {n}");
        }
        out
    }
}

pub struct MetricsServer {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    pub fn start(addr: SocketAddr, metrics: Arc<Mutex<Metrics>>) -> Result<MetricsServer, String> {
        let listener =
            TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name("sync-metrics".into())
            .spawn(move || {
                while !stopping.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let _ = handle(stream, &metrics);
                        }
                        Err(_) => thread::sleep(Duration::from_millis(25)),
                    }
                }
            })
            .map_err(|e| e.to_string())?;
        Ok(MetricsServer {
            addr: local,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn handle(mut stream: TcpStream, metrics: &Mutex<Metrics>) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    let status = loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break 400,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            break 200;
        }
        if head.len() > MAX_REQUEST_HEAD {
            break 431;
        }
    };
    let line = String::from_utf8_lossy(head.split(|&b| b == b'\n').next().unwrap_or_default())
        .into_owned();
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, body) = match (status, method, path) {
        (200, "GET" | "HEAD", "/metrics") => (
            200,
            metrics
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .text(),
        ),
        (200, "GET" | "HEAD", _) => (404, "not found: try /metrics\n".into()),
        (200, _, _) => (405, "only GET\n".into()),
        (other, _, _) => (other, "bad request\n".into()),
    };
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Bad Request",
    };
    let content_type = if status == 200 {
        "text/plain; version=0.0.4; charset=utf-8"
    } else {
        "text/plain; charset=utf-8"
    };
    write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    if method != "HEAD" {
        stream.write_all(body.as_bytes())?;
    }
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::http::Client;

    #[test]
    fn metrics_are_served_with_every_error_kind_from_the_start() {
        let metrics = Arc::new(Mutex::new(Metrics::default()));
        let server =
            MetricsServer::start("127.0.0.1:0".parse().unwrap(), Arc::clone(&metrics)).unwrap();
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
