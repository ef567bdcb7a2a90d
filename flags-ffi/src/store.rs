//! `ff_store`: a `flags_core::FlagStore` behind an opaque pointer, with a
//! closed flag every call checks.

use std::os::raw::c_char;
use std::sync::atomic::{AtomicU64, Ordering};

use flags_core::{Decision, FlagStore, Handle, SnapshotGuard};

use crate::args::{self, ByName, Out};
use crate::boundary::{ffi_boundary, ffi_boundary_or};
use crate::context::with_context;
use crate::error::{Failure, owned_c_string};
use crate::types::{
    FF_CLOSED, FF_INVALID_ARGUMENT, FF_OPEN_NO_COUNTING, FF_OPEN_NO_OUTCOMES, FF_OPEN_NO_WATCH,
    enabled_or, ff_context, ff_decision, ff_status,
};

/// `ff_store.state`'s top bit: the store was closed.
const CLOSED: u64 = 1 << 63;

/// A loaded flag file, safe to share between threads. Opaque: only
/// pointers to it cross the ABI.
pub struct ff_store {
    store: FlagStore,
    /// `CLOSED`, or'ed with one more than the highest handle number handed
    /// out: one atomic load tells a call both whether the store is open and
    /// whether a handle is one of ours.
    state: AtomicU64,
}

impl ff_store {
    /// The store inside, or `FF_CLOSED`.
    #[inline]
    pub(crate) fn open_store(&self) -> Result<&FlagStore, Failure> {
        self.open_state()?;
        Ok(&self.store)
    }

    fn new(store: FlagStore) -> ff_store {
        ff_store {
            store,
            state: AtomicU64::new(0),
        }
    }

    /// The state word, or `FF_CLOSED`.
    #[inline]
    fn open_state(&self) -> Result<u64, Failure> {
        let state = self.state.load(Ordering::Acquire);
        if state & CLOSED != 0 {
            return Err(closed());
        }
        Ok(state)
    }

    /// The snapshot being served, or `FF_CLOSED`.
    #[inline]
    fn snapshot(&self) -> Result<SnapshotGuard, Failure> {
        self.open_state()?;
        Ok(self.store.snapshot())
    }
}

impl ByName for &ff_store {
    /// On the version served now, or `FF_CLOSED`.
    #[inline(always)]
    unsafe fn decide(self, name: &str, ctx: &ff_context) -> Result<Decision, Failure> {
        let snapshot = self.snapshot()?;
        // SAFETY: forwarded from this function's contract.
        unsafe { with_context(ctx, |ctx| snapshot.evaluate(name, ctx)) }
    }
}

#[cold]
fn closed() -> Failure {
    Failure::new(FF_CLOSED, "the store was closed by ff_store_close")
}

#[cold]
fn bad_handle(handle: u32, state: u64) -> Failure {
    Failure::new(
        FF_INVALID_ARGUMENT,
        format!(
            "handle {handle} was not returned by ff_store_handle for this store (it has handed out handles below {})",
            state & !CLOSED
        ),
    )
}

/// Checks `handle` against the handles this store handed out.
#[inline]
fn check_handle(handle: u32, state: u64) -> Result<Handle, Failure> {
    if u64::from(handle) < state & !CLOSED {
        Ok(Handle::from_index(handle))
    } else {
        Err(bad_handle(handle, state))
    }
}

/// Borrows a store argument.
///
/// # Safety
/// A non-NULL `store` must come from `ff_store_open`/`ff_store_from_json`
/// and not be freed before the call returns.
#[inline]
pub(crate) unsafe fn store_arg<'a>(store: *const ff_store) -> Result<&'a ff_store, Failure> {
    // SAFETY: forwarded from this function's contract.
    unsafe { args::reference(store, "store") }
}

