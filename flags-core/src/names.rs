//! Flag name → index, without SipHash.
//!
//! By-name evaluation hashes the name once with xxh3 and probes an
//! open-addressing table of (hash, index) pairs; the name itself is compared
//! only on a hash match.

use xxhash_rust::xxh3::xxh3_64;

const EMPTY: u32 = u32::MAX;

#[derive(Debug, Clone)]
pub(crate) struct NameIndex {
    /// Power-of-two sized (hash, index) pairs; index `EMPTY` is a free slot.
    slots: Box<[(u64, u32)]>,
}

impl NameIndex {
    /// Indexes `names`, which must be distinct; index i is the i-th name.
    pub(crate) fn new<'a>(names: impl ExactSizeIterator<Item = &'a str>) -> NameIndex {
        let capacity = (names.len() * 2).next_power_of_two().max(2);
        let mask = capacity - 1;
        let mut slots = vec![(0u64, EMPTY); capacity].into_boxed_slice();
        for (i, name) in names.enumerate() {
            let hash = xxh3_64(name.as_bytes());
            let mut s = hash as usize & mask;
            while slots[s].1 != EMPTY {
                s = (s + 1) & mask;
            }
            slots[s] = (hash, i as u32);
        }
        NameIndex { slots }
    }

    /// The index of `name`; `name_at(i)` gives the stored name of index i.
    #[inline]
    pub(crate) fn get<'n>(&self, name: &str, name_at: impl Fn(u32) -> &'n str) -> Option<u32> {
        let hash = xxh3_64(name.as_bytes());
        let mask = self.slots.len() - 1;
        let mut s = hash as usize & mask;
        loop {
            let (h, i) = self.slots[s];
            if i == EMPTY {
                return None;
            }
            if h == hash && name_at(i) == name {
                return Some(i);
            }
            s = (s + 1) & mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index_of(names: &[&str]) -> NameIndex {
        NameIndex::new(names.iter().copied())
    }

    #[test]
    fn finds_every_name_and_nothing_else() {
        let names: Vec<String> = (0..500).map(|i| format!("flag_{i:05}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let index = index_of(&names);
        for (i, name) in names.iter().enumerate() {
            assert_eq!(index.get(name, |j| names[j as usize]), Some(i as u32));
        }
        for absent in ["", "flag_", "flag_00500", "flag_0000", "flag_000000", "x"] {
            assert_eq!(index.get(absent, |j| names[j as usize]), None, "{absent}");
        }
    }

    #[test]
    fn an_empty_index_finds_nothing() {
        let index = index_of(&[]);
        assert_eq!(index.get("a", |_| unreachable!()), None);
    }
}
