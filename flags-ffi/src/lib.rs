//! The C ABI of the feature-flag engine: `include/feature_flags.h`
//! (generated from this crate by cbindgen; `tests/header.rs` keeps it in
//! sync) over `libflags_ffi.so` / `libflags_ffi.a`.
//!
//! # Conventions
//!
//! - Every exported name starts with `ff_`. A store is an opaque
//!   `ff_store *` made by `ff_store_open` or `ff_store_from_json` and freed
//!   by `ff_store_free`.
//! - Every function returns an `ff_status` (except the few that return a
//!   string or nothing). On failure, `ff_last_error()` returns a copy of a
//!   text a person can act on; it is per thread and only failing calls set
//!   it.
//! - Every function runs inside a panic boundary: a bug becomes `FF_PANIC`,
//!   never an unwind into C or an abort.
//! - Every pointer is checked for NULL and every string for UTF-8 before use.
//! - Strings going in are borrowed `(pointer, length)` pairs (only
//!   `ff_store_open`'s path is NUL-terminated); strings coming out are owned
//!   by the caller and freed with `ff_string_free`.
//!
//! # Threads
//!
//! A store may be used from any number of threads at once. An evaluation
//! costs one atomic load for the closed flag plus one `arc_swap` load of the
//! current version of the file; it never waits for a reload and never
//! allocates (up to 16 groups per context). `ff_store_close` may run while
//! other threads still call: they get `FF_CLOSED`. Only `ff_store_free`
//! needs the caller to make sure nobody else holds the pointer any more.
//!
//! Panics are caught only with the default `panic = "unwind"`; a build
//! with `panic = "abort"` would abort instead.
#![allow(non_camel_case_types)]

// Declaration order is the header's order.
mod types;

mod args;
mod boundary;
mod context;
mod error;
mod version;

mod store;

mod message;

#[cfg(feature = "fuzzing")]
pub mod fuzz;

pub use error::{ff_last_error, ff_string_free};
pub use message::*;
pub use store::*;
pub use types::*;
pub use version::ff_version;
