//! Watching the flag file and reloading it when it changes.
//!
//! The watcher follows the approach of alacritty's config monitor: it never
//! watches the file itself, because a watch on a file follows its inode, and
//! every common way of changing a file replaces that inode — an editor or
//! `sed -i` renaming a new file over it, the CLI's write-and-rename, a
//! delete and recreate, a Kubernetes ConfigMap swapping its `..data`
//! symlink. Such a watch fires once and then goes silent. Instead:
//!
//! - **The parent directory is watched** (non-recursively), and an event
//!   counts when it names the file or `..data` (the symlink a ConfigMap
//!   mount swaps). When the file is itself a symlink into another folder,
//!   that folder is watched too, so in-place edits of the target are seen.
//!   Our own reads (open, close-without-write) are ignored, so a reload
//!   never triggers another.
//! - **Bursts are debounced**: a reload runs once no relevant event arrived
//!   for [`StoreOptions::debounce`] (50 ms by default), so a truncate
//!   followed by a write is read once, whole. A stream of events that never
//!   settles is read anyway after ten debounce periods, so a busy writer
//!   cannot starve reloads. notify's rescan (queue overflow) event means
//!   events were lost: the file is re-read without waiting for one that
//!   names it. Every read waits out the debounce, re-reads included, so a
//!   file caught half-written is never even reported unless it stays so.
//! - **A reload is read, parse, validate, swap**, all in
//!   `Shared::reload_from_file`, under the store's reload lock: one reload at
//!   a time (an explicit [`FlagStore::reload`] included), while readers keep
//!   loading the current snapshot without waiting. Bytes identical to the
//!   served version change nothing.
//! - **Nothing here is fatal.** A file that is missing, unreadable, empty,
//!   malformed or invalid is reported through [`ReloadEvent::Failed`] (once
//!   per distinct error) and [`FlagStore::status`], and the last good version
//!   keeps serving. Problems of the watch itself go to
//!   [`ReloadEvent::WatchError`], once per distinct message.
//! - **The watch is re-armed.** Every 250 ms the watcher checks that the
//!   folders it watches are still the same folders (device and inode); when
//!   a folder was removed, recreated or renamed over, it watches the new one
//!   and re-reads the file, since changes made meanwhile were unseen.
//! - **Polling is the fallback.** While the folder cannot be watched (it is
//!   gone, or the inotify watch or instance limit is reached), the file is
//!   polled every 250 ms instead. [`StoreOptions::poll_interval`] turns
//!   polling on permanently, for filesystems that deliver no events (NFS,
//!   some FUSE mounts); with `watch(false)` it is the only mechanism.
//!   (Intervals below 10 ms count as 10 ms; a debounce above a minute as a
//!   minute.) A poll
//!   compares a cheap fingerprint (size, modification time, device, inode)
//!   and reads the file only when it differs — or when the file was modified
//!   within two seconds of the last look, since a coarse clock could hide a
//!   same-size rewrite; the read bytes are then compared by hash.
//!
//! The watcher runs on one thread of its own (`flags-watch`), which holds the
//! store's shared state. Dropping the store, or
//! [`FlagStore::stop_watching`], stops that thread and waits for it to end;
//! notify's own event thread ends right after, holding nothing of the store.
//!
//! [`StoreOptions::debounce`]: crate::StoreOptions::debounce
//! [`StoreOptions::poll_interval`]: crate::StoreOptions::poll_interval
//! [`FlagStore::reload`]: crate::FlagStore::reload
//! [`FlagStore::status`]: crate::FlagStore::status
//! [`FlagStore::stop_watching`]: crate::FlagStore::stop_watching
//! [`ReloadEvent::Failed`]: crate::ReloadEvent::Failed
//! [`ReloadEvent::WatchError`]: crate::ReloadEvent::WatchError

use std::ffi::OsStr;
use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};

use super::{ReloadEvent, Shared, StoreOptions};
use crate::error::Error;

