//! Integration tests: each runs the real `feature_flags` binary on files in a
//! fresh temporary folder or on a database of a throwaway PostgreSQL (one
//! test binary, ripgrep-style, with modules; `storetest!` runs a scenario
//! on both stores, as ripgrep's `rgtest!` runs a test under both engines).

mod stores;
mod util;

mod audit_user;
mod bad_input;
mod database;
mod edits;
mod groups;
mod guard;
mod guard_page;
mod lifecycle;
mod manage_bad_input;
mod mirrored;
mod operators;
mod read_only;
mod rollouts;
mod safety;
mod secrets;
mod targeting;