/// The body of the constructors: sets `*out` to NULL, then to the store
/// `open` makes (which checks the constructor's other arguments).
///
/// # Safety
/// `out` must be NULL or writable.
unsafe fn write_new_store(
    out: *mut *mut ff_store,
    open: impl FnOnce() -> Result<FlagStore, Failure>,
) -> Result<(), Failure> {
    let out = Out::new(out, "out")?;
    // SAFETY: checked non-NULL; the caller passes a writable slot.
    unsafe { out.write(std::ptr::null_mut()) };
    let store = Box::new(ff_store::new(open()?));
    // SAFETY: checked above; the caller passes a writable slot.
    unsafe { out.write(Box::into_raw(store)) };
    Ok(())
}

fn options() -> flags_core::StoreOptions {
    FlagStore::options()
}

/// Opens the flag file at `path`: reads it, validates it as a whole and,
/// unless `FF_OPEN_NO_WATCH` is given, watches it and reloads it whenever it
/// changes (a change that fails to load is recorded and never served).
///
/// # Parameters
/// - `path`: NUL-terminated UTF-8 path of the flag file.
/// - `options`: 0, or any of `FF_OPEN_NO_WATCH`, `FF_OPEN_NO_COUNTING`,
///   `FF_OPEN_NO_OUTCOMES`.
/// - `out`: where the new store is written; set to NULL on failure.
///
/// # Returns
/// `FF_OK`; `FF_NULL_ARGUMENT`, `FF_INVALID_UTF8`, `FF_INVALID_ARGUMENT`
/// (an unknown option bit); `FF_FILE_ERROR` (cannot read or watch the
/// file); `FF_INVALID_FILE` (the last error text lists the problems, one a
/// line, as `feature_flags --check` prints them: the first 100, then a count).
///
/// # Memory and lifetimes
/// `path` is only read during the call. The store in `*out` belongs to the
/// caller: release it with `ff_store_close` (optional) and then
/// `ff_store_free`.
///
/// # Safety
/// `path` must be NULL or NUL-terminated; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ff_store_open(
    path: *const c_char,
    options: u32,
    out: *mut *mut ff_store,
) -> ff_status {
    ffi_boundary!("ff_store_open", {
        let open = || {
            // SAFETY: the caller passes NULL or a NUL-terminated string.
            let path = unsafe { args::c_str_arg(path, "path") }?;
            if options & !(FF_OPEN_NO_WATCH | FF_OPEN_NO_COUNTING | FF_OPEN_NO_OUTCOMES) != 0 {
                return Err(Failure::new(
                    FF_INVALID_ARGUMENT,
                    format!(
                        "`options` is {options:#x}; only FF_OPEN_NO_WATCH (1), FF_OPEN_NO_COUNTING (2) and FF_OPEN_NO_OUTCOMES (4) are defined"
                    ),
                ));
            }
            Ok(self::options()
                .watch(options & FF_OPEN_NO_WATCH == 0)
                .count_decisions(options & FF_OPEN_NO_COUNTING == 0)
                .count_outcomes(options & FF_OPEN_NO_OUTCOMES == 0)
                .open(path)?)
        };
        // SAFETY: the caller passes NULL or a writable slot.
        unsafe { write_new_store(out, open) }
    })
}

/// Makes a store from flag-file JSON text, with no file behind it (for
/// tests and for bots that fetch their flags themselves; change it with
/// `ff_store_replace_json`).
///
/// # Parameters
/// - `json`, `len`: the UTF-8 text, `len` bytes, not NUL-terminated.
/// - `out`: where the new store is written; set to NULL on failure.
///
/// # Returns
/// `FF_OK`; `FF_NULL_ARGUMENT`, `FF_INVALID_UTF8`; `FF_INVALID_FILE` (the
/// last error text lists the problems, bounded as `--check` prints them).
///
/// # Memory and lifetimes
/// `json` is only read during the call. The store in `*out` belongs to the
/// caller: release it with `ff_store_free`.
///
/// # Safety
/// `json` must be NULL or point to `len` readable bytes; `out` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ff_store_from_json(
    json: *const c_char,
    len: usize,
    out: *mut *mut ff_store,
) -> ff_status {
    ffi_boundary!("ff_store_from_json", {
        let open = || {
            // SAFETY: the caller passes `len` readable bytes at `json`.
            let json = unsafe { args::str_arg(json, len, "json") }?;
            Ok(options().from_json(json)?)
        };
        // SAFETY: the caller passes NULL or a writable slot.
        unsafe { write_new_store(out, open) }
    })
}

