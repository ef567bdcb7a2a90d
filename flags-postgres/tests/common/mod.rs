//! Helpers shared by flags-postgres's test files.

#![allow(dead_code)] // each test file uses some of them

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// An openssl CA of its own (for the "wrong root" cases).
pub fn other_ca(dir: &Path) -> PathBuf {
    let ca = dir.join("other.crt");
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-days",
            "2",
            "-subj",
            "/CN=other",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
        ])
        .arg(dir.join("other.key"))
        .arg("-out")
        .arg(&ca)
        .output()
        .unwrap();
    assert!(out.status.success());
    ca
}

/// Raises `stop` after `after`, as a SIGTERM handler would mid-wait.
pub fn stop_after(stop: &Arc<AtomicBool>, after: Duration) -> JoinHandle<()> {
    let stop = Arc::clone(stop);
    thread::spawn(move || {
        thread::sleep(after);
        stop.store(true, Ordering::SeqCst);
    })
}
