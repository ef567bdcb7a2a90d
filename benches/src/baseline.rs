//! The design a team writes first, to measure the engine against: the flags
//! in a `RwLock<HashMap<String, Flag>>`, std `HashSet`s for excluded chats
//! and group members, std's SipHash for every lookup. Same file, same
//! validation, same evaluation order and the same xxh3 bucketing as
//! flags-core, so the two differ only in design, never in answers.

use std::collections::{HashMap, HashSet};

use flags_core::{Context, Decision, FlagFile, bucket};

use crate::locked::{Design, Locked, Settings, evaluate_in_order};

pub struct Flag {
    settings: Settings,
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
pub type RwLockStore = Locked<Flags>;

impl Design for Flags {
    type Flag = Flag;

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
                let (settings, exclude_chats, user_groups) = Settings::split(&name, def);
                let flag = Flag {
                    settings,
                    exclude_chats: exclude_chats.into_iter().collect(),
                    user_groups,
                };
                (name, flag)
            })
            .collect();
        Flags { flags, groups }
    }

    fn flag(&self, name: &str) -> Option<&Flag> {
        self.flags.get(name)
    }

    fn settings(flag: &Flag) -> &Settings {
        &flag.settings
    }

    fn excludes(flag: &Flag, chat: i64) -> bool {
        flag.exclude_chats.contains(&chat)
    }

    /// Each of the flag's groups in turn: named by the message, or holding
    /// the user in the file's member list.
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

    fn bucket(key: i64, seed: u64) -> u32 {
        bucket(key, seed)
    }

    // Not `#[inline]`, as a first design has it: one call a flag from the
    // caller's crate.
    fn evaluate(&self, name: &str, ctx: &Context<'_>) -> Decision {
        evaluate_in_order(self, name, ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{MESSAGE_FLAGS, message_flags, messages};
    use crate::locked::assert_golden_answers;
    use crate::message::Bot;
    use flags_core::FlagStore;

    /// The comparison is only fair if both engines give the same answers:
    /// check the baseline against the spec's golden cases.
    #[test]
    fn baseline_gives_every_golden_answer() {
        assert_golden_answers::<Flags>();
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