/// Closes a store: stops watching its file (waiting for the watcher thread
/// to finish) and makes every later call on it return `FF_CLOSED`. Safe to
/// call while other threads are using the store; calls already past their
/// check finish normally. Closing twice is allowed and returns `FF_OK`.
///
/// # Parameters
/// - `store`: the store.
///
/// # Returns
/// `FF_OK`, or `FF_NULL_ARGUMENT`.
///
/// # Memory and lifetimes
/// Frees nothing: the pointer stays valid (every call on it returns
/// `FF_CLOSED`) until `ff_store_free`.
///
/// # Safety
/// `store` must be NULL or a pointer from
/// `ff_store_open`/`ff_store_from_json` that is not freed before this call
/// returns.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ff_store_close(store: *mut ff_store) -> ff_status {
    ffi_boundary!("ff_store_close", {
        // SAFETY: the caller passes a live store.
        let store = unsafe { store_arg(store) }?;
        store.state.fetch_or(CLOSED, Ordering::AcqRel);
        store.store.stop_watching();
        Ok(())
    })
}

/// Frees a store (closing it first if needed).
///
/// # Parameters
/// - `store`: the store, or NULL (then nothing happens).
///
/// # Returns
/// Nothing.
///
/// # Memory and lifetimes
/// No other thread may use `store` during or after this call, and it must
/// not be freed twice: unlike `ff_store_close`, this releases the memory.
/// Strings the store returned earlier stay valid (they are the caller's).
///
/// # Safety
/// `store` must be NULL or a store from this library, not freed before and
/// used by no other thread during or after the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ff_store_free(store: *mut ff_store) {
    ffi_boundary_or!("ff_store_free", (), {
        // SAFETY: the caller passes NULL or a pointer from `Box::into_raw`
        // in `ff_store_open`/`ff_store_from_json` that nobody else uses any
        // more and that was not freed before.
        unsafe { args::free_boxed(store) }
    })
}

/// Whether flag `name` is on for one message.
///
/// # Parameters
/// - `store`: the store.
/// - `name`, `name_len`: the flag name, UTF-8, not NUL-terminated.
/// - `ctx`: the message.
/// - `default_value`: the answer when the file has no flag `name`.
/// - `out`: where the answer is written.
///
/// # Returns
/// `FF_OK`; `FF_NULL_ARGUMENT`, `FF_INVALID_UTF8`, `FF_INVALID_ARGUMENT`
/// (bad `ctx`), `FF_CLOSED`. `*out` is written only on `FF_OK`.
///
/// # Memory and lifetimes
/// Everything is borrowed for the call only. Never blocks and never
/// allocates (for up to 16 groups in `ctx`).
///
/// # Safety
/// `store` must be NULL or a pointer from
/// `ff_store_open`/`ff_store_from_json` that is not freed before this call
/// returns. Other non-NULL pointers must be valid for the lengths given
/// (`ctx` as described at `ff_context`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ff_store_is_enabled(
    store: *const ff_store,
    name: *const c_char,
    name_len: usize,
    ctx: *const ff_context,
    default_value: bool,
    out: *mut bool,
) -> ff_status {
    ffi_boundary!("ff_store_is_enabled", {
        // SAFETY: the caller passes a live store, `name_len` readable bytes
        // at `name`, a valid context and a writable `out`.
        unsafe {
            args::answer_by_name(store_arg(store), name, name_len, ctx, out, |decision| {
                enabled_or(&decision, default_value)
            })
        }
    })
}

