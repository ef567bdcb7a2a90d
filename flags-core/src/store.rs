//! `FlagStore`: the current [`Snapshot`] behind an `ArcSwap`, and everything
//! that replaces it.

// The watcher is the store's own part: it reloads through the store's
// shared state, and nothing else uses it.
mod watch;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use arc_swap::{ArcSwap, Cache, Guard};

use crate::complaints::Complaints;
use crate::decision::{Context, Decision};
use crate::error::{Error, Problems};
use crate::message::Message;
use crate::snapshot::{Handle, Registry, Snapshot, fingerprint};
use crate::validate::parse_flag_file;
use watch::Watcher;

/// Something the store did that its owner may want to log. Delivered to the
/// callback given to [`StoreOptions::on_event`], from the thread that did it
/// (the watcher's thread for automatic reloads).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReloadEvent {
    /// A new version of the file is now served.
    Loaded { generation: u64, fingerprint: u64 },
    /// The file could not be loaded; the previous version keeps serving.
    /// Sent once per distinct error, not once per attempt.
    Failed { message: String },
    /// The watcher hit a problem of its own (it keeps trying; not fatal).
    WatchError { message: String },
}

type EventCallback = Arc<dyn Fn(&ReloadEvent) + Send + Sync>;

/// How to open a [`FlagStore`]. `FlagStore::open(path)` is
/// `StoreOptions::new().open(path)`.
#[derive(Clone)]
pub struct StoreOptions {
    pub(crate) watch: bool,
    pub(crate) debounce: Duration,
    pub(crate) poll_interval: Option<Duration>,
    pub(crate) on_event: Option<EventCallback>,
    pub(crate) count_decisions: bool,
    pub(crate) count_outcomes: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            watch: true,
            debounce: Duration::from_millis(50),
            poll_interval: None,
            on_event: None,
            count_decisions: true,
            count_outcomes: true,
        }
    }
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions")
            .field("watch", &self.watch)
            .field("debounce", &self.debounce)
            .field("poll_interval", &self.poll_interval)
            .field("on_event", &self.on_event.is_some())
            .field("count_decisions", &self.count_decisions)
            .field("count_outcomes", &self.count_outcomes)
            .finish()
    }
}

impl StoreOptions {
    pub fn new() -> StoreOptions {
        StoreOptions::default()
    }

    /// Watch the file and reload it on every change (default: on).
    pub fn watch(mut self, watch: bool) -> Self {
        self.watch = watch;
        self
    }

    /// How long to wait for a burst of file events to settle before reading
    /// (default 50 ms).
    pub fn debounce(mut self, debounce: Duration) -> Self {
        self.debounce = debounce;
        self
    }

    /// Also poll the file every `interval`, for filesystems that send no
    /// change events (some network and FUSE mounts). Off by default.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = Some(interval);
        self
    }

    /// Where reloads and reload failures are reported. The library never
    /// prints; without a callback, failures are only visible through
    /// [`FlagStore::status`].
    pub fn on_event(mut self, callback: impl Fn(&ReloadEvent) + Send + Sync + 'static) -> Self {
        self.on_event = Some(Arc::new(callback));
        self
    }

    /// Count decisions per flag, by reason, for metrics (default: on).
    /// Independent of [`StoreOptions::count_outcomes`].
    pub fn count_decisions(mut self, count: bool) -> Self {
        self.count_decisions = count;
        self
    }

    /// Count the outcomes and complaints that bots report through
    /// [`crate::Message::record`] and [`FlagStore::complaint`] (default:
    /// on, whatever [`StoreOptions::count_decisions`] says: a bot that
    /// skips decision counts still wants its rollouts watched). Off, the
    /// calls still work and count nothing, and the three outcome families
    /// leave the metrics.
    pub fn count_outcomes(mut self, count: bool) -> Self {
        self.count_outcomes = count;
        self
    }

    /// Loads and validates the file at `path`, then (unless turned off)
    /// starts watching it.
    pub fn open(self, path: impl AsRef<Path>) -> Result<FlagStore, Error> {
        let path = path.as_ref().to_path_buf();
        let bytes = read_file(&path)?;
        let shared = Arc::new(Shared::first(Content::Bytes(&bytes), Some(path), &self)?);
        // Polling alone (`watch(false)` with a poll interval) also runs on
        // the watcher's thread.
        let watcher = if self.watch || self.poll_interval.is_some() {
            Some(Watcher::start(Arc::clone(&shared), &self)?)
        } else {
            None
        };
        Ok(FlagStore {
            shared,
            watcher: Mutex::new(watcher),
        })
    }
}

