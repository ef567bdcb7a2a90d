//! `ff_message`: one incoming message's flags and its outcome (docs/spec.md
//! "Outcomes"), and `ff_store_complaint` / `ff_store_complaint_by`.
//!
//! A message object is reused: a worker makes one with `ff_message_new`
//! and calls `ff_message_begin` for each message, so after the first few
//! messages nothing is allocated (its bit arrays only grow when the file
//! gains flags).

use std::os::raw::c_char;
use std::sync::Arc;

use flags_core::{ChatType, Cohort, Decision, Outcome, Reason, Snapshot, duration_from_seconds};

use crate::args::{self, ByName, Out};
use crate::boundary::{ffi_boundary, ffi_boundary_or};
use crate::context::with_context;
use crate::error::Failure;
use crate::store::{ff_store, store_arg};
use crate::types::{
    FF_INVALID_ARGUMENT, FF_UNKNOWN_FLAG, enabled_or, ff_context, ff_decision, ff_status,
};

/// One message at a time: the version of the file it evaluates on, the
/// flags it exposed and in which cohort, and whether its outcome was
/// recorded. Opaque; for one thread at a time (one per worker).
#[derive(Debug, Default)]
pub struct ff_message {
    /// The version `ff_message_begin` took; `None` before the first begin.
    snapshot: Option<Arc<Snapshot>>,
    bits: Bits,
}

/// A message's bit sets over the positions of its version's flags, and
/// what its outcome's segment needs besides (docs/spec.md "Outcomes").
#[derive(Debug, Default)]
struct Bits {
    /// Exposed flags in the `on` and `off` cohorts; `exposed_group` the
    /// `on` ones that a group turned on (the rest, the rollout).
    exposed_on: Vec<u64>,
    exposed_group: Vec<u64>,
    exposed_off: Vec<u64>,
    /// Every flag's cohort, from `ff_message_evaluate_all` (all zero until
    /// it runs), for `ff_message_expose_bits`.
    all_on: Vec<u64>,
    all_group: Vec<u64>,
    all_off: Vec<u64>,
    /// The chat type of the message's context, as the last evaluation saw
    /// it (every call on one message passes the same context).
    chat_type: Option<ChatType>,
    recorded: bool,
}

impl Bits {
    /// Forgets the last message, reusing the memory for `flags` flags.
    fn reset(&mut self, flags: usize) {
        let words = flags.div_ceil(64);
        for bits in [
            &mut self.exposed_on,
            &mut self.exposed_group,
            &mut self.exposed_off,
            &mut self.all_on,
            &mut self.all_group,
            &mut self.all_off,
        ] {
            bits.clear();
            bits.resize(words, 0);
        }
        self.chat_type = None;
        self.recorded = false;
    }

    /// Exposes the flag at `position` in its decision's cohort, if any.
    #[inline(always)]
    fn expose(&mut self, position: usize, decision: &Decision) {
        let (word, bit) = (position / 64, 1u64 << (position % 64));
        let set = match Cohort::of(decision) {
            Some(Cohort::On) => {
                if decision.reason == Reason::Group
                    && let Some(word) = self.exposed_group.get_mut(word)
                {
                    *word |= bit;
                }
                &mut self.exposed_on
            }
            Some(Cohort::Off) => &mut self.exposed_off,
            None => return,
        };
        if let Some(word) = set.get_mut(word) {
            *word |= bit;
        }
    }
}

impl ff_message {
    /// The message's version and bits, or an error before the first begin.
    #[inline]
    fn begun(&mut self) -> Result<(&Snapshot, &mut Bits), Failure> {
        match &self.snapshot {
            Some(snapshot) => Ok((snapshot, &mut self.bits)),
            None => Err(not_begun()),
        }
    }
}

#[cold]
fn not_begun() -> Failure {
    Failure::new(
        FF_INVALID_ARGUMENT,
        "the message has no version of the file yet: call ff_message_begin first",
    )
}

