//! The tuned naive baseline: the design a careful team writes without this
//! engine (a read lock per message, an `AHashMap` of flags by name,
//! `AHashSet`s of excluded chats and group members, and the bucket as
//! `xxh3_64_with_seed` of the key's 8 bytes). Same file, same validation,
//! same evaluation order and answers as flags-core; the instruction budgets
//! (`benches/instructions.py`) are ratios to it, counted in the same run.
//!
//! Hashers use fixed seeds so that two runs probe the same slots and count
//! the same instructions.

use ahash::{AHashMap, AHashSet, RandomState};
use flags_core::{BUCKETS, Context, Decision, FlagFile};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::locked::{Design, Locked, Settings, evaluate_in_order};

fn fixed() -> RandomState {
    RandomState::with_seeds(0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344)
}

fn set(ids: impl IntoIterator<Item = i64>) -> AHashSet<i64> {
    let mut set = AHashSet::with_hasher(fixed());
    set.extend(ids);
    set
}

pub struct Flag {
    settings: Settings,
    exclude_chats: AHashSet<i64>,
    user_groups: Vec<String>,
    /// Every member of the file's groups named by `user_groups`.
    members: AHashSet<i64>,
}

pub struct TunedFlags {
    flags: AHashMap<String, Flag>,
}

/// [`TunedFlags`] behind a reader-writer lock: one read lock per message
/// (so a message's flags come from one version), a reload takes it
/// exclusively.
pub type TunedStore = Locked<TunedFlags>;

/// The bucket (0 ..= 99 999) of `key`, the plain way: seeded xxh3 of the
/// key's little-endian bytes, then multiply-shift.
// `always`: inlined into the evaluation, as in a careful team's single
// evaluation function; behind `Design::bucket` the inliner leaves a call per
// bucketed flag (+1.5% on `tuned_message`), a cost of the sharing, not of
// the design.
#[inline(always)]
pub fn plain_bucket(key: i64, seed: u64) -> u32 {
    let h = xxh3_64_with_seed(&key.to_le_bytes(), seed);
    ((u128::from(h) * u128::from(BUCKETS)) >> 64) as u32
}

// Every lookup `#[inline]`, as a careful team writes the hot path: the
// evaluation runs in the caller's crate.
impl Design for TunedFlags {
    type Flag = Flag;

    fn from_file(file: FlagFile) -> TunedFlags {
        let mut groups = AHashMap::with_hasher(fixed());
        groups.extend(file.groups);
        let mut flags = AHashMap::with_hasher(fixed());
        flags.extend(file.flags.into_iter().map(|(name, def)| {
            let (settings, exclude_chats, user_groups) = Settings::split(&name, def);
            let members = set(user_groups
                .iter()
                .filter_map(|g| groups.get(g))
                .flat_map(|ids: &Vec<i64>| ids.iter().copied()));
            let flag = Flag {
                settings,
                exclude_chats: set(exclude_chats),
                user_groups,
                members,
            };
            (name, flag)
        }));
        TunedFlags { flags }
    }

    #[inline]
    fn flag(&self, name: &str) -> Option<&Flag> {
        self.flags.get(name)
    }

    #[inline]
    fn settings(flag: &Flag) -> &Settings {
        &flag.settings
    }

    #[inline]
    fn excludes(flag: &Flag, chat: i64) -> bool {
        flag.exclude_chats.contains(&chat)
    }

    /// The members of all the flag's groups in one set, then the groups the
    /// message names.
    #[inline]
    fn in_groups(&self, flag: &Flag, ctx: &Context<'_>) -> bool {
        !flag.user_groups.is_empty()
            && (ctx.user_id.is_some_and(|u| flag.members.contains(&u))
                || flag
                    .user_groups
                    .iter()
                    .any(|g| ctx.groups.contains(&g.as_str())))
    }

    // `always`, as `plain_bucket`: the count stays the design's own.
    #[inline(always)]
    fn bucket(key: i64, seed: u64) -> u32 {
        plain_bucket(key, seed)
    }

    #[inline]
    fn evaluate(&self, name: &str, ctx: &Context<'_>) -> Decision {
        evaluate_in_order(self, name, ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{MESSAGE_FLAGS, message_flags, messages};
    use crate::locked::assert_golden_answers;
    use flags_core::FlagStore;

    /// Ratios to the baseline mean something only if it gives the engine's
    /// answers: check it against the golden cases and the bench fixture.
    #[test]
    fn tuned_baseline_gives_every_golden_answer() {
        assert_golden_answers::<TunedFlags>();
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
