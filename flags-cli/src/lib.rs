//! The operators' tool behind `feature_flags`, as a library so that its edit
//! logic can be fuzzed and reused (the binary is `src/main.rs`).

pub mod args;
pub mod audit;
pub mod commands;
pub mod edit;
pub mod explain;
pub mod groups;
pub mod guard;
pub mod lifecycle;
pub mod locked;
pub mod manage;
pub mod manage_args;
pub mod patch;
pub mod rebucket;
pub mod report;
pub mod rollout_apply;
pub mod rollout_args;
pub mod rollouts;
pub mod show;
pub mod span;
pub mod splice;
pub mod sync;
pub mod targeting;
pub mod write;

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
