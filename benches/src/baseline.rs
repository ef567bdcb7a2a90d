//! The design a team writes first, to measure the engine against: the flags
//! in a `RwLock<HashMap<String, Flag>>`, std `HashSet`s for excluded chats
//! and group members, std's SipHash for every lookup. Same file, same
//! validation, same evaluation order and the same xxh3 bucketing as
//! flags-core, so the two differ only in design, never in answers.

use std::collections::{HashMap, HashSet};
use std::sync::{PoisonError, RwLock};

use flags_core::{
    BucketBy, ChatType, Context, Decision, Error, FlagFile, Reason, bucket, parse_flag_file,
    seed_for_salt,
};

pub struct Flag {
    enabled: bool,
    threshold: u32,
    seed: u64,
    bucket_by: BucketBy,
    chat_types: Vec<ChatType>,
    exclude_chats: HashSet<i64>,
    user_groups: Vec<String>,
}

#[derive(Default)]
pub struct Flags {
    flags: HashMap<String, Flag>,
    groups: HashMap<String, HashSet<i64>>,
}

/// Flags behind a reader-writer lock: readers share it, a reload takes it
/// exclusively.
pub struct RwLockStore {
    flags: RwLock<Flags>,
}

impl Flags {
    fn from_file(file: FlagFile) -> Flags {
        let groups = file
            .groups
            .into_iter()
            .map(|(name, ids)| (name, ids.into_iter().collect()))
            .collect();
        let flags = file
            .flags
            .into_iter()
            .map(|(name, def)| {
                let flag = Flag {
                    enabled: def.enabled,
                    threshold: def.rollout_percentage.millis(),
                    seed: seed_for_salt(def.salt.as_deref().unwrap_or(&name)),
                    bucket_by: def.bucket_by,
                    chat_types: def.chat_types,
                    exclude_chats: def.exclude_chats.into_iter().collect(),
                    user_groups: def.user_groups,
                };
                (name, flag)
            })
            .collect();
        Flags { flags, groups }
    }

    pub fn evaluate(&self, name: &str, ctx: &Context<'_>) -> Decision {
        let off = |reason| Decision {
            enabled: false,
            reason,
            bucket: None,
        };
        let Some(flag) = self.flags.get(name) else {
            return off(Reason::UnknownFlag);
        };
        if !flag.enabled {
            return off(Reason::Disabled);
        }
        if ctx.chat_id.is_some_and(|c| flag.exclude_chats.contains(&c)) {
            return off(Reason::ChatExcluded);
        }
        if !flag.chat_types.is_empty()
            && ctx.chat_type.is_none_or(|t| !flag.chat_types.contains(&t))
        {
            return off(Reason::ChatType);
        }
        if self.in_groups(flag, ctx) {
            return Decision {
                enabled: true,
                reason: Reason::Group,
                bucket: None,
            };
        }
        if flag.threshold >= flags_core::BUCKETS {
            return Decision {
                enabled: true,
                reason: Reason::Rollout,
                bucket: None,
            };
        }
        let key = match flag.bucket_by {
            BucketBy::User => ctx.user_id,
            BucketBy::Chat => ctx.chat_id,
        };
        let Some(key) = key else {
            return off(Reason::MissingKey);
        };
        let bucket = bucket(key, flag.seed);
        Decision {
            enabled: bucket < flag.threshold,
            reason: Reason::Rollout,
            bucket: Some(bucket),
        }
    }

    fn in_groups(&self, flag: &Flag, ctx: &Context<'_>) -> bool {
        flag.user_groups.iter().any(|group| {
            ctx.groups.contains(&group.as_str())
                || ctx.user_id.is_some_and(|user| {
                    self.groups
                        .get(group)
                        .is_some_and(|members| members.contains(&user))
                })
        })
    }
}

impl RwLockStore {
    pub fn from_json(text: &str) -> Result<RwLockStore, Error> {
        Ok(RwLockStore {
            flags: RwLock::new(Flags::from_file(parse_flag_file(text)?)),
        })
    }

    /// Every flag in `names` for one message, under one read lock (so they
    /// come from one version, as with one snapshot); how many are on.
    #[inline]
    pub fn count_enabled(&self, names: &[&str], ctx: &Context<'_>) -> u32 {
        let flags = self.flags.read().unwrap_or_else(PoisonError::into_inner);
        names
            .iter()
            .map(|name| u32::from(flags.evaluate(name, ctx).enabled))
            .sum()
    }

    pub fn evaluate(&self, name: &str, ctx: &Context<'_>) -> Decision {
        let flags = self.flags.read().unwrap_or_else(PoisonError::into_inner);
        flags.evaluate(name, ctx)
    }

    pub fn replace_json(&self, text: &str) -> Result<(), Error> {
        let new = Flags::from_file(parse_flag_file(text)?);
        *self.flags.write().unwrap_or_else(PoisonError::into_inner) = new;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{MESSAGE_FLAGS, message_flags, messages};
    use crate::message::Bot;
    use flags_core::FlagStore;
    use serde_json::Value;

    /// The comparison is only fair if both engines give the same answers:
    /// check the baseline against the spec's golden cases.
    #[test]
    fn baseline_gives_every_golden_answer() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../flags-core/tests/data/evaluation_cases.json"
        );
        let data: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let baseline = RwLockStore::from_json(&data["file"].to_string()).unwrap();
        let store = FlagStore::from_json(&data["file"].to_string()).unwrap();
        let cases = data["cases"].as_array().unwrap();
        assert!(cases.len() >= 500);
        for case in cases {
            let c = &case["context"];
            let groups: Vec<&str> = c["groups"]
                .as_array()
                .map_or(vec![], |g| g.iter().map(|s| s.as_str().unwrap()).collect());
            let ctx = Context {
                user_id: c["user_id"].as_i64(),
                chat_id: c["chat_id"].as_i64(),
                chat_type: c["chat_type"].as_str().map(|t| t.parse().unwrap()),
                groups: &groups,
            };
            let flag = case["flag"].as_str().unwrap();
            let decision = baseline.evaluate(flag, &ctx);
            assert_eq!(decision, store.evaluate(flag, &ctx), "{case}");
            assert_eq!(decision.enabled, case["expect"]["enabled"], "{case}");
            assert_eq!(decision.reason.as_str(), case["expect"]["reason"], "{case}");
        }
    }

    #[test]
    fn baseline_counts_what_the_engine_counts() {
        let text = message_flags(100, 0);
        let baseline = RwLockStore::from_json(&text).unwrap();
        let bot = Bot::new(FlagStore::from_json(&text).unwrap());
        for ctx in messages(128) {
            assert_eq!(
                baseline.count_enabled(&MESSAGE_FLAGS, &ctx),
                bot.by_name(&ctx)
            );
        }
        baseline.replace_json(&message_flags(100, 1)).unwrap();
        assert!(baseline.replace_json("{").is_err());
    }
}
