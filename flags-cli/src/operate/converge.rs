//! Making one flag of a document equal to a given definition, through the
//! ordinary edit ([`crate::edits::apply`]): the same surgical text change,
//! the same validation by the bots' own code, the same audit lines. Revert
//! and promote are both written on it.

use flags_core::{BucketBy, FlagDef, parse_flag_file};

use crate::edits::EditRequest;
use crate::edits::targeting::Targeting;

/// The edit that turns `current` (None: no such flag yet) into `target`.
/// Lists of ids and groups are compared as sets: their order means nothing
/// to the bots.
pub fn request(name: &str, current: Option<&FlagDef>, target: &FlagDef) -> EditRequest {
    let empty = FlagDef {
        // A created flag starts from what `--create` writes.
        enabled: true,
        rollout_percentage: flags_core::Percentage::ZERO,
        ..FlagDef::default()
    };
    let base = current.unwrap_or(&empty);
    let mut request = EditRequest {
        flag: name.to_owned(),
        create: current.is_none(),
        ..EditRequest::default()
    };
    if current.is_none() || base.enabled != target.enabled {
        request.enabled = Some(target.enabled);
    }
    if current.is_none() || base.rollout_percentage != target.rollout_percentage {
        request.percentage = Some(target.rollout_percentage);
    }
    request.exclude_chats = missing(&target.exclude_chats, &base.exclude_chats);
    request.include_chats = missing(&base.exclude_chats, &target.exclude_chats);
    let mut t = Targeting {
        add_user_groups: missing(&target.user_groups, &base.user_groups),
        remove_user_groups: missing(&base.user_groups, &target.user_groups),
        ..Targeting::default()
    };
    let same_types = base.chat_types.len() == target.chat_types.len()
        && base
            .chat_types
            .iter()
            .all(|c| target.chat_types.contains(c));
    if !same_types {
        t.chat_types = Some(target.chat_types.clone());
    }
    if base.description != target.description {
        t.description = Some(target.description.clone().unwrap_or_default());
    }
    if base.bucket_by != target.bucket_by
        && !(current.is_none() && target.bucket_by == BucketBy::User)
    {
        t.bucket_by = Some(target.bucket_by);
    }
    if effective_salt(name, base) != effective_salt(name, target) {
        t.salt = Some(effective_salt(name, target).to_owned());
    }
    request.targeting = t;
    request
}

/// The salt the bots hash with: the flag's name when none is set.
pub fn effective_salt<'a>(name: &'a str, def: &'a FlagDef) -> &'a str {
    def.salt.as_deref().unwrap_or(name)
}

/// The items of `a` that `b` lacks, in `a`'s order, once each.
fn missing<T: PartialEq + Clone>(a: &[T], b: &[T]) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for item in a {
        if !b.contains(item) && !out.contains(item) {
            out.push(item.clone());
        }
    }
    out
}

/// A flag's definition from its JSON object (as an audit entry keeps a
/// deleted flag), validated as the bots would read it.
pub fn definition(name: &str, value: &serde_json::Value) -> Result<FlagDef, String> {
    let text = serde_json::json!({ "version": 1, "flags": { name: value } }).to_string();
    let file = parse_flag_file(&text).map_err(|problems| problems.to_string())?;
    file.flag(name)
        .cloned()
        .ok_or_else(|| format!("no definition of {name}"))
}

