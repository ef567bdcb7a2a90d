//! The operators' tool behind `feature_flags`, as a library so that its edit
//! logic can be fuzzed and reused (the binary is `src/main.rs`).

pub mod analysis;
pub mod args;
pub mod change;
pub mod columns;
pub mod commands;
pub mod edits;
pub mod fleet;
pub mod guard;
pub mod http;
pub mod jsonedit;
pub mod operate;
pub mod plans;
pub mod read;
pub mod report;
pub mod serve;
pub mod store;
pub mod sync;

/// Why a command failed: what to tell the operator, and the exit status.
#[derive(Debug)]
pub struct Failure {
    /// One line per problem, without the `error: ` prefix.
    pub lines: Vec<String>,
    pub code: u8,
}

impl Failure {
    /// A runtime failure: a bad file, an unknown flag, an I/O error.
    pub fn new(message: impl Into<String>) -> Failure {
        Failure {
            lines: vec![message.into()],
            code: 1,
        }
    }

    /// A command line that makes no sense.
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure {
            lines: vec![message.into()],
            code: 2,
        }
    }
}
