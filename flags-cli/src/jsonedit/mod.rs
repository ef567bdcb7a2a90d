//! The text-editing engine: changes a JSON document's text surgically,
//! keeping every byte it does not have to change (formatting, key order,
//! the file's way of writing ids).
//!
//! [`span`] locates each value in the text, [`splice`] rewrites located
//! values in the style of their neighbours, and [`patch`] addresses them
//! by key path (`["flags", "new_gpt_model"]`). It knows JSON, not flags:
//! the edit commands (`crate::edits`) decide what to change and check the
//! result through the flag file's validation.

pub mod patch;
pub mod span;
pub mod splice;
