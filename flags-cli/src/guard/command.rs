//! `feature_flags --guard`: builds the metrics source and the status server
//! from the command line, then checks once (`--once`) or until SIGINT or
//! SIGTERM, which end it between checks.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::Failure;
use crate::args::Cli;
use crate::http::{Auth, Client, DEFAULT_MAX_REPLY, Secret, SourceUrl};

use super::board::Board;
use super::memlimit::default_memory_limit;
use super::prometheus::PrometheusSource;
use super::run::{Guard, Source};
use super::scrape::ScrapeSource;
use super::server;

/// The longest a scrape or query may take: the interval, at most 10 s.
fn timeout(interval: Duration) -> Duration {
    interval.clamp(Duration::from_millis(500), Duration::from_secs(10))
}

pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let d = flags_rollout::parse_duration(text).map_err(|e| format!("--interval {e}"))?;
    Duration::try_from(d).map_err(|e| e.to_string())
}

/// A source URL must say how to reach it: a typo should stop the guard at
/// once, not leave it holding every plan on a source that can never answer.
/// Credentials in it go to the client (as a header) and are masked in the
/// name every page, metric label and log line shows.
fn source_url(option: &str, url: &str, client: &mut Client) -> Result<SourceUrl, Failure> {
    let parsed = SourceUrl::parse(option, url).map_err(Failure::usage)?;
    if let Some(user) = &parsed.user {
        client.authorize(
            &parsed.origin,
            Auth::Basic {
                user: user.clone(),
                password: parsed.password.clone().map(Secret::Given),
                option: "--prometheus",
            },
        );
    }
    Ok(parsed)
}

/// The credentials of --prometheus-password-file and
/// --prometheus-bearer-token-file, checked once at start (a missing file is
/// a usage error, not an outage).
fn file_credentials(cli: &Cli, url: &SourceUrl, client: &mut Client) -> Result<(), Failure> {
    let auth = if let Some(file) = &cli.prometheus_password_file {
        let Some(user) = &url.user else {
            return Err(Failure::usage(
                "--prometheus-password-file needs the user in the URL, such as http://guard@prometheus:9090",
            ));
        };
        if url.password.is_some() {
            return Err(Failure::usage(
                "give the Prometheus password in the URL or with --prometheus-password-file, not both",
            ));
        }
        Auth::Basic {
            user: user.clone(),
            password: Some(Secret::File(file.clone())),
            option: "--prometheus-password-file",
        }
    } else if let Some(file) = &cli.prometheus_bearer_token_file {
        if url.user.is_some() {
            return Err(Failure::usage(
                "--prometheus-bearer-token-file replaces the URL's user and password: give one of them",
            ));
        }
        Auth::Bearer {
            token: Secret::File(file.clone()),
            option: "--prometheus-bearer-token-file",
        }
    } else {
        return Ok(());
    };
    auth.header().map_err(Failure::usage)?;
    client.authorize(&url.origin, auth);
    Ok(())
}

