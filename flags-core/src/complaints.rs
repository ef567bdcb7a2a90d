//! Complaints count people, not messages: one user's complaint about a
//! flag counts at most once an hour in a process, so one angry user typing
//! `/feedback` ten times cannot trip the `complaints` trigger (10 an hour)
//! alone.
//!
//! The memory is fixed: [`SLOTS`] atomic words per store, each remembering
//! one (flag, user) pair and the minute its last complaint was counted.
//! Two pairs that share a slot push each other out: the one pushed out may
//! then count again within its hour, so under a flood of distinct users the
//! count errs towards more complaints, never fewer. Each process keeps its
//! own table: a user who reaches `n` bot processes in an hour counts up to
//! `n` times.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// How many (flag, user) pairs a store remembers (8 bytes each: 32 KiB).
pub const SLOTS: usize = 4096;

/// How long one user's complaint about one flag silences the next ones.
pub const QUIET_MINUTES: u64 = 60;

/// A slot: the pair's tag in the high 40 bits, the minute (since the epoch,
/// modulo 2^24, plus one so that 0 means empty) in the low 24.
const MINUTE_BITS: u32 = 24;
const MINUTE_MASK: u64 = (1 << MINUTE_BITS) - 1;

pub(crate) struct Complaints {
    slots: Box<[AtomicU64]>,
}

impl Default for Complaints {
    fn default() -> Self {
        Complaints {
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Complaints {
    /// Whether a complaint by `user` about `flag` now counts: `false` when
    /// the same pair was counted less than [`QUIET_MINUTES`] ago.
    pub(crate) fn admit(&self, flag: &str, user: i64) -> bool {
        self.admit_at(flag, user, minute_now())
    }

    pub(crate) fn admit_at(&self, flag: &str, user: i64, minute: u64) -> bool {
        let hash = pair_hash(flag, user);
        let slot = &self.slots[(hash as usize) % SLOTS];
        let tag = hash & !MINUTE_MASK;
        let stamp = ((minute & MINUTE_MASK) + 1) & MINUTE_MASK;
        let mut seen = slot.load(Ordering::Relaxed);
        loop {
            if seen != 0 && seen & !MINUTE_MASK == tag {
                let last = seen & MINUTE_MASK;
                // Minutes wrap at 2^24 (about 32 years): the difference
                // modulo 2^24 is the time since, either way.
                if stamp.wrapping_sub(last) & MINUTE_MASK < QUIET_MINUTES {
                    return false;
                }
            }
            match slot.compare_exchange_weak(
                seen,
                tag | stamp,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => seen = now,
            }
        }
    }
}

fn pair_hash(flag: &str, user: i64) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&user.to_le_bytes());
    xxhash_rust::xxh3::xxh3_64_with_seed(flag.as_bytes(), u64::from_le_bytes(bytes))
}

fn minute_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 60)
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn one_user_counts_once_an_hour_per_flag() {
        let c = Complaints::default();
        assert!(c.admit_at("gpt", 7, 1_000));
        for minute in 1_000..1_060 {
            assert!(!c.admit_at("gpt", 7, minute), "minute {minute}");
        }
        assert!(c.admit_at("gpt", 7, 1_060));
        // Another flag, another user: their own hours.
        assert!(c.admit_at("video", 7, 1_001));
        assert!(c.admit_at("gpt", 8, 1_001));
        assert!(!c.admit_at("gpt", 8, 1_002));
    }

    #[test]
    fn the_minute_wraps_without_silencing_anyone_for_ever() {
        let c = Complaints::default();
        let last = (1 << MINUTE_BITS) - 3;
        assert!(c.admit_at("gpt", 7, last));
        assert!(!c.admit_at("gpt", 7, last + 10));
        assert!(c.admit_at("gpt", 7, last + QUIET_MINUTES));
    }

    proptest! {
        /// Whatever the complaints: a pair's first complaint counts, so
        /// does one a quiet period after its last counted one, and a pair
        /// with a slot of its own is never counted twice within it (pairs
        /// sharing a slot may only count more).
        #[test]
        fn a_pair_counts_once_per_quiet_period(
            mut events in proptest::collection::vec((0usize..3, 0i64..60, 0u64..400), 1..400)
        ) {
            let names = ["gpt", "video", "voice"];
            let c = Complaints::default();
            events.sort_by_key(|e| e.2);
            let slot = |flag: usize, user: i64| (pair_hash(names[flag], user) as usize) % SLOTS;
            let mut users_of_slot: HashMap<usize, HashSet<(usize, i64)>> = HashMap::new();
            for &(flag, user, _) in &events {
                users_of_slot.entry(slot(flag, user)).or_default().insert((flag, user));
            }
            let mut last: HashMap<(usize, i64), u64> = HashMap::new();
            for (flag, user, minute) in events {
                let admitted = c.admit_at(names[flag], user, minute);
                match last.get(&(flag, user)) {
                    None => prop_assert!(admitted, "a first complaint counts"),
                    Some(&at) if minute - at >= QUIET_MINUTES => {
                        prop_assert!(admitted, "counted again after the quiet period");
                    }
                    Some(&at) if users_of_slot[&slot(flag, user)].len() == 1 => {
                        prop_assert!(!admitted, "counted at {at} and again at {minute}");
                    }
                    Some(_) => {}
                }
                if admitted {
                    last.insert((flag, user), minute);
                }
            }
        }
    }
}
