//! Edits: what a command changes in the flag document, worked out on the
//! validated model and applied to the text surgically through
//! `crate::jsonedit`, for one flag's fields and targeting (`flag`,
//! `targeting`), user groups, and a flag's life (create, delete); plus the
//! bucket-movement check.

pub mod flag;
pub mod groups;
pub mod lifecycle;
pub mod manage;
pub mod rebucket;
pub mod targeting;

// Callers name the change an edit made through `edits` as well.
pub use crate::change::{Change, show_value};
pub use flag::{EditError, EditRequest, Edited, apply, unknown_flag};

/// The value named `name` in one of the model's (name, value) lists (its
/// flags or its groups): an edit changes the expected model alongside the
/// text, to check the written text against.
pub(crate) fn named_mut<'a, T>(items: &'a mut [(String, T)], name: &str) -> Option<&'a mut T> {
    items.iter_mut().find(|(n, _)| n == name).map(|(_, v)| v)
}
