//! The tuned naive baseline: the design a careful team writes without this
//! engine (a read lock per message, an `AHashMap` of flags by name,
//! `AHashSet`s of excluded chats and group members, and the bucket as
//! `xxh3_64_with_seed` of the key's 8 bytes). Same file, same validation,
//! same evaluation order and answers as flags-core; the instruction budgets
//! (`benches/instructions.py`) are ratios to it, counted in the same run.
//!
//! Hashers use fixed seeds so that two runs probe the same slots and count
//! the same instructions.

use std::sync::{PoisonError, RwLock};

use ahash::{AHashMap, AHashSet, RandomState};
use flags_core::{
    BUCKETS, BucketBy, ChatType, Context, Decision, Error, FlagFile, Reason, parse_flag_file,
    seed_for_salt,
};
use xxhash_rust::xxh3::xxh3_64_with_seed;

fn fixed() -> RandomState {
    RandomState::with_seeds(0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344)
}

fn set(ids: impl IntoIterator<Item = i64>) -> AHashSet<i64> {
    let mut set = AHashSet::with_hasher(fixed());
    set.extend(ids);
    set
}

struct Flag {
    enabled: bool,
    threshold: u32,
    seed: u64,
    bucket_by: BucketBy,
    chat_types: Vec<ChatType>,
    exclude_chats: AHashSet<i64>,
    user_groups: Vec<String>,
    /// Every member of the file's groups named by `user_groups`.
    members: AHashSet<i64>,
}

pub struct TunedFlags {
    flags: AHashMap<String, Flag>,
}

/// The bucket (0 ..= 99 999) of `key`, the plain way: seeded xxh3 of the
/// key's little-endian bytes, then multiply-shift.
#[inline]
pub fn plain_bucket(key: i64, seed: u64) -> u32 {
    let h = xxh3_64_with_seed(&key.to_le_bytes(), seed);
    ((u128::from(h) * u128::from(BUCKETS)) >> 64) as u32
}

impl TunedFlags {
    fn from_file(file: FlagFile) -> TunedFlags {
        let mut groups = AHashMap::with_hasher(fixed());
        groups.extend(file.groups);
        let mut flags = AHashMap::with_hasher(fixed());
        flags.extend(file.flags.into_iter().map(|(name, def)| {
            let members = set(def
                .user_groups
                .iter()
                .filter_map(|g| groups.get(g))
                .flat_map(|ids: &Vec<i64>| ids.iter().copied()));
            let flag = Flag {
                enabled: def.enabled,
                threshold: def.rollout_percentage.millis(),
                seed: seed_for_salt(def.salt.as_deref().unwrap_or(&name)),
                bucket_by: def.bucket_by,
                chat_types: def.chat_types,
                exclude_chats: set(def.exclude_chats),
                user_groups: def.user_groups,
                members,
            };
            (name, flag)
        }));
        TunedFlags { flags }
    }

    #[inline]
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
        if !flag.user_groups.is_empty()
            && (ctx.user_id.is_some_and(|u| flag.members.contains(&u))
                || flag
                    .user_groups
                    .iter()
                    .any(|g| ctx.groups.contains(&g.as_str())))
        {
            return Decision {
                enabled: true,
                reason: Reason::Group,
                bucket: None,
            };
        }
        if flag.threshold >= BUCKETS {
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
        let bucket = plain_bucket(key, flag.seed);
        Decision {
            enabled: bucket < flag.threshold,
            reason: Reason::Rollout,
            bucket: Some(bucket),
        }
    }
}

/// [`TunedFlags`] behind a reader-writer lock: one read lock per message
/// (so a message's flags come from one version), a reload takes it
/// exclusively.
pub struct TunedStore {
    flags: RwLock<TunedFlags>,
}

impl TunedStore {
    pub fn from_json(text: &str) -> Result<TunedStore, Error> {
        Ok(TunedStore {
            flags: RwLock::new(TunedFlags::from_file(parse_flag_file(text)?)),
        })
    }

    /// Every flag in `names` for one message under one read lock; how many
    /// are on.
    #[inline]
    pub fn count_enabled(&self, names: &[&str], ctx: &Context<'_>) -> u32 {
        let flags = self.flags.read().unwrap_or_else(PoisonError::into_inner);
        names
            .iter()
            .map(|name| u32::from(flags.evaluate(name, ctx).enabled))
            .sum()
    }

    #[inline]
    pub fn evaluate(&self, name: &str, ctx: &Context<'_>) -> Decision {
        let flags = self.flags.read().unwrap_or_else(PoisonError::into_inner);
        flags.evaluate(name, ctx)
    }

    pub fn replace_json(&self, text: &str) -> Result<(), Error> {
        let new = TunedFlags::from_file(parse_flag_file(text)?);
        *self.flags.write().unwrap_or_else(PoisonError::into_inner) = new;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{MESSAGE_FLAGS, message_flags, messages};
    use flags_core::FlagStore;
    use serde_json::Value;

    /// Ratios to the baseline mean something only if it gives the engine's
    /// answers: check it against the golden cases and the bench fixture.
    #[test]
    fn tuned_baseline_gives_every_golden_answer() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../flags-core/tests/data/evaluation_cases.json"
        );
        let data: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let tuned = TunedStore::from_json(&data["file"].to_string()).unwrap();
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
            let decision = tuned.evaluate(flag, &ctx);
            assert_eq!(decision, store.evaluate(flag, &ctx), "{case}");
            assert_eq!(decision.reason.as_str(), case["expect"]["reason"], "{case}");
        }
    }

    #[test]
    fn tuned_baseline_agrees_on_the_bench_messages_and_reloads() {
        let text = message_flags(100, 0);
        let tuned = TunedStore::from_json(&text).unwrap();
        let store = FlagStore::from_json(&text).unwrap();
        let mut on = 0;
        for ctx in messages(256) {
            for name in MESSAGE_FLAGS {
                assert_eq!(tuned.evaluate(name, &ctx), store.evaluate(name, &ctx));
            }
            on += tuned.count_enabled(&MESSAGE_FLAGS, &ctx);
        }
        assert!(on > 256, "{on}");
        tuned.replace_json(&message_flags(100, 1)).unwrap();
        assert!(tuned.replace_json("{").is_err());
    }

    #[test]
    fn plain_bucket_is_the_engines_bucket() {
        for (key, seed) in [(0, 0), (-1, 7), (i64::MAX, u64::MAX), (123_456_789, 42)] {
            assert_eq!(plain_bucket(key, seed), flags_core::bucket(key, seed));
        }
    }
}
