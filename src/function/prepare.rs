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

use super::known::DigestMap;
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
        let mut seen: DigestMap<u32> =
            DigestMap::with_capacity_and_hasher(hashes.len(), Default::default());
        let mut digests: Vec<RowDigest> = Vec::new();
        let asks = hashes
            .iter()
            .map(|h| match seen.get(h) {
                Some(ask) => *ask,
                None if wanted(h) => {
                    let ask = digests.len() as u32;
                    seen.insert(*h, ask);
                    digests.push(*h);
                    ask
                }
                None => NOT_ASKED,
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
