//! The in-memory record-id index of one path of the sled store.
//!
//! The store keeps, per stored batch, the ids of its rows (one sled key per batch, see
//! `sled_store`). This index is built from them when a path is first used and kept up to
//! date by every write: id → (batch, row) of the id's live row, the row of the *latest*
//! batch holding the id (so a replacing write wins, as the store's contract says).
//!
//! Memory: the ids are kept once, packed per batch (their bytes and end offsets); the
//! map holds a 64-bit fingerprint per id. Fingerprints are only a fast path: a lookup
//! always compares the id itself, and an id whose fingerprint is already taken by
//! another id lives in a small exact map beside it, so a collision costs time, never
//! correctness.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::error::{Error, Result};
use crate::hashing::in_memory::{mix_bytes, PassThrough};

/// Where an id's live row is: (batch number, row).
pub(crate) type Loc = (u64, u32);

/// The ids of one stored batch's rows, packed.
#[derive(Debug, Default, Clone)]
pub(crate) struct IdChunk {
    /// End offset of each id in `bytes`.
    ends: Vec<u32>,
    bytes: Vec<u8>,
}

impl IdChunk {
    /// Packs ids.
    pub(crate) fn new<'a>(ids: impl IntoIterator<Item = &'a str>) -> Result<IdChunk> {
        let mut chunk = IdChunk::default();
        for id in ids {
            chunk.bytes.extend_from_slice(id.as_bytes());
            let end = u32::try_from(chunk.bytes.len())
                .map_err(|_| corrupt("the ids of one batch exceed 4 GiB"))?;
            chunk.ends.push(end);
        }
        Ok(chunk)
    }

    /// The number of ids.
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// Id `row` as bytes.
    pub(crate) fn id(&self, row: usize) -> &[u8] {
        let start = if row == 0 {
            0
        } else {
            self.ends[row - 1] as usize
        };
        &self.bytes[start..self.ends[row] as usize]
    }

    /// The on-disk form: `u32` count, `u32` end offsets, then the UTF-8 bytes (all
    /// little-endian).
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(4 + 4 * self.ends.len() + self.bytes.len());
        v.extend_from_slice(&(self.ends.len() as u32).to_le_bytes());
        for end in &self.ends {
            v.extend_from_slice(&end.to_le_bytes());
        }
        v.extend_from_slice(&self.bytes);
        v
    }

    /// Decodes [`IdChunk::encode`]'s form, checking it.
    pub(crate) fn decode(v: &[u8]) -> Result<IdChunk> {
        let word = |i: usize| -> Result<u32> {
            let b = v
                .get(4 * i..4 * i + 4)
                .ok_or_else(|| corrupt("id chunk too short"))?;
            Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        let n = word(0)? as usize;
        let mut ends = Vec::with_capacity(n);
        for i in 0..n {
            ends.push(word(1 + i)?);
        }
        let bytes = v
            .get(4 + 4 * n..)
            .ok_or_else(|| corrupt("id chunk too short"))?
            .to_vec();
        let mut last = 0;
        for &end in &ends {
            if end < last || end as usize > bytes.len() {
                return Err(corrupt("id chunk offsets out of order"));
            }
            last = end;
        }
        if last as usize != bytes.len() {
            return Err(corrupt("id chunk has trailing bytes"));
        }
        std::str::from_utf8(&bytes).map_err(|_| corrupt("id chunk is not UTF-8"))?;
        Ok(IdChunk { ends, bytes })
    }
}

fn corrupt(message: &str) -> Error {
    Error::Store {
        path: "(store data)".to_string(),
        message: format!("store data is corrupt or from another layout: {message}"),
    }
}

/// A 64-bit fingerprint of an id (not cryptographic: see the module docs).
fn fingerprint(id: &[u8]) -> u64 {
    mix_bytes((id.len() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15), id)
}

/// A hasher for id strings in temporary maps (duplicate detection): the fingerprint of
/// the bytes written. Not for maps that outlive a call on untrusted keys.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = self.0.rotate_left(5) ^ fingerprint(bytes);
    }
    fn write_u8(&mut self, n: u8) {
        self.0 = self.0.rotate_left(5) ^ u64::from(n);
    }
}

/// A map keyed by ids, hashed with [`IdHasher`].
pub(crate) type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// The id index of one path (see the module docs).
#[derive(Debug)]
pub(crate) struct IdIndex {
    /// The ids of each stored batch, by batch number (empty for a number not on disk).
    batches: Vec<IdChunk>,
    by_fingerprint: HashMap<u64, Loc, PassThrough>,
    /// Ids whose fingerprint belongs to another id.
    overflow: HashMap<Box<[u8]>, Loc>,
    live: usize,
    fingerprint: fn(&[u8]) -> u64,
}

impl Default for IdIndex {
    fn default() -> Self {
        IdIndex {
            batches: Vec::new(),
            by_fingerprint: HashMap::default(),
            overflow: HashMap::new(),
            live: 0,
            fingerprint,
        }
    }
}

impl IdIndex {
    /// The number of live ids.
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// The id at a location.
    fn id_at(&self, (batch, row): Loc) -> Option<&[u8]> {
        let chunk = self.batches.get(usize::try_from(batch).ok()?)?;
        (usize::try_from(row).ok()? < chunk.len()).then(|| chunk.id(row as usize))
    }