/// Borrows a message argument.
///
/// # Safety
/// A non-NULL `msg` must come from `ff_message_new`, not be freed, and not
/// be used by another thread during the call.
#[inline]
unsafe fn message_arg<'a>(msg: *mut ff_message) -> Result<&'a mut ff_message, Failure> {
    if msg.is_null() {
        return Err(Failure::new(
            crate::types::FF_NULL_ARGUMENT,
            "`msg` is NULL",
        ));
    }
    // SAFETY: not NULL; live and unshared per this function's contract.
    Ok(unsafe { &mut *msg })
}

impl ByName for &mut ff_message {
    /// On the message's version; exposes the flag.
    #[inline]
    unsafe fn decide(self, name: &str, ctx: &ff_context) -> Result<Decision, Failure> {
        let (snapshot, bits) = self.begun()?;
        // SAFETY: forwarded from this function's contract.
        unsafe {
            with_context(ctx, |ctx| match snapshot.position(name) {
                Some(position) => {
                    let decision = snapshot
                        .evaluate_at(position, ctx)
                        .unwrap_or(Decision::UNKNOWN);
                    bits.chat_type = ctx.chat_type;
                    bits.expose(position, &decision);
                    decision
                }
                None => snapshot.evaluate(name, ctx),
            })
        }
    }
}

/// Makes an empty message object, for `ff_message_begin`. Make one per
/// worker thread and reuse it for every message: after the first messages,
/// beginning, evaluating and recording allocate nothing.
///
/// # Parameters
/// - `out`: where the new message is written; set to NULL on failure.
///
/// # Returns
/// `FF_OK`; `FF_NULL_ARGUMENT`.
///
/// # Memory and lifetimes
/// The message belongs to the caller: free it with `ff_message_free`. It
/// is not tied to a store until `ff_message_begin`.
///
/// # Safety
/// `out` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ff_message_new(out: *mut *mut ff_message) -> ff_status {
    ffi_boundary!("ff_message_new", {
        let out = Out::new(out, "out")?;
        // SAFETY: checked non-NULL; the caller passes a writable slot.
        unsafe { out.write(Box::into_raw(Box::default())) };
        Ok(())
    })
}

/// Frees a message (and its hold on a version of the file).
///
/// # Parameters
/// - `msg`: the message, or NULL (then nothing happens).
///
/// # Returns
/// Nothing.
///
/// # Memory and lifetimes
/// `msg` is invalid after this call; free it once, from one thread.
///
/// # Safety
/// `msg` must be NULL or a message from `ff_message_new`, not freed before
/// and used by no other thread during or after the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ff_message_free(msg: *mut ff_message) {
    ffi_boundary_or!("ff_message_free", (), {
        // SAFETY: the caller passes NULL or a pointer from `Box::into_raw`
        // in `ff_message_new`, not freed before and unused by others.
        unsafe { args::free_boxed(msg) }
    })
}

/// Starts a new message on `msg`: takes the version of the file `store`
/// serves now (every later call on `msg` evaluates on it, even after a
/// reload) and forgets the previous message's exposures, cohorts and
/// outcome (an outcome not recorded is not counted).
///
/// # Parameters
/// - `msg`: the message object.
/// - `store`: the store.
/// - `out_generation`: NULL, or where the version's generation is written.
///
/// # Returns
/// `FF_OK`; `FF_NULL_ARGUMENT`, `FF_CLOSED` (the message is then left as
/// it was).
///
/// # Memory and lifetimes
/// The message holds its version of the file (not the store) until the
/// next `ff_message_begin` or `ff_message_free`: hold a message for one
/// message's handling. It may outlive `ff_store_close` and `ff_store_free`.
/// Never blocks; allocates only when the file has more flags than any
/// version this message saw before.
///
/// # Safety
/// `msg` must be NULL or a live message used by no other thread during the
/// call; `store` NULL or a live store; `out_generation` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ff_message_begin(
    msg: *mut ff_message,
    store: *const ff_store,
    out_generation: *mut u64,
) -> ff_status {
    ffi_boundary!("ff_message_begin", {
        // SAFETY: the caller passes a live, unshared message.
        let msg = unsafe { message_arg(msg) }?;
        // SAFETY: the caller passes a live store.
        let store = unsafe { store_arg(store) }?;
        let store = store.open_store()?;
        // A reused message usually holds the version served now already:
        // keeping it skips a reference count increment and decrement (two
        // atomic operations a message, shared with every other thread).
        let current = match &msg.snapshot {
            Some(held) if std::ptr::eq(&*store.snapshot(), Arc::as_ptr(held)) => held,
            _ => msg.snapshot.insert(store.snapshot_arc()),
        };
        msg.bits.reset(current.len());
        // SAFETY: the caller passes NULL or a writable uint64_t.
        unsafe { args::write_optional(out_generation, current.generation()) };
        Ok(())
    })
}

