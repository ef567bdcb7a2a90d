//! One field of one flag that a command changed: what an edit, a plan's
//! step or a revert reports, and one line of the audit log. Its own module
//! so that the store (which writes audit lines) and the edits (which make
//! changes) both use it without importing each other.

use std::fmt;

use serde_json::Value;

/// One field of one flag that an edit changed (one audit log line).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub flag: String,
    /// The field name, or `flag` for a created flag.
    pub field: String,
    pub old: Value,
    pub new: Value,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field == "flag" && self.new.is_null() {
            return write!(f, "{}: deleted", self.flag);
        }
        if self.field == "flag" && self.old.is_null() {
            let fields: Vec<String> = self
                .new
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| format!("{k} {}", show_value(v)))
                .collect();
            return write!(f, "{}: created ({})", self.flag, fields.join(", "));
        }
        write!(
            f,
            "{}: {} {} -> {}",
            self.flag,
            self.field,
            show_value(&self.old),
            show_value(&self.new)
        )
    }
}

/// A value as an operator reads it: arrays spaced, no quotes on numbers.
pub fn show_value(value: &Value) -> String {
    match value {
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(show_value).collect();
            format!("[{}]", items.join(", "))
        }
        other => other.to_string(),
    }
}