    /// Where the live row of `id` is.
    pub(crate) fn get(&self, id: &[u8]) -> Option<Loc> {
        let loc = *self.by_fingerprint.get(&(self.fingerprint)(id))?;
        if self.id_at(loc) == Some(id) {
            Some(loc)
        } else {
            self.overflow.get(id).copied()
        }
    }

    /// Adds batch `batch` holding `ids` (row order); its rows become the live rows of
    /// their ids. Batches are added in increasing order (re-adding the latest batch is
    /// harmless). Returns how many ids were new.
    pub(crate) fn add_batch(&mut self, batch: u64, ids: IdChunk) -> Result<usize> {
        let slot = usize::try_from(batch).map_err(|_| corrupt("batch number too large"))?;
        if self.batches.len() <= slot {
            self.batches.resize_with(slot + 1, IdChunk::default);
        }
        let n = ids.len();
        self.batches[slot] = ids;
        let mut new = 0;
        for row in 0..n {
            let row = u32::try_from(row).map_err(|_| corrupt("too many rows in a batch"))?;
            if self.insert((batch, row)) {
                new += 1;
            }
        }
        Ok(new)
    }

    /// Points the id stored at `loc` to `loc`; true when the id was new.
    fn insert(&mut self, loc: Loc) -> bool {
        let Some(id) = self.id_at(loc) else {
            return false;
        };
        let fp = (self.fingerprint)(id);
        let new = match self.by_fingerprint.get(&fp).copied() {
            None => {
                self.by_fingerprint.insert(fp, loc);
                true
            }
            Some(old) if self.id_at(old) == Some(id) => {
                self.by_fingerprint.insert(fp, loc);
                false
            }
            Some(_) => {
                let id: Box<[u8]> = id.into();
                self.overflow.insert(id, loc).is_none()
            }
        };
        if new {
            self.live += 1;
        }
        new
    }

    /// The ids of batch `batch`, if it is known.
    pub(crate) fn batch_ids(&self, batch: u64) -> Option<&IdChunk> {
        self.batches.get(usize::try_from(batch).ok()?)
    }

    /// Every stored batch number with ids, in order.
    pub(crate) fn batch_numbers(&self) -> impl Iterator<Item = u64> + '_ {
        self.batches
            .iter()
            .enumerate()
            .filter(|(_, c)| c.len() > 0)
            .map(|(b, _)| b as u64)
    }

    /// Every live id (unordered).
    pub(crate) fn live_ids(&self) -> Vec<&[u8]> {
        let mut out = Vec::with_capacity(self.live);
        for &loc in self.by_fingerprint.values() {
            if let Some(id) = self.id_at(loc) {
                out.push(id);
            }
        }
        out.extend(self.overflow.keys().map(|k| &k[..]));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_round_trip_and_reject_garbage() {
        let chunk = IdChunk::new(["a", "", "héllo"]).unwrap();
        let back = IdChunk::decode(&chunk.encode()).unwrap();
        assert_eq!(back.len(), 3);
        assert_eq!(back.id(2), "héllo".as_bytes());
        assert_eq!(back.id(1), b"");
        assert!(IdChunk::decode(&[1, 0]).is_err());
        assert!(IdChunk::decode(&[1, 0, 0, 0, 9, 0, 0, 0, b'x']).is_err());
    }

    /// Adds batch `batch` holding `ids`; returns how many were new.
    fn add(index: &mut IdIndex, batch: u64, ids: &[&str]) -> usize {
        index
            .add_batch(batch, IdChunk::new(ids.iter().copied()).unwrap())
            .unwrap()
    }

    #[test]
    fn later_batches_win_and_collisions_stay_exact() {
        let mut index = IdIndex::default();
        assert_eq!(add(&mut index, 0, &["x", "y"]), 2);
        assert_eq!(add(&mut index, 1, &["y", "z"]), 1);
        assert_eq!(index.get(b"x"), Some((0, 0)));
        assert_eq!(index.get(b"y"), Some((1, 0)));
        assert_eq!(index.get(b"z"), Some((1, 1)));
        assert_eq!(index.get(b"w"), None);
        assert_eq!(index.len(), 3);
        // Re-adding the latest batch changes nothing.
        assert_eq!(add(&mut index, 1, &["y", "z"]), 0);
        assert_eq!(index.len(), 3);
    }

    #[test]
    fn colliding_fingerprints_are_resolved_exactly() {
        let mut index = IdIndex {
            fingerprint: |_| 7,
            ..IdIndex::default()
        };
        assert_eq!(add(&mut index, 0, &["x", "y", "z"]), 3);
        assert_eq!(add(&mut index, 1, &["z", "w"]), 1);
        assert_eq!(index.get(b"x"), Some((0, 0)));
        assert_eq!(index.get(b"y"), Some((0, 1)));
        assert_eq!(index.get(b"z"), Some((1, 0)));
        assert_eq!(index.get(b"w"), Some((1, 1)));
        assert_eq!(index.get(b"v"), None);
        assert_eq!(index.len(), 4);
        let mut ids = index.live_ids();
        ids.sort();
        assert_eq!(ids, vec![&b"w"[..], b"x", b"y", b"z"]);
    }
}