/// How often the watched folders are checked for replacement, and the file
/// polled while no watch is armed.
const CHECK_EVERY: Duration = Duration::from_millis(250);

/// A burst of events is read at the latest this many debounce periods after
/// its first event.
const MAX_DEFER_PERIODS: u32 = 10;

/// A file modified this close to when it was last looked at may change again
/// without its size or timestamp showing it (filesystems with a coarse
/// clock), so polling re-reads it until it is older than this.
const RACY_WINDOW: Duration = Duration::from_secs(2);

/// Bounds on the caller's timings: a debounce beyond a minute would only
/// hide changes (and overflow clock arithmetic), a poll interval below 10 ms
/// would spin.
const MAX_DEBOUNCE: Duration = Duration::from_secs(60);
const MIN_POLL_INTERVAL: Duration = Duration::from_millis(10);

/// The name Kubernetes gives the symlink it swaps in a ConfigMap mount.
const CONFIGMAP_DATA: &str = "..data";

/// A running watch of one store's file; stops its thread when dropped.
pub(crate) struct Watcher {
    messages: Sender<Message>,
    thread: Option<JoinHandle<()>>,
}

enum Message {
    Fs(notify::Result<notify::Event>),
    Stop,
}

impl Watcher {
    /// Arms the watch before returning, so a change made right after
    /// `FlagStore::open` returns is seen.
    pub(crate) fn start(shared: Arc<Shared>, options: &StoreOptions) -> Result<Watcher, Error> {
        let file = shared.path().ok_or(Error::NoFile)?;
        let file = std::path::absolute(file).map_err(|e| Error::Watch {
            path: file.to_path_buf(),
            message: e.to_string(),
        })?;
        let (messages, inbox) = mpsc::channel();
        let mut worker = Worker::new(shared, file, options, messages.clone(), inbox);
        worker.check_watches(Instant::now());
        Watcher::spawn(worker, messages)
    }

