//! The bot's per-message job, done each way the API allows: every flag of
//! one message from one snapshot, as a handler does it.
//!
//! Each job returns how many flags are on, so the work cannot be optimised
//! away and every way can be checked to agree.

use flags_core::{Context, Decision, FlagStore, Handle, Snapshot};

use crate::fixtures::MESSAGE_FLAGS;

pub const FLAGS: usize = MESSAGE_FLAGS.len();

/// One way of doing the per-message job; returns how many flags are on.
pub type Job = fn(&Bot, &Context<'_>) -> u32;

/// Every way, named for the benchmarks.
pub const WAYS: [(&str, Job); 6] = [
    ("by_name", Bot::by_name),
    ("by_handle", Bot::by_handle),
    ("store_is_enabled", Bot::store_is_enabled),
    ("evaluate_handles", Bot::evaluate_handles),
    ("evaluate_all", Bot::evaluate_all),
    ("enabled_bits", Bot::enabled_bits),
];

/// The store and what a bot resolves once at start-up.
pub struct Bot {
    pub store: FlagStore,
    pub handles: [Handle; FLAGS],
}

impl Bot {
    pub fn new(store: FlagStore) -> Bot {
        let handles = MESSAGE_FLAGS.map(|name| store.handle(name));
        Bot { store, handles }
    }

    /// One snapshot, each flag looked up by name.
    #[inline]
    pub fn by_name(&self, ctx: &Context<'_>) -> u32 {
        let snapshot = self.store.snapshot();
        MESSAGE_FLAGS
            .iter()
            .map(|name| u32::from(snapshot.is_enabled(name, ctx)))
            .sum()
    }

    /// One snapshot, each flag by its handle.
    #[inline]
    pub fn by_handle(&self, ctx: &Context<'_>) -> u32 {
        let snapshot = self.store.snapshot();
        self.handles
            .iter()
            .map(|&handle| u32::from(snapshot.evaluate_handle(handle, ctx).enabled))
            .sum()
    }

    /// Each flag by its handle on `snapshot`: the job once a worker thread's
    /// [`flags_core::Reader`] has given it the snapshot for this message.
    #[inline]
    pub fn by_handle_on(&self, snapshot: &Snapshot, ctx: &Context<'_>) -> u32 {
        self.handles
            .iter()
            .map(|&handle| u32::from(snapshot.evaluate_handle(handle, ctx).enabled))
            .sum()
    }

    /// Each flag by name on `snapshot` (see [`Bot::by_handle_on`]).
    #[inline]
    pub fn by_name_on(&self, snapshot: &Snapshot, ctx: &Context<'_>) -> u32 {
        MESSAGE_FLAGS
            .iter()
            .map(|name| u32::from(snapshot.is_enabled(name, ctx)))
            .sum()
    }

    /// `FlagStore::is_enabled` per flag: a snapshot load per flag, and no
    /// guarantee the flags come from one version of the file.
    #[inline]
    pub fn store_is_enabled(&self, ctx: &Context<'_>) -> u32 {
        MESSAGE_FLAGS
            .iter()
            .map(|name| u32::from(self.store.is_enabled(name, ctx)))
            .sum()
    }

    /// `Snapshot::evaluate_handles`: the handles' decisions in one call.
    #[inline]
    pub fn evaluate_handles(&self, ctx: &Context<'_>) -> u32 {
        let mut out = [Decision::UNKNOWN; FLAGS];
        self.store
            .snapshot()
            .evaluate_handles(&self.handles, ctx, &mut out);
        out.iter().map(|d| u32::from(d.enabled)).sum()
    }

    /// `Snapshot::evaluate_all`: every flag of the file, with reasons.
    #[inline]
    pub fn evaluate_all(&self, ctx: &Context<'_>) -> u32 {
        let mut out = [Decision::UNKNOWN; FLAGS];
        self.store.snapshot().evaluate_all(ctx, &mut out);
        out.iter().map(|d| u32::from(d.enabled)).sum()
    }

    /// `Snapshot::enabled_bits`: every flag of the file, one bit each.
    #[inline]
    pub fn enabled_bits(&self, ctx: &Context<'_>) -> u32 {
        let mut bits = [0u64; 1];
        self.store.snapshot().enabled_bits(ctx, &mut bits);
        bits[0].count_ones()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{message_flags, messages};

    #[test]
    fn every_way_counts_the_same_flags() {
        let bot = Bot::new(FlagStore::from_json(&message_flags(100, 0)).unwrap());
        let mut reader = bot.store.reader();
        let mut total = 0;
        for ctx in messages(256) {
            let on = bot.by_name(&ctx);
            assert_eq!(bot.by_handle_on(reader.snapshot(), &ctx), on);
            assert_eq!(bot.by_name_on(reader.snapshot(), &ctx), on);
            assert_eq!(bot.by_handle(&ctx), on);
            assert_eq!(bot.store_is_enabled(&ctx), on);
            assert_eq!(bot.evaluate_handles(&ctx), on);
            assert_eq!(bot.evaluate_all(&ctx), on);
            assert_eq!(bot.enabled_bits(&ctx), on);
            total += on;
        }
        // A mix of on and off: neither all-off nor all-on (inline_search is 100 %).
        assert!(total > 256 && total < 256 * FLAGS as u32, "{total}");
    }
}
