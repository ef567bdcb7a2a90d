//! Edits: what a command changes in the flag document, worked out on the
//! validated model and applied to the text surgically (`flag`, `patch`,
//! `span`, `splice`), for one flag's fields and targeting, user groups,
//! and a flag's life (create, delete); plus the bucket-movement check.

pub mod flag;
pub mod groups;
pub mod lifecycle;
pub mod manage;
pub mod patch;
pub mod rebucket;
pub mod span;
pub mod splice;
pub mod targeting;

// Callers name the change an edit made through `edits` as well.
pub use crate::change::{Change, show_value};
pub use flag::{EditError, EditRequest, Edited, apply, unknown_flag};
