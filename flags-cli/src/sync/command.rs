//! `feature_flags --database URL --sync --file PATH [--poll 5s] [--listen
//! ADDR]`: the command line around [`super::run`], until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use jiff::Timestamp;

use crate::Failure;
use crate::args::Cli;

pub fn run(cli: &Cli, url: &str, out: &mut dyn FnMut(&str)) -> Result<u8, Failure> {
    let hosts = super::Hosts::parse(url).map_err(|e| Failure::usage(format!("--database: {e}")))?;
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
    // Failures go to stderr (`error (kind): ...`), changes to stdout; each
    // line starts with its UTC time, for logs read without a journal.
    let mut log = |line: &str| {
        let at = stamp(Timestamp::now());
        if line.starts_with("error") {
            eprintln!("{at} {line}");
        } else {
            out(&format!("{at} {line}\n"));
        }
    };
    let metrics = super::Metrics {
        environment: crate::operate::environment::of(cli),
        ..super::Metrics::default()
    };
    let metrics = std::sync::Arc::new(std::sync::Mutex::new(metrics));
    super::run_with_metrics(&hosts, &cli.file, poll, listen, &stop, &mut log, metrics)
        .map_err(Failure::new)?;
    log("sync: stopped");
    Ok(0)
}

/// RFC 3339 in UTC, to the millisecond: `2026-03-01T12:00:00.250Z`.
fn stamp(t: Timestamp) -> String {
    format!("{:.3}", t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_times_are_rfc3339_utc_to_the_millisecond() {
        let t: Timestamp = "2026-03-01T12:00:00.25+02:00".parse().unwrap();
        assert_eq!(stamp(t), "2026-03-01T10:00:00.250Z");
        let whole: Timestamp = "2026-03-01T10:00:00Z".parse().unwrap();
        assert_eq!(stamp(whole), "2026-03-01T10:00:00.000Z");
    }
}