/// Whether flag `name` is on for the message, on its version of the file;
/// exposes the flag (its outcome will count for the flag's cohort).
///
/// # Parameters
/// - `msg`: a message after `ff_message_begin`.
/// - `name`, `name_len`: the flag name, UTF-8, not NUL-terminated.
/// - `ctx`: the message's context (the same for every call on one message).
/// - `default_value`: the answer when the file has no flag `name`.
/// - `out`: where the answer is written.
///
/// # Returns
/// `FF_OK`; `FF_NULL_ARGUMENT`, `FF_INVALID_UTF8`, `FF_INVALID_ARGUMENT`
/// (bad `ctx`, or no `ff_message_begin` yet). `*out` is written only on
/// `FF_OK`.
///
/// # Memory and lifetimes
/// Everything is borrowed for the call only. Never blocks and never
/// allocates (for up to 16 groups in `ctx`).
///
/// # Safety
/// `msg` must be NULL or a live message used by no other thread during the
/// call. Other non-NULL pointers must be valid for the lengths given (`ctx`
/// as described at `ff_context`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ff_message_is_enabled(
    msg: *mut ff_message,
    name: *const c_char,
    name_len: usize,
    ctx: *const ff_context,
    default_value: bool,
    out: *mut bool,
) -> ff_status {
    ffi_boundary!("ff_message_is_enabled", {
        // SAFETY: the caller passes a live, unshared message, `name_len`
        // readable bytes at `name`, a valid context and a writable `out`.
        unsafe {
            args::answer_by_name(message_arg(msg), name, name_len, ctx, out, |decision| {
                enabled_or(&decision, default_value)
            })
        }
    })
}

/// Evaluates flag `name` for the message, on its version of the file, and
/// exposes it; as `ff_store_evaluate` otherwise.
///
/// # Parameters
/// - `msg`: a message after `ff_message_begin`.
/// - `name`, `name_len`: the flag name, UTF-8, not NUL-terminated.
/// - `ctx`: the message's context.
/// - `out`: where the decision is written.
///
/// # Returns
/// `FF_OK`; `FF_NULL_ARGUMENT`, `FF_INVALID_UTF8`, `FF_INVALID_ARGUMENT`
/// (bad `ctx`, or no `ff_message_begin` yet). `*out` is written only on
/// `FF_OK`.
///
/// # Memory and lifetimes
/// Everything is borrowed for the call only. Never blocks and never
/// allocates (for up to 16 groups in `ctx`).
///
/// # Safety
/// `msg` must be NULL or a live message used by no other thread during the
/// call. Other non-NULL pointers must be valid for the lengths given (`ctx`
/// as described at `ff_context`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ff_message_evaluate(
    msg: *mut ff_message,
    name: *const c_char,
    name_len: usize,
    ctx: *const ff_context,
    out: *mut ff_decision,
) -> ff_status {
    ffi_boundary!("ff_message_evaluate", {
        // SAFETY: the caller passes a live, unshared message, `name_len`
        // readable bytes at `name`, a valid context and a writable `out`.
        unsafe {
            args::answer_by_name(
                message_arg(msg),
                name,
                name_len,
                ctx,
                out,
                ff_decision::from,
            )
        }
    })
}

