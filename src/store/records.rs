//! Pipeline records: which rows a function node processed, keyed by entry id
//! (reference §8.2). A node hands them out unkeyed ([`PendingRecords`]); building them
//! hashes every row and asks the store which are new, so a driver may do it on another
//! thread (the actor runtime's store writer does).
//!
//! This module builds the records' columns and keys; where they go is
//! [`FunctionPaths::records`](super::layout::FunctionPaths). It never writes: building
//! gives a [`StoreWrite`] for [`apply_writes`](super::apply_writes).

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, LargeStringArray, RecordBatch, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};

use super::layout::{
    COMPUTED_COLUMN, INPUT_PACKET_HASH_COLUMN, NODE_CONTENT_HASH_COLUMN, PACKET_ID_COLUMN,
};
use super::write::{RecordIds, StoreWrite};
use super::{ArrowStore, RecordPath};
use crate::error::{Error, Result};
use crate::hashing::arrow::RowHasher;
use crate::model::StreamSchema;

/// What every batch of pipeline records of one node shares: the node's hash, the
/// records' schema and the entry-id hasher.
pub(crate) struct RecordsShared {
    node_hash: String,
    record_schema: SchemaRef,
    entry_schema: SchemaRef,
    entry_hasher: RowHasher,
}

impl RecordsShared {
    /// The records of the node of content hash string `node_hash` reading `input`: its
    /// tags, system tags and source info, then the input packet hash, the result id, the
    /// node's hash and whether the result was computed now. The entry id hashes the
    /// tags, the system tags, the input packet hash and the node's hash.
    pub(crate) fn new(node_hash: &str, input: &StreamSchema) -> Self {
        let text = |name: &str| Arc::new(Field::new(name, DataType::LargeUtf8, false));
        let hash_field = text(INPUT_PACKET_HASH_COLUMN);
        let node_hash_field = text(NODE_CONTENT_HASH_COLUMN);
        let record_fields: Vec<FieldRef> = input
            .tag_fields()
            .iter()
            .chain(input.system_tag_fields())
            .chain(input.source_info_fields())
            .cloned()
            .chain([
                hash_field.clone(),
                text(PACKET_ID_COLUMN),
                node_hash_field.clone(),
                Arc::new(Field::new(COMPUTED_COLUMN, DataType::Boolean, false)),
            ])
            .collect();
        let entry_fields: Vec<FieldRef> = input
            .tag_fields()
            .iter()
            .chain(input.system_tag_fields())
            .cloned()
            .chain([hash_field, node_hash_field])
            .collect();
        let entry_schema = Arc::new(Schema::new(entry_fields));
        RecordsShared {
            node_hash: node_hash.to_string(),
            record_schema: Arc::new(Schema::new(record_fields)),
            entry_hasher: RowHasher::new(&entry_schema),
            entry_schema,
        }
    }
}

/// Pipeline records of emitted rows, not yet keyed: tags, system tags and input source
/// info, the input packet hash, the result id, the node's hash and whether the result
/// was computed now, each keyed by its entry id (the Arrow hash of the tags, the system
/// tags, the input packet hash and the node's content hash, reference §8.2). Building
/// them ([`PendingRecords::build`]) hashes every row, so a driver may do it on another
/// thread.
pub struct PendingRecords {
    pub(crate) shared: Arc<RecordsShared>,
    pub(crate) store: Arc<dyn ArrowStore>,
    pub(crate) path: RecordPath,
    /// The rows' tags, system tags and input source info.
    pub(crate) picked: RecordBatch,
    pub(crate) n_tag_columns: usize,
    pub(crate) input_hashes: ArrayRef,
    pub(crate) result_ids: ArrayRef,
    pub(crate) computed: Vec<bool>,
}

impl std::fmt::Debug for PendingRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingRecords")
            .field("path", &self.path)
            .field("rows", &self.picked.num_rows())
            .finish()
    }
}

impl PendingRecords {
    /// The number of rows.
    pub fn len(&self) -> usize {
        self.picked.num_rows()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.picked.num_rows() == 0
    }

    /// The write of the records not stored yet (records are first-write-wins, so rows
    /// already stored, as in a re-run, are not built); `None` when there is none.
    pub fn build(self) -> Result<Option<StoreWrite>> {
        let shared = &self.shared;
        let n = self.picked.num_rows();
        let node_hash: ArrayRef = Arc::new(LargeStringArray::from_iter_values(
            std::iter::repeat_n(shared.node_hash.as_str(), n),
        ));
        let mut entry_columns: Vec<ArrayRef> = self.picked.columns()[..self.n_tag_columns].to_vec();
        entry_columns.push(self.input_hashes.clone());
        entry_columns.push(node_hash.clone());
        let entries = RecordBatch::try_new(shared.entry_schema.clone(), entry_columns)?;
        let mut ids = shared.entry_hasher.hash_row_strings(&entries);
        let stored = self.store.contains_many(&self.path, &ids)?;
        let new_rows: Vec<u32> = stored
            .iter()
            .enumerate()
            .filter(|(_, s)| !**s)
            .map(|(i, _)| {
                u32::try_from(i)
                    .map_err(|_| Error::internal("a batch may hold at most 2^32 - 1 rows"))
            })
            .collect::<Result<_>>()?;
        if new_rows.is_empty() {
            return Ok(None);
        }
        let mut columns: Vec<ArrayRef> = self.picked.columns().to_vec();
        columns.push(self.input_hashes);
        columns.push(self.result_ids);
        columns.push(node_hash);
        columns.push(Arc::new(BooleanArray::from(self.computed)));
        let mut records = RecordBatch::try_new(shared.record_schema.clone(), columns)?;
        if new_rows.len() < n {
            records = take_record_batch(&records, &UInt32Array::from(new_rows.clone()))?;
            ids = new_rows
                .iter()
                .map(|&i| std::mem::take(&mut ids[i as usize]))
                .collect();
        }
        Ok(Some(StoreWrite {
            path: self.path,
            ids: RecordIds::Known(ids),
            batch: records,
        }))
    }
}
