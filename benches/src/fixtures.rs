//! Flag files and messages for the benchmarks, generated deterministically
//! so every run measures the same work.
//!
//! Files are written by [`FlagFile::to_json_string`], the library's own
//! writer, so a reload benchmark parses the layout a real file has.

use flags_core::{BucketBy, ChatType, Context, FlagDef, FlagFile, Percentage};

/// Flags the bot asks about for every message.
pub const MESSAGE_FLAGS: [&str; 10] = [
    "new_gpt_model",
    "enhanced_video_download",
    "voice_transcription",
    "inline_search",
    "sticker_suggestions",
    "payments_v2",
    "group_summaries",
    "link_previews",
    "translation",
    "rate_limit_relaxed",
];

/// Chat ids of excluded chats (supergroup-shaped), never a message's chat.
fn excluded_chats(count: usize) -> Vec<i64> {
    (0..count as i64)
        .map(|i| -1_001_000_000_000 - i * 13)
        .collect()
}

fn users(first: i64, count: i64) -> Vec<i64> {
    (0..count).map(|i| first + i * 3).collect()
}

fn percent(value: f64) -> Percentage {
    Percentage::from_f64(value).expect("fixture percentages are valid")
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The bot's ten flags, each excluding `excluded` chats, with a mix of
/// rollouts, groups, chat types and bucket keys. `variant` changes one
/// percentage, so two variants are two distinct versions of the file.
pub fn message_flags(excluded: usize, variant: u32) -> String {
    use ChatType::{Group, Private, Supergroup};
    let flag = |pct: f64, groups: &[&str], types: &[ChatType], bucket_by| FlagDef {
        enabled: true,
        rollout_percentage: percent(pct),
        user_groups: strings(groups),
        chat_types: types.to_vec(),
        exclude_chats: excluded_chats(excluded),
        bucket_by,
        ..FlagDef::default()
    };
    let defs = [
        flag(
            10.0 + f64::from(variant % 2),
            &["beta_testers"],
            &[Private, Supergroup],
            BucketBy::User,
        ),
        flag(25.0, &[], &[], BucketBy::Chat),
        flag(50.0, &[], &[], BucketBy::User),
        flag(100.0, &[], &[], BucketBy::User),
        FlagDef {
            salt: Some("stickers-2026".into()),
            ..flag(33.333, &[], &[], BucketBy::User)
        },
        flag(5.0, &["beta_testers", "staff"], &[], BucketBy::User),
        flag(75.0, &[], &[Group, Supergroup], BucketBy::Chat),
        flag(90.0, &[], &[], BucketBy::User),
        flag(60.0, &["translators"], &[], BucketBy::User),
        flag(1.0, &[], &[], BucketBy::User),
    ];
    let flags = MESSAGE_FLAGS
        .iter()
        .zip(defs)
        .map(|(name, def)| (name.to_string(), def))
        .collect();
    FlagFile {
        groups: vec![
            ("beta_testers".into(), users(100_000_000, 200)),
            ("staff".into(), users(7_000, 20)),
            ("translators".into(), users(300_000_000, 50)),
        ],
        flags,
    }
    .to_json_string()
}

/// `count` distinct messages as the bot sees them: three in four from
/// supergroups, one in four private; no user in a group, no chat excluded,
/// so every flag runs its full path.
pub fn messages(count: usize) -> Vec<Context<'static>> {
    (0..count as i64)
        .map(|i| {
            let user = 500_000_000 + i * 7;
            if i % 4 == 3 {
                Context::new().user(user).chat(user, ChatType::Private)
            } else {
                Context::new()
                    .user(user)
                    .chat(-1_002_000_000_000 - i, ChatType::Supergroup)
            }
        })
        .collect()
}

/// One flag per evaluation path, for [`path_message`] and
/// [`missing_key_message`]: see [`PATHS`].
pub fn path_flags() -> String {
    let flag = |enabled, pct: f64, excluded: Vec<i64>| FlagDef {
        enabled,
        rollout_percentage: percent(pct),
        exclude_chats: excluded,
        ..FlagDef::default()
    };
    let with_excluded_chat = |count: usize| {
        let mut chats = excluded_chats(count - 1);
        chats.push(PATH_CHAT);
        chats
    };
    FlagFile {
        groups: vec![("beta_testers".into(), users(PATH_USER, 200))],
        flags: vec![
            ("disabled".into(), flag(false, 50.0, vec![])),
            (
                "excluded_10".into(),
                flag(true, 50.0, with_excluded_chat(10)),
            ),
            (
                "excluded_10000".into(),
                flag(true, 50.0, with_excluded_chat(10_000)),
            ),
            (
                "private_only".into(),
                FlagDef {
                    chat_types: vec![ChatType::Private],
                    ..flag(true, 50.0, vec![])
                },
            ),
            (
                "beta_only".into(),
                FlagDef {
                    user_groups: strings(&["beta_testers"]),
                    ..flag(true, 0.0, vec![])
                },
            ),
            ("half".into(), flag(true, 50.0, excluded_chats(1000))),
        ],
    }
    .to_json_string()
}

