//! [`KnownResults`]: the results a function node knows in this run, held in a bounded
//! amount of memory.
//!
//! A node keeps each result it computed or read from its store as a row of a *chunk*
//! (one chunk per completed job or store read), indexed by the input packet's digest, so
//! that a packet seen again is served at once and never computed twice. Keeping every
//! result of the run would make the node's memory grow with the number of packets; so
//! once more than a budget of result rows is held, the oldest chunks are let go — but
//! only chunks whose every result the node's store holds: a packet whose result was let
//! go is found by the node's read step in the store, exactly as in a later run, so a
//! packet is still computed at most once per node and its answer never changes.
//!
//! Which chunks may go is asked of the caller ([`KnownResults::evict`] takes a check),
//! so this module reads no store itself. Without a store nothing is let go (a packet
//! seen again could only be computed again).
//!
//! Results read from the store serve the push that read them and are not indexed at all
//! ([`KnownResults::add_stored`]): the push finds each of its rows' stored result by
//! position (which row of the read answers which packet), and a later batch asks the
//! store again, which holds them. So a re-run, where every result is read, hashes no
//! packet into a map it then has to empty again.

use std::collections::{HashMap, VecDeque};

use arrow::array::RecordBatch;

use crate::error::{Error, Result};
use crate::hashing::arrow::RowDigest;
use crate::hashing::in_memory::PassThrough;

/// A map keyed by row digests (SHA-256 based, so passed through unhashed).
pub(crate) type DigestMap<V> = HashMap<RowDigest, V, PassThrough>;

/// How many result rows a node holds before it lets the oldest stored chunks go.
pub(crate) const DEFAULT_BUDGET_ROWS: usize = 1 << 17;

/// One chunk of result rows.
struct Chunk {
    batch: RecordBatch,
    /// The input digest of each row, as indexed in `by_digest` (none for a chunk read
    /// from the store, which is not indexed).
    digests: Vec<RowDigest>,
    /// Whether every row is known to be in the store (read from it, or checked).
    stored: bool,
}

/// The results a node knows (see the module docs).
pub(crate) struct KnownResults {
    /// Chunks held, oldest first: chunk number `first + i` is `chunks[i]`.
    chunks: VecDeque<Chunk>,
    first: u32,
    by_digest: DigestMap<(u32, u32)>,
    rows_held: usize,
    budget_rows: usize,
}

impl KnownResults {
    /// An empty set that lets chunks go once more than `budget_rows` rows are held.
    pub(crate) fn new(budget_rows: usize) -> Self {
        KnownResults {
            chunks: VecDeque::new(),
            first: 0,
            by_digest: DigestMap::default(),
            rows_held: 0,
            budget_rows,
        }
    }

    /// Where the result of `digest` is: (chunk, row).
    pub(crate) fn get(&self, digest: &RowDigest) -> Option<(u32, u32)> {
        self.by_digest.get(digest).copied()
    }

    /// Whether the result of `digest` is known.
    pub(crate) fn contains(&self, digest: &RowDigest) -> bool {
        self.by_digest.contains_key(digest)
    }

    /// The rows of chunk `chunk`, if it is held.
    pub(crate) fn chunk(&self, chunk: u32) -> Option<&RecordBatch> {
        let i = chunk.checked_sub(self.first)? as usize;
        self.chunks.get(i).map(|c| &c.batch)
    }

    /// The input digest of each row of chunk `chunk` (empty if it is not held, or was
    /// read from the store).
    pub(crate) fn digests(&self, chunk: u32) -> &[RowDigest] {
        chunk
            .checked_sub(self.first)
            .and_then(|i| self.chunks.get(i as usize))
            .map_or(&[], |c| &c.digests)
    }

    /// How many result rows are held.
    #[cfg(test)]
    pub(crate) fn rows_held(&self) -> usize {
        self.rows_held
    }

    /// Adds a chunk of computed results: row `r` of `batch` is the result of
    /// `digests[r]`. Only the rows `r` that `index(r)` accepts become known (the others
    /// stay in the chunk, unused). Returns the chunk's number.
    pub(crate) fn add(
        &mut self,
        batch: RecordBatch,
        digests: Vec<RowDigest>,
        mut index: impl FnMut(usize) -> bool,
    ) -> Result<u32> {
        if digests.len() != batch.num_rows() {
            return Err(Error::internal(
                "function node: a chunk's digests do not match its rows",
            ));
        }
        let number = self.next_number()?;
        for (r, digest) in digests.iter().enumerate() {
            if index(r) {
                let row = u32::try_from(r)
                    .map_err(|_| Error::internal("a batch may hold at most 2^32 - 1 rows"))?;
                self.by_digest.insert(*digest, (number, row));
            }
        }
        self.push_chunk(batch, digests, false);
        Ok(number)
    }

