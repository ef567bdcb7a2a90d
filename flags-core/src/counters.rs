//! Decision counters that evaluation bumps without locks, without
//! allocating, and without bouncing a cache line between cores.
//!
//! One shared atomic per flag would be exact but slow: every evaluating core
//! would pull the same cache line over, and even an uncontended `lock xadd`
//! costs about as much as a whole evaluation. So each counter block holds
//! [`EXCLUSIVE_STRIPES`] stripes, one cache line each, plus one overflow
//! stripe. A thread leases an exclusive stripe index on its first count (a
//! process-wide bit set, returned by the thread's TLS destructor) and bumps
//! its stripe with a plain load and store: a single writer makes that exact.
//! Threads beyond [`EXCLUSIVE_STRIPES`] share the overflow stripe with
//! `fetch_add`, still exact. Readers sum the stripes.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::decision::{Decision, Reason};

/// Stripes leased to one thread at a time.
pub(crate) const EXCLUSIVE_STRIPES: usize = 8;
pub(crate) const OVERFLOW: usize = EXCLUSIVE_STRIPES;
const UNLEASED: usize = usize::MAX;
const TALLIES: usize = 8;

/// What a decision is counted as: its reason, with `rollout` split by
/// outcome (every other reason has one outcome only). The index of the
/// decision's counter in a stripe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tally(u8);

impl Tally {
    // Numbered as `Reason` is, so that counting a decision needs no table:
    // the reason's number, plus 2 for an off rollout.
    pub(crate) const UNKNOWN_FLAG: Tally = Tally(Reason::UnknownFlag as u8);
    pub(crate) const DISABLED: Tally = Tally(Reason::Disabled as u8);
    pub(crate) const CHAT_EXCLUDED: Tally = Tally(Reason::ChatExcluded as u8);
    pub(crate) const CHAT_TYPE: Tally = Tally(Reason::ChatType as u8);
    pub(crate) const GROUP: Tally = Tally(Reason::Group as u8);
    pub(crate) const ROLLOUT_ON: Tally = Tally(Reason::Rollout as u8);
    pub(crate) const MISSING_KEY: Tally = Tally(Reason::MissingKey as u8);
    pub(crate) const ROLLOUT_OFF: Tally = Tally(Reason::Rollout as u8 + 2);

    #[inline]
    pub(crate) fn of(decision: &Decision) -> Tally {
        let off_rollout = decision.reason == Reason::Rollout && !decision.enabled;
        Tally(decision.reason as u8 + 2 * u8::from(off_rollout))
    }

    const fn index(self) -> usize {
        // At most 7 (`ROLLOUT_OFF`): within a stripe's `TALLIES` without a
        // bounds check once masked.
        self.0 as usize & (TALLIES - 1)
    }
}

/// How often one flag decided each way, summed over every thread, since the
/// flag appeared in the store's file (counters survive reloads that keep
/// the flag; a flag removed and added back starts again at zero).
///
/// Batch evaluation (`evaluate_all`, `enabled_bits`, `evaluate_handles`)
/// counts every flag it evaluates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct DecisionCounts {
    pub disabled: u64,
    pub chat_excluded: u64,
    pub chat_type: u64,
    pub group: u64,
    /// `rollout` decisions that turned the flag on (100 % included).
    pub rollout_on: u64,
    pub rollout_off: u64,
    pub missing_key: u64,
}

impl DecisionCounts {
    /// Every `(outcome, reason)` pair a defined flag can decide, in
    /// evaluation step order.
    pub const PAIRS: [(bool, Reason); 7] = [
        (false, Reason::Disabled),
        (false, Reason::ChatExcluded),
        (false, Reason::ChatType),
        (true, Reason::Group),
        (true, Reason::Rollout),
        (false, Reason::Rollout),
        (false, Reason::MissingKey),
    ];

    /// Decisions that turned the flag on.
    pub fn on(&self) -> u64 {
        self.group + self.rollout_on
    }

    /// Decisions that left the flag off.
    pub fn off(&self) -> u64 {
        self.disabled + self.chat_excluded + self.chat_type + self.rollout_off + self.missing_key
    }

