//! In-memory join keys shared by the joins: `arrow-row` encoded key bytes, held inline
//! when short, hashed with a fast hash. Nothing here is ever persisted or part of an
//! identity: only equality of encoded keys matters.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// An encoded key of at most `N` bytes, held inline: compared and hashed without a
/// pointer to follow or an allocation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct InlineKey<const N: usize> {
    len: u8,
    bytes: [u8; N],
}

impl<const N: usize> InlineKey<N> {
    /// The key, if it fits (`N` must be below 256).
    pub(super) fn new(key: &[u8]) -> Option<Self> {
        let mut bytes = [0; N];
        bytes.get_mut(..key.len())?.copy_from_slice(key);
        Some(InlineKey {
            len: key.len() as u8,
            bytes,
        })
    }
}

impl<const N: usize> Hash for InlineKey<N> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(key_hash(&self.bytes[..self.len as usize]));
    }
}

/// A hasher for keys whose `Hash` writes one well-mixed 64-bit hash.
#[derive(Default)]
pub(super) struct PrehashedKey(u64);

impl Hasher for PrehashedKey {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; stay correct for anything else.
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

/// A fast, well-mixed 64-bit hash of encoded key bytes (in memory only, never stored).
pub(super) fn key_hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h = bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        h = (h.rotate_left(23) ^ word).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut word = [0u8; 8];
        word[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(23) ^ u64::from_le_bytes(word)).wrapping_mul(K);
    }
    // murmur3's finaliser: every input bit reaches every output bit.
    h ^= h >> 33;
    h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    h ^= h >> 33;
    h = h.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    h ^ (h >> 33)
}

/// The longest key a [`KeySet`] holds inline: two `Int64` columns encode to 18 bytes.
const SET_INLINE_BYTES: usize = 23;

/// A set of encoded keys: short ones inline, longer ones on the heap, grouped by hash.
#[derive(Default)]
pub(super) struct KeySet {
    short: HashSet<InlineKey<SET_INLINE_BYTES>, BuildHasherDefault<PrehashedKey>>,
    long: HashMap<u64, Vec<Box<[u8]>>, BuildHasherDefault<PrehashedKey>>,
}

impl KeySet {
    pub(super) fn insert(&mut self, key: &[u8]) {
        match InlineKey::new(key) {
            Some(short) => {
                self.short.insert(short);
            }
            None => {
                let same_hash = self.long.entry(key_hash(key)).or_default();
                if !same_hash.iter().any(|k| **k == *key) {
                    same_hash.push(key.into());
                }
            }
        }
    }

    pub(super) fn contains(&self, key: &[u8]) -> bool {
        match InlineKey::new(key) {
            Some(short) => self.short.contains(&short),
            None => self
                .long
                .get(&key_hash(key))
                .is_some_and(|same_hash| same_hash.iter().any(|k| **k == *key)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_keys_are_exact() {
        let mut set = KeySet::default();
        let long: Vec<u8> = (0..40).collect();
        set.insert(&[1, 2, 3]);
        set.insert(&long);
        assert!(set.contains(&[1, 2, 3]));
        assert!(!set.contains(&[1, 2, 3, 0]));
        assert!(!set.contains(&[1, 2]));
        assert!(set.contains(&long));
        assert!(!set.contains(&long[..39]));
        assert!(!set.contains(&[]));
        set.insert(&[]);
        assert!(set.contains(&[]));
    }
}