    /// Adds a chunk of results read from the node's store, known to none of the node's
    /// lookups (so it keeps no digests): the push that read them serves its rows from
    /// it by position, and a later one reads the store again. Returns the chunk's
    /// number.
    pub(crate) fn add_stored(&mut self, batch: RecordBatch) -> Result<u32> {
        let number = self.next_number()?;
        self.push_chunk(batch, Vec::new(), true);
        Ok(number)
    }

    /// The number the next chunk added gets.
    fn next_number(&self) -> Result<u32> {
        self.first
            .checked_add(u32::try_from(self.chunks.len()).unwrap_or(u32::MAX))
            .ok_or_else(|| Error::internal("function node: too many result chunks"))
    }

    fn push_chunk(&mut self, batch: RecordBatch, digests: Vec<RowDigest>, stored: bool) {
        self.rows_held += batch.num_rows();
        self.chunks.push_back(Chunk {
            batch,
            digests,
            stored,
        });
    }

    /// Lets the oldest chunks go while more than the budget is held. A chunk not known
    /// to be stored is let go only if `all_stored(chunk's rows)` says the store holds
    /// every one of its results; the first that is not stops the eviction (later chunks
    /// are newer still). Must only be called when no row waiting to be emitted refers
    /// to a held chunk (the node calls it right after gathering its output).
    pub(crate) fn evict(
        &mut self,
        mut all_stored: impl FnMut(&RecordBatch) -> Result<bool>,
    ) -> Result<()> {
        while self.rows_held > self.budget_rows {
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            if !front.stored {
                if !all_stored(&front.batch)? {
                    break;
                }
                front.stored = true;
            }
            if let Some(chunk) = self.chunks.pop_front() {
                self.rows_held -= chunk.batch.num_rows();
                for digest in &chunk.digests {
                    if self.by_digest.get(digest).map(|(c, _)| *c) == Some(self.first) {
                        self.by_digest.remove(digest);
                    }
                }
            }
            self.first += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn chunk(values: &[i64]) -> (RecordBatch, Vec<RowDigest>) {
        let schema = Arc::new(Schema::new(vec![Field::new("y", DataType::Int64, false)]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(values.to_vec()))])
            .unwrap();
        let digests = values.iter().map(|v| [*v as u8; 35]).collect();
        (batch, digests)
    }

    #[test]
    fn only_stored_chunks_are_let_go_oldest_first() {
        let mut known = KnownResults::new(2);
        let (b, d) = chunk(&[1, 2]);
        let c0 = known.add(b, d, |_| true).unwrap();
        let (b, _) = chunk(&[3, 4]);
        let c1 = known.add_stored(b).unwrap();
        assert_eq!((c0, c1), (0, 1));
        // Stored results are served by position, never found by digest.
        assert_eq!(known.get(&[4; 35]), None);
        // The oldest chunk is not stored yet: nothing goes, not even the newer one.
        known.evict(|_| Ok(false)).unwrap();
        assert_eq!(known.rows_held(), 4);
        assert_eq!(known.get(&[1; 35]), Some((0, 0)));
        // Once the store holds it, it goes, and the budget is met.
        known.evict(|_| Ok(true)).unwrap();
        assert_eq!(known.rows_held(), 2);
        assert_eq!(known.get(&[1; 35]), None);
        assert!(known.chunk(0).is_none());
        assert!(known.digests(1).is_empty(), "stored chunks keep no digests");
        assert_eq!(known.chunk(1).map(|c| c.num_rows()), Some(2));
    }

    #[test]
    fn a_digest_known_in_a_newer_chunk_stays_known() {
        let mut known = KnownResults::new(1);
        let (b, d) = chunk(&[1, 2]);
        known.add(b, d, |_| true).unwrap();
        let (b, d) = chunk(&[2]);
        // Digest 2 now points to the newer chunk.
        known.add(b, d, |_| true).unwrap();
        let mut asked = 0;
        known
            .evict(|_| {
                asked += 1;
                Ok(true)
            })
            .unwrap();
        // The first chunk went; the budget then held.
        assert_eq!(asked, 1);
        assert_eq!(known.get(&[1; 35]), None);
        assert_eq!(known.get(&[2; 35]), Some((1, 0)));
    }

    #[test]
    fn a_stored_chunk_goes_without_asking() {
        let mut known = KnownResults::new(0);
        let (b, _) = chunk(&[1, 2]);
        known.add_stored(b).unwrap();
        let mut asked = 0;
        known
            .evict(|_| {
                asked += 1;
                Ok(false)
            })
            .unwrap();
        assert_eq!((asked, known.rows_held()), (0, 0));
    }

    #[test]
    fn rows_not_accepted_are_not_indexed() {
        let mut known = KnownResults::new(10);
        let (b, d) = chunk(&[5, 6]);
        known.add(b, d, |r| r == 1).unwrap();
        assert!(!known.contains(&[5; 35]));
        assert_eq!(known.get(&[6; 35]), Some((0, 1)));
    }
}
