//! An edit of one flag, applied to the file's text.
//!
//! The meaning of an edit is worked out on the validated model
//! (`flags_core::FlagFile`); the text is then changed surgically to match,
//! and the result must read back, through the same validation, as exactly the
//! expected model — otherwise nothing is written.

use std::fmt;
use std::path::Path;

use flags_core::{
    FlagDef, FlagFile, Percentage, Problems, check_name, nearest_name, parse_flag_file,
};
use serde_json::{Value, json};

use crate::change::{Change, show_value};
use crate::jsonedit::patch;

/// Everything one command asks to change about one flag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EditRequest {
    pub flag: String,
    pub create: bool,
    pub enabled: Option<bool>,
    pub percentage: Option<Percentage>,
    pub exclude_chats: Vec<i64>,
    pub include_chats: Vec<i64>,
    /// User groups, chat types, description, bucket_by, salt.
    pub targeting: crate::edits::targeting::Targeting,
}

/// The edited file, or why the edit was refused.
#[derive(Debug)]
pub struct Edited {
    pub text: String,
    pub changes: Vec<Change>,
    /// Requested changes that were already so (nothing to do for them).
    pub already: Vec<String>,
}

#[derive(Debug)]
pub enum EditError {
    /// The file as it is now is not a valid flag file.
    Invalid(Problems),
    UnknownFlag {
        name: String,
        suggestion: Option<String>,
    },
    AlreadyExists(String),
    BadName(String),
    /// The edited text did not read back as intended: a bug, nothing written.
    Internal(String),
}

impl fmt::Display for EditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EditError::Invalid(problems) => {
                write!(
                    f,
                    "{}",
                    crate::report::invalid_line(Path::new("the flag file"), problems)
                )
            }
            EditError::UnknownFlag { name, suggestion } => {
                write!(f, "no flag named {name:?}")?;
                match suggestion {
                    Some(near) => write!(f, "; did you mean {near:?}?"),
                    None => write!(f, "; --list shows every flag, --create adds one"),
                }
            }
            EditError::AlreadyExists(name) => {
                write!(f, "flag {name:?} already exists; edit it without --create")
            }
            EditError::BadName(message) => write!(f, "cannot create the flag: {message}"),
            EditError::Internal(message) => write!(
                f,
                "refusing to write: the edited file would not read back as intended ({message}); this is a bug"
            ),
        }
    }
}

/// The error for a flag name the file does not have, with the nearest name.
pub fn unknown_flag(file: &FlagFile, name: &str) -> EditError {
    EditError::UnknownFlag {
        name: name.to_owned(),
        suggestion: nearest_name(name, file.flags.iter().map(|(n, _)| n.as_str()))
            .map(str::to_owned),
    }
}

/// Applies `request` to the flag file `text`.
pub fn apply(text: &str, request: &EditRequest) -> Result<Edited, EditError> {
    let before = parse_flag_file(text).map_err(EditError::Invalid)?;
    let mut expected = before.clone();
    let mut text = text.to_owned();
    let mut changes = Vec::new();
    let mut already = Vec::new();
    let name = request.flag.as_str();

    if request.create {
        if before.flag(name).is_some() {
            return Err(EditError::AlreadyExists(name.to_owned()));
        }
        check_name(name).map_err(EditError::BadName)?;
        let mut def = FlagDef {
            enabled: request.enabled.unwrap_or(true),
            rollout_percentage: request.percentage.unwrap_or(Percentage::ZERO),
            ..FlagDef::default()
        };
        for &chat in &request.exclude_chats {
            if !def.exclude_chats.contains(&chat) {
                def.exclude_chats.push(chat);
            }
        }
        for chat in &request.include_chats {
            already.push(format!("{name}: chat {chat} is not excluded"));
        }
        let fields = created_fields(&def);
        create_flag(&mut text, name, &fields)?;
        let new = Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
        changes.push(Change {
            flag: name.to_owned(),
            field: "flag".into(),
            old: Value::Null,
            new,
        });
        expected.flags.push((name.to_owned(), def));
    } else {
        let current = before
            .flag(name)
            .ok_or_else(|| unknown_flag(&before, name))?;
        let target = crate::edits::named_mut(&mut expected.flags, name)
            .ok_or_else(|| EditError::Internal("flag vanished".into()))?;

        if let Some(on) = request.enabled {
            if on == current.enabled {
                already.push(format!("{name}: enabled is already {on}"));
            } else {
                set_member(&mut text, name, "enabled", &on.to_string())?;
                target.enabled = on;
                changes.push(change(name, "enabled", json!(current.enabled), json!(on)));
            }
        }
        if let Some(p) = request.percentage {
            if p == current.rollout_percentage {
                already.push(format!("{name}: rollout_percentage is already {p}"));
            } else {
                set_member(&mut text, name, "rollout_percentage", &p.to_string())?;
                target.rollout_percentage = p;
                let old = current.rollout_percentage.to_json();
                changes.push(change(name, "rollout_percentage", old, p.to_json()));
            }
        }
        if !request.exclude_chats.is_empty() || !request.include_chats.is_empty() {
            let old = current.exclude_chats.clone();
            let mut added = Vec::new();
            for &chat in &request.exclude_chats {
                if old.contains(&chat) || added.contains(&chat) {
                    already.push(format!("{name}: chat {chat} is already excluded"));
                } else {
                    added.push(chat);
                }
            }
            let mut removed = Vec::new();
            for &chat in &request.include_chats {
                if old.contains(&chat) {
                    removed.push(chat);
                } else {
                    already.push(format!("{name}: chat {chat} is not excluded"));
                }
            }
            if !added.is_empty() || !removed.is_empty() {
                edit_exclusions(&mut text, name, &removed, &added)?;
                let mut new = old.clone();
                new.retain(|c| !removed.contains(c));
                new.extend(&added);
                target.exclude_chats = new.clone();
                changes.push(change(name, "exclude_chats", json!(old), json!(new)));
            }
        }
    }

    if !request.targeting.is_empty() {
        let def = crate::edits::named_mut(&mut expected.flags, name)
            .ok_or_else(|| EditError::Internal("flag vanished".into()))?;
        let out = crate::edits::targeting::Applied {
            changes: &mut changes,
            already: &mut already,
        };
        let groups = &before.groups;
        crate::edits::targeting::apply(&mut text, name, &request.targeting, def, groups, out)?;
    }

    if !changes.is_empty() {
        let after =
            parse_flag_file(&text).map_err(|problems| EditError::Internal(problems.to_string()))?;
        if after != expected {
            return Err(EditError::Internal(
                "the result differs from the requested change".into(),
            ));
        }
    }
    Ok(Edited {
        text,
        changes,
        already,
    })
}

