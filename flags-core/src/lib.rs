//! Feature flags for a busy chat bot: one JSON file, validated as a whole,
//! hot-reloaded, and evaluated lock-free without allocating.
//!
//! # Motivation
//!
//! A bot asks "is feature X on for this user in this chat?" several times for
//! every message, thousands of messages a second, while operators change
//! rollouts in the file underneath it. The answer has to be cheap (no lock,
//! no allocation, no string formatting), consistent (all the flags of one
//! message come from one version of the file), and safe (a broken file never
//! replaces a working one).
//!
//! So the file is parsed and validated once per change, compiled into an
//! immutable [`Snapshot`] with everything evaluation needs precomputed (hash
//! seeds, thresholds, hash sets of excluded chats and group members, a
//! chat-type bit mask), and published through an `arc_swap::ArcSwap` — the
//! "sharing of configuration data" pattern. Readers load the current
//! snapshot in a few nanoseconds and never wait for a reload.
//!
//! # Example
//!
//! ```
//! use flags_core::{ChatType, Context, FlagStore, Reason};
//!
//! let store = FlagStore::from_json(r#"{
//!     "version": 1,
//!     "groups": { "beta_testers": [111111111] },
//!     "flags": {
//!         "new_gpt_model": {
//!             "enabled": true,
//!             "rollout_percentage": 10,
//!             "user_groups": ["beta_testers"],
//!             "chat_types": ["private"]
//!         }
//!     }
//! }"#)?;
//!
//! // One message: build its context once, evaluate on one snapshot.
//! let ctx = Context::new().user(111111111).chat(111111111, ChatType::Private);
//! let snapshot = store.snapshot();
//! let decision = snapshot.evaluate("new_gpt_model", &ctx);
//! assert!(decision.enabled);
//! assert_eq!(decision.reason, Reason::Group);
//!
//! // In a group chat the flag is off, whoever asks.
//! let in_group = Context::new().user(111111111).chat(-100123, ChatType::Group);
//! assert!(!store.is_enabled("new_gpt_model", &in_group));
//!
//! // Resolve hot flags once; a handle skips the name lookup.
//! let gpt = store.handle("new_gpt_model");
//! assert_eq!(store.evaluate_handle(gpt, &ctx), decision);
//! # Ok::<(), flags_core::Error>(())
//! ```
//!
//! # Worker threads: [`Reader`]
//!
//! [`FlagStore::snapshot`] and the store's one-call methods
//! ([`FlagStore::is_enabled`], [`FlagStore::evaluate_handle`], …) take a
//! guard on the current version for every call: a few atomic operations,
//! 10–20 ns, more than evaluating a flag. A thread that handles message
//! after message should instead keep a [`Reader`] ([`FlagStore::reader`])
//! and call [`Reader::snapshot`] once per message; while no reload happens
//! that costs one load and a comparison.
//!
//! ```
//! # use flags_core::{Context, FlagStore};
//! # let store = FlagStore::from_json(r#"{"version": 1, "flags": {"new_gpt_model": {"enabled": true}}}"#)?;
//! let gpt = store.handle("new_gpt_model");
//! let mut reader = store.reader(); // once per worker thread
//! for user in [1, 2, 3] {
//!     let ctx = Context::new().user(user);
//!     let snapshot = reader.snapshot(); // once per message
//!     assert!(snapshot.evaluate_handle(gpt, &ctx).enabled);
//! }
//! # Ok::<(), flags_core::Error>(())
//! ```
//!
//! A reader keeps the version it last returned alive until it is asked
//! again, so drop a reader that will sit idle rather than keep it around.
//!
//! In a real bot, open the file instead: `FlagStore::open("config/feature_flags.json")`
//! loads it, validates it and watches it for changes.
//!
//! # Evaluation order
//!
//! For one flag and one message ([`Context`]), the first step that matches
//! decides ([`Decision`] carries its [`Reason`]):
//!
//! 1. the file has no flag of that name → the caller's default, `unknown_flag`;
//! 2. `enabled` is false → off, `disabled`;
//! 3. the chat is in `exclude_chats` → off, `chat_excluded`;
//! 4. `chat_types` is non-empty and the chat type is missing or not listed →
//!    off, `chat_type`;
//! 5. the user is in one of `user_groups` (named by the context, or listed
//!    under the file's `groups`) → on, `group`;
//! 6. `rollout_percentage` is 100 → on, `rollout`;
//! 7. the bucket key (user id, or chat id with `bucket_by: "chat"`) is
//!    missing → off, `missing_key`;
//! 8. otherwise on when `bucket < round(percentage × 1000)`, `rollout`.
//!
//! The bucket is frozen (see [`bucket()`]): `xxh3_64` of the key's 8
//! little-endian bytes seeded with `xxh3_64(salt)`, mapped onto 100 000
//! buckets by multiply-shift. Raising a percentage only adds users.
//!
//! # Reloading
//!
//! [`FlagStore::open`] watches the file's folder and reloads on every kind of
//! change (rewrite, rename over, delete and recreate, symlink swap). A file
//! that fails to read, parse or validate is reported
//! ([`FlagStore::last_error`], [`ReloadEvent::Failed`]) and never served.
//! [`FlagStore::reload`] reloads on demand, for SIGHUP.
//!
//! # Limitations
//!
//! - A held [`SnapshotGuard`] keeps its version alive; hold it for one
//!   message, not for the life of a task. A [`Reader`] keeps the version it
//!   last saw alive until its next use.
//! - The store keeps the version a reload replaced until the next reload
//!   (so that a reader rarely has to free one mid-message): two versions'
//!   memory at most, besides what guards and readers hold.
//! - [`Handle`]s are per store; a handle from another store evaluates some
//!   other flag or `unknown_flag`, never undefined behaviour.
//! - The store's name registry only grows: every flag name ever loaded (or
//!   asked for by [`FlagStore::handle`]) keeps a slot, a few bytes each.
//! - Only format version 1 is read.

mod bucket;
pub mod complaints;
mod counters;
mod decision;
mod error;
pub mod exposition;
mod idset;
mod json;
mod message;
pub mod metric_names;
mod metrics;
mod model;
mod names;
mod outcomes;
mod shorten;
mod snapshot;
mod store;
mod suggest;
mod validate;

pub use bucket::{BUCKETS, bucket, seed_for_salt};
pub use counters::DecisionCounts;
pub use decision::{Context, Decision, Reason};
pub use error::{Error, MAX_LISTED_PROBLEMS, Problem, Problems};
pub use json::{StrictJsonError, child_path, parse_strict_json};
pub use message::{INLINE_FLAGS, Message};
pub use model::{
    BucketBy, ChatType, FORMAT_VERSION, FlagDef, FlagFile, IdError, Percentage, PercentageError,
    UnknownChatType, parse_id,
};
pub use outcomes::{
    Cohort, CohortCounts, DURATION_BOUNDS, DURATION_BUCKETS, MAX_OUTCOME_SECONDS, NO_CHAT_TYPE,
    Outcome, OutcomeCounts, ResultCounts, SEGMENTS, Segment, Via, chat_type_label,
    duration_from_seconds,
};
pub use snapshot::{Handle, Snapshot};
pub use store::{
    FlagStore, Reader, ReloadEvent, ReloadOutcome, ReloadStatus, SnapshotGuard, StoreOptions,
};
pub use suggest::nearest_name;
pub use validate::{check_name, parse_flag_file};