    pub fn total(&self) -> u64 {
        self.on() + self.off()
    }

    /// Decisions with this outcome and reason; 0 for a pair that cannot
    /// happen (`enabled` with `disabled`, or any `unknown_flag`).
    pub fn get(&self, enabled: bool, reason: Reason) -> u64 {
        match (enabled, reason) {
            (false, Reason::Disabled) => self.disabled,
            (false, Reason::ChatExcluded) => self.chat_excluded,
            (false, Reason::ChatType) => self.chat_type,
            (true, Reason::Group) => self.group,
            (true, Reason::Rollout) => self.rollout_on,
            (false, Reason::Rollout) => self.rollout_off,
            (false, Reason::MissingKey) => self.missing_key,
            _ => 0,
        }
    }
}

/// One thread's counts (or the overflow stripe's), alone on a cache line.
#[derive(Default)]
#[repr(align(64))]
struct Stripe([AtomicU64; TALLIES]);

/// The counts of one flag, or the store-wide `unknown_flag` count.
#[derive(Default)]
pub(crate) struct Counters {
    stripes: [Stripe; EXCLUSIVE_STRIPES + 1],
}

impl Counters {
    #[inline]
    pub(crate) fn record(&self, tally: Tally) {
        self.record_on(current_stripe(), tally);
    }

    /// Counts `tally` on `stripe`, which must be this thread's (from
    /// [`current_stripe`]): that is what makes the plain load and store exact.
    #[inline]
    pub(crate) fn record_on(&self, stripe: StripeIndex, tally: Tally) {
        bump(&self.stripes[stripe.0].0[tally.index()], stripe, 1);
    }

    pub(crate) fn total(&self, tally: Tally) -> u64 {
        self.stripes
            .iter()
            .map(|s| s.0[tally.index()].load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }

    pub(crate) fn decision_counts(&self) -> DecisionCounts {
        DecisionCounts {
            disabled: self.total(Tally::DISABLED),
            chat_excluded: self.total(Tally::CHAT_EXCLUDED),
            chat_type: self.total(Tally::CHAT_TYPE),
            group: self.total(Tally::GROUP),
            rollout_on: self.total(Tally::ROLLOUT_ON),
            rollout_off: self.total(Tally::ROLLOUT_OFF),
            missing_key: self.total(Tally::MISSING_KEY),
        }
    }
}

impl fmt::Debug for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Counters")
            .field("counts", &self.decision_counts())
            .field("unknown_flag", &self.total(Tally::UNKNOWN_FLAG))
            .finish()
    }
}

/// Which stripe the current thread counts on. Not `Send`: on another
/// thread it would make two writers of one stripe, and lose counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StripeIndex(usize, PhantomData<*const ()>);

impl StripeIndex {
    const fn new(stripe: usize) -> StripeIndex {
        StripeIndex(stripe, PhantomData)
    }

    /// Any stripe, for unit tests that write stripes the calling thread
    /// does not lease (from one thread, so exclusive stripes stay unshared).
    #[cfg(test)]
    pub(crate) const fn for_tests(stripe: usize) -> StripeIndex {
        StripeIndex::new(stripe)
    }

    /// The stripe's number: below [`EXCLUSIVE_STRIPES`] for a stripe this
    /// thread alone writes, [`OVERFLOW`] for the shared one.
    #[inline]
    pub(crate) const fn get(self) -> usize {
        self.0
    }
}

/// Adds `amount` to `cell`, which belongs to stripe `stripe` of the calling
/// thread: a plain load and store on an exclusive stripe (its only writer),
/// `fetch_add` on the shared overflow stripe.
#[inline(always)]
pub(crate) fn bump(cell: &AtomicU64, stripe: StripeIndex, amount: u64) {
    if stripe.0 == OVERFLOW {
        cell.fetch_add(amount, Ordering::Relaxed);
    } else {
        cell.store(
            cell.load(Ordering::Relaxed).wrapping_add(amount),
            Ordering::Relaxed,
        );
    }
}

