//! `--sync`: mirrors the database's flag document to a file the bots read.
//!
//! LISTEN for a prompt change, and poll as well (a notification is lost
//! when a connection drops, and a standby never sends one). Only a document
//! that validates with the bots' own code (flags-core) and is newer than the
//! file's (or comes from another database, by id) is written, atomically,
//! followed by the marker `FILE.sync.json`. The file is never deleted or
//! emptied: while the database is down or holds a bad document, the last
//! good file keeps serving. Each failure is logged once per change of state,
//! each change of the file always.
//!
//! Every database call runs on a worker thread ([`link`]) with a deadline:
//! a connection that stays silent past it is dropped and the next attempt
//! starts at the next host of the URL ([`hosts`]), so a sync follows a
//! promoted standby within its poll interval plus the query deadline, and a
//! stop request never waits on the network.

pub mod command;
pub mod hosts;
pub mod link;
pub mod metrics;

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use flags_postgres::{Documents, Error, MAX_DOCUMENT_BYTES};

use crate::store::file::{EditLock, Target, replace_file, replace_file_like};
pub use crate::store::marker::{Marker, fingerprint, marker_path};
pub use hosts::Hosts;
use link::{Answer, Call, Link, Outcome};
pub use metrics::Metrics;

/// The default `--poll`.
pub const DEFAULT_POLL: Duration = Duration::from_secs(5);
/// The first reconnect delay; it doubles up to the poll interval
/// (clamped to 1..30 s), so a database that comes back is seen within about
/// one poll interval.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// How often a wait looks at the stop flag.
const TICK: Duration = Duration::from_millis(100);
/// How much longer than the connection string's query deadline
/// (`query_timeout`, 10 s by default) a statement (a read, a wait for
/// notifications beyond its own time) may go unanswered before the sync
/// itself counts the connection as silent and drops it: the connection
/// layer's deadline normally answers first; this watchdog only catches what
/// it misses, so that nothing can hold the sync.
const WATCHDOG_MARGIN: Duration = Duration::from_secs(2);
/// How long a whole connection attempt may take. The connection layer
/// bounds each host by its connect timeout (10 s unless the URL says
/// otherwise); this only catches an attempt that hangs anyway.
const CONNECT_BOUND: Duration = Duration::from_secs(60);
/// A logged failure is cut to this many characters (a problem list can be long).
const MAX_LOG_DETAIL: usize = 400;

/// The marker of the flag file at `path` (beside the file itself, symlinks
/// resolved, like its lock and audit files).
pub fn marker_for(path: &Path) -> PathBuf {
    Target::resolve(path).sync_marker
}

/// Runs until `stop` is set, counting into `metrics` (the caller sets
/// their labels; tests read them). Errs only when it cannot start (the
/// metrics address); a database that is down is retried, never fatal.
pub fn run_with_metrics(
    hosts: &Hosts,
    file: &Path,
    poll: Duration,
    listen: Option<SocketAddr>,
    stop: &AtomicBool,
    log: &mut dyn FnMut(&str),
    metrics: Arc<Mutex<Metrics>>,
) -> Result<(), String> {
    let server = match listen {
        Some(addr) => {
            let server = metrics::serve(addr, Arc::clone(&metrics))?;
            log(&format!("metrics at http://{}/metrics", server.addr));
            Some(server)
        }
        None => None,
    };
    let mut sync = Mirror::new(hosts, file, metrics, log);
    sync.run(poll, stop);
    drop(server);
    Ok(())
}

/// A running sync: the database's flag document mirrored into the file.
struct Mirror<'a> {
    hosts: &'a Hosts,
    target: Target,
    marker: Option<Marker>,
    metrics: Arc<Mutex<Metrics>>,
    log: &'a mut dyn FnMut(&str),
    /// The failure last logged (kind and text), so that it is logged once.
    failure: Option<String>,
    /// The last note logged that is not a failure (LISTEN refused, …).
    note: Option<String>,
    /// The connection string's query deadline plus [`WATCHDOG_MARGIN`].
    query_deadline: Duration,
}

enum Checked {
    Fine,
    Lost(Lost),
}

/// Why the sync left a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lost {
    /// It closed or failed: reconnect from the first host (the URL's order
    /// is the operator's preference).
    Closed,
    /// It missed a deadline: reconnect from the host after it.
    Silent,
    Stopped,
}

enum Attempt {
    Connected(Session),
    Failed {
        /// No answer at all: start from the next host next time.
        silent: bool,
    },
    Stopped,
}

/// A live connection.
struct Session {
    link: Link,
    /// `host:port`, and its place in the URL's host list.
    host: String,
    index: usize,
    listening: bool,
}