/// Evaluates flag `name` for one message: on or off, the reason, and the
/// bucket when the rollout step hashed the key. An unknown flag is off with
/// `FF_REASON_UNKNOWN_FLAG`.
///
/// # Parameters
/// - `store`: the store.
/// - `name`, `name_len`: the flag name, UTF-8, not NUL-terminated.
/// - `ctx`: the message.
/// - `out`: where the decision is written.
///
/// # Returns
/// `FF_OK`; `FF_NULL_ARGUMENT`, `FF_INVALID_UTF8`, `FF_INVALID_ARGUMENT`
/// (bad `ctx`), `FF_CLOSED`. `*out` is written only on `FF_OK`.
///
/// # Memory and lifetimes
/// Everything is borrowed for the call only. Never blocks and never
/// allocates (for up to 16 groups in `ctx`).
///
/// # Safety
/// `store` must be NULL or a pointer from
/// `ff_store_open`/`ff_store_from_json` that is not freed before this call
/// returns. Other non-NULL pointers must be valid for the lengths given
/// (`ctx` as described at `ff_context`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ff_store_evaluate(
    store: *const ff_store,
    name: *const c_char,
    name_len: usize,
    ctx: *const ff_context,
    out: *mut ff_decision,
) -> ff_status {
    ffi_boundary!("ff_store_evaluate", {
        // SAFETY: the caller passes a live store, `name_len` readable bytes
        // at `name`, a valid context and a writable `out`.
        unsafe {
            args::answer_by_name(
                store_arg(store),
                name,
                name_len,
                ctx,
                out,
                ff_decision::from,
            )
        }
    })
}

/// Resolves flag `name` to a handle, for `ff_store_evaluate_handle(s)`
/// without looking the name up again. A handle stays valid for the life of
/// the store, across reloads; works for names the file does not (yet)
/// define (they evaluate as `FF_REASON_UNKNOWN_FLAG` until it does).
///
/// # Parameters
/// - `store`: the store.
/// - `name`, `name_len`: the flag name, UTF-8, not NUL-terminated.
/// - `out_handle`: where the handle is written.
///
/// # Returns
/// `FF_OK`; `FF_NULL_ARGUMENT`, `FF_INVALID_UTF8`, `FF_CLOSED`.
///
/// # Memory and lifetimes
/// `name` is borrowed for the call only. Takes a short lock (shared with
/// reloads): resolve handles once at startup, not per message.
///
/// # Safety
/// `store` must be NULL or a pointer from
/// `ff_store_open`/`ff_store_from_json` that is not freed before this call
/// returns. `name` must point to `name_len` readable bytes; `out_handle`
/// must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ff_store_handle(
    store: *const ff_store,
    name: *const c_char,
    name_len: usize,
    out_handle: *mut u32,
) -> ff_status {
    ffi_boundary!("ff_store_handle", {
        // SAFETY: the caller passes a live store.
        let store = unsafe { store_arg(store) }?;
        // SAFETY: the caller passes `name_len` readable bytes at `name`.
        let name = unsafe { args::str_arg(name, name_len, "name") }?;
        let out = Out::new(out_handle, "out_handle")?;
        store.open_state()?;
        let handle = store.store.handle(name).index();
        // `fetch_max` keeps `CLOSED` if a close raced us.
        store
            .state
            .fetch_max(u64::from(handle) + 1, Ordering::AcqRel);
        // SAFETY: checked non-NULL; the caller passes a writable u32.
        unsafe { out.write(handle) };
        Ok(())
    })
}

