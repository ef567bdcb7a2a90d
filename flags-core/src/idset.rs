//! A read-only set of i64 ids, built once per load and probed per message.
//!
//! Exclusion lists and group members are looked up on every evaluation; an
//! open-addressing table with a multiplicative hash answers in a couple of
//! nanoseconds whatever its size, where `HashSet`'s SipHash alone costs more
//! than the rest of an evaluation.

const EMPTY_SLOT: u64 = i64::MIN as u64;
/// log2 of the filter's bits per table slot: 8, so a table at most half
/// full sets at most one filter bit in 16.
const FILTER_BITS_PER_SLOT_LOG2: u32 = 3;

/// The ids in an open-addressing table (linear probing, Fibonacci hashing),
/// with a bit filter in front of it.
///
/// Most probes are for ids that are not there (most chats are not
/// excluded), and a table of a thousand ids is 16 KiB: ten such flags do not
/// fit the L1 cache, so a table probe per flag is a cache miss per flag.
/// The filter, a bit per hash prefix at 8 bits per slot (1 KiB for a
/// thousand ids, and on the table's allocation), answers most of those
/// probes alone with one bit test; only an id whose bit is set (one in 16
/// or fewer, for an absent id) goes on to the table.
#[derive(Debug, Clone)]
pub(crate) struct IdSet {
    /// The filter's words, then the table's slots (`EMPTY_SLOT` marks a
    /// free one; ids stored as their bits).
    words: Box<[u64]>,
    /// Where the table starts in `words`.
    table: u32,
    /// 64 − log2 of the table's size (a power of two).
    shift: u32,
    /// `i64::MIN` cannot live in a slot, so it is kept aside.
    has_min: bool,
}

impl IdSet {
    /// The set of `ids` (duplicates allowed). Built straight from the
    /// slice: a table needs no order, and a duplicate is found where it
    /// would be inserted, so the ids are neither copied, sorted nor
    /// deduplicated (a third of a reload's compiling once).
    pub(crate) fn new(ids: &[i64]) -> IdSet {
        // At most half full keeps probe chains short (duplicates count
        // towards the size: the table is then emptier). An empty set gets
        // the smallest table too (never probed: its filter is all zeros),
        // so probing needs no test for emptiness.
        let capacity = (ids.len() * 2).next_power_of_two().max(4);
        let shift = 64 - capacity.trailing_zeros();
        let filter_words = ((capacity << FILTER_BITS_PER_SLOT_LOG2) / 64).max(1);
        // One pass writes every word: the free-slot marker, then zeros
        // over the filter (a zeroed allocation and a second pass over the
        // slots cost more).
        let mut words = vec![EMPTY_SLOT; filter_words + capacity].into_boxed_slice();
        let (filter, slots) = words.split_at_mut(filter_words);
        filter.fill(0);
        let mask = capacity - 1;
        let mut has_min = false;
        for &id in ids {
            if id as u64 == EMPTY_SLOT {
                has_min = true;
                continue;
            }
            let hash = hash(id);
            let mut i = (hash >> shift) as usize;
            loop {
                let slot = slots[i];
                if slot == id as u64 {
                    break;
                }
                if slot == EMPTY_SLOT {
                    slots[i] = id as u64;
                    let bit = filter_bit(hash, shift);
                    filter[bit / 64] |= 1 << (bit % 64);
                    break;
                }
                i = (i + 1) & mask;
            }
        }
        IdSet {
            words,
            table: filter_words as u32,
            shift,
            has_min,
        }
    }

    #[inline]
    pub(crate) fn contains(&self, id: i64) -> bool {
        if id as u64 == EMPTY_SLOT {
            return self.has_min;
        }
        let hash = hash(id);
        let bit = filter_bit(hash, self.shift);
        if self.words[bit / 64] & (1 << (bit % 64)) == 0 {
            return false;
        }
        self.in_table(id as u64, (hash >> self.shift) as usize)
    }

    #[inline]
    fn in_table(&self, id: u64, mut i: usize) -> bool {
        let slots = &self.words[self.table as usize..];
        let mask = slots.len() - 1;
        loop {
            let slot = slots[i & mask];
            if slot == id {
                return true;
            }
            if slot == EMPTY_SLOT {
                return false;
            }
            i += 1;
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.words[self.table as usize..]
            .iter()
            .filter(|&&slot| slot != EMPTY_SLOT)
            .count()
            + usize::from(self.has_min)
    }
}

/// Fibonacci hashing: id × 2⁶⁴/φ, whose top bits spread sequential ids.
#[inline]
fn hash(id: i64) -> u64 {
    (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The filter bit of `hash`: its top bits, 3 more than pick the table slot.
#[inline]
fn filter_bit(hash: u64, shift: u32) -> usize {
    (hash >> (shift - FILTER_BITS_PER_SLOT_LOG2)) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn empty_set_contains_nothing() {
        let set = IdSet::new(&[]);
        assert!(!set.contains(0));
        assert!(!set.contains(i64::MIN));
        assert_eq!(set.len(), 0);
    }

    #[test]
    fn extremes_and_duplicates() {
        let set = IdSet::new(&[i64::MIN, i64::MAX, 0, -1, -1, i64::MIN]);
        assert!(set.contains(i64::MIN));
        assert!(set.contains(i64::MAX));
        assert!(set.contains(-1));
        assert!(!set.contains(1));
        assert_eq!(set.len(), 4);
    }

    /// Big enough that absent ids hit set filter bits and probe the table.
    #[test]
    fn agrees_with_std_hash_set_when_large() {
        let ids: Vec<i64> = (0..10_000).map(|i| -1_001_000_000_000 - i * 13).collect();
        let set = IdSet::new(&ids);
        let reference: std::collections::HashSet<i64> = ids.iter().copied().collect();
        assert_eq!(set.len(), ids.len());
        for probe in -1_001_000_150_000..-1_000_999_990_000 {
            assert_eq!(set.contains(probe), reference.contains(&probe), "{probe}");
        }
    }

    proptest! {
        /// Ids from a small range as well as any: duplicates (found at
        /// insertion) are common, and so are i64's extremes.
        #[test]
        fn agrees_with_std_hash_set(
            ids in proptest::collection::vec(
                prop_oneof![any::<i64>(), -20i64..20, Just(i64::MIN), Just(i64::MAX)],
                0..200,
            ),
            probes in proptest::collection::vec(prop_oneof![any::<i64>(), -25i64..25], 0..50),
        ) {
            let set = IdSet::new(&ids);
            let reference: std::collections::HashSet<i64> = ids.iter().copied().collect();
            prop_assert_eq!(set.len(), reference.len());
            for id in ids.iter().chain(&probes) {
                prop_assert_eq!(set.contains(*id), reference.contains(id));
            }
        }
    }
}
