//! Integration tests: each runs the real `feature_flags` binary on files in a
//! fresh temporary folder (one test binary, ripgrep-style, with modules).

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