/// Evaluates the flag behind `handle` for one message: the fastest way to
/// ask about one flag.
///
/// # Parameters
/// - `store`: the store.
/// - `handle`: from `ff_store_handle` on this store.
/// - `ctx`: the message.
/// - `out`: where the decision is written.
///
/// # Returns
/// `FF_OK`; `FF_NULL_ARGUMENT`, `FF_INVALID_ARGUMENT` (bad `ctx`, or a
/// handle number above every handle this store returned), `FF_CLOSED`.
/// `*out` is written only on `FF_OK`.
///
/// # Memory and lifetimes
/// Everything is borrowed for the call only. Never blocks and never
/// allocates (for up to 16 groups in `ctx`).
///
/// # Safety
/// `store` must be NULL or a pointer from
/// `ff_store_open`/`ff_store_from_json` that is not freed before this call
/// returns. `ctx` as described at `ff_context`; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ff_store_evaluate_handle(
    store: *const ff_store,
    handle: u32,
    ctx: *const ff_context,
    out: *mut ff_decision,
) -> ff_status {
    ffi_boundary!("ff_store_evaluate_handle", {
        // SAFETY: the caller passes a live store.
        let store = unsafe { store_arg(store) }?;
        // SAFETY: the caller passes a valid context.
        let ctx = unsafe { args::reference(ctx, "ctx") }?;
        let out = Out::new(out, "out")?;
        let handle = check_handle(handle, store.open_state()?)?;
        let snapshot = store.store.snapshot();
        // SAFETY: the caller's context points to valid groups.
        let decision = unsafe { with_context(ctx, |ctx| snapshot.evaluate_handle(handle, ctx)) }?;
        // SAFETY: checked non-NULL; the caller passes a writable decision.
        unsafe { out.write(decision.into()) };
        Ok(())
    })
}

/// Evaluates several flags by handle for one message, all on the same
/// version of the file: `out[i]` is the decision for `handles[i]`.
///
/// # Parameters
/// - `store`: the store.
/// - `handles`, `len`: `len` handles from `ff_store_handle` on this store
///   (NULL allowed when `len` is 0).
/// - `ctx`: the message.
/// - `out`: room for `len` decisions (NULL allowed when `len` is 0).
///
/// # Returns
/// `FF_OK`; `FF_NULL_ARGUMENT`, `FF_INVALID_ARGUMENT` (bad `ctx` or a
/// handle this store never returned; `out` is then partly written),
/// `FF_CLOSED`.
///
/// # Memory and lifetimes
/// Everything is borrowed for the call only; `out` must not overlap
/// `handles`. Never blocks and never allocates (for up to 16 groups).
///
/// # Safety
/// `store` must be NULL or a pointer from
/// `ff_store_open`/`ff_store_from_json` that is not freed before this call
/// returns. `handles` must hold `len` handles and `out` room for `len`
/// decisions, not overlapping; `ctx` as described at `ff_context`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ff_store_evaluate_handles(
    store: *const ff_store,
    handles: *const u32,
    len: usize,
    ctx: *const ff_context,
    out: *mut ff_decision,
) -> ff_status {
    ffi_boundary!("ff_store_evaluate_handles", {
        // SAFETY: the caller passes a live store.
        let store = unsafe { store_arg(store) }?;
        // SAFETY: the caller passes `len` handles at `handles`.
        let handles = unsafe { args::slice(handles, len, "handles") }?;
        // SAFETY: the caller passes a valid context.
        let ctx = unsafe { args::reference(ctx, "ctx") }?;
        if len > 0 && out.is_null() {
            return Err(Failure::new(
                crate::types::FF_NULL_ARGUMENT,
                "`out` is NULL",
            ));
        }
        let state = store.open_state()?;
        let snapshot = store.store.snapshot();
        // SAFETY: the caller's context points to valid groups; `out` is
        // non-NULL whenever there is a handle (len > 0) and has room for
        // `len` decisions per the caller's contract, and i < len.
        unsafe {
            with_context(ctx, |ctx| {
                for (i, &handle) in handles.iter().enumerate() {
                    let decision = snapshot.evaluate_handle(check_handle(handle, state)?, ctx);
                    out.add(i).write(decision.into());
                }
                Ok(())
            })
        }?
    })
}

