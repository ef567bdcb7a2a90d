//! The frozen bucketing hash (docs/spec.md "Bucketing").
//!
//! Changing anything here moves users in and out of rollouts; the golden
//! vectors in `tests/data/bucketing_vectors.json` guard it, and a property
//! test checks the specialised hash below against `xxhash_rust` itself.

use xxhash_rust::xxh3::xxh3_64;

/// Number of buckets: a percentage with three decimals maps 1:1 onto them.
pub const BUCKETS: u32 = 100_000;

/// Bytes 8..16 and 16..24 of xxh3's default secret, the only secret bytes
/// xxh3 reads for a 4- to 8-byte input.
const SECRET_8: u64 = u64::from_le_bytes([0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c]);
const SECRET_16: u64 = u64::from_le_bytes([0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb]);
const AVALANCHE: u64 = 0x9FB2_1C65_1E98_DF25;
const KEY_LEN: u64 = 8;

/// The hash seed of a salt: `xxh3_64(salt)`. Computed once per flag at load.
#[inline]
pub fn seed_for_salt(salt: &str) -> u64 {
    xxh3_64(salt.as_bytes())
}

/// The bucket (0 ..= 99 999) of `key` under `seed`.
#[inline]
pub fn bucket(key: i64, seed: u64) -> u32 {
    bucket_with_flip(key, flip_for_seed(seed))
}

/// What `xxh3_64_with_seed` derives from its seed for an 8-byte input; a
/// flag computes it once at load so that a bucket costs only the mixing.
#[inline]
pub(crate) const fn flip_for_seed(seed: u64) -> u64 {
    let seed = seed ^ (((seed as u32).swap_bytes() as u64) << 32);
    (SECRET_8 ^ SECRET_16).wrapping_sub(seed)
}

/// [`bucket`] with the seed's flip precomputed ([`flip_for_seed`]).
#[inline]
pub(crate) fn bucket_with_flip(key: i64, flip: u64) -> u32 {
    let h = hash_with_flip(key, flip);
    // Multiply-shift maps the hash onto the range without modulo bias.
    ((u128::from(h) * u128::from(BUCKETS)) >> 64) as u32
}

/// `xxh3_64_with_seed(&key.to_le_bytes(), seed)`, written out for exactly
/// 8 bytes (xxh3's 4-to-8-byte path): the general function spends as long
/// choosing its path and re-deriving the seed as it does hashing.
#[inline]
fn hash_with_flip(key: i64, flip: u64) -> u64 {
    // xxh3 reads the first 4 bytes as the high half and the last 4 as the
    // low half: for 8 little-endian bytes, the halves swapped.
    let keyed = (key as u64).rotate_left(32) ^ flip;
    // xxh3's "rrmxmx" avalanche for short inputs.
    let mut h = keyed ^ keyed.rotate_left(49) ^ keyed.rotate_left(24);
    h = h.wrapping_mul(AVALANCHE);
    h ^= (h >> 35).wrapping_add(KEY_LEN);
    h = h.wrapping_mul(AVALANCHE);
    h ^ (h >> 28)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use xxhash_rust::xxh3::xxh3_64_with_seed;

    fn reference_bucket(key: i64, seed: u64) -> u32 {
        let h = xxh3_64_with_seed(&key.to_le_bytes(), seed);
        ((u128::from(h) * u128::from(BUCKETS)) >> 64) as u32
    }

    #[test]
    fn matches_xxh3_at_the_edges() {
        let keys = [0, 1, -1, i64::MIN, i64::MAX, 0x0102_0304_0506_0708];
        let seeds = [0, 1, u64::MAX, 0x8000_0000, 0xFFFF_FFFF, seed_for_salt("")];
        for key in keys {
            for seed in seeds {
                let flip = flip_for_seed(seed);
                assert_eq!(
                    hash_with_flip(key, flip),
                    xxh3_64_with_seed(&key.to_le_bytes(), seed),
                    "key {key}, seed {seed:#x}"
                );
                assert_eq!(bucket(key, seed), reference_bucket(key, seed));
            }
        }
    }

    proptest! {
        #[test]
        fn the_specialised_hash_is_xxh3_with_seed(key in any::<i64>(), seed in any::<u64>()) {
            prop_assert_eq!(
                hash_with_flip(key, flip_for_seed(seed)),
                xxh3_64_with_seed(&key.to_le_bytes(), seed)
            );
            prop_assert_eq!(bucket(key, seed), reference_bucket(key, seed));
        }

        #[test]
        fn buckets_by_salt_match_xxh3(key in any::<i64>(), salt in "\\PC{0,24}") {
            let seed = seed_for_salt(&salt);
            prop_assert_eq!(bucket(key, seed), reference_bucket(key, seed));
            prop_assert!(bucket(key, seed) < BUCKETS);
        }
    }
}
