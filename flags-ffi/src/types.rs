//! The types and numbers C callers see. Every number here is part of the ABI:
//! never renumber, only add.

use std::os::raw::c_char;

use flags_core::{Decision, Reason};

/// Status of every call. The numbers are stable.
pub type ff_status = u32;

/// The call succeeded.
pub const FF_OK: ff_status = 0;
/// A required pointer was NULL.
pub const FF_NULL_ARGUMENT: ff_status = 1;
/// A string argument was not valid UTF-8.
pub const FF_INVALID_UTF8: ff_status = 2;
/// An argument was out of range: an unknown chat type, context bit or open
/// option, a handle this store never returned, a length over `PTRDIFF_MAX`.
pub const FF_INVALID_ARGUMENT: ff_status = 3;
/// The flag file could not be read.
pub const FF_FILE_ERROR: ff_status = 4;
/// The flag file (or JSON text) was read but is not a valid flag file; the
/// last error text lists the problems, one per line, as `feature_flags
/// --check` prints them (the first 100, then how many more: bounded).
pub const FF_INVALID_FILE: ff_status = 5;
/// The store was closed by `ff_store_close`.
pub const FF_CLOSED: ff_status = 6;
/// An output buffer was too short; the required size is reported.
pub const FF_BUFFER_TOO_SMALL: ff_status = 7;
/// `ff_store_reload` on a store made from JSON text, which has no file.
pub const FF_NO_FILE: ff_status = 8;
/// A bug: Rust panicked inside the call. The panic was caught, the process
/// lives on, and the last error text says what happened.
pub const FF_PANIC: ff_status = 9;
/// `ff_store_complaint` named a flag the file being served does not define
/// (the last error text suggests the nearest name).
pub const FF_UNKNOWN_FLAG: ff_status = 10;

/// `ff_context.chat_type`: the chat type is not known.
pub const FF_CHAT_TYPE_NONE: u32 = 0;
/// `ff_context.chat_type`: a private chat with the bot.
pub const FF_CHAT_TYPE_PRIVATE: u32 = 1;
/// `ff_context.chat_type`: a basic group.
pub const FF_CHAT_TYPE_GROUP: u32 = 2;
/// `ff_context.chat_type`: a supergroup.
pub const FF_CHAT_TYPE_SUPERGROUP: u32 = 3;
/// `ff_context.chat_type`: a channel.
pub const FF_CHAT_TYPE_CHANNEL: u32 = 4;

/// `ff_decision.reason`: the file has no flag of that name.
pub const FF_REASON_UNKNOWN_FLAG: u8 = 0;
/// `ff_decision.reason`: the flag's kill switch is off (`enabled: false`).
pub const FF_REASON_DISABLED: u8 = 1;
/// `ff_decision.reason`: the chat is in the flag's `exclude_chats`.
pub const FF_REASON_CHAT_EXCLUDED: u8 = 2;
/// `ff_decision.reason`: the chat type is missing or not in `chat_types`.
pub const FF_REASON_CHAT_TYPE: u8 = 3;
/// `ff_decision.reason`: the user is in one of the flag's `user_groups`.
pub const FF_REASON_GROUP: u8 = 4;
/// `ff_decision.reason`: the percentage rollout decided.
pub const FF_REASON_ROLLOUT: u8 = 5;
/// `ff_decision.reason`: the rollout needed a user or chat id the context
/// did not have.
pub const FF_REASON_MISSING_KEY: u8 = 6;

// The reasons are flags_core's numbers; a mismatch fails the build.
const _: () = {
    assert!(FF_REASON_UNKNOWN_FLAG == Reason::UnknownFlag as u8);
    assert!(FF_REASON_DISABLED == Reason::Disabled as u8);
    assert!(FF_REASON_CHAT_EXCLUDED == Reason::ChatExcluded as u8);
    assert!(FF_REASON_CHAT_TYPE == Reason::ChatType as u8);
    assert!(FF_REASON_GROUP == Reason::Group as u8);
    assert!(FF_REASON_ROLLOUT == Reason::Rollout as u8);
    assert!(FF_REASON_MISSING_KEY == Reason::MissingKey as u8);
};

/// Bit of `ff_context.present`: `user_id` is set.
pub const FF_HAS_USER_ID: u32 = 1;
/// Bit of `ff_context.present`: `chat_id` is set.
pub const FF_HAS_CHAT_ID: u32 = 2;

/// Bit of `ff_store_open`'s `options`: do not watch the file; it changes
/// only on `ff_store_reload`.
pub const FF_OPEN_NO_WATCH: u32 = 1;

/// Bit of `ff_store_open`'s `options`: do not count decisions per flag
/// (`ff_store_metrics_text` then has no decision counters). Counting costs a
/// few percent per evaluation.
pub const FF_OPEN_NO_COUNTING: u32 = 2;

/// Bit of `ff_store_open`'s `options`: do not count outcomes and complaints
/// (`ff_message_record` and `ff_store_complaint` still succeed;
/// `ff_store_metrics_text` then has no outcome families). Independent of
/// `FF_OPEN_NO_COUNTING`, which leaves outcomes counted.
pub const FF_OPEN_NO_OUTCOMES: u32 = 4;

/// A borrowed UTF-8 string, not NUL-terminated: `ptr` may be NULL only when
/// `len` is 0.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ff_str {
    pub ptr: *const c_char,
    pub len: usize,
}

/// What the bot knows about one message. Borrowed for the duration of a
/// call only; nothing in it is kept.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ff_context {
    /// Valid when `present & FF_HAS_USER_ID`.
    pub user_id: i64,
    /// Valid when `present & FF_HAS_CHAT_ID`.
    pub chat_id: i64,
    /// `FF_HAS_*` bits; any other bit is `FF_INVALID_ARGUMENT`.
    pub present: u32,
    /// One of `FF_CHAT_TYPE_*`; any other number is `FF_INVALID_ARGUMENT`.
    pub chat_type: u32,
    /// Groups the bot knows the user to be in, besides the file's `groups`.
    /// May be NULL when `groups_len` is 0. Up to 16 groups are evaluated
    /// without allocating; more cost one allocation per call.
    pub groups: *const ff_str,
    pub groups_len: usize,
}

/// The answer for one flag and one message.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ff_decision {
    pub enabled: bool,
    /// One of `FF_REASON_*`.
    pub reason: u8,
    pub has_bucket: bool,
    /// The bucket key's bucket (0 to 99999), valid when `has_bucket`; 0
    /// otherwise.
    pub bucket: u32,
}

/// What the `*_is_enabled` calls answer: the decision's `enabled`, or
/// `default_value` for a flag the file does not define (docs/spec.md, step 1).
#[inline(always)]
pub(crate) fn enabled_or(decision: &Decision, default_value: bool) -> bool {
    match decision.reason {
        Reason::UnknownFlag => default_value,
        _ => decision.enabled,
    }
}

impl From<Decision> for ff_decision {
    #[inline]
    fn from(decision: Decision) -> ff_decision {
        ff_decision {
            enabled: decision.enabled,
            reason: decision.reason as u8,
            has_bucket: decision.bucket.is_some(),
            bucket: decision.bucket.unwrap_or(0),
        }
    }
}