    fn spawn(worker: Worker, messages: Sender<Message>) -> Result<Watcher, Error> {
        let file = worker.file.clone();
        let thread = thread::Builder::new()
            .name("flags-watch".into())
            .spawn(move || worker.run())
            .map_err(|e| Error::Watch {
                path: file,
                message: format!("cannot start the watcher thread: {e}"),
            })?;
        Ok(Watcher {
            messages,
            thread: Some(thread),
        })
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.messages.send(Message::Stop);
        if let Some(thread) = self.thread.take() {
            // An event callback that drops the store runs on this very
            // thread; it ends by itself on the Stop message.
            if thread.thread().id() != thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

/// A folder being watched, and which folder it was when the watch was set.
struct WatchedDir {
    path: PathBuf,
    identity: Identity,
}

/// Device and inode: tells a recreated folder or replaced file from the old
/// one at the same path.
type Identity = (u64, u64);

#[cfg(unix)]
fn identity(meta: &fs::Metadata) -> Identity {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
fn identity(_meta: &fs::Metadata) -> Identity {
    (0, 0)
}

/// The cheap fingerprint a poll compares before reading the file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Probe {
    len: u64,
    modified: Option<SystemTime>,
    identity: Identity,
}

impl Probe {
    fn take(file: &Path) -> Option<Probe> {
        let meta = fs::metadata(file).ok()?;
        Some(Probe {
            len: meta.len(),
            modified: meta.modified().ok(),
            identity: identity(&meta),
        })
    }

    /// Whether the file changed so recently before `looked_at` that a
    /// same-size rewrite might not have moved its timestamp.
    fn is_racy(&self, looked_at: SystemTime) -> bool {
        match self.modified {
            Some(modified) => modified
                .checked_add(RACY_WINDOW)
                .is_none_or(|settled| settled > looked_at),
            None => true,
        }
    }
}

/// Relevant events seen and not yet acted on.
struct Pending {
    first: Instant,
    last: Instant,
}

struct Worker {
    shared: Arc<Shared>,
    /// Absolute path of the flag file, as the store was opened with.
    file: PathBuf,
    /// Absolute parent folder of `file`.
    dir: PathBuf,
    debounce: Duration,
    use_events: bool,
    poll_every: Option<Duration>,
    notify: Option<RecommendedWatcher>,
    /// Handed to each notify watcher created.
    messages: Sender<Message>,
    inbox: Receiver<Message>,
    watched: Vec<WatchedDir>,
    /// File names that make an event relevant.
    names: Vec<std::ffi::OsString>,
    pending: Option<Pending>,
    next_check: Instant,
    last_poll: Instant,
    /// What the file looked like just before it was last read, and when.
    last_probe: Option<(Probe, SystemTime)>,
    last_watch_error: Option<String>,
}

impl Worker {
    fn new(
        shared: Arc<Shared>,
        file: PathBuf,
        options: &StoreOptions,
        messages: Sender<Message>,
        inbox: Receiver<Message>,
    ) -> Worker {
        let dir = file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("/"));
        let now = Instant::now();
        // The store has just read the file; this is what it looked like.
        let last_probe = Probe::take(&file).map(|p| (p, SystemTime::now()));
        Worker {
            shared,
            dir,
            debounce: options.debounce.min(MAX_DEBOUNCE),
            use_events: options.watch,
            poll_every: options.poll_interval.map(|p| p.max(MIN_POLL_INTERVAL)),
            notify: None,
            messages,
            inbox,
            watched: Vec::new(),
            names: Vec::new(),
            pending: None,
            next_check: now + CHECK_EVERY,
            last_poll: now,
            last_probe,
            last_watch_error: None,
            file,
        }
    }

    fn run(mut self) {
        loop {
            let now = Instant::now();
            let wake_at = self
                .reload_deadline()
                .map_or(self.next_check, |d| d.min(self.next_check));
            match self
                .inbox
                .recv_timeout(wake_at.saturating_duration_since(now))
            {
                Ok(Message::Stop) | Err(RecvTimeoutError::Disconnected) => break,
                Ok(Message::Fs(event)) => self.on_fs_event(event),
                Err(RecvTimeoutError::Timeout) => {}
            }
            let now = Instant::now();
            if now >= self.next_check {
                self.check_watches(now);
                self.poll(now);
                self.next_check = now + CHECK_EVERY.min(self.poll_every.unwrap_or(CHECK_EVERY));
            }
            if self.reload_deadline().is_some_and(|d| now >= d) {
                self.pending = None;
                self.reload();
            }
        }
        // Dropping `self` drops the notify watcher, which ends notify's
        // thread; it holds only a sender to this worker's closed inbox.
    }

    fn reload_deadline(&self) -> Option<Instant> {
        let pending = self.pending.as_ref()?;
        let settled = pending.last + self.debounce;
        let latest = pending.first + self.debounce * MAX_DEFER_PERIODS;
        Some(settled.min(latest))
    }

    /// Notes a change; the file is read once the burst settles.
    fn schedule(&mut self, now: Instant) {
        match &mut self.pending {
            Some(pending) => pending.last = now,
            None => {
                self.pending = Some(Pending {
                    first: now,
                    last: now,
                })
            }
        }
    }

    fn reload(&mut self) {
        // Probe before reading: a change landing between the two then shows
        // up as a changed probe on the next poll instead of going unseen.
        self.last_probe = Probe::take(&self.file).map(|p| (p, SystemTime::now()));
        let shared = &self.shared;
        // The result is recorded and reported by the store; a panicking
        // event callback must not end the watch.
        let _ = catch_unwind(AssertUnwindSafe(|| shared.reload_from_file()));
    }

    fn on_fs_event(&mut self, event: notify::Result<notify::Event>) {
        let now = Instant::now();
        let event = match event {
            Ok(event) => event,
            Err(error) => {
                // Events may have been lost with it: look again now.
                self.report_watch_error(format!("file watch error: {error}"));
                self.schedule(now);
                self.next_check = now;
                return;
            }
        };
        if event.need_rescan() {
            self.schedule(now);
            self.next_check = now;
            return;
        }
        if matches!(
            event.kind,
            EventKind::Access(AccessKind::Close(AccessMode::Write))
        ) {
            // A writer finished: fall through to the name match.
        } else if matches!(event.kind, EventKind::Access(_)) {
            // Reads, including our own: nothing changed.
            return;
        }
        if event
            .paths
            .iter()
            .any(|p| self.watched.iter().any(|w| w.path == *p))
        {
            // A watched folder itself was removed or moved: re-arm now.
            self.next_check = now;
        }
        let relevant = event.paths.iter().any(|p| {
            p.file_name()
                .is_some_and(|name| names_match(&self.names, name))
        });
        if relevant {
            self.schedule(now);
        }
    }

    /// The folders to watch: the file's own, and its symlink target's.
    fn wanted(&self) -> (Vec<PathBuf>, Vec<std::ffi::OsString>) {
        let mut dirs = vec![self.dir.clone()];
        let mut names = vec![CONFIGMAP_DATA.into()];
        if let Some(name) = self.file.file_name() {
            names.push(name.to_os_string());
        }
        let is_symlink = fs::symlink_metadata(&self.file).is_ok_and(|m| m.file_type().is_symlink());
        if is_symlink && let Ok(target) = fs::canonicalize(&self.file) {
            let canonical_dir = fs::canonicalize(&self.dir).ok();
            if let Some(target_dir) = target.parent()
                && canonical_dir.as_deref() != Some(target_dir)
            {
                dirs.push(target_dir.to_path_buf());
            }
            if let Some(name) = target.file_name()
                && !names.iter().any(|n| n == name)
            {
                names.push(name.to_os_string());
            }
        }
        (dirs, names)
    }

    /// Makes the watches match the folders that exist now: drops watches of
    /// folders that are gone or were replaced, watches new ones, and
    /// re-reads the file whenever a watch was (re)armed.
    fn check_watches(&mut self, now: Instant) {
        if !self.use_events {
            return;
        }
        let (dirs, names) = self.wanted();
        self.names = names;
        let wanted: Vec<(PathBuf, Option<Identity>)> = dirs
            .into_iter()
            .map(|dir| {
                let id = fs::metadata(&dir)
                    .ok()
                    .filter(fs::Metadata::is_dir)
                    .map(|m| identity(&m));
                (dir, id)
            })
            .collect();
        let stale: Vec<PathBuf> = self
            .watched
            .iter()
            .filter(|w| {
                !wanted
                    .iter()
                    .any(|(p, id)| *p == w.path && *id == Some(w.identity))
            })
            .map(|w| w.path.clone())
            .collect();
        for path in stale {
            self.watched.retain(|w| w.path != path);
            if let Some(notify) = &mut self.notify {
                // Fails when notify already dropped a deleted folder's watch.
                let _ = notify.unwatch(&path);
            }
        }
        let mut armed_any = false;
        for (path, id) in wanted {
            let Some(id) = id else { continue };
            if self.watched.iter().any(|w| w.path == path) {
                continue;
            }
            match self.watch(&path) {
                Ok(()) => {
                    self.watched.push(WatchedDir { path, identity: id });
                    armed_any = true;
                }
                Err(message) => self.report_watch_error(message),
            }
        }
        if armed_any {
            if self.is_armed() {
                self.last_watch_error = None;
            }
            self.schedule(now);
        }
    }

    fn watch(&mut self, dir: &Path) -> Result<(), String> {
        if self.notify.is_none() {
            let messages = self.messages.clone();
            let handler = move |event| {
                // The worker is gone only while the store shuts down.
                let _ = messages.send(Message::Fs(event));
            };
            let notify = notify::recommended_watcher(handler)
                .map_err(|e| format!("cannot start watching files (polling instead): {e}"))?;
            self.notify = Some(notify);
        }
        let notify = self.notify.as_mut().expect("created above");
        notify
            .watch(dir, RecursiveMode::NonRecursive)
            .map_err(|e| format!("cannot watch {} (polling instead): {e}", dir.display()))
    }

    /// Whether the file's own folder is watched, so events will come.
    fn is_armed(&self) -> bool {
        self.watched.iter().any(|w| w.path == self.dir)
    }

    /// Polls the file when asked to, or when no watch is armed.
    fn poll(&mut self, now: Instant) {
        let due = match self.poll_every {
            Some(every) => now.duration_since(self.last_poll) >= every,
            None => false,
        };
        if !(due || (self.use_events && !self.is_armed())) {
            return;
        }
        self.last_poll = now;
        let probe = Probe::take(&self.file);
        let changed = match (&self.last_probe, &probe) {
            (Some((before, looked_at)), Some(after)) => {
                before != after || after.is_racy(*looked_at)
            }
            (None, None) => false,
            _ => true,
        };
        if changed {
            self.schedule(now);
        }
    }

    fn report_watch_error(&mut self, message: String) {
        if self.last_watch_error.as_deref() == Some(message.as_str()) {
            return;
        }
        self.last_watch_error = Some(message.clone());
        let shared = &self.shared;
        let _ = catch_unwind(AssertUnwindSafe(|| {
            shared.emit(ReloadEvent::WatchError { message })
        }));
    }
}

/// Whether an event about `name` concerns the flag file.
fn names_match(names: &[std::ffi::OsString], name: &OsStr) -> bool {
    names.iter().any(|n| n == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Weak;

    #[test]
    fn dropping_the_watcher_releases_the_shared_state() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("flags.json");
        fs::write(&file, r#"{"version": 1, "flags": {}}"#).unwrap();
        let store = crate::FlagStore::open(&file).unwrap();
        let weak: Weak<Shared> = Arc::downgrade(&store.shared);
        assert_eq!(Arc::strong_count(&store.shared), 2, "store and watcher");
        store.stop_watching();
        assert_eq!(Arc::strong_count(&store.shared), 1, "watcher let go");
        drop(store);
        assert!(weak.upgrade().is_none());
    }

    #[test]
    fn polls_the_file_while_its_folder_cannot_be_watched() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("flags.json");
        let flags =
            |on: bool| format!(r#"{{"version": 1, "flags": {{"a": {{"enabled": {on}}}}}}}"#);
        fs::write(&file, flags(false)).unwrap();
        let store = crate::FlagStore::options()
            .watch(false)
            .open(&file)
            .unwrap();
        let (messages, inbox) = mpsc::channel();
        let options = StoreOptions::new();
        let mut worker = Worker::new(
            Arc::clone(&store.shared),
            file.clone(),
            &options,
            messages.clone(),
            inbox,
        );
        // A folder that never exists stands for one the OS refuses to watch.
        worker.dir = dir.path().join("never-there");
        worker.check_watches(Instant::now());
        assert!(!worker.is_armed());
        let watcher = Watcher::spawn(worker, messages).unwrap();

        let tmp = dir.path().join("flags.json.tmp");
        fs::write(&tmp, flags(true)).unwrap();
        fs::rename(&tmp, &file).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while store.generation() != 2 {
            assert!(Instant::now() < deadline, "the change was not polled");
            thread::sleep(Duration::from_millis(5));
        }
        assert!(store.is_enabled("a", &crate::Context::new()));
        drop(watcher);
    }

    #[test]
    fn racy_probe_is_read_again() {
        let now = SystemTime::now();
        let probe = Probe {
            len: 1,
            modified: Some(now),
            identity: (0, 0),
        };
        assert!(probe.is_racy(now));
        assert!(!probe.is_racy(now + RACY_WINDOW + Duration::from_millis(1)));
    }

    #[test]
    fn configmap_symlink_name_counts() {
        let names = vec!["flags.json".into(), CONFIGMAP_DATA.into()];
        assert!(names_match(&names, OsStr::new("..data")));
        assert!(!names_match(&names, OsStr::new("..data_tmp")));
    }
}