/// Evaluates every flag for one message on one version of the file, as
/// bits: flag i (in file order, see `ff_store_flag_names`) is on iff
/// `out_bits[i / 64] >> (i % 64) & 1`. Bits past the flag count are 0.
///
/// # Parameters
/// - `store`: the store.
/// - `ctx`: the message.
/// - `out_bits`, `out_words`: room for `out_words` 64-bit words (NULL
///   allowed when `out_words` is 0, to ask only for the count).
/// - `out_flag_count`: NULL, or where the number of flags is written.
/// - `out_generation`: NULL, or where the generation of the version
///   evaluated is written.
///
/// # Returns
/// `FF_OK`; `FF_BUFFER_TOO_SMALL` if `out_words * 64` is less than the flag
/// count (`*out_flag_count` and `*out_generation` are still written, from
/// the same version, and `out_bits` is untouched: grow it and call again);
/// `FF_NULL_ARGUMENT`, `FF_INVALID_ARGUMENT` (bad `ctx`, reported before a
/// short buffer), `FF_CLOSED`.
///
/// # Memory and lifetimes
/// Everything is borrowed for the call only. Never blocks and never
/// allocates (for up to 16 groups in `ctx`).
///
/// # Safety
/// `store` must be NULL or a pointer from
/// `ff_store_open`/`ff_store_from_json` that is not freed before this call
/// returns. `out_bits` must have room for `out_words` words; `ctx` as
/// described at `ff_context`; other non-NULL pointers writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ff_store_evaluate_all(
    store: *const ff_store,
    ctx: *const ff_context,
    out_bits: *mut u64,
    out_words: usize,
    out_flag_count: *mut usize,
    out_generation: *mut u64,
) -> ff_status {
    ffi_boundary!("ff_store_evaluate_all", {
        // SAFETY: the caller passes a live store.
        let store = unsafe { store_arg(store) }?;
        // SAFETY: forwarded from this function's contract.
        let ctx = unsafe { args::bits_args(ctx, out_bits, out_words) }?;
        let snapshot = store.snapshot()?;
        // SAFETY: the caller's context points to valid groups; `out_bits`
        // was checked above and the other outputs are checked for NULL.
        unsafe {
            with_context(ctx, |ctx| {
                let flag_count = snapshot.len();
                args::write_optional(out_flag_count, flag_count);
                args::write_optional(out_generation, snapshot.generation());
                args::bit_words(flag_count, out_words)?;
                if out_words > 0 {
                    // The caller's words may be uninitialized: zero them
                    // before making a `&mut [u64]` over them.
                    out_bits.write_bytes(0, out_words);
                    let bits = std::slice::from_raw_parts_mut(out_bits, out_words);
                    snapshot.enabled_bits(ctx, bits);
                }
                Ok(())
            })
        }?
    })
}

/// The flag names, in file order (the order of `ff_store_evaluate_all`'s
/// bits), one per line (`'\n'`-separated, no trailing newline; an empty
/// string when the file has no flags), with the generation they belong to.
///
/// # Parameters
/// - `store`: the store.
/// - `out`: where the string is written.
/// - `out_generation`: NULL, or where the generation is written.
///
/// # Returns
/// `FF_OK`; `FF_NULL_ARGUMENT`, `FF_CLOSED`.
///
/// # Memory and lifetimes
/// `*out` is owned by the caller: free it with `ff_string_free`.
///
/// # Safety
/// `store` must be NULL or a pointer from
/// `ff_store_open`/`ff_store_from_json` that is not freed before this call
/// returns. Non-NULL out pointers must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ff_store_flag_names(
    store: *const ff_store,
    out: *mut *mut c_char,
    out_generation: *mut u64,
) -> ff_status {
    ffi_boundary!("ff_store_flag_names", {
        // SAFETY: the caller passes a live store.
        let store = unsafe { store_arg(store) }?;
        let out = Out::new(out, "out")?;
        let snapshot = store.snapshot()?;
        // SAFETY: forwarded from this function's contract.
        unsafe { write_flag_names(&snapshot, out, out_generation) };
        Ok(())
    })
}