impl<'a> Mirror<'a> {
    fn new(
        hosts: &'a Hosts,
        file: &Path,
        metrics: Arc<Mutex<Metrics>>,
        log: &'a mut dyn FnMut(&str),
    ) -> Mirror<'a> {
        let target = Target::resolve(file);
        let mut sync = Mirror {
            hosts,
            marker: None,
            metrics,
            log,
            failure: None,
            note: None,
            query_deadline: hosts.first().query_timeout() + WATCHDOG_MARGIN,
            target,
        };
        match Marker::read(&sync.target.file) {
            Ok(marker) => sync.marker = marker,
            // A damaged marker is rewritten by the next successful check.
            Err(e) => (sync.log)(&format!("{e}: it will be rewritten")),
        }
        let version = sync.marker.as_ref().map(|m| m.version);
        sync.metrics().version = version;
        let what = match (&sync.marker, sync.target.file.exists()) {
            (Some(m), true) => format!("version {} of {}", m.version, m.database),
            (None, true) => "a file not yet from the database".into(),
            _ => "no file yet".into(),
        };
        let line = format!(
            "sync {} from {} ({what})",
            sync.target.file.display(),
            hosts.first().masked()
        );
        (sync.log)(&line);
        sync
    }

    fn metrics(&self) -> std::sync::MutexGuard<'_, Metrics> {
        self.metrics
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn keeping(&self) -> String {
        match &self.marker {
            Some(m) => format!(
                "keeping {} at version {}",
                self.target.file.display(),
                m.version
            ),
            None if self.target.file.exists() => format!("keeping {}", self.target.file.display()),
            None => format!("{} not written yet", self.target.file.display()),
        }
    }

    /// Counts a failure; logs it unless the sync is already in that state
    /// (`state`: the kind, and for a document its version, so that a new bad
    /// version is logged but the same outage over many polls is not).
    fn fail(&mut self, kind: &str, state: &str, detail: &str) {
        self.metrics().count_error(kind);
        let mut detail = detail.replace('\n', "; ");
        if detail.chars().count() > MAX_LOG_DETAIL {
            detail = detail.chars().take(MAX_LOG_DETAIL).collect::<String>() + "…";
        }
        let state = format!("{kind}:{state}");
        if self.failure.as_deref() != Some(state.as_str()) {
            let line = format!("error ({kind}): {detail}; {}", self.keeping());
            (self.log)(&line);
            self.failure = Some(state);
        }
    }

    fn note(&mut self, line: String) {
        if self.note.as_deref() != Some(line.as_str()) {
            (self.log)(&line);
            self.note = Some(line);
        }
    }

    fn succeeded(&mut self) {
        if self.failure.take().is_some() {
            let line = format!(
                "recovered: {} follows the database",
                self.target.file.display()
            );
            (self.log)(&line);
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let version = self.marker.as_ref().map(|m| m.version);
        let mut m = self.metrics();
        m.last_success = Some(now);
        m.version = version;
    }

    fn run(&mut self, poll: Duration, stop: &AtomicBool) {
        let cap = poll.clamp(Duration::from_secs(1), Duration::from_secs(30));
        let mut backoff = FIRST_BACKOFF;
        // The host tried first: after a silence, the one after the silent host.
        let mut first = 0;
        while !stop.load(Ordering::Relaxed) {
            let session = match self.connect(first, poll, stop) {
                Attempt::Connected(session) => session,
                Attempt::Failed { silent } => {
                    self.metrics().up = false;
                    if silent {
                        first += 1;
                    }
                    sleep(backoff, stop);
                    backoff = (backoff * 2).min(cap);
                    continue;
                }
                Attempt::Stopped => return,
            };
            backoff = FIRST_BACKOFF;
            self.metrics().up = true;
            let lost = self.follow(&session, poll, stop);
            self.metrics().up = false;
            if lost == Lost::Silent {
                first = session.index + 1;
            }
        }
    }

    /// Connects with the hosts from `first` on.
    fn connect(&mut self, first: usize, poll: Duration, stop: &AtomicBool) -> Attempt {
        let link = match Link::open(self.hosts.starting_at(first).clone()) {
            Ok(link) => link,
            Err(e) => {
                self.fail("connect", "", &e);
                return Attempt::Failed { silent: false };
            }
        };
        let connected = match link.connect(CONNECT_BOUND, stop) {
            Outcome::Answered(Answer::Connected(Ok(c))) => c,
            Outcome::Answered(Answer::Connected(Err(e))) => {
                self.fail("connect", "", &format!("{e}; retrying"));
                return Attempt::Failed { silent: false };
            }
            Outcome::Answered(_) | Outcome::Late => {
                let line = format!(
                    "no host answered within {}; trying again from the next host",
                    human(CONNECT_BOUND)
                );
                self.fail("connect", "", &line);
                return Attempt::Failed { silent: true };
            }
            Outcome::Stopped => return Attempt::Stopped,
        };
        let listening = match connected.listening {
            Ok(()) => true,
            Err(Error::ReadOnly) => {
                self.note(format!(
                    "{} is a standby, which sends no notifications: polling every {}",
                    connected.host,
                    human(poll)
                ));
                false
            }
            Err(e) => {
                self.note(format!(
                    "no notifications from {} ({e}): polling every {}",
                    connected.host,
                    human(poll)
                ));
                false
            }
        };
        self.note(format!("connected to {}", connected.host));
        let index = self.hosts.index_of(&connected.host).unwrap_or(first);
        Attempt::Connected(Session {
            link,
            host: connected.host,
            index,
            listening,
        })
    }

    /// Checks, then waits for a notification or the poll interval, until
    /// the connection is lost or the sync stops.
    fn follow(&mut self, session: &Session, poll: Duration, stop: &AtomicBool) -> Lost {
        loop {
            match self.check(session, stop) {
                Checked::Fine => {}
                Checked::Lost(lost) => return lost,
            }
            // `--fleet` reads these rows; a database without them (or a
            // standby, which refuses writes) only misses the view.
            let version = self.marker.as_ref().map(|m| m.version);
            let file = self.target.file.clone();
            let failure = self.failure.clone();
            let beat: Call = Box::new(move |db| {
                crate::operate::fleet_view::heartbeat(db, &file, version, failure.as_deref())
            });
            match session.link.call(beat, self.query_deadline, stop) {
                Outcome::Answered(Answer::Called(Err(e))) => self.note(e),
                Outcome::Answered(_) => {}
                Outcome::Late => {
                    self.silent(session);
                    return Lost::Silent;
                }
                Outcome::Stopped => return Lost::Stopped,
            }
            let deadline = Instant::now() + poll;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                if stop.load(Ordering::Relaxed) {
                    return Lost::Stopped;
                }
                if left.is_zero() {
                    break;
                }
                if !session.listening {
                    thread::sleep(left.min(TICK));
                    continue;
                }
                match session.link.wait(left, left + self.query_deadline, stop) {
                    Outcome::Answered(Answer::Waited(Ok(true))) => break,
                    Outcome::Answered(Answer::Waited(Ok(false))) => {}
                    Outcome::Answered(Answer::Waited(Err(e))) => {
                        self.fail("connect", "", &e.to_string());
                        return Lost::Closed;
                    }
                    Outcome::Answered(_) | Outcome::Late => {
                        self.silent(session);
                        return Lost::Silent;
                    }
                    Outcome::Stopped => return Lost::Stopped,
                }
            }
        }
    }

    fn silent(&mut self, session: &Session) {
        let line = format!(
            "{} did not answer within {}: connection dropped, trying the next host",
            session.host,
            human(self.query_deadline)
        );
        self.fail("connect", "", &line);
    }

    /// One look at the database; writes the file when it should.
    fn check(&mut self, session: &Session, stop: &AtomicBool) -> Checked {
        let started = Instant::now();
        let (docs, closed) = match session.link.read(self.query_deadline, stop) {
            Outcome::Answered(Answer::Read { docs, closed }) => (docs, closed),
            Outcome::Answered(_) | Outcome::Late => {
                self.silent(session);
                return Checked::Lost(Lost::Silent);
            }
            Outcome::Stopped => return Checked::Lost(Lost::Stopped),
        };
        let docs = match docs {
            Ok(docs) => docs,
            Err(Error::TooLarge { bytes }) => {
                self.fail(
                    "invalid",
                    &format!("{bytes} bytes"),
                    &format!(
                        "the database's flag document is {bytes} bytes, over the limit of {MAX_DOCUMENT_BYTES}"
                    ),
                );
                return Checked::Fine;
            }
            Err(e) => {
                let broken = matches!(e, Error::Connect(_)) || closed;
                let text = e.to_string();
                let missed =
                    started.elapsed() >= self.query_deadline / 2 || text.contains("deadline");
                if broken && missed {
                    // A failure after most of the deadline, or the
                    // connection layer's own deadline (which may be set
                    // shorter), is a missed deadline: the host went silent.
                    self.fail("connect", "", &format!("{text}; trying the next host"));
                    return Checked::Lost(Lost::Silent);
                }
                if broken {
                    self.fail("connect", "", &text);
                    return Checked::Lost(Lost::Closed);
                }
                self.fail("query", &text, &text);
                return Checked::Fine;
            }
        };
        self.metrics().database_version = Some(docs.flags_version);
        if let Err(problems) = flags_core::parse_flag_file(&docs.flags) {
            self.fail(
                "invalid",
                &format!("version {}", docs.flags_version),
                &format!(
                    "the database's flag document (version {}) is not a valid flag file: {problems}",
                    docs.flags_version
                ),
            );
            return Checked::Fine;
        }
        self.mirror(&docs);
        Checked::Fine
    }

    fn mirror(&mut self, docs: &Documents) {
        let current = match read_bounded(&self.target.file) {
            Ok(bytes) => bytes,
            Err(e) => {
                self.fail("write", &e, &e);
                return;
            }
        };
        let found = current.as_deref().map(fingerprint);
        let marker = self.marker.clone();
        let same_database = marker
            .as_ref()
            .is_some_and(|m| m.database_id == docs.database_id);
        let hand_changed = match (&marker, &found) {
            (Some(m), Some(f)) => *f != m.fingerprint,
            (Some(_), None) => true,
            _ => false,
        };
        let marked_version = marker.as_ref().map_or(i64::MIN, |m| m.version);
        if same_database && docs.flags_version < marked_version {
            // A database restored from an older backup keeps its id: the
            // file's newer version stays until the database passes it.
            self.note(format!(
                "the database's version {} is older than the file's {marked_version}: keeping the file",
                docs.flags_version
            ));
            return;
        }
        if same_database && docs.flags_version == marked_version && !hand_changed {
            self.succeeded();
            return;
        }
        let why = if hand_changed && same_database {
            format!(
                "{} was changed by hand (fingerprint {}, the sync wrote {}): overwritten with",
                self.target.file.display(),
                found.as_deref().unwrap_or("none: the file is gone"),
                marker.as_ref().map_or("", |m| m.fingerprint.as_str())
            )
        } else if marker.is_some() && !same_database {
            format!(
                "another database (id {}, was {}): {} takes",
                docs.database_id,
                marker.as_ref().map_or("", |m| m.database_id.as_str()),
                self.target.file.display()
            )
        } else {
            format!("{} takes", self.target.file.display())
        };
        let bytes = docs.flags.as_bytes();
        let written = if current.as_deref() == Some(bytes) {
            Ok(false)
        } else {
            self.write_file(bytes).map(|()| true)
        };
        let new_marker = Marker {
            database: self.hosts.first().masked(),
            database_id: docs.database_id.clone(),
            version: docs.flags_version,
            fingerprint: fingerprint(bytes),
        };
        let marked = written.and_then(|w| self.write_marker(&new_marker).map(|()| w));
        match marked {
            Ok(wrote) => {
                let was = marker.map_or(String::new(), |m| format!(", was {}", m.version));
                let verb = if wrote { "" } else { " (same bytes, marked)" };
                self.marker = Some(new_marker);
                (self.log)(&format!(
                    "{why} database version {}{was}{verb}",
                    docs.flags_version
                ));
                self.succeeded();
            }
            Err(e) => self.fail("write", &e, &e),
        }
    }

    fn write_file(&self, bytes: &[u8]) -> Result<(), String> {
        let _lock = EditLock::acquire(&self.target, || {})?;
        if self.target.file.exists() {
            return replace_file(&self.target, bytes);
        }
        // No file to take permissions from: a placeholder with rw-r--r--.
        let mut name = std::ffi::OsString::from(".");
        name.push(self.target.file.file_name().unwrap_or_default());
        name.push(".sync-new");
        let placeholder = self.target.file.with_file_name(name);
        {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o644)
                .open(&placeholder)
                .map_err(|e| format!("cannot create {}: {e}", placeholder.display()))?;
        }
        let result = replace_file_like(&self.target.file, bytes, &placeholder);
        let _ = std::fs::remove_file(&placeholder);
        result
    }

    fn write_marker(&self, marker: &Marker) -> Result<(), String> {
        let _lock = EditLock::acquire(&self.target, || {})?;
        replace_file_like(
            &self.target.sync_marker,
            marker.to_json().as_bytes(),
            &self.target.file,
        )
    }
}

/// The file's bytes (None if it does not exist), read up to one byte over
/// the document limit: a larger file differs from any document anyway.
fn read_bounded(path: &Path) -> Result<Option<Vec<u8>>, String> {
    match std::fs::File::open(path) {
        Ok(f) => {
            let mut bytes = Vec::new();
            f.take(MAX_DOCUMENT_BYTES as u64 + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            Ok(Some(bytes))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

fn sleep(duration: Duration, stop: &AtomicBool) {
    let deadline = Instant::now() + duration;
    while !stop.load(Ordering::Relaxed) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        thread::sleep(left.min(TICK));
    }
}

fn human(d: Duration) -> String {
    if d.as_millis().is_multiple_of(1000) {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests;
