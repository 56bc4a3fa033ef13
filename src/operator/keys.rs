//! In-memory join keys shared by the joins: `arrow-row` encoded key bytes, held inline
//! when short, hashed with a fast hash. Nothing here is ever persisted or part of an
//! identity: only equality of encoded keys matters.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

use crate::hashing::in_memory::{mix_bytes, PassThrough};

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

/// A fast, well-mixed 64-bit hash of encoded key bytes (in memory only, never stored).
pub(super) fn key_hash(bytes: &[u8]) -> u64 {
    mix_bytes(bytes.len() as u64, bytes)
}

/// The longest key a [`KeySet`] holds inline: two `Int64` columns encode to 18 bytes.
const SET_INLINE_BYTES: usize = 23;

/// A set of encoded keys: short ones inline, longer ones on the heap, grouped by hash.
#[derive(Default)]
pub(super) struct KeySet {
    short: HashSet<InlineKey<SET_INLINE_BYTES>, PassThrough>,
    long: HashMap<u64, Vec<Box<[u8]>>, PassThrough>,
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
