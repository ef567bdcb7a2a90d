//! A flag's targeting edits — user groups, chat types, description, and the
//! rebucketing fields `bucket_by` and `salt` — applied to the text as part
//! of [`crate::edits::apply`], so they share its one write and its check that
//! the result reads back as exactly the intended flags.

use flags_core::{BucketBy, ChatType, FlagDef};
use serde_json::{Value, json};

use crate::args::manage::ManageArgs;
use crate::edits::{Change, EditError};
use crate::jsonedit::patch::{self, json_string};

/// The targeting part of one command's edit of one flag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Targeting {
    pub add_user_groups: Vec<String>,
    pub remove_user_groups: Vec<String>,
    /// `Some(empty)` means every chat type (`--all-chat-types`).
    pub chat_types: Option<Vec<ChatType>>,
    /// `Some("")` removes the description.
    pub description: Option<String>,
    pub bucket_by: Option<BucketBy>,
    pub salt: Option<String>,
}

impl Targeting {
    pub fn from_args(args: &ManageArgs) -> Result<Targeting, String> {
        if let Some(name) = args
            .add_user_group
            .iter()
            .find(|g| args.remove_user_group.contains(g))
        {
            return Err(format!(
                "group {name} is given to both --add-user-group and --remove-user-group"
            ));
        }
        let chat_types = if args.all_chat_types {
            Some(Vec::new())
        } else if args.chat_types.is_empty() {
            None
        } else {
            let mut types = Vec::new();
            for &t in &args.chat_types {
                if !types.contains(&t) {
                    types.push(t);
                }
            }
            Some(types)
        };
        Ok(Targeting {
            add_user_groups: args.add_user_group.clone(),
            remove_user_groups: args.remove_user_group.clone(),
            chat_types,
            description: args.description.clone(),
            bucket_by: args.bucket_by,
            salt: args.salt.clone(),
        })
    }

    pub fn is_empty(&self) -> bool {
        *self == Targeting::default()
    }
}

/// What applying a targeting edit produced, beside the edited text.
pub struct Applied<'a> {
    pub changes: &'a mut Vec<Change>,
    /// Requested changes that were already so, and notes.
    pub already: &'a mut Vec<String>,
}

/// Applies `t` to flag `name`, whose current definition (as the text says
/// now) is `def`; updates `def` to what the text will say afterwards.
pub fn apply(
    text: &mut String,
    name: &str,
    t: &Targeting,
    def: &mut FlagDef,
    groups: &[(String, Vec<i64>)],
    out: Applied<'_>,
) -> Result<(), EditError> {
    let internal = EditError::Internal;
    let object = ["flags", name];
    let change = |field: &str, old: Value, new: Value| Change {
        flag: name.to_owned(),
        field: field.to_owned(),
        old,
        new,
    };

    if !t.add_user_groups.is_empty() || !t.remove_user_groups.is_empty() {
        let old = def.user_groups.clone();
        let mut added: Vec<String> = Vec::new();
        for group in &t.add_user_groups {
            if old.contains(group) || added.contains(group) {
                out.already
                    .push(format!("{name}: user group {group} is already targeted"));
                continue;
            }
            if !groups.iter().any(|(g, _)| g == group) {
                out.already.push(format!(
                    "{name}: note: group {group} is not in the file's groups; its members come only from the bot (or add them with --group {group} --add-user ID)"
                ));
            }
            added.push(group.clone());
        }
        let mut removed: Vec<String> = Vec::new();
        for group in &t.remove_user_groups {
            if old.contains(group) {
                removed.push(group.clone());
            } else {
                out.already
                    .push(format!("{name}: user group {group} is not targeted"));
            }
        }
        if !added.is_empty() || !removed.is_empty() {
            let path = ["flags", name, "user_groups"];
            if !removed.is_empty() {
                patch::remove_items(text, &path, |item| {
                    patch::string_of(item).is_some_and(|g| removed.contains(&g))
                })
                .map_err(internal)?;
            }
            if !added.is_empty() {
                let items: Vec<String> = added.iter().map(|g| json_string(g)).collect();
                if patch::has(text, &path).map_err(internal)? {
                    patch::append_items(text, &path, &items).map_err(internal)?;
                } else {
                    let value = format!("[{}]", items.join(", "));
                    patch::set_member(text, &object, "user_groups", &value).map_err(internal)?;
                }
            }
            let mut new = old.clone();
            new.retain(|g| !removed.contains(g));
            new.extend(added);
            def.user_groups = new.clone();
            out.changes
                .push(change("user_groups", json!(old), json!(new)));
        }
    }

    if let Some(types) = &t.chat_types {
        let old = def.chat_types.clone();
        let same = types.len() == old.len() && types.iter().all(|t| old.contains(t));
        if same && types.is_empty() {
            out.already
                .push(format!("{name}: chat_types is already every type"));
        } else if same {
            out.already.push(format!(
                "{name}: chat_types is already {}",
                type_list(&old).join(", ")
            ));
        } else {
            if types.is_empty() {
                patch::remove_member(text, &object, "chat_types").map_err(internal)?;
            } else {
                let value: Vec<String> = type_list(types).iter().map(|n| json_string(n)).collect();
                patch::set_member(
                    text,
                    &object,
                    "chat_types",
                    &format!("[{}]", value.join(", ")),
                )
                .map_err(internal)?;
            }
            def.chat_types = types.clone();
            out.changes.push(change(
                "chat_types",
                json!(type_list(&old)),
                json!(type_list(types)),
            ));
        }
    }

    if let Some(description) = &t.description {
        let old = def.description.clone();
        let new = Some(description.clone()).filter(|d| !d.is_empty());
        if old == new {
            out.already.push(match &new {
                Some(d) => format!("{name}: description is already {d:?}"),
                None => format!("{name}: has no description"),
            });
        } else {
            match &new {
                Some(d) => patch::set_member(text, &object, "description", &json_string(d)),
                None => patch::remove_member(text, &object, "description").map(|_| ()),
            }
            .map_err(internal)?;
            def.description = new.clone();
            out.changes
                .push(change("description", json!(old), json!(new)));
        }
    }

    if let Some(by) = t.bucket_by {
        if by == def.bucket_by {
            out.already
                .push(format!("{name}: bucket_by is already {by}"));
        } else {
            patch::set_member(text, &object, "bucket_by", &json_string(by.as_str()))
                .map_err(internal)?;
            out.changes.push(change(
                "bucket_by",
                json!(def.bucket_by.as_str()),
                json!(by.as_str()),
            ));
            def.bucket_by = by;
        }
    }

    if let Some(salt) = &t.salt {
        let effective = def.salt.as_deref().unwrap_or(name);
        if salt == effective {
            out.already.push(match &def.salt {
                Some(_) => format!("{name}: salt is already {salt:?}"),
                None => format!("{name}: salt is already {salt:?} (the flag's name)"),
            });
        } else {
            patch::set_member(text, &object, "salt", &json_string(salt)).map_err(internal)?;
            out.changes
                .push(change("salt", json!(effective), json!(salt)));
            def.salt = Some(salt.clone());
        }
    }
    Ok(())
}

fn type_list(types: &[ChatType]) -> Vec<&'static str> {
    types.iter().map(|t| t.as_str()).collect()
}