/// Writes `snapshot`'s flag names as `ff_store_flag_names` describes.
///
/// # Safety
/// `out` must be writable; `out_generation` NULL or writable.
pub(crate) unsafe fn write_flag_names(
    snapshot: &flags_core::Snapshot,
    out: Out<*mut c_char>,
    out_generation: *mut u64,
) {
    let mut names = String::new();
    for (i, name) in snapshot.flag_names().enumerate() {
        if i > 0 {
            names.push('\n');
        }
        names.push_str(name);
    }
    // SAFETY: the caller passes NULL or a writable uint64_t.
    unsafe { args::write_optional(out_generation, snapshot.generation()) };
    // SAFETY: the caller passes a writable `char *`.
    unsafe { out.write(owned_c_string(&names)) };
}

/// Reads the store's file again now (for SIGHUP). A file that fails to
/// load leaves the current version serving; its error is returned, kept as
/// the last reload error, and set as this thread's last error text.
///
/// # Parameters
/// - `store`: the store.
///
/// # Returns
/// `FF_OK` (loaded, or unchanged); `FF_FILE_ERROR`, `FF_INVALID_FILE`;
/// `FF_NO_FILE` for a store made by `ff_store_from_json`;
/// `FF_NULL_ARGUMENT`, `FF_CLOSED`.
///
/// # Memory and lifetimes
/// Blocks while another reload of this store runs; never blocks
/// evaluations.
///
/// # Safety
/// `store` must be NULL or a pointer from
/// `ff_store_open`/`ff_store_from_json` that is not freed before this call
/// returns.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ff_store_reload(store: *const ff_store) -> ff_status {
    ffi_boundary!("ff_store_reload", {
        // SAFETY: the caller passes a live store.
        let store = unsafe { store_arg(store) }?;
        store.open_state()?;
        store.store.reload()?;
        Ok(())
    })
}

/// Replaces the store's flags with flag-file JSON text, with the same rules
/// as a reload (an invalid text changes nothing and is recorded as the last
/// reload error).
///
/// # Parameters
/// - `store`: the store.
/// - `json`, `len`: the UTF-8 text, `len` bytes, not NUL-terminated.
///
/// # Returns
/// `FF_OK` (loaded, or unchanged); `FF_INVALID_FILE`; `FF_NULL_ARGUMENT`,
/// `FF_INVALID_UTF8`, `FF_CLOSED`.
///
/// # Memory and lifetimes
/// `json` is only read during the call. Blocks while another reload of
/// this store runs; never blocks evaluations.
///
/// # Safety
/// `store` must be NULL or a pointer from
/// `ff_store_open`/`ff_store_from_json` that is not freed before this call
/// returns. `json` must point to `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ff_store_replace_json(
    store: *const ff_store,
    json: *const c_char,
    len: usize,
) -> ff_status {
    ffi_boundary!("ff_store_replace_json", {
        // SAFETY: the caller passes a live store.
        let store = unsafe { store_arg(store) }?;
        // SAFETY: the caller passes `len` readable bytes at `json`.
        let json = unsafe { args::str_arg(json, len, "json") }?;
        store.open_state()?;
        store.store.replace_json(json)?;
        Ok(())
    })
}

/// The body of the getters: checks `store` and `out`, then writes to `out`
/// what `get` reads from the store (`get` checks that it is open).
///
/// # Safety
/// `store` must be NULL or a live store; `out` NULL or writable.
unsafe fn write_from_store<T>(
    store: *const ff_store,
    out: *mut T,
    get: impl FnOnce(&ff_store) -> Result<T, Failure>,
) -> Result<(), Failure> {
    // SAFETY: forwarded from this function's contract.
    let store = unsafe { store_arg(store) }?;
    let out = Out::new(out, "out")?;
    let value = get(store)?;
    // SAFETY: checked non-NULL; the caller passes a writable `T`.
    unsafe { out.write(value) };
    Ok(())
}

