//! The byte-keyed index of a symmetric hash join: encoded join key (inline when short,
//! by hash when long) → the stored rows of each side holding it, as chains in arrival
//! order.
//!
//! One lookup per arriving row finds the other side's matches and records the row on
//! its own side. The index holds row positions only (batch, row), never rows or values;
//! it is in memory only and never persisted. It must never lose a stored row and must
//! report a probe's matches in arrival order; long keys are grouped by hash, so the
//! caller compares their bytes.

use std::collections::hash_map::{Entry, HashMap};
use std::hash::{Hash, Hasher};

use crate::hashing::in_memory::PassThrough;
use crate::operator::keys::InlineKey;

/// "No entry" in the chains of a [`KeyIndex`].
pub(super) const NONE: u32 = u32::MAX;

/// The longest encoded key the join index holds inline (an `Int64` key encodes to 9
/// bytes).
const SHORT_KEY_BYTES: usize = 15;

/// A join key held inline.
pub(super) type ShortKey = InlineKey<SHORT_KEY_BYTES>;

/// The rows of one side sharing one key (or, for long keys, one key hash), in arrival
/// order: the first inline, the others as a linked list of entries.
#[derive(Clone, Copy)]
struct Chain {
    first: (u32, u32),
    more: u32,
    last: u32,
}

impl Chain {
    const EMPTY: Chain = Chain {
        first: (NONE, NONE),
        more: NONE,
        last: NONE,
    };
}

/// The index of a symmetric hash join, shared by both sides: key → the (batch, row) of
/// the rows of each side holding it. One lookup per arriving row finds the other side's
/// matches and appends the row to its own side's chain. Rows after the first of a chain
/// are entries `(batch, row, next)`; nothing is allocated per key.
pub(super) struct KeyIndex<K> {
    heads: HashMap<K, [Chain; 2], PassThrough>,
    entries: Vec<(u32, u32, u32)>,
}

impl<K> Default for KeyIndex<K> {
    fn default() -> Self {
        KeyIndex {
            heads: HashMap::default(),
            entries: Vec::new(),
        }
    }
}

impl<K: Hash + Eq> KeyIndex<K> {
    /// Calls `found` with the (batch, row) of every row of side `other` on the chain of
    /// `key`, in arrival order; then, when `keep`, appends `(batch, row)` to the chain of
    /// side `1 - other`.
    pub(super) fn probe_and_insert(
        &mut self,
        key: K,
        other: usize,
        keep: Option<(u32, u32)>,
        mut found: impl FnMut((u32, u32)),
    ) {
        let entries = &mut self.entries;
        let mut walk = |chain: &Chain, entries: &Vec<(u32, u32, u32)>| {
            if chain.first.0 == NONE {
                return;
            }
            found(chain.first);
            let mut next = chain.more;
            while next != NONE {
                let (batch, row, following) = entries[next as usize];
                found((batch, row));
                next = following;
            }
        };
        match self.heads.entry(key) {
            Entry::Occupied(mut occupied) => {
                let chains = occupied.get_mut();
                walk(&chains[other], entries);
                if let Some(at) = keep {
                    append(&mut chains[1 - other], entries, at);
                }
            }
            Entry::Vacant(vacant) => {
                if let Some(at) = keep {
                    let mut chains = [Chain::EMPTY; 2];
                    chains[1 - other].first = at;
                    vacant.insert(chains);
                }
            }
        }
    }
}

/// Appends `at` to `chain`.
fn append(chain: &mut Chain, entries: &mut Vec<(u32, u32, u32)>, at: (u32, u32)) {
    if chain.first.0 == NONE {
        chain.first = at;
        return;
    }
    let entry = entries.len() as u32;
    entries.push((at.0, at.1, NONE));
    match chain.last {
        NONE => chain.more = entry,
        last => entries[last as usize].2 = entry,
    }
    chain.last = entry;
}

/// Hashes a long key for a [`KeyIndex`] keyed by hash.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct KeyHash(pub(super) u64);

impl Hash for KeyHash {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0);
    }
}