impl StoreOptions {
    /// A store over flag file text, with no file behind it (`watch` and
    /// `poll_interval` do not apply).
    pub fn from_json(self, text: &str) -> Result<FlagStore, Error> {
        Ok(FlagStore {
            shared: Arc::new(Shared::first(Content::Text(text), None, &self)?),
            watcher: Mutex::new(None),
        })
    }
}

/// How reloads have gone, for health checks and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadStatus {
    /// Generation of the version being served.
    pub generation: u64,
    /// Fingerprint of the version being served.
    pub fingerprint: u64,
    /// Loads that swapped in a new version (the first load included).
    pub reloads_succeeded: u64,
    /// Loads that failed and left the previous version serving.
    pub reloads_failed: u64,
    /// When the version being served was loaded.
    pub last_success: SystemTime,
    /// Why the most recent load failed; cleared by the next good load.
    pub last_error: Option<String>,
}

/// The state readers and reloaders share: the watcher holds it too.
pub(crate) struct Shared {
    pub(crate) current: ArcSwap<Snapshot>,
    path: Option<PathBuf>,
    /// Held for a whole reload, so reloads run one at a time; readers never
    /// touch it.
    reloading: Mutex<Reloading>,
    pub(crate) succeeded: AtomicU64,
    pub(crate) failed: AtomicU64,
    on_event: Option<EventCallback>,
    /// Who complained about what in the last hour (fixed size).
    complaints: Complaints,
}

struct Reloading {
    registry: Registry,
    /// The version the last swap replaced, kept until the next swap so that
    /// the reloading thread, not a reader in the middle of a message, is
    /// the one that usually frees it.
    retired: Option<Arc<Snapshot>>,
    last_error: Option<String>,
    last_success: SystemTime,
}

/// What a successful reload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// A new version is now served, with this generation.
    Loaded { generation: u64 },
    /// The bytes are those already served: nothing changed.
    Unchanged,
}

fn read_file(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// A file's content as it reached the store: bytes read from disk, still
/// to be checked as UTF-8, or text a caller already holds as `str` (its
/// UTF-8 check, a pass over every byte, is not repeated).
#[derive(Clone, Copy)]
enum Content<'a> {
    Bytes(&'a [u8]),
    Text(&'a str),
}

impl<'a> Content<'a> {
    fn bytes(self) -> &'a [u8] {
        match self {
            Content::Bytes(bytes) => bytes,
            Content::Text(text) => text.as_bytes(),
        }
    }

    fn text(self) -> Result<&'a str, Problems> {
        match self {
            Content::Text(text) => Ok(text),
            Content::Bytes(bytes) => std::str::from_utf8(bytes).map_err(|e| {
                Problems::whole_file(format!(
                    "the file is not valid UTF-8 (byte {})",
                    e.valid_up_to()
                ))
            }),
        }
    }
}

/// Validates and compiles `content`, whose fingerprint the caller has
/// already computed (a reload needs it first, to skip unchanged bytes:
/// hashing a 26 MB file twice cost 2 ms).
fn compile_content(
    content: Content<'_>,
    fingerprint: u64,
    registry: &mut Registry,
    generation: u64,
) -> Result<Snapshot, Problems> {
    let file = parse_flag_file(content.text()?)?;
    Ok(Snapshot::compile(file, registry, generation, fingerprint))
}

