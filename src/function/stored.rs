//! Stored results read back into a function node: the read a push needs
//! ([`PreparedPush`]), the source-info parsing that recovers a stored result's id, and
//! the chunk of result rows a node keeps for them.
//!
//! This module reads no store itself (the node's read step does, through a
//! [`StoreRead`](crate::store::StoreRead)); it only interprets what was read.

use std::sync::Arc;

use arrow::array::{Array, AsArray, LargeStringArray, RecordBatch, UInt32Array};
use arrow::compute::take;
use arrow::datatypes::{FieldRef, SchemaRef};

use super::job::ResultBuilder;
use super::pod::RESULT_ID_LEN;
use crate::error::{Error, Result};
use crate::hashing::arrow::RowDigest;
use crate::model::columns::BLOCK_SEPARATOR;
use crate::model::StreamSchema;
use crate::store::{ArrowStore, FoundRows, FunctionPaths, RecordPath, StoreRead};

/// An input batch whose packets are hashed, and the store read its push needs
/// ([`FunctionNode::prepare`](super::node::FunctionNode::prepare)), or what that read
/// found, made into a chunk ahead ([`PushPreparer::prepare`](super::prepare::PushPreparer::prepare)).
pub struct PreparedPush {
    pub(crate) batch: RecordBatch,
    /// The batch's packet columns (`None` for an empty batch).
    pub(crate) packets: Result<Option<RecordBatch>>,
    pub(crate) hashes: Vec<RowDigest>,
    pub(crate) read: Option<PlannedRead>,
    /// The stored results the read found, as a chunk, when it was run ahead.
    pub(crate) stored: Option<StoredChunk>,
}

/// The store read of a push: the results of some of its distinct packets.
pub(crate) struct PlannedRead {
    pub(crate) read: StoreRead,
    /// The digest of each id asked, in request order.
    pub(crate) digests: Vec<RowDigest>,
    /// For each row of the batch, the position of its packet's id in the request
    /// ([`NOT_ASKED`] if the read does not ask for it).
    pub(crate) asks: Vec<u32>,
}

/// A row whose packet a read does not ask for ([`PlannedRead::asks`]).
pub(crate) const NOT_ASKED: u32 = u32::MAX;

/// Stored results read back as a chunk of result rows, and the position in the request
/// of each row's id.
pub(crate) struct StoredChunk {
    pub(crate) batch: RecordBatch,
    pub(crate) asked: Vec<u32>,
}

impl StoredChunk {
    /// Which row of the chunk holds the result of each row of the batch `planned` was
    /// the read of.
    pub(crate) fn rows_by_ask(&self, planned: PlannedRead) -> StoredRows {
        let mut by_ask = vec![NOT_ASKED; planned.digests.len()];
        for (row, &ask) in self.asked.iter().enumerate() {
            if let Some(slot) = by_ask.get_mut(ask as usize) {
                *slot = row as u32;
            }
        }
        StoredRows {
            by_ask,
            asks: planned.asks,
        }
    }
}

/// Which row of a stored chunk holds the result of each row of the batch whose read
/// found it.
pub(crate) struct StoredRows {
    /// The chunk row found for each id asked ([`NOT_ASKED`]: not found).
    by_ask: Vec<u32>,
    /// The id asked for each row of the batch ([`PlannedRead::asks`]).
    asks: Vec<u32>,
}

impl StoredRows {
    /// The chunk row holding the result of row `row` of the batch, if found.
    pub(crate) fn of(&self, row: usize) -> Option<u32> {
        let found = *self.by_ask.get(*self.asks.get(row)? as usize)?;
        (found != NOT_ASKED).then_some(found)
    }
}

/// What making stored results into chunks needs ([`stored_chunk`]); cheap to clone, so
/// that a driver's preparing thread does it rather than the node's.
#[derive(Clone)]
pub(crate) struct ChunkReader {
    pub(crate) output: Arc<StreamSchema>,
    /// The columns of the stored results ([`stored_fields`]).
    pub(crate) result_schema: SchemaRef,
    pub(crate) builder: Arc<ResultBuilder>,
}

