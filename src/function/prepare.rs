//! [`PushPreparer`]: the half of a function node's push that needs none of the node's
//! state — taking the packet columns, hashing each packet by its content (which reads
//! the files of `file` and `dir` values) and reading the stored results of the batch's
//! distinct packets — so that a driver may run it off the node's thread, batch after
//! batch in arrival order, and hand each answer to
//! [`FunctionNode::push_prepared`](super::node::FunctionNode::push_prepared).
//!
//! Read ahead of the node's state, the store read asks for every distinct packet of the
//! batch, known to the node or not; the node keeps a stored result only for packets
//! still neither known nor being computed when it takes the answer, so the outcome is
//! the one of [`FunctionNode::push`](super::node::FunctionNode::push).
//!
//! It never writes results nor decides what to compute; the only thing it may write is
//! the cache of file hashes (when the node may write).

use std::sync::Arc;

use arrow::array::RecordBatch;

use super::stored::{ChunkReader, PlannedRead, PreparedPush, NOT_ASKED};
use crate::error::{Error, Result};
use crate::files::{PacketHasher, StoreUse};
use crate::hashing::arrow::{digest_array, RowDigest};
use crate::store::{ArrowStore, RecordPath, StoreRead};

/// The stateless half of a function node's push (see the module docs). Cloning is cheap
/// enough to hand one to another thread.
#[derive(Clone)]
pub struct PushPreparer {
    /// The input's packet columns in the order of the function's parameters.
    packet_columns: Vec<usize>,
    packet_hasher: PacketHasher,
    /// The node's store and where its results are.
    store: Option<(Arc<dyn ArrowStore>, RecordPath)>,
    /// Whether new file hashes may be stored (not in lookup-only mode).
    write_file_hashes: bool,
    /// Makes what the read finds into a chunk, here rather than on the node's thread.
    chunks: ChunkReader,
}

impl std::fmt::Debug for PushPreparer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushPreparer")
            .field("packet_columns", &self.packet_columns)
            .finish()
    }
}

impl PushPreparer {
    pub(crate) fn new(
        packet_columns: Vec<usize>,
        packet_hasher: PacketHasher,
        store: Option<(Arc<dyn ArrowStore>, RecordPath)>,
        chunks: ChunkReader,
    ) -> Self {
        PushPreparer {
            packet_columns,
            packet_hasher,
            store,
            write_file_hashes: true,
            chunks,
        }
    }

    /// Stores no new file hashes (lookup-only nodes write nothing).
    pub(crate) fn set_read_only(&mut self) {
        self.write_file_hashes = false;
    }

    /// The batch's packet columns (`None` for an empty batch, or the error of taking or
    /// hashing them) and each packet's content hash.
    pub(crate) fn hash(
        &self,
        batch: &RecordBatch,
    ) -> (Result<Option<RecordBatch>>, Vec<RowDigest>) {
        let mut packets = (batch.num_rows() > 0)
            .then(|| batch.project(&self.packet_columns))
            .transpose()
            .map_err(Error::from);
        let store = self
            .store
            .as_ref()
            .map(|(s, _)| StoreUse::new(s.as_ref(), self.write_file_hashes));
        let hashes = self.packet_hasher.hash_packets(&mut packets, store);
        (packets, hashes)
    }

    /// The read of the stored results of the distinct packets among `hashes` that
    /// `wanted` accepts, with their digests in request order and where each row's
    /// packet is in the request; `None` without a store or when there is nothing to
    /// read.
    pub(crate) fn read_of(
        &self,
        hashes: &[RowDigest],
        wanted: impl Fn(&RowDigest) -> bool,
    ) -> Option<PlannedRead> {
        let (_, results) = self.store.as_ref()?;
        let mut seen = AskTable::new(hashes.len());
        let mut digests: Vec<RowDigest> = Vec::new();
        let asks = hashes
            .iter()
            .map(|h| match seen.find(h, &digests) {
                Ok(ask) => ask,
                Err(slot) if wanted(h) => {
                    let ask = digests.len() as u32;
                    seen.set(slot, ask);
                    digests.push(*h);
                    ask
                }
                Err(_) => NOT_ASKED,
            })
            .collect();
        if digests.is_empty() {
            return None;
        }
        let read = StoreRead {
            path: results.clone(),
            ids: digest_array(digests.iter()),
        };
        Some(PlannedRead {
            read,
            digests,
            asks,
        })
    }