/// The generation of the version being served: 1 for the first load, +1
/// for every new version since.
///
/// # Parameters
/// - `store`: the store.
/// - `out`: where the generation is written.
///
/// # Returns
/// `FF_OK`; `FF_NULL_ARGUMENT`, `FF_CLOSED`.
///
/// # Memory and lifetimes
/// Nothing is kept. Never blocks.
///
/// # Safety
/// `store` must be NULL or a pointer from
/// `ff_store_open`/`ff_store_from_json` that is not freed before this call
/// returns. `out` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ff_store_generation(store: *const ff_store, out: *mut u64) -> ff_status {
    ffi_boundary!("ff_store_generation", {
        // SAFETY: forwarded from this function's contract.
        unsafe { write_from_store(store, out, |store| Ok(store.snapshot()?.generation())) }
    })
}

/// The fingerprint of the version being served: xxh3-64 of the file's
/// bytes (`feature_flags` prints it as 16 hex digits).
///
/// # Parameters
/// - `store`: the store.
/// - `out`: where the fingerprint is written.
///
/// # Returns
/// `FF_OK`; `FF_NULL_ARGUMENT`, `FF_CLOSED`.
///
/// # Memory and lifetimes
/// Nothing is kept. Never blocks.
///
/// # Safety
/// `store` must be NULL or a pointer from
/// `ff_store_open`/`ff_store_from_json` that is not freed before this call
/// returns. `out` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ff_store_fingerprint(store: *const ff_store, out: *mut u64) -> ff_status {
    ffi_boundary!("ff_store_fingerprint", {
        // SAFETY: forwarded from this function's contract.
        unsafe { write_from_store(store, out, |store| Ok(store.snapshot()?.fingerprint())) }
    })
}

/// Why the most recent load of the store's file (automatic or
/// `ff_store_reload`) failed, until a good version loads.
///
/// # Parameters
/// - `store`: the store.
/// - `out`: where the text is written: NULL when the last load succeeded.
///
/// # Returns
/// `FF_OK`; `FF_NULL_ARGUMENT`, `FF_CLOSED`.
///
/// # Memory and lifetimes
/// A non-NULL `*out` is owned by the caller: free it with `ff_string_free`.
///
/// # Safety
/// `store` must be NULL or a pointer from
/// `ff_store_open`/`ff_store_from_json` that is not freed before this call
/// returns. `out` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ff_store_last_reload_error(
    store: *const ff_store,
    out: *mut *mut c_char,
) -> ff_status {
    ffi_boundary!("ff_store_last_reload_error", {
        // SAFETY: forwarded from this function's contract.
        unsafe {
            write_from_store(store, out, |store| {
                Ok(match store.open_store()?.last_error() {
                    Some(message) => owned_c_string(&message),
                    None => std::ptr::null_mut(),
                })
            })
        }
    })
}

/// Renders the store's metrics in the Prometheus text exposition format
/// (version 0.0.4): reload health, the loaded file's generation and
/// fingerprint, each flag's configuration and, unless the store was opened
/// with `FF_OPEN_NO_COUNTING`, its decisions by outcome and reason.
///
/// # Parameters
/// - `store`: the store.
/// - `out`: where the text is written, NUL-terminated.
///
/// # Returns
/// `FF_OK`; `FF_NULL_ARGUMENT`, `FF_CLOSED`.
///
/// # Memory and lifetimes
/// `*out` is owned by the caller: free it with `ff_string_free`. Meant for
/// a scrape every few seconds, not for the evaluation path (it allocates).
///
/// # Safety
/// `store` must be NULL or a pointer from
/// `ff_store_open`/`ff_store_from_json` that is not freed before this call
/// returns. `out` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ff_store_metrics_text(
    store: *const ff_store,
    out: *mut *mut c_char,
) -> ff_status {
    ffi_boundary!("ff_store_metrics_text", {
        // SAFETY: forwarded from this function's contract.
        unsafe {
            write_from_store(store, out, |store| {
                Ok(owned_c_string(&store.open_store()?.metrics_text()))
            })
        }
    })
}