impl Shared {
    fn first(
        content: Content<'_>,
        path: Option<PathBuf>,
        options: &StoreOptions,
    ) -> Result<Shared, Error> {
        let mut registry = Registry::new(options.count_decisions, options.count_outcomes);
        let fingerprint = fingerprint(content.bytes());
        let snapshot = compile_content(content, fingerprint, &mut registry, 1)?;
        Ok(Shared {
            current: ArcSwap::from_pointee(snapshot),
            path,
            reloading: Mutex::new(Reloading {
                registry,
                retired: None,
                last_error: None,
                last_success: SystemTime::now(),
            }),
            succeeded: AtomicU64::new(1),
            failed: AtomicU64::new(0),
            on_event: options.on_event.clone(),
            complaints: Complaints::default(),
        })
    }

    pub(crate) fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn lock(&self) -> MutexGuard<'_, Reloading> {
        // A panic during one reload must not wedge reloads forever.
        self.reloading
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn emit(&self, event: ReloadEvent) {
        if let Some(callback) = &self.on_event {
            callback(&event);
        }
    }

    /// Reads the file and swaps it in if it is new and valid.
    pub(crate) fn reload_from_file(&self) -> Result<ReloadOutcome, Error> {
        let path = self.path.as_deref().ok_or(Error::NoFile)?;
        let (result, event) = {
            let mut state = self.lock();
            let result =
                read_file(path).and_then(|bytes| self.swap_in(&mut state, Content::Bytes(&bytes)));
            self.record(&mut state, result)
        };
        self.report(event);
        result
    }

    pub(crate) fn replace_text(&self, text: &str) -> Result<ReloadOutcome, Error> {
        let (result, event) = {
            let mut state = self.lock();
            let result = self.swap_in(&mut state, Content::Text(text));
            self.record(&mut state, result)
        };
        self.report(event);
        result
    }

    /// Runs the callback after the reload lock is released, so a callback
    /// may ask the store for its status (or even reload it) without
    /// deadlocking. Two reloads racing may report out of order; each
    /// `Loaded` carries its generation.
    fn report(&self, event: Option<ReloadEvent>) {
        if let Some(event) = event {
            self.emit(event);
        }
    }

    fn swap_in(&self, state: &mut Reloading, content: Content<'_>) -> Result<ReloadOutcome, Error> {
        let current = self.current.load();
        let fingerprint = fingerprint(content.bytes());
        if current.fingerprint() == fingerprint {
            return Ok(ReloadOutcome::Unchanged);
        }
        let generation = current.generation() + 1;
        let snapshot = compile_content(content, fingerprint, &mut state.registry, generation)?;
        drop(current);
        // The guard is gone, so the swap hands over the version it replaced;
        // the one retired before that is usually freed here, on this thread.
        state.retired = Some(self.current.swap(Arc::new(snapshot)));
        Ok(ReloadOutcome::Loaded { generation })
    }

    /// Updates the counters and the last error; returns what to report.
    fn record(
        &self,
        state: &mut Reloading,
        result: Result<ReloadOutcome, Error>,
    ) -> (Result<ReloadOutcome, Error>, Option<ReloadEvent>) {
        let event = match &result {
            Ok(outcome) => {
                state.last_error = None;
                match *outcome {
                    ReloadOutcome::Loaded { generation } => {
                        self.succeeded.fetch_add(1, Ordering::Relaxed);
                        state.last_success = SystemTime::now();
                        Some(ReloadEvent::Loaded {
                            generation,
                            fingerprint: self.current.load().fingerprint(),
                        })
                    }
                    ReloadOutcome::Unchanged => None,
                }
            }
            Err(error) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let message = error.to_string();
                let is_news = state.last_error.as_deref() != Some(message.as_str());
                state.last_error = Some(message.clone());
                is_news.then_some(ReloadEvent::Failed { message })
            }
        };
        (result, event)
    }
}

/// The flags of one file, always the last valid version, safe to share
/// between threads and to query from any of them without waiting.
///
/// See the crate docs for the evaluation order and an example.
pub struct FlagStore {
    pub(crate) shared: Arc<Shared>,
    pub(crate) watcher: Mutex<Option<Watcher>>,
}

impl std::fmt::Debug for FlagStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let snapshot = self.snapshot();
        f.debug_struct("FlagStore")
            .field("path", &self.shared.path)
            .field("generation", &snapshot.generation())
            .field("flags", &snapshot.len())
            .finish()
    }
}