    /// Hashes the batch's packets and reads the stored results of its distinct packets
    /// (with a store), made into a chunk here (deriving their source info): what
    /// [`FunctionNode::push_prepared`] takes, with no lookup left to serve (`None`).
    ///
    /// [`FunctionNode::push_prepared`]: super::node::FunctionNode::push_prepared
    pub fn prepare(&self, batch: RecordBatch) -> Result<PreparedPush> {
        let (packets, hashes) = self.hash(&batch);
        let (read, stored) = match (self.read_of(&hashes, |_| true), &self.store) {
            (Some(planned), Some((store, _))) => {
                let found = planned.read.run(store.as_ref())?;
                let stored = self.chunks.chunk(&planned.read, found)?;
                (Some(planned), stored)
            }
            _ => (None, None),
        };
        Ok(PreparedPush {
            batch,
            packets,
            hashes,
            read,
            stored,
        })
    }
}

/// The position in a read's request of each distinct digest asked so far: an
/// open-addressing table of positions (4 bytes a slot, at most half full), the digests
/// themselves being the request's. Sized for one batch, it stays in cache, where a map
/// holding the digests would not.
struct AskTable {
    slots: Vec<u32>,
}

impl AskTable {
    /// A table for up to `n` digests.
    fn new(n: usize) -> AskTable {
        AskTable {
            slots: vec![NOT_ASKED; (2 * n).next_power_of_two().max(16)],
        }
    }

    /// The position of `digest` in `asked` (the digests of the positions set so far),
    /// or the slot where to [`set`](Self::set) it.
    fn find(&self, digest: &RowDigest, asked: &[RowDigest]) -> Result<u32, usize> {
        let mask = self.slots.len() - 1;
        // A digest ends with a SHA-256: its last bytes are as good as random.
        let tail = digest.last_chunk::<8>().copied().unwrap_or_default();
        let mut slot = u64::from_le_bytes(tail) as usize & mask;
        loop {
            match self.slots[slot] {
                NOT_ASKED => return Err(slot),
                ask if asked.get(ask as usize) == Some(digest) => return Ok(ask),
                _ => slot = (slot + 1) & mask,
            }
        }
    }

    /// Notes that the digest [`find`](Self::find) placed at `slot` is at position `ask`.
    fn set(&mut self, slot: usize, ask: u32) {
        self.slots[slot] = ask;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ask_table_finds_each_digest_asked_and_only_those() {
        // Digests that share their last bytes (one slot) and digests that do not,
        // many repeated: a wrong match would pair a row with another packet's result.
        let digest = |i: u8, tail: u8| {
            let mut d = [0u8; 35];
            d[3] = i;
            d[34] = tail;
            d
        };
        let hashes: Vec<RowDigest> = (0..200u32)
            .map(|r| digest((r % 37) as u8, (r % 5) as u8 * u8::from(r % 2 == 0)))
            .collect();
        let mut table = AskTable::new(hashes.len());
        let mut asked: Vec<RowDigest> = Vec::new();
        for h in &hashes {
            match table.find(h, &asked) {
                Ok(ask) => assert_eq!(asked[ask as usize], *h),
                Err(slot) => {
                    assert!(!asked.contains(h), "a digest asked already was not found");
                    table.set(slot, asked.len() as u32);
                    asked.push(*h);
                }
            }
        }
        let mut distinct = hashes.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(asked.len(), distinct.len());
    }
}