impl ChunkReader {
    /// What `read` found, as a chunk; `None` when it found nothing.
    pub(crate) fn chunk(
        &self,
        read: &StoreRead,
        found: Option<FoundRows>,
    ) -> Result<Option<StoredChunk>> {
        let Some(found) = found else {
            return Ok(None);
        };
        let hashes = take(&read.ids, &UInt32Array::from(found.asked.clone()), None)?;
        let batch = stored_chunk(
            found.batch,
            hashes.as_string::<i64>(),
            &read.path,
            &self.output,
            &self.result_schema,
            &self.builder,
        )?;
        Ok(Some(StoredChunk {
            batch,
            asked: found.asked,
        }))
    }
}

impl PreparedPush {
    /// The store read the push needs, if any: the stored results of its packets.
    pub fn read(&self) -> Option<&StoreRead> {
        self.read.as_ref().map(|planned| &planned.read)
    }
}

/// The result id in a result's source info `{prefix}::{result id}::{key}`, if the
/// source info has that form.
pub(crate) fn result_id_of_source_info<'a>(
    info: &'a str,
    prefix: &str,
    key: &str,
) -> Option<&'a str> {
    let sep = BLOCK_SEPARATOR;
    let rest = info.strip_prefix(prefix)?.strip_prefix(sep)?;
    let id = rest.get(..RESULT_ID_LEN)?;
    (rest[RESULT_ID_LEN..].strip_prefix(sep)? == key).then_some(id)
}

/// The columns of a function's stored results: its output packet columns alone (its
/// source info is derived from the input hash when read back, [`stored_chunk`]); or, in
/// a store written before layout 4 whose results hold the source info too, `with_info`
/// (the output packet columns, then their source info), so that its results keep their
/// schema.
pub(crate) fn stored_fields(
    store: &Option<(Arc<dyn ArrowStore>, FunctionPaths)>,
    with_info: &[FieldRef],
    n_out: usize,
) -> Result<Vec<FieldRef>> {
    let stored = match store {
        Some((store, paths)) => store.schema(&paths.results)?,
        None => None,
    };
    Ok(match stored {
        Some(stored) if stored.fields().iter().eq(with_info.iter()) => with_info.to_vec(),
        _ => with_info[..n_out].to_vec(),
    })
}

/// Stored results `found` (read at `path`, row `i` stored for input packet hash
/// `hashes[i]`) as a chunk of result rows (`builder`'s chunk schema): the output packets
/// and their source info, the input packet hash (the record id) and the result id.
///
/// A store written since layout 4 holds the output packets alone (`result_schema` is
/// the packet fields): the result id and the source info are derived from the input
/// hash ([`FunctionPod::result_id`](super::FunctionPod::result_id)), as when the result was computed. An older store
/// holds the source info too (`result_schema` ends with it): the result id is read from
/// it (`{uri}::{result id}::{column}`), or else derived again.
pub(crate) fn stored_chunk(
    found: RecordBatch,
    hashes: &LargeStringArray,
    path: &RecordPath,
    output: &StreamSchema,
    result_schema: &SchemaRef,
    builder: &ResultBuilder,
) -> Result<RecordBatch> {
    let pod = builder.pod();
    if found.schema().fields() != result_schema.fields() {
        return Err(Error::invalid(
            format!("store path {path}"),
            "stored results do not have the function's output schema",
        ));
    }
    let n_out = output.packet_fields().len();
    if result_schema.fields().len() == n_out {
        return builder.chunk(found.columns().to_vec(), hashes);
    }
    let info = found.column(n_out).as_string::<i64>();
    let prefix = pod.source_prefix();
    let key = output.packet_fields()[0].name();
    let ids: Vec<String> = hashes
        .iter()
        .enumerate()
        .map(|(r, hash)| {
            let stored = info
                .is_valid(r)
                .then(|| result_id_of_source_info(info.value(r), prefix, key))
                .flatten();
            match stored {
                Some(id) => id.to_string(),
                None => pod.result_id(hash.unwrap_or_default()),
            }
        })
        .collect();
    let mut columns = found.columns().to_vec();
    columns.push(Arc::new(hashes.clone()));
    columns.push(Arc::new(LargeStringArray::from_iter_values(&ids)));
    Ok(RecordBatch::try_new(builder.chunk_schema.clone(), columns)?)
}

/// The input packet hash of each row of a result chunk (column `column`): the results'
/// record ids.
pub(crate) fn input_hashes(chunk: &RecordBatch, column: usize) -> Vec<String> {
    let hashes = chunk.column(column).as_string::<i64>();
    hashes
        .iter()
        .map(|h| h.unwrap_or_default().to_string())
        .collect()
}