/// Whether two definitions mean the same to the bots (ids and groups as
/// sets, the salt as hashed).
pub fn same(name: &str, a: &FlagDef, b: &FlagDef) -> bool {
    let set_eq = |x: &[i64], y: &[i64]| missing(x, y).is_empty() && missing(y, x).is_empty();
    a.enabled == b.enabled
        && a.rollout_percentage == b.rollout_percentage
        && set_eq(&a.exclude_chats, &b.exclude_chats)
        && missing(&a.user_groups, &b.user_groups).is_empty()
        && missing(&b.user_groups, &a.user_groups).is_empty()
        && a.chat_types.len() == b.chat_types.len()
        && a.chat_types.iter().all(|c| b.chat_types.contains(c))
        && a.description == b.description
        && a.bucket_by == b.bucket_by
        && effective_salt(name, a) == effective_salt(name, b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edits::apply;
    use flags_core::ChatType;

    const FILE: &str = r#"{
  "version": 1,
  "groups": {"beta": [1], "ops": [2]},
  "flags": {
    "a": {"enabled": true, "rollout_percentage": 10, "exclude_chats": [-1, -2], "user_groups": ["beta"]},
    "b": {"enabled": false}
  }
}
"#;

    fn defs() -> Vec<FlagDef> {
        let salted = FlagDef {
            salt: Some("v2".into()),
            bucket_by: BucketBy::Chat,
            description: Some("new".into()),
            ..FlagDef::default()
        };
        vec![
            FlagDef::default(),
            FlagDef {
                enabled: true,
                rollout_percentage: "12.5".parse().unwrap(),
                exclude_chats: vec![-2, -3],
                user_groups: vec!["ops".into(), "beta".into()],
                chat_types: vec![ChatType::Private],
                ..FlagDef::default()
            },
            salted,
        ]
    }

    /// Whatever the flag was (or whether it existed), the request makes it
    /// mean what the target means, and a second request changes nothing.
    #[test]
    fn a_request_makes_the_flag_equal_to_its_target() {
        for name in ["a", "b", "c"] {
            for target in defs() {
                let before = parse_flag_file(FILE).unwrap();
                let req = request(name, before.flag(name), &target);
                let edited = apply(FILE, &req).unwrap_or_else(|e| panic!("{name}: {e}"));
                let after = parse_flag_file(&edited.text).unwrap();
                let got = after.flag(name).unwrap();
                assert!(same(name, got, &target), "{name}: {got:?} vs {target:?}");
                let again = request(name, Some(got), &target);
                assert!(apply(&edited.text, &again).unwrap().changes.is_empty());
            }
        }
    }

    fn any_def() -> impl proptest::strategy::Strategy<Value = FlagDef> {
        use proptest::prelude::*;
        let groups = proptest::sample::subsequence(vec!["beta", "ops", "vip"], 0..=3);
        let types = proptest::sample::subsequence(ChatType::ALL.to_vec(), 0..=4);
        (
            any::<bool>(),
            0u32..=100_000,
            proptest::collection::vec(-5i64..5, 0..4),
            groups,
            types,
            proptest::option::of("[a-z ]{0,8}"),
            any::<bool>(),
            proptest::option::of("[a-z]{1,6}"),
        )
            .prop_map(
                |(enabled, millis, chats, groups, types, description, by_chat, salt)| FlagDef {
                    enabled,
                    rollout_percentage: flags_core::Percentage::from_millis(millis).unwrap(),
                    exclude_chats: chats,
                    user_groups: groups.into_iter().map(String::from).collect(),
                    chat_types: types,
                    description: description.filter(|d| !d.is_empty()),
                    bucket_by: if by_chat {
                        BucketBy::Chat
                    } else {
                        BucketBy::User
                    },
                    salt,
                },
            )
    }

    proptest::proptest! {
        /// Whatever a flag is and whatever it should become (or whether it
        /// exists), one request gets it there, and then there is nothing
        /// left to change: revert and promote never apply half a change or
        /// apply one twice.
        #[test]
        fn any_flag_converges_to_any_target(target in any_def(), start in proptest::option::of(any_def())) {
            let text = match &start {
                Some(def) => {
                    let req = request("p", None, def);
                    let base = r#"{"version": 1, "groups": {"beta": [1]}, "flags": {}}"#;
                    apply(base, &req).unwrap().text
                }
                None => r#"{"version": 1, "groups": {"beta": [1]}, "flags": {}}"#.to_owned(),
            };
            let before = parse_flag_file(&text).unwrap();
            let edited = apply(&text, &request("p", before.flag("p"), &target)).unwrap();
            let after = parse_flag_file(&edited.text).unwrap();
            proptest::prop_assert!(same("p", after.flag("p").unwrap(), &target));
            let again = apply(&edited.text, &request("p", after.flag("p"), &target)).unwrap();
            proptest::prop_assert!(again.changes.is_empty());
        }
    }

    #[test]
    fn a_definition_is_validated() {
        let def = definition("x", &serde_json::json!({"enabled": true})).unwrap();
        assert!(def.enabled);
        assert!(definition("x", &serde_json::json!({"enabled": 3})).is_err());
    }
}