/// Evaluates every flag for the message on its version of the file,
/// WITHOUT exposing any: for bindings that answer checks from these bits
/// and report which flags were asked with `ff_message_expose_bits`. Flag i
/// (file order, as `ff_store_flag_names` of the same generation) is on iff
/// bit i of `out_bits` is set; bit i of `out_control_bits` (NULL allowed)
/// is set iff the rollout step turned it off (its `off` cohort).
///
/// # Parameters
/// - `msg`: a message after `ff_message_begin`.
/// - `ctx`: the message's context.
/// - `out_bits`, `out_control_bits`, `out_words`: room for `out_words`
///   words each (NULL allowed when `out_words` is 0).
/// - `out_flag_count`: NULL, or where the number of flags is written.
///
/// # Returns
/// `FF_OK`; `FF_BUFFER_TOO_SMALL` (`*out_flag_count` is still written;
/// nothing else is); `FF_NULL_ARGUMENT`, `FF_INVALID_ARGUMENT` (bad `ctx`,
/// or no `ff_message_begin` yet).
///
/// # Memory and lifetimes
/// Everything is borrowed for the call only. Never blocks and never
/// allocates (for up to 16 groups in `ctx`).
///
/// # Safety
/// `msg` must be NULL or a live message used by no other thread during the
/// call; `out_bits` (and a non-NULL `out_control_bits`) must have room for
/// `out_words` words; `ctx` as described at `ff_context`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ff_message_evaluate_all(
    msg: *mut ff_message,
    ctx: *const ff_context,
    out_bits: *mut u64,
    out_control_bits: *mut u64,
    out_words: usize,
    out_flag_count: *mut usize,
) -> ff_status {
    ffi_boundary!("ff_message_evaluate_all", {
        // SAFETY: the caller passes a live, unshared message.
        let msg = unsafe { message_arg(msg) }?;
        // SAFETY: forwarded from this function's contract.
        let ctx = unsafe { args::bits_args(ctx, out_bits, out_words) }?;
        let (snapshot, bits) = msg.begun()?;
        let flag_count = snapshot.len();
        // SAFETY: the caller passes NULL or a writable size_t.
        unsafe { args::write_optional(out_flag_count, flag_count) };
        let words = args::bit_words(flag_count, out_words)?;
        // SAFETY: the caller's context points to valid groups.
        unsafe {
            with_context(ctx, |ctx| {
                bits.all_on.fill(0);
                bits.all_group.fill(0);
                bits.all_off.fill(0);
                bits.chat_type = ctx.chat_type;
                for position in 0..flag_count {
                    let decision = snapshot
                        .evaluate_at(position, ctx)
                        .unwrap_or(Decision::UNKNOWN);
                    let (word, bit) = (position / 64, 1u64 << (position % 64));
                    match Cohort::of(&decision) {
                        Some(Cohort::On) => {
                            bits.all_on[word] |= bit;
                            if decision.reason == Reason::Group {
                                bits.all_group[word] |= bit;
                            }
                        }
                        Some(Cohort::Off) => bits.all_off[word] |= bit,
                        None => {}
                    }
                }
            })
        }?;
        // SAFETY: `out_bits` has room for `out_words` >= `words` words (and
        // `out_control_bits`, when not NULL, too), per the caller's contract.
        unsafe {
            out_bits.write_bytes(0, out_words);
            out_bits.copy_from_nonoverlapping(bits.all_on.as_ptr(), words);
            if !out_control_bits.is_null() {
                out_control_bits.write_bytes(0, out_words);
                out_control_bits.copy_from_nonoverlapping(bits.all_off.as_ptr(), words);
            }
        }
        Ok(())
    })
}

/// Exposes the flags whose bits are set in `bits` (bit i = flag i, as
/// `ff_message_evaluate_all` numbers them), each in the cohort that
/// `ff_message_evaluate_all` found for this message; flags in no cohort
/// (and every flag, before `ff_message_evaluate_all`) are not exposed.
///
/// # Parameters
/// - `msg`: a message after `ff_message_begin`.
/// - `bits`, `words`: `words` words (NULL allowed when 0); bits past the
///   flag count are ignored.
///
/// # Returns
/// `FF_OK`; `FF_NULL_ARGUMENT`, `FF_INVALID_ARGUMENT` (no
/// `ff_message_begin` yet).
///
/// # Memory and lifetimes
/// `bits` is borrowed for the call only. Never blocks or allocates.
///
/// # Safety
/// `msg` must be NULL or a live message used by no other thread during the
/// call; `bits` must hold `words` words.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ff_message_expose_bits(
    msg: *mut ff_message,
    bits: *const u64,
    words: usize,
) -> ff_status {
    ffi_boundary!("ff_message_expose_bits", {
        // SAFETY: the caller passes a live, unshared message.
        let msg = unsafe { message_arg(msg) }?;
        // SAFETY: the caller passes `words` words at `bits`.
        let asked = unsafe { args::slice(bits, words, "bits") }?;
        let (_, state) = msg.begun()?;
        for (i, &asked) in asked.iter().enumerate().take(state.all_on.len()) {
            state.exposed_on[i] |= asked & state.all_on[i];
            state.exposed_group[i] |= asked & state.all_group[i];
            state.exposed_off[i] |= asked & state.all_off[i];
        }
        Ok(())
    })
}

