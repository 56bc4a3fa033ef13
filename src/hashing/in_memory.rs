//! Hashes that never leave memory: they only spread the keys of in-process hash tables
//! (join indexes, key sets, the store's record-id index, row-digest maps).
//!
//! Two tools live here:
//! - [`PassThroughHasher`] (with its `BuildHasher`, [`PassThrough`]): a `Hasher` for keys
//!   that already *are* well-mixed hashes — a `u64` fingerprint, a key whose `Hash` writes
//!   one pre-computed `u64`, or a cryptographic digest — so hashing them again would only
//!   cost time;
//! - [`mix_bytes`]: a fast, well-mixed 64-bit hash of a byte string, to make such a
//!   fingerprint.
//!
//! Nothing computed here may ever be persisted, printed, or be part of an identity or a
//! content hash (those are `semantic` and `arrow`): only the equality of the keys matters,
//! and these values may change between versions without changing any output.

use std::hash::{BuildHasherDefault, Hasher};

/// The odd multiplier of Fibonacci hashing (2^64 / φ).
const K: u64 = 0x9E37_79B9_7F4A_7C15;

/// A `Hasher` that passes an already well-mixed hash through.
///
/// - `write_u64(n)` (a `u64` key, or a key whose `Hash` writes one pre-computed `u64`):
///   the hash is `n` itself;
/// - `write(bytes)` of 8 bytes or more (a digest): the hash is the last 8 bytes, read
///   little-endian (the tail of a SHA-256 digest is as uniform as any part of it, and a
///   slice's length prefix, written first, is overwritten);
/// - shorter writes are folded in with a multiply, so that any other key still hashes
///   correctly (if slowly and less evenly).
///
/// Only use it for keys that are hashes or digests: keys of low entropy (small
/// integers, counters) would collide in the table's low bits.
#[derive(Debug, Default, Clone, Copy)]
pub struct PassThroughHasher(u64);

impl Hasher for PassThroughHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        match bytes.last_chunk::<8>() {
            Some(tail) => self.0 = u64::from_le_bytes(*tail),
            None => {
                for &b in bytes {
                    self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(K);
                }
            }
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The `BuildHasher` of [`PassThroughHasher`]: `HashMap<K, V, PassThrough>`.
pub type PassThrough = BuildHasherDefault<PassThroughHasher>;

/// A fast, well-mixed 64-bit hash of `bytes`, starting from `seed` (not cryptographic:
/// in memory only, see the module docs). Words of 8 bytes are folded in with a rotate
/// and a multiply; MurmurHash3's finaliser then makes every input bit reach every
/// output bit.
pub fn mix_bytes(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = seed;
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let word = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        h = (h.rotate_left(23) ^ word).wrapping_mul(K);
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(23) ^ u64::from_le_bytes(last)).wrapping_mul(K);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    h ^= h >> 33;
    h = h.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::hash::{BuildHasher, Hash};

    use super::*;

    fn hash_of<T: Hash>(value: &T) -> u64 {
        PassThrough::default().hash_one(value)
    }

    #[test]
    fn hashes_pass_through() {
        assert_eq!(hash_of(&0xDEAD_BEEF_u64), 0xDEAD_BEEF);
        let digest: [u8; 35] = std::array::from_fn(|i| i as u8);
        let tail = u64::from_le_bytes(digest[27..].try_into().unwrap());
        assert_eq!(hash_of(&digest), tail);
        // Short keys still hash, and differently.
        assert_ne!(hash_of(&[1u8, 2]), hash_of(&[2u8, 1]));
        let mut map: HashMap<u64, u32, PassThrough> = HashMap::default();
        map.insert(mix_bytes(0, b"a"), 1);
        assert_eq!(map.get(&mix_bytes(0, b"a")), Some(&1));
    }

    #[test]
    fn mixing_depends_on_seed_and_every_byte() {
        let base = mix_bytes(3, b"abcdefghij");
        assert_ne!(base, mix_bytes(4, b"abcdefghij"));
        assert_ne!(base, mix_bytes(3, b"abcdefghik"));
        assert_ne!(base, mix_bytes(3, b"bbcdefghij"));
        assert_eq!(base, mix_bytes(3, b"abcdefghij"));
    }
}