/// A borrowed view of the snapshot being served. Hold it for one message,
/// not longer: a held guard keeps that version alive after a reload.
pub struct SnapshotGuard(Guard<Arc<Snapshot>>);

impl std::ops::Deref for SnapshotGuard {
    type Target = Snapshot;

    #[inline]
    fn deref(&self) -> &Snapshot {
        &self.0
    }
}

/// A view of the store for one thread that evaluates many messages: it
/// keeps its own reference to the snapshot being served and checks with a
/// single pointer comparison, per message, whether a reload replaced it.
/// [`FlagStore::snapshot`] instead pays for a guard (a few atomic
/// operations) on every call.
///
/// Make one per worker thread or task ([`FlagStore::reader`]) and call
/// [`Reader::snapshot`] once per message. The reader keeps the version it
/// last saw alive until its next call, so a reader left idle after a reload
/// holds the old version's memory; drop readers you stop using.
///
/// ```
/// # let store = flags_core::FlagStore::from_json(r#"{"version": 1, "flags": {"a": {"enabled": true}}}"#)?;
/// # let messages = [flags_core::Context::new().user(1)];
/// let a = store.handle("a");
/// let mut reader = store.reader();
/// for ctx in &messages {
///     let snapshot = reader.snapshot();
///     if snapshot.evaluate_handle(a, ctx).enabled {
///         // …
///     }
/// }
/// # Ok::<(), flags_core::Error>(())
/// ```
pub struct Reader<'s> {
    cache: Cache<&'s ArcSwap<Snapshot>, Arc<Snapshot>>,
}

impl std::fmt::Debug for Reader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("generation", &self.cache.arc_swap().load().generation())
            .finish()
    }
}

impl Reader<'_> {
    /// The version being served now: evaluate every flag of one message on
    /// it. Costs one relaxed load and a comparison unless a reload happened
    /// since the last call.
    #[inline]
    pub fn snapshot(&mut self) -> &Snapshot {
        self.cache.load()
    }

    /// [`FlagStore::is_enabled`] through this reader.
    #[inline]
    pub fn is_enabled(&mut self, name: &str, ctx: &Context<'_>) -> bool {
        self.snapshot().is_enabled(name, ctx)
    }

    /// [`FlagStore::evaluate`] through this reader.
    #[inline]
    pub fn evaluate(&mut self, name: &str, ctx: &Context<'_>) -> Decision {
        self.snapshot().evaluate(name, ctx)
    }

    /// [`FlagStore::evaluate_handle`] through this reader.
    #[inline]
    pub fn evaluate_handle(&mut self, handle: Handle, ctx: &Context<'_>) -> Decision {
        self.snapshot().evaluate_handle(handle, ctx)
    }

    /// A [`Message`] over the version being served now: the cheapest way
    /// for a worker to evaluate one message and report its outcome.
    #[inline]
    pub fn message<'c>(&mut self, ctx: Context<'c>) -> Message<'c, &Snapshot> {
        Message::new(self.snapshot(), ctx)
    }
}