fn change(flag: &str, field: &str, old: Value, new: Value) -> Change {
    Change {
        flag: flag.to_owned(),
        field: field.to_owned(),
        old,
        new,
    }
}

/// The fields a created flag is written with, in file order.
fn created_fields(def: &FlagDef) -> Vec<(&'static str, Value)> {
    let mut fields = vec![
        ("enabled", json!(def.enabled)),
        ("rollout_percentage", def.rollout_percentage.to_json()),
    ];
    if !def.exclude_chats.is_empty() {
        fields.push(("exclude_chats", json!(def.exclude_chats)));
    }
    fields
}

/// Sets `key` of `flag` to the JSON text `value`, adding the key if absent.
fn set_member(text: &mut String, flag: &str, key: &str, value: &str) -> Result<(), EditError> {
    patch::set_member(text, &["flags", flag], key, value).map_err(EditError::Internal)
}

/// Takes the chats `remove` out of `flag`'s `exclude_chats` and appends
/// `add`, written as the file already writes its ids.
fn edit_exclusions(
    text: &mut String,
    flag: &str,
    remove: &[i64],
    add: &[i64],
) -> Result<(), EditError> {
    let array = ["flags", flag, "exclude_chats"];
    let present = patch::has(text, &array).map_err(EditError::Internal)?;
    if present && !remove.is_empty() {
        patch::remove_items(text, &array, |item| {
            patch::id_of(item).is_some_and(|id| remove.contains(&id))
        })
        .map_err(EditError::Internal)?;
    }
    if add.is_empty() {
        return Ok(());
    }
    if present {
        let first = patch::first_item(text, &array).map_err(EditError::Internal)?;
        let items = patch::id_items(first.as_deref(), add);
        patch::append_items(text, &array, &items).map_err(EditError::Internal)
    } else {
        let value = format!("[{}]", patch::id_items(None, add).join(", "));
        set_member(text, flag, "exclude_chats", &value)
    }
}

/// Adds `flag` with `fields`, laid out like the flag above it.
fn create_flag(text: &mut String, flag: &str, fields: &[(&str, Value)]) -> Result<(), EditError> {
    let members: Vec<(String, String)> = fields
        .iter()
        .map(|(key, value)| ((*key).to_owned(), show_value(value)))
        .collect();
    patch::insert_object(
        text,
        &["flags"],
        flag,
        &members,
        patch::Layout::LikeSiblings,
    )
    .map_err(EditError::Internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"{
  "version": 1,
  "flags": {
    "a": {
      "enabled": true,
      "exclude_chats": ["-100", -200, 300]
    }
  }
}
"#;

    fn request(flag: &str) -> EditRequest {
        EditRequest {
            flag: flag.into(),
            ..EditRequest::default()
        }
    }

    #[test]
    fn include_matches_string_and_integer_ids_numerically() {
        let edited = apply(
            FILE,
            &EditRequest {
                include_chats: vec![-100, -200],
                ..request("a")
            },
        )
        .unwrap();
        assert!(
            edited.text.contains(r#""exclude_chats": [300]"#),
            "{}",
            edited.text
        );
    }

    #[test]
    fn exclude_of_an_excluded_chat_changes_nothing() {
        let edited = apply(
            FILE,
            &EditRequest {
                exclude_chats: vec![-100, 300],
                ..request("a")
            },
        )
        .unwrap();
        assert!(edited.changes.is_empty());
        assert_eq!(edited.text, FILE);
        assert_eq!(edited.already.len(), 2);
    }

    #[test]
    fn adds_a_missing_percentage_key() {
        let edited = apply(
            FILE,
            &EditRequest {
                percentage: Some("12.5".parse().unwrap()),
                ..request("a")
            },
        )
        .unwrap();
        assert!(
            edited
                .text
                .contains("[\"-100\", -200, 300],\n      \"rollout_percentage\": 12.5\n    }"),
            "{}",
            edited.text
        );
        assert_eq!(
            edited.changes[0].to_string(),
            "a: rollout_percentage 100 -> 12.5"
        );
    }

    #[test]
    fn creates_into_an_empty_flags_object() {
        let text = "{\n  \"version\": 1,\n  \"flags\": {}\n}\n";
        let edited = apply(
            text,
            &EditRequest {
                create: true,
                exclude_chats: vec![-5],
                ..request("b")
            },
        )
        .unwrap();
        assert_eq!(
            edited.text,
            "{\n  \"version\": 1,\n  \"flags\": {\n    \"b\": {\n      \"enabled\": true,\n      \"rollout_percentage\": 0,\n      \"exclude_chats\": [-5]\n    }\n  }\n}\n"
        );
        assert_eq!(
            edited.changes[0].to_string(),
            "b: created (enabled true, rollout_percentage 0, exclude_chats [-5])"
        );
    }
}