const PATH_USER: i64 = 100_000_000;
const PATH_CHAT: i64 = -1_003_000_000_000;

/// (benchmark name, flag in [`path_flags`], reason it must give for
/// [`path_message`]). Missing key and unknown flag are listed apart because
/// they need another message or no flag.
pub const PATHS: [(&str, &str, flags_core::Reason); 6] = {
    use flags_core::Reason::*;
    [
        ("disabled", "disabled", Disabled),
        ("chat_excluded_10", "excluded_10", ChatExcluded),
        ("chat_excluded_10000", "excluded_10000", ChatExcluded),
        ("chat_type", "private_only", ChatType),
        ("group", "beta_only", Group),
        ("rollout", "half", Rollout),
    ]
};

/// A beta tester writing in a supergroup that some flags exclude.
pub const fn path_message() -> Context<'static> {
    Context::new()
        .user(PATH_USER)
        .chat(PATH_CHAT, ChatType::Supergroup)
}

/// A channel post: a chat but no user, so a per-user rollout has no key.
pub const fn missing_key_message() -> Context<'static> {
    Context::new().chat(-1_004_000_000_000, ChatType::Channel)
}

/// A file of `count` flags named `flag_00000`…, each excluding
/// `excluded` chats, like a large deployment's. `variant` changes one
/// percentage, so two variants are two distinct versions of the file.
pub fn many_flags(count: usize, excluded: usize, variant: u32) -> String {
    let types = [
        vec![],
        vec![ChatType::Private],
        vec![ChatType::Group, ChatType::Supergroup],
    ];
    let flags = (0..count)
        .map(|i| {
            let millis = if i == 0 {
                variant % 2
            } else {
                (i as u32 * 997) % 100_001
            };
            let def = FlagDef {
                enabled: i % 10 != 9,
                rollout_percentage: Percentage::from_millis(millis).expect("at most 100 000"),
                chat_types: types[i % types.len()].clone(),
                exclude_chats: excluded_chats(excluded),
                bucket_by: if i % 2 == 0 {
                    BucketBy::User
                } else {
                    BucketBy::Chat
                },
                ..FlagDef::default()
            };
            (format!("flag_{i:05}"), def)
        })
        .collect();
    FlagFile {
        groups: vec![],
        flags,
    }
    .to_json_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use flags_core::{FlagStore, Reason};

    #[test]
    fn message_flags_load_and_run_their_full_path() {
        let store = FlagStore::from_json(&message_flags(1000, 0)).unwrap();
        let snapshot = store.snapshot();
        assert_eq!(snapshot.len(), MESSAGE_FLAGS.len());
        assert!(
            snapshot
                .file()
                .flags
                .iter()
                .all(|(_, f)| f.exclude_chats.len() == 1000)
        );
        let mut reasons = std::collections::HashSet::new();
        for ctx in messages(64) {
            for name in MESSAGE_FLAGS {
                let decision = snapshot.evaluate(name, &ctx);
                reasons.insert(decision.reason);
                assert!(
                    matches!(decision.reason, Reason::Rollout | Reason::ChatType),
                    "{name}: {decision:?}"
                );
            }
        }
        assert!(reasons.contains(&Reason::Rollout));
    }

    #[test]
    fn variants_are_distinct_versions() {
        let store = FlagStore::from_json(&message_flags(10, 0)).unwrap();
        let before = store.generation();
        store.replace_json(&message_flags(10, 1)).unwrap();
        store.replace_json(&message_flags(10, 0)).unwrap();
        assert_eq!(store.generation(), before + 2);
        let big = FlagStore::from_json(&many_flags(20, 5, 0)).unwrap();
        big.replace_json(&many_flags(20, 5, 1)).unwrap();
        assert_eq!(big.generation(), 2);
        assert_eq!(big.snapshot().len(), 20);
    }

    #[test]
    fn each_path_flag_takes_its_path() {
        let store = FlagStore::from_json(&path_flags()).unwrap();
        for (bench, flag, reason) in PATHS {
            assert_eq!(
                store.evaluate(flag, &path_message()).reason,
                reason,
                "{bench}"
            );
        }
        assert_eq!(
            store.evaluate("half", &missing_key_message()).reason,
            Reason::MissingKey
        );
    }
}