/// [`bump`] that stops at `u64::MAX` instead of wrapping, for a sum that
/// must never go down (Prometheus reads a decrease as a reset). The
/// exclusive stripe pays one compare; the shared overflow stripe a
/// compare-and-swap loop (lock-free; only threads past the exclusive
/// stripes take it).
#[inline(always)]
pub(crate) fn bump_saturating(cell: &AtomicU64, stripe: StripeIndex, amount: u64) {
    if stripe.0 == OVERFLOW {
        // Never fails: the closure always returns Some.
        let _ = cell.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |sum| {
            Some(sum.saturating_add(amount))
        });
    } else {
        cell.store(
            cell.load(Ordering::Relaxed).saturating_add(amount),
            Ordering::Relaxed,
        );
    }
}

/// The exclusive stripe indices and which of them are leased.
struct StripePool {
    /// Bit i set: exclusive stripe i is free to lease.
    free: AtomicU32,
}

impl StripePool {
    const fn new() -> StripePool {
        StripePool {
            free: AtomicU32::new((1 << EXCLUSIVE_STRIPES) - 1),
        }
    }

    /// A free exclusive stripe, or [`OVERFLOW`] if all are leased.
    #[cold]
    #[inline(never)]
    fn lease(&self) -> usize {
        let mut free = self.free.load(Ordering::Relaxed);
        loop {
            if free == 0 {
                return OVERFLOW;
            }
            let stripe = free.trailing_zeros() as usize;
            // Acquire: see the counts the stripe's previous holder stored.
            match self.free.compare_exchange_weak(
                free,
                free & !(1 << stripe),
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return stripe,
                Err(now) => free = now,
            }
        }
    }

    fn release(&self, stripe: usize) {
        if stripe < EXCLUSIVE_STRIPES {
            // Release: whoever leases the stripe next continues from the
            // counts its previous holder stored.
            self.free.fetch_or(1 << stripe, Ordering::Release);
        }
    }
}

static POOL: StripePool = StripePool::new();

thread_local! {
    /// This thread's stripe, or `UNLEASED`. Const-initialized and without a
    /// destructor, so reading it is one thread-local load: no initializer,
    /// no liveness check, never an allocation.
    static STRIPE: Cell<usize> = const { Cell::new(UNLEASED) };
    /// Exists only for its destructor, which returns the stripe when the
    /// thread exits; touched once per thread, when it leases.
    static LEASE: Lease = const { Lease };
}

struct Lease;

impl Drop for Lease {
    fn drop(&mut self) {
        // Whatever this thread still counts after this (from another
        // thread-local's destructor) goes to the shared overflow stripe: the
        // released stripe may already belong to another thread.
        POOL.release(STRIPE.replace(OVERFLOW));
    }
}

/// The current thread's stripe, leasing one on the thread's first count.
#[inline]
pub(crate) fn current_stripe() -> StripeIndex {
    let stripe = STRIPE.get();
    if stripe == UNLEASED {
        return StripeIndex::new(lease_for_this_thread());
    }
    StripeIndex::new(stripe)
}