pub fn run(cli: &Cli, out: &mut dyn FnMut(&str)) -> Result<u8, Failure> {
    if cli.fleet.database.is_some() && cli.prometheus.is_none() {
        // Its decisions reach every server: so must its measurements.
        return Err(Failure::usage(
            "--guard on --database acts for the whole fleet: give --prometheus URL (every server's bots), not --scrape (one server's)",
        ));
    }
    let interval = match &cli.interval {
        Some(text) => parse_interval(text).map_err(Failure::usage)?,
        None => Duration::from_secs(15),
    };
    if cli.memory_limit == Some(0) {
        return Err(Failure::usage("--memory-limit must be above 0 bytes"));
    }

    let mut client = Client::new(timeout(interval), DEFAULT_MAX_REPLY);
    let scrape = cli
        .scrape
        .iter()
        .map(|url| source_url("--scrape", url, &mut client))
        .collect::<Result<Vec<_>, _>>()?;
    let prometheus = match &cli.prometheus {
        Some(url) => {
            let url = source_url("--prometheus", url, &mut client)?;
            file_credentials(cli, &url, &mut client)?;
            Some(url)
        }
        None => None,
    };
    let (source, label) = match (&prometheus, scrape.is_empty()) {
        (Some(_), false) => {
            return Err(Failure::usage(
                "give --scrape URL... or --prometheus URL, not both",
            ));
        }
        (None, true) => {
            return Err(Failure::usage(
                "--guard needs a metrics source: --scrape URL (each bot process) or --prometheus URL",
            ));
        }
        (Some(url), true) => {
            if cli.selector.is_none() {
                // Without one, memory and outcomes would include
                // Prometheus' own process and every other job it scrapes
                // (staging counting against production).
                return Err(Failure::usage(
                    "--prometheus needs --selector naming the bots' series, such as '{job=\"bot\"}' (--selector '{}' takes every series Prometheus has)",
                ));
            }
            let source = PrometheusSource::new(
                client,
                &url.url,
                cli.selector.as_deref().unwrap_or(""),
                cli.memory_limit,
                interval,
            )
            .map_err(Failure::usage)?;
            if cli.memory_limit.is_none() {
                // The guard's own limit is not the bots' (a 128 MiB CronJob
                // pod would make 600 MB bots 460 %).
                eprintln!(
                    "warning: no --memory-limit: the memory_usage trigger has no data (give the bots' limit in bytes)"
                );
            }
            (
                Source::Prometheus(source, url.shown.clone()),
                format!("--prometheus {}", url.shown),
            )
        }
        (None, false) => {
            if cli.once {
                return Err(Failure::usage(
                    "--once needs --prometheus: a scraping guard computes rates from its own history, which one check does not have",
                ));
            }
            if cli.selector.is_some() {
                return Err(Failure::usage("--selector goes with --prometheus"));
            }
            // Beside the bots on one machine: their cgroup, or the machine.
            let memory_limit = match cli.memory_limit {
                Some(n) => n,
                None => default_memory_limit().ok_or_else(|| {
                    Failure::new(
                        "no memory limit found (cgroup or /proc/meminfo): give --memory-limit BYTES",
                    )
                })?,
            };
            let shown: Vec<&str> = scrape.iter().map(|u| u.shown.as_str()).collect();
            let label = format!("--scrape {}", shown.join(" "));
            let urls: Vec<String> = scrape.iter().map(|u| u.url.clone()).collect();
            (
                Source::Scrape(ScrapeSource::new(client, &urls, memory_limit, interval)),
                label,
            )
        }
    };
    let board = Arc::new(Mutex::new(Board {
        source: label,
        interval_seconds: interval.as_secs_f64(),
        ..Board::default()
    }));
    let _server = match &cli.listen {
        Some(addr) => {
            let environment = crate::operate::environment::of(cli);
            let server =
                server::start_in(addr, Arc::clone(&board), environment).map_err(Failure::new)?;
            out(&format!(
                "guard: status page http://{}/ and metrics http://{}/metrics\n",
                server.addr, server.addr
            ));
            Some(server)
        }
        None => None,
    };
    let mut guard = Guard {
        store: crate::store::open(cli)?,
        source,
        board,
        warned: Default::default(),
    };
    // Problems go to stderr (`error: ...`), decisions to stdout.
    let mut log = |line: &str| {
        if line.starts_with("error:") || line.starts_with("warning:") {
            eprintln!("{line}");
        } else {
            out(&format!("{line}\n"));
        }
    };
    if cli.once {
        guard.check(&mut log);
        let problems = guard
            .board
            .lock()
            .map(|b| !b.problems.is_empty())
            .unwrap_or(true);
        return Ok(u8::from(problems));
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .map_err(|e| Failure::new(format!("cannot handle signals: {e}")))?;
    }
    log(&format!(
        "guard: checking every {}s",
        interval.as_secs_f64()
    ));
    guard.run(interval, &stop, &mut log);
    log("guard: stopped");
    Ok(0)
}
