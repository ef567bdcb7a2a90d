//! Edits that reshuffle who has a flag (`bucket_by`, `salt`): how many users
//! of a fixed sample would gain and lose it, and the `--force` they need.

use flags_core::{ChatType, Context, Snapshot};

use crate::Failure;
use crate::edits::Edited;

/// How many sample users the sample has.
pub const SAMPLE_USERS: u32 = 100_000;

/// Users of the sample who gain and lose a flag, in each kind of chat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Impact {
    pub private_gain: u32,
    pub private_lose: u32,
    pub group_gain: u32,
    pub group_lose: u32,
}

/// SplitMix64: a fixed, well-mixed sequence, so every run (dry or real)
/// reports the same numbers for the same edit.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Sample user `i`: a Telegram-like user id, and a group chat it writes in
/// (a basic group for half the sample, a supergroup for the other half).
fn sample(i: u32) -> (i64, i64, ChatType) {
    let user = 1 + (mix(u64::from(i)) % 8_000_000_000) as i64;
    let chat = -1_000_000_000_000 - (mix(u64::from(i) ^ 0xC0FF_EE00) % 1_000_000_000_000) as i64;
    let kind = if i.is_multiple_of(2) {
        ChatType::Group
    } else {
        ChatType::Supergroup
    };
    (user, chat, kind)
}

/// Compares flag `name` between two versions of the file, over the sample:
/// each user once in a private chat (whose id is the user's) and once in a
/// group chat.
pub fn impact(before: &Snapshot, after: &Snapshot, name: &str) -> Impact {
    let mut impact = Impact::default();
    for i in 0..SAMPLE_USERS {
        let (user, group_chat, group_kind) = sample(i);
        for (chat, chat_type) in [(user, ChatType::Private), (group_chat, group_kind)] {
            let ctx = Context {
                user_id: Some(user),
                chat_id: Some(chat),
                chat_type: Some(chat_type),
                groups: &[],
            };
            let was = before.evaluate(name, &ctx).enabled;
            let is = after.evaluate(name, &ctx).enabled;
            let (gain, lose) = match chat_type {
                ChatType::Private => (&mut impact.private_gain, &mut impact.private_lose),
                _ => (&mut impact.group_gain, &mut impact.group_lose),
            };
            match (was, is) {
                (false, true) => *gain += 1,
                (true, false) => *lose += 1,
                _ => {}
            }
        }
    }
    impact
}

impl Impact {
    pub fn line(&self, name: &str) -> String {
        format!(
            "{name}: of {SAMPLE_USERS} sample users, {} would gain the feature and {} lose it in private chats; {} would gain and {} lose it in group chats",
            self.private_gain, self.private_lose, self.group_gain, self.group_lose
        )
    }
}

/// For an edit that changes `bucket_by` or `salt` of a flag that existed
/// before it: the impact line to print, or, without `allowed` (`--force` or
/// a dry run), the refusal.
pub fn check(
    before_text: &str,
    edited: &Edited,
    name: &str,
    allowed: bool,
) -> Result<Option<String>, Failure> {
    let rebuckets = edited
        .changes
        .iter()
        .any(|c| c.flag == name && matches!(c.field.as_str(), "bucket_by" | "salt"));
    let created = edited.changes.iter().any(|c| c.field == "flag");
    if !rebuckets || created {
        return Ok(None);
    }
    let snapshot = |text: &str| {
        Snapshot::from_json(text).map_err(|problems| Failure::new(problems.to_string()))
    };
    let line = impact(&snapshot(before_text)?, &snapshot(&edited.text)?, name).line(name);
    if allowed {
        Ok(Some(line))
    } else {
        Err(Failure::usage(format!(
            "--bucket-by and --salt reshuffle who has the feature ({}); add --force to do it, or --dry-run to preview",
            line.split_once(": ")
                .map_or(line.as_str(), |(_, rest)| rest)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(flag: &str) -> Snapshot {
        let text = format!(r#"{{"version": 1, "flags": {{"f": {flag}}}}}"#);
        Snapshot::from_json(&text).unwrap()
    }

    fn between(before: &str, after: &str) -> Impact {
        impact(&file(before), &file(after), "f")
    }

    /// Within 2 % of the sample around `expected`.
    #[track_caller]
    fn near(count: u32, expected: u32) {
        assert!(count.abs_diff(expected) < 2_000, "{count} vs {expected}");
    }

    #[test]
    fn a_new_salt_swaps_about_p_times_one_minus_p_of_the_users() {
        let i = between(
            r#"{"enabled": true, "rollout_percentage": 50}"#,
            r#"{"enabled": true, "rollout_percentage": 50, "salt": "other"}"#,
        );
        for count in [i.private_gain, i.private_lose, i.group_gain, i.group_lose] {
            near(count, 25_000);
        }
        let i = between(
            r#"{"enabled": true, "rollout_percentage": 10}"#,
            r#"{"enabled": true, "rollout_percentage": 10, "salt": "other"}"#,
        );
        near(i.private_gain, 9_000);
        near(i.private_lose, 9_000);
    }

    #[test]
    fn nothing_moves_at_0_or_100_percent_or_when_off() {
        for flag in [
            r#"{"enabled": true, "rollout_percentage": 0}"#,
            r#"{"enabled": true, "rollout_percentage": 100}"#,
            r#"{"enabled": false, "rollout_percentage": 50}"#,
        ] {
            let salted = flag.replace('}', r#", "salt": "x", "bucket_by": "chat"}"#);
            assert_eq!(between(flag, &salted), Impact::default(), "{flag}");
        }
    }

    #[test]
    fn bucketing_by_chat_moves_only_group_chats() {
        // A private chat's id is its user's id: the same bucket either way.
        let i = between(
            r#"{"enabled": true, "rollout_percentage": 30}"#,
            r#"{"enabled": true, "rollout_percentage": 30, "bucket_by": "chat"}"#,
        );
        assert_eq!((i.private_gain, i.private_lose), (0, 0));
        near(i.group_gain, 21_000);
        near(i.group_lose, 21_000);
    }

    #[test]
    fn chat_types_limit_what_can_move() {
        let i = between(
            r#"{"enabled": true, "rollout_percentage": 50, "chat_types": ["private"]}"#,
            r#"{"enabled": true, "rollout_percentage": 50, "chat_types": ["private"], "salt": "x"}"#,
        );
        assert_eq!((i.group_gain, i.group_lose), (0, 0));
        near(i.private_gain, 25_000);
    }

    #[test]
    fn the_sample_is_fixed_and_spread() {
        assert_eq!(sample(7), sample(7));
        let users: std::collections::HashSet<i64> = (0..1000).map(|i| sample(i).0).collect();
        assert_ne!(sample(0).2, sample(1).2, "both kinds of group chat");
        assert_eq!(users.len(), 1000);
        assert!((0..1000).all(|i| sample(i).0 > 0 && sample(i).1 < -1_000_000_000_000));
    }
}