/// Records the message's outcome, once: counts it for every flag the
/// message exposed, in its cohort and segment (whether a group or the
/// rollout turned the flag on, and the chat type of the context the
/// message was evaluated with). A second call counts nothing and reports
/// `false`.
///
/// # Parameters
/// - `msg`: a message after `ff_message_begin`.
/// - `error`: whether handling the message failed.
/// - `seconds`: how long handling took: 0 to 86,400 (a day).
/// - `out_recorded`: NULL, or where `true` (counted now) or `false` (an
///   outcome was already recorded for this message) is written.
///
/// # Returns
/// `FF_OK`; `FF_NULL_ARGUMENT`, `FF_INVALID_ARGUMENT` (negative, NaN or
/// infinite `seconds`, or more than a day (86,400 s: a unit mistake), or
/// no `ff_message_begin` yet; nothing is counted and the message can still
/// record).
///
/// # Memory and lifetimes
/// Never blocks or allocates. Counts go to the version the message began
/// on, even if the store has reloaded (or been closed) since.
///
/// # Safety
/// `msg` must be NULL or a live message used by no other thread during the
/// call; `out_recorded` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ff_message_record(
    msg: *mut ff_message,
    error: bool,
    seconds: f64,
    out_recorded: *mut bool,
) -> ff_status {
    ffi_boundary!("ff_message_record", {
        // SAFETY: the caller passes a live, unshared message.
        let msg = unsafe { message_arg(msg) }?;
        let duration = duration_from_seconds(seconds)
            .map_err(|message| Failure::new(FF_INVALID_ARGUMENT, message))?;
        let (snapshot, bits) = msg.begun()?;
        let first = !bits.recorded;
        if first {
            bits.recorded = true;
            snapshot.record_outcome_bits(
                &bits.exposed_on,
                &bits.exposed_group,
                &bits.exposed_off,
                bits.chat_type,
                Outcome { error, duration },
            );
        }
        // SAFETY: the caller passes NULL or a writable bool.
        unsafe { args::write_optional(out_recorded, first) };
        Ok(())
    })
}

/// The flag names of the message's version of the file, as
/// `ff_store_flag_names` gives a store's (file order, the order of
/// `ff_message_evaluate_all`'s bits; `'\n'`-separated), with its generation:
/// the names that match the bits even when the store has reloaded since
/// `ff_message_begin`.
///
/// # Parameters
/// - `msg`: a message after `ff_message_begin`.
/// - `out`: where the string is written.
/// - `out_generation`: NULL, or where the generation is written.
///
/// # Returns
/// `FF_OK`; `FF_NULL_ARGUMENT`, `FF_INVALID_ARGUMENT` (no
/// `ff_message_begin` yet).
///
/// # Memory and lifetimes
/// `*out` is owned by the caller: free it with `ff_string_free`.
///
/// # Safety
/// `msg` must be NULL or a live message used by no other thread during the
/// call; non-NULL out pointers writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ff_message_flag_names(
    msg: *mut ff_message,
    out: *mut *mut c_char,
    out_generation: *mut u64,
) -> ff_status {
    ffi_boundary!("ff_message_flag_names", {
        // SAFETY: the caller passes a live, unshared message.
        let msg = unsafe { message_arg(msg) }?;
        let out = Out::new(out, "out")?;
        let (snapshot, _) = msg.begun()?;
        // SAFETY: `out` checked non-NULL and writable per this function's
        // contract; `out_generation` NULL or writable.
        unsafe { crate::store::write_flag_names(snapshot, out, out_generation) };
        Ok(())
    })
}

