//! Helpers shared by flags-postgres's test files.

#![allow(dead_code)] // each test file uses some of them

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Runs `openssl` with `args` in `dir`; its error output on failure.
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An openssl CA of its own (for the "wrong root" cases).
pub fn other_ca(dir: &Path) -> PathBuf {
    openssl(
        dir,
        &[
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
            "other.key",
            "-out",
            "other.crt",
        ],
    );
    dir.join("other.crt")
}

/// Raises `stop` after `after`, as a SIGTERM handler would mid-wait.
pub fn stop_after(stop: &Arc<AtomicBool>, after: Duration) -> JoinHandle<()> {
    let stop = Arc::clone(stop);
    thread::spawn(move || {
        thread::sleep(after);
        stop.store(true, Ordering::SeqCst);
    })
}
