//! The frozen bucketing hash (SPEC.md "Bucketing").
//!
//! Changing anything here moves users in and out of rollouts; the golden
//! vectors in `tests/data/bucketing_vectors.json` guard it.

use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

/// Number of buckets: a percentage with three decimals maps 1:1 onto them.
pub const BUCKETS: u32 = 100_000;

/// The hash seed of a salt: `xxh3_64(salt)`. Computed once per flag at load.
#[inline]
pub fn seed_for_salt(salt: &str) -> u64 {
    xxh3_64(salt.as_bytes())
}

/// The bucket (0 ..= 99 999) of `key` under `seed`.
#[inline]
pub fn bucket(key: i64, seed: u64) -> u32 {
    let h = xxh3_64_with_seed(&key.to_le_bytes(), seed);
    // Multiply-shift maps the hash onto the range without modulo bias.
    ((u128::from(h) * u128::from(BUCKETS)) >> 64) as u32
}
