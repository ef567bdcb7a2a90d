//! Edits: what a command changes in the flag document, worked out on the
//! validated model and applied to the text surgically (`flag`, `patch`,
//! `span`, `splice`), for one flag's fields and targeting, user groups,
//! and a flag's life (create, delete); plus the bucket-movement check.

pub mod command;
pub mod flag;
pub mod groups;
pub mod lifecycle;
pub mod manage;
pub mod patch;
pub mod rebucket;
pub mod span;
pub mod splice;
pub mod targeting;

pub use flag::{Change, EditError, EditRequest, Edited, apply, show_value, unknown_flag};
