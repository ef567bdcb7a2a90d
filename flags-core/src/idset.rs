//! A read-only set of i64 ids, built once per load and probed per message.
//!
//! Exclusion lists and group members are looked up on every evaluation; an
//! open-addressing table with a multiplicative hash answers in a couple of
//! nanoseconds whatever its size, where `HashSet`'s SipHash alone costs more
//! than the rest of an evaluation.

const EMPTY_SLOT: i64 = i64::MIN;

#[derive(Debug, Clone, Default)]
pub(crate) struct IdSet {
    /// Power-of-two sized; `EMPTY_SLOT` marks a free slot.
    slots: Box<[i64]>,
    /// `i64::MIN` cannot live in a slot, so it is kept aside.
    has_min: bool,
    shift: u32,
    len: usize,
}

impl IdSet {
    pub(crate) fn new(ids: impl IntoIterator<Item = i64>) -> IdSet {
        let mut ids: Vec<i64> = ids.into_iter().collect();
        ids.sort_unstable();
        ids.dedup();
        let has_min = ids.first() == Some(&i64::MIN);
        if has_min {
            ids.remove(0);
        }
        if ids.is_empty() {
            return IdSet {
                has_min,
                len: usize::from(has_min),
                ..IdSet::default()
            };
        }
        // At most half full keeps probe chains short.
        let capacity = (ids.len() * 2).next_power_of_two().max(4);
        let mut slots = vec![EMPTY_SLOT; capacity].into_boxed_slice();
        let shift = 64 - capacity.trailing_zeros();
        let mask = capacity - 1;
        for &id in &ids {
            let mut i = slot_of(id, shift);
            while slots[i] != EMPTY_SLOT {
                i = (i + 1) & mask;
            }
            slots[i] = id;
        }
        IdSet {
            slots,
            has_min,
            shift,
            len: ids.len() + usize::from(has_min),
        }
    }

    #[inline]
    pub(crate) fn contains(&self, id: i64) -> bool {
        if self.slots.is_empty() || id == EMPTY_SLOT {
            return id == EMPTY_SLOT && self.has_min;
        }
        let mask = self.slots.len() - 1;
        let mut i = slot_of(id, self.shift);
        loop {
            let slot = self.slots[i];
            if slot == id {
                return true;
            }
            if slot == EMPTY_SLOT {
                return false;
            }
            i = (i + 1) & mask;
        }
    }

    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

/// Fibonacci hashing: the top bits of id × 2⁶⁴/φ spread sequential ids.
#[inline]
fn slot_of(id: i64, shift: u32) -> usize {
    ((id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn empty_set_contains_nothing() {
        let set = IdSet::new([]);
        assert!(!set.contains(0));
        assert!(!set.contains(i64::MIN));
        assert_eq!(set.len(), 0);
    }

    #[test]
    fn extremes_and_duplicates() {
        let set = IdSet::new([i64::MIN, i64::MAX, 0, -1, -1]);
        assert!(set.contains(i64::MIN));
        assert!(set.contains(i64::MAX));
        assert!(set.contains(-1));
        assert!(!set.contains(1));
        assert_eq!(set.len(), 4);
    }

    proptest! {
        #[test]
        fn agrees_with_std_hash_set(ids in proptest::collection::vec(any::<i64>(), 0..200), probes in proptest::collection::vec(any::<i64>(), 0..50)) {
            let set = IdSet::new(ids.iter().copied());
            let reference: std::collections::HashSet<i64> = ids.iter().copied().collect();
            prop_assert_eq!(set.len(), reference.len());
            for id in ids.iter().chain(&probes) {
                prop_assert_eq!(set.contains(*id), reference.contains(id));
            }
        }
    }
}