#[cold]
#[inline(never)]
fn lease_for_this_thread() -> usize {
    // Registers the lease's destructor before taking a stripe; a thread
    // already tearing its thread-locals down counts on the shared stripe.
    let stripe = match LEASE.try_with(|_| ()) {
        Ok(()) => POOL.lease(),
        Err(_) => OVERFLOW,
    };
    STRIPE.set(stripe);
    stripe
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};

    /// `T` is exactly one cache line, sized and aligned: what the hot path
    /// reads of it costs one line fetch, and no other core's writes share it.
    pub(crate) fn assert_one_cache_line<T>() {
        let name = std::any::type_name::<T>();
        assert_eq!(std::mem::size_of::<T>(), 64, "size of {name}");
        assert_eq!(std::mem::align_of::<T>(), 64, "alignment of {name}");
    }

    #[test]
    fn stripes_are_cache_line_sized_and_aligned() {
        assert_one_cache_line::<Stripe>();
    }

    #[test]
    fn tally_splits_rollout_by_outcome() {
        let on = Decision {
            enabled: true,
            reason: Reason::Rollout,
            bucket: Some(1),
        };
        let off = Decision {
            enabled: false,
            ..on
        };
        assert_eq!(Tally::of(&on), Tally::ROLLOUT_ON);
        assert_eq!(Tally::of(&off), Tally::ROLLOUT_OFF);
        assert_eq!(Tally::of(&Decision::UNKNOWN), Tally::UNKNOWN_FLAG);
    }

    /// Every decision a flag can make lands in its own counter, the one
    /// `DecisionCounts::get` reads back.
    #[test]
    fn each_outcome_and_reason_has_its_own_counter() {
        let counters = Counters::default();
        for (times, (enabled, reason)) in (1..).zip(DecisionCounts::PAIRS) {
            let decision = Decision {
                enabled,
                reason,
                bucket: None,
            };
            for _ in 0..times {
                counters.record(Tally::of(&decision));
            }
        }
        let counts = counters.decision_counts();
        for (times, (enabled, reason)) in (1..).zip(DecisionCounts::PAIRS) {
            assert_eq!(counts.get(enabled, reason), times, "{enabled} {reason}");
        }
        assert_eq!(counters.total(Tally::UNKNOWN_FLAG), 0);
        counters.record(Tally::of(&Decision::UNKNOWN));
        assert_eq!(counters.total(Tally::UNKNOWN_FLAG), 1);
        assert_eq!(counters.decision_counts(), counts);
    }

    /// More threads than stripes, all alive at once, so some share the
    /// overflow stripe: the sum is still exact.
    #[test]
    fn counts_are_exact_with_more_threads_than_stripes() {
        const THREADS: usize = EXCLUSIVE_STRIPES + 4;
        const PER_THREAD: u64 = 20_000;
        let counters = Arc::new(Counters::default());
        let all_leased = Arc::new(Barrier::new(THREADS));
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                let counters = Arc::clone(&counters);
                let all_leased = Arc::clone(&all_leased);
                std::thread::spawn(move || {
                    let stripe = current_stripe();
                    all_leased.wait();
                    for _ in 0..PER_THREAD {
                        counters.record(Tally::GROUP);
                        counters.record_on(stripe, Tally::MISSING_KEY);
                    }
                    stripe.0
                })
            })
            .collect();
        let mut stripes: Vec<usize> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        stripes.sort_unstable();
        let exclusive = stripes.iter().filter(|&&s| s != OVERFLOW).count();
        assert!(exclusive <= EXCLUSIVE_STRIPES, "{stripes:?}");
        stripes.dedup();
        assert_eq!(
            stripes.len(),
            exclusive + 1,
            "one holder per stripe: {stripes:?}"
        );
        let total = THREADS as u64 * PER_THREAD;
        assert_eq!(counters.total(Tally::GROUP), total);
        assert_eq!(counters.total(Tally::MISSING_KEY), total);
        assert_eq!(counters.total(Tally::ROLLOUT_ON), 0);
    }

    #[test]
    fn the_pool_leases_each_stripe_once_then_overflow_and_takes_them_back() {
        let pool = StripePool::new();
        let mut leased: Vec<usize> = (0..EXCLUSIVE_STRIPES).map(|_| pool.lease()).collect();
        leased.sort_unstable();
        assert_eq!(leased, (0..EXCLUSIVE_STRIPES).collect::<Vec<_>>());
        assert_eq!(pool.lease(), OVERFLOW);
        pool.release(OVERFLOW);
        assert_eq!(pool.lease(), OVERFLOW);
        pool.release(5);
        assert_eq!(pool.lease(), 5);
    }

    #[test]
    fn threads_that_come_and_go_keep_counting_exactly() {
        let counters = Arc::new(Counters::default());
        for _ in 0..3 * EXCLUSIVE_STRIPES {
            let counters = Arc::clone(&counters);
            std::thread::spawn(move || counters.record(Tally::CHAT_TYPE))
                .join()
                .unwrap();
        }
        assert_eq!(
            counters.total(Tally::CHAT_TYPE),
            3 * EXCLUSIVE_STRIPES as u64
        );
    }
}