/// Counts one complaint about flag `name` (a `/feedback` command, a
/// support ticket), for `feature_flags_complaints_total`.
///
/// # Parameters
/// - `store`: the store.
/// - `name`, `name_len`: the flag name, UTF-8, not NUL-terminated.
///
/// # Returns
/// `FF_OK`; `FF_UNKNOWN_FLAG` when the file being served has no flag
/// `name` (nothing is counted; the last error text suggests the nearest
/// name); `FF_NULL_ARGUMENT`, `FF_INVALID_UTF8`, `FF_CLOSED`.
///
/// # Memory and lifetimes
/// `name` is borrowed for the call only. Never blocks or allocates (an
/// unknown flag's error text does).
///
/// # Safety
/// `store` must be NULL or a pointer from
/// `ff_store_open`/`ff_store_from_json` that is not freed before this call
/// returns. `name` must point to `name_len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ff_store_complaint(
    store: *const ff_store,
    name: *const c_char,
    name_len: usize,
) -> ff_status {
    ffi_boundary!("ff_store_complaint", {
        // SAFETY: the caller passes a live store.
        let store = unsafe { store_arg(store) }?;
        // SAFETY: the caller passes `name_len` readable bytes at `name`.
        let name = unsafe { args::str_arg(name, name_len, "name") }?;
        let snapshot = store.open_store()?.snapshot();
        if snapshot.complaint(name) {
            return Ok(());
        }
        Err(unknown_flag(name, &snapshot))
    })
}

/// Counts one complaint by user `user_id` about flag `name`, at most once
/// an hour for each user and flag in this process (complaints count
/// people: one user typing `/feedback` ten times counts once).
///
/// # Parameters
/// - `store`: the store.
/// - `name`, `name_len`: the flag name, UTF-8, not NUL-terminated.
/// - `user_id`: who complained.
/// - `out_counted`: NULL, or where to write whether it was counted
///   (`false`: this user's complaint about `name` was counted less than an
///   hour ago).
///
/// # Returns
/// `FF_OK`; `FF_UNKNOWN_FLAG` when the file being served has no flag
/// `name` (nothing is counted); `FF_NULL_ARGUMENT`, `FF_INVALID_UTF8`,
/// `FF_CLOSED`.
///
/// # Memory and lifetimes
/// `name` is borrowed for the call only. Never blocks or allocates (an
/// unknown flag's error text does); the store remembers the last hour's
/// complainers in a fixed 32 KiB table.
///
/// # Safety
/// `store` must be NULL or a pointer from
/// `ff_store_open`/`ff_store_from_json` that is not freed before this call
/// returns. `name` must point to `name_len` readable bytes. `out_counted`
/// must be NULL or point to a writable `bool`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ff_store_complaint_by(
    store: *const ff_store,
    name: *const c_char,
    name_len: usize,
    user_id: i64,
    out_counted: *mut bool,
) -> ff_status {
    ffi_boundary!("ff_store_complaint_by", {
        // SAFETY: the caller passes a live store.
        let store = unsafe { store_arg(store) }?;
        // SAFETY: the caller passes `name_len` readable bytes at `name`.
        let name = unsafe { args::str_arg(name, name_len, "name") }?;
        let open = store.open_store()?;
        let Some(counted) = open.complaint_by(name, user_id) else {
            return Err(unknown_flag(name, &open.snapshot()));
        };
        // SAFETY: the caller passes NULL or a writable bool.
        unsafe { args::write_optional(out_counted, counted) };
        Ok(())
    })
}

#[cold]
fn unknown_flag(name: &str, snapshot: &Snapshot) -> Failure {
    let hint = match flags_core::nearest_name(name, snapshot.flag_names()) {
        Some(near) => format!(" (did you mean `{near}`?)"),
        None => String::new(),
    };
    Failure::new(
        FF_UNKNOWN_FLAG,
        format!(
            "no flag `{name}` in the flag file being served{hint}; the complaint was not counted"
        ),
    )
}
