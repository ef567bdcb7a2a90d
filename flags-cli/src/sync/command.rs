//! `feature_flags --database URL --sync --file PATH [--poll 5s] [--listen
//! ADDR]`: the command line around [`super::run`], until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use flags_postgres::DatabaseUrl;

use crate::Failure;
use crate::args::Cli;

pub fn run(cli: &Cli, url: &str, out: &mut dyn FnMut(&str)) -> Result<u8, Failure> {
    let url = DatabaseUrl::parse(url).map_err(|e| Failure::usage(format!("--database: {e}")))?;
    let listen: Option<SocketAddr> = match &cli.listen {
        Some(addr) => Some(addr.parse().map_err(|_| {
            Failure::usage(format!(
                "--listen {addr:?} is not an address such as 127.0.0.1:9182"
            ))
        })?),
        None => None,
    };
    let poll = cli.fleet.poll.unwrap_or(super::DEFAULT_POLL);
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .map_err(|e| Failure::new(format!("cannot handle signals: {e}")))?;
    }
    // Failures go to stderr (`error (kind): ...`), changes to stdout.
    let mut log = |line: &str| {
        if line.starts_with("error") {
            eprintln!("{line}");
        } else {
            out(&format!("{line}\n"));
        }
    };
    let metrics = super::Metrics {
        environment: crate::operate::environment::of(cli),
        ..super::Metrics::default()
    };
    let metrics = std::sync::Arc::new(std::sync::Mutex::new(metrics));
    super::run_with_metrics(&url, &cli.file, poll, listen, &stop, &mut log, metrics)
        .map_err(Failure::new)?;
    log("sync: stopped");
    Ok(0)
}
