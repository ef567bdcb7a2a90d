//! `--list` and `--feature NAME`: the flags as a person or a script reads them.

use std::fmt::Write as _;

use flags_core::{FlagDef, FlagFile};
use serde_json::{Value, json};

use super::inert::inert;
use crate::columns::aligned;
use crate::edits::groups;

/// Every field of a flag, defaults filled in, `salt` as evaluation uses it,
/// and the size of each of its user groups (`null`: not in the file).
pub fn flag_json(file: &FlagFile, name: &str, def: &FlagDef) -> Value {
    let chat_types: Vec<&str> = def.chat_types.iter().map(|t| t.as_str()).collect();
    json!({
        "name": name,
        "description": def.description,
        "enabled": def.enabled,
        "rollout_percentage": def.rollout_percentage.to_json(),
        "user_groups": def.user_groups,
        "chat_types": chat_types,
        "exclude_chats": def.exclude_chats,
        "bucket_by": def.bucket_by.as_str(),
        "salt": def.salt.as_deref().unwrap_or(name),
        "user_group_sizes": groups::sizes_json(file, &def.user_groups),
    })
}

pub fn list_json(file: &FlagFile) -> Value {
    Value::Array(
        file.flags
            .iter()
            .map(|(n, d)| flag_json(file, n, d))
            .collect(),
    )
}

/// A table with one row per flag.
pub fn list_table(file: &FlagFile) -> String {
    let header = [
        "NAME",
        "ENABLED",
        "PERCENTAGE",
        "GROUPS",
        "CHAT TYPES",
        "EXCLUDED CHATS",
    ];
    let rows: Vec<[String; 6]> = file
        .flags
        .iter()
        .map(|(name, def)| {
            [
                inert(name).into_owned(),
                if def.enabled { "yes" } else { "no" }.to_owned(),
                format!("{}%", def.rollout_percentage),
                inert(&list_or(&group_sizes(file, def), "-")).into_owned(),
                list_or(&chat_types(def), "all"),
                def.exclude_chats.len().to_string(),
            ]
        })
        .collect();
    let mut out = aligned(header, &rows);
    if rows.is_empty() {
        out.push_str("(no flags)\n");
    }
    out
}

/// One flag, field by field.
pub fn flag_text(file: &FlagFile, name: &str, def: &FlagDef) -> String {
    let salt = match &def.salt {
        Some(salt) => salt.clone(),
        None => format!("{name} (the flag's name)"),
    };
    let fields = [
        (
            "description",
            def.description.clone().unwrap_or_else(|| "-".into()),
        ),
        ("enabled", def.enabled.to_string()),
        ("rollout_percentage", def.rollout_percentage.to_string()),
        ("user_groups", list_or(&group_sizes(file, def), "- (none)")),
        ("chat_types", list_or(&chat_types(def), "- (every type)")),
        ("exclude_chats", list_or(&def.exclude_chats, "- (none)")),
        ("bucket_by", def.bucket_by.to_string()),
        ("salt", salt),
    ];
    let mut out = format!("{}\n", inert(name));
    for (field, value) in fields {
        let _ = writeln!(out, "  {:<20}{}", format!("{field}:"), inert(&value));
    }
    out
}

/// `beta_testers (2 users)` for each of the flag's user groups.
fn group_sizes(file: &FlagFile, def: &FlagDef) -> Vec<String> {
    groups::sizes(file, &def.user_groups)
        .into_iter()
        .map(|(name, size)| groups::size_text(name, size))
        .collect()
}

fn chat_types(def: &FlagDef) -> Vec<&'static str> {
    def.chat_types.iter().map(|t| t.as_str()).collect()
}

fn list_or<T: ToString>(items: &[T], empty: &str) -> String {
    if items.is_empty() {
        empty.to_owned()
    } else {
        items
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}