impl FlagStore {
    /// A [`Reader`] for a thread that evaluates many messages: cheaper per
    /// message than [`FlagStore::snapshot`].
    pub fn reader(&self) -> Reader<'_> {
        Reader {
            cache: Cache::new(&self.shared.current),
        }
    }

    /// Loads and validates the file at `path` and watches it for changes.
    /// Fails if the file is missing, unreadable or invalid.
    pub fn open(path: impl AsRef<Path>) -> Result<FlagStore, Error> {
        StoreOptions::new().open(path)
    }

    /// Options for [`FlagStore::open`]: watching, polling, event callback.
    pub fn options() -> StoreOptions {
        StoreOptions::new()
    }

    /// A store over flag file text, with no file behind it; change it with
    /// [`FlagStore::replace_json`].
    pub fn from_json(text: &str) -> Result<FlagStore, Error> {
        StoreOptions::new().from_json(text)
    }
    /// The version being served now. Evaluate every flag of one message on
    /// one snapshot so they all see the same file.
    #[inline]
    pub fn snapshot(&self) -> SnapshotGuard {
        SnapshotGuard(self.shared.current.load())
    }

    /// The version being served now, as an owned `Arc` (costs a reference
    /// count update; prefer [`FlagStore::snapshot`] per message).
    pub fn snapshot_arc(&self) -> Arc<Snapshot> {
        self.shared.current.load_full()
    }

    /// Whether flag `name` is on for this message; `false` for an unknown flag.
    #[inline]
    pub fn is_enabled(&self, name: &str, ctx: &Context<'_>) -> bool {
        self.shared.current.load().is_enabled(name, ctx)
    }

    /// Whether flag `name` is on; `default` if the file does not define it.
    #[inline]
    pub fn is_enabled_or(&self, name: &str, ctx: &Context<'_>, default: bool) -> bool {
        let decision = self.evaluate(name, ctx);
        match decision.reason {
            crate::Reason::UnknownFlag => default,
            _ => decision.enabled,
        }
    }

    /// The decision for flag `name`, with its reason and bucket.
    #[inline]
    pub fn evaluate(&self, name: &str, ctx: &Context<'_>) -> Decision {
        self.shared.current.load().evaluate(name, ctx)
    }

    /// Resolves `name` once, for evaluation by [`FlagStore::evaluate_handle`]
    /// without hashing the name again. Works for names the file does not
    /// (yet) define.
    pub fn handle(&self, name: &str) -> Handle {
        let mut state = self.shared.lock();
        Handle(state.registry.slot(name))
    }

    #[inline]
    pub fn evaluate_handle(&self, handle: Handle, ctx: &Context<'_>) -> Decision {
        self.shared.current.load().evaluate_handle(handle, ctx)
    }

    /// A [`Message`] over the version being served now, holding it (a
    /// guard) until the message is dropped: evaluate the message's flags
    /// through it and record its outcome. Hold it for one message.
    #[inline]
    pub fn message<'c>(&self, ctx: Context<'c>) -> Message<'c, SnapshotGuard> {
        Message::new(self.snapshot(), ctx)
    }

    /// Counts one complaint about flag `name` (a `/feedback` command, a
    /// support ticket). Returns `false`, counting nothing, when the file
    /// being served does not define `name`: a complaint about a flag that
    /// does not exist is most likely a typo the bot's developer should see,
    /// and counting it store-wide would feed no rollout's trigger.
    pub fn complaint(&self, name: &str) -> bool {
        self.snapshot().complaint(name)
    }

    /// Counts one complaint by user `user_id` about flag `name`, at most
    /// once an hour for each user and flag in this process
    /// ([`crate::complaints`]): complaints count people, not messages.
    /// `None` when the file does not define `name` (nothing counted);
    /// `Some(false)` when this user's complaint about it was counted less
    /// than an hour ago (not counted again); `Some(true)` when counted.
    pub fn complaint_by(&self, name: &str, user_id: i64) -> Option<bool> {
        let snapshot = self.snapshot();
        snapshot.position(name)?;
        if !self.shared.complaints.admit(name, user_id) {
            return Some(false);
        }
        Some(snapshot.complaint(name))
    }

    /// Re-reads the file now (for SIGHUP). On error the previous version
    /// keeps serving and the error is returned and recorded.
    pub fn reload(&self) -> Result<ReloadOutcome, Error> {
        self.shared.reload_from_file()
    }

    /// Replaces the flags with `text`, if valid; the same rules as a reload.
    pub fn replace_json(&self, text: &str) -> Result<ReloadOutcome, Error> {
        self.shared.replace_text(text)
    }

    /// The file this store was opened from.
    pub fn path(&self) -> Option<&Path> {
        self.shared.path()
    }

    pub fn generation(&self) -> u64 {
        self.snapshot().generation()
    }

    pub fn fingerprint(&self) -> u64 {
        self.snapshot().fingerprint()
    }

    /// Why the latest load failed, until a good version loads.
    pub fn last_error(&self) -> Option<String> {
        self.shared.lock().last_error.clone()
    }

    pub fn status(&self) -> ReloadStatus {
        let state = self.shared.lock();
        let snapshot = self.snapshot();
        ReloadStatus {
            generation: snapshot.generation(),
            fingerprint: snapshot.fingerprint(),
            reloads_succeeded: self.shared.succeeded.load(Ordering::Relaxed),
            reloads_failed: self.shared.failed.load(Ordering::Relaxed),
            last_success: state.last_success,
            last_error: state.last_error.clone(),
        }
    }

    /// Whether a watcher is running for this store.
    pub fn is_watching(&self) -> bool {
        self.watcher
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// Stops watching the file (joining the watcher's thread). The store
    /// keeps serving its current version; dropping the store does the same.
    pub fn stop_watching(&self) {
        let watcher = self
            .watcher
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(watcher);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Weak;

    const ON: &str = r#"{"version": 1, "flags": {"a": {"enabled": true}}}"#;
    const OFF: &str = r#"{"version": 1, "flags": {"a": {"enabled": false}}}"#;
    const GONE: &str = r#"{"version": 1, "flags": {"b": {"enabled": true}}}"#;

    #[test]
    fn a_reader_sees_every_reload_on_its_next_call() {
        let store = FlagStore::from_json(ON).unwrap();
        let a = store.handle("a");
        let ctx = Context::new().user(1);
        let mut reader = store.reader();
        assert!(reader.is_enabled("a", &ctx));
        assert_eq!(reader.snapshot().generation(), 1);
        store.replace_json(OFF).unwrap();
        assert_eq!(reader.snapshot().generation(), 2);
        assert!(!reader.evaluate_handle(a, &ctx).enabled);
        store.replace_json(GONE).unwrap();
        assert_eq!(
            reader.evaluate("a", &ctx).reason,
            crate::Reason::UnknownFlag
        );
        assert_eq!(reader.evaluate_handle(a, &ctx), Decision::UNKNOWN);
        assert_eq!(
            reader.evaluate_handle(a, &ctx),
            store.evaluate_handle(a, &ctx)
        );
    }

    #[test]
    fn a_reader_holds_the_version_it_last_saw_until_asked_again() {
        let store = FlagStore::from_json(ON).unwrap();
        let mut reader = store.reader();
        let first: Weak<Snapshot> = Arc::downgrade(&store.snapshot_arc());
        assert_eq!(reader.snapshot().generation(), 1);
        store.replace_json(OFF).unwrap();
        store.replace_json(ON).unwrap();
        // Two swaps later the store has let go of version 1; the reader has not.
        assert!(first.upgrade().is_some());
        assert_eq!(reader.snapshot().generation(), 3);
        assert!(first.upgrade().is_none());
    }

    #[test]
    fn the_store_keeps_the_replaced_version_until_the_next_swap() {
        let store = FlagStore::from_json(ON).unwrap();
        let first: Weak<Snapshot> = Arc::downgrade(&store.snapshot_arc());
        store.replace_json(OFF).unwrap();
        assert!(first.upgrade().is_some(), "retired, not yet freed");
        let second: Weak<Snapshot> = Arc::downgrade(&store.snapshot_arc());
        // A failed or unchanged reload swaps nothing and frees nothing.
        assert!(store.replace_json("{").is_err());
        assert_eq!(store.replace_json(OFF).unwrap(), ReloadOutcome::Unchanged);
        assert!(first.upgrade().is_some());
        store.replace_json(ON).unwrap();
        assert!(first.upgrade().is_none(), "freed by the reloading thread");
        assert!(second.upgrade().is_some());
    }

    #[test]
    fn evaluating_through_a_reader_allocates_nothing() {
        let store = FlagStore::from_json(ON).unwrap();
        let a = store.handle("a");
        let ctx = Context::new().user(1).chat(-5, crate::ChatType::Group);
        let mut reader = store.reader();
        reader.evaluate_handle(a, &ctx);
        let counted = allocation_counter::measure(|| {
            for _ in 0..100 {
                std::hint::black_box(reader.evaluate_handle(a, &ctx));
                std::hint::black_box(reader.evaluate("a", &ctx));
                std::hint::black_box(reader.is_enabled("missing", &ctx));
            }
        });
        assert_eq!(counted.count_total, 0, "{counted:?}");
    }
}
