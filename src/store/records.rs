//! Pipeline records: which rows a function node processed, keyed by entry id
//! (reference §8.2). A node hands them out unkeyed ([`PendingRecords`]); building them
//! hashes every row and asks the store which are new, so a driver may do it on another
//! thread (the actor runtime's store writer does).
//!
//! **Recorded groups.** A re-run of the same pipeline over the same data hands out the
//! same rows again, all recorded already; hashing every row (several SHA-256 blocks
//! each, in the reference's row format) only to find it stored is most of a re-run's
//! record work. So each group of rows handed out together is also keyed as a whole
//! ([`PendingRecords::group_key`]: one SHA-256 over the group's entry columns in
//! Arrow's row format, row by row with their lengths, and the node's hash), and once
//! every record of a group is known to be stored, a *marker* row under that key is
//! written at [`FunctionPaths::recorded`](super::layout::FunctionPaths): a later group
//! with the same key is skipped without hashing its rows. The key covers exactly the
//! columns the entry ids are computed from, so two groups with one key have the same
//! entry ids. A marker must never be stored without the records it stands for: it is
//! handed out beside them ([`BuiltRecords::marker`]) for the driver to write only once
//! the records are flushed, and every group the node handed out before (a group handed
//! out for its marker only (`marker_only`) stands for records handed
//! out in earlier groups: the actor runtime's store writer writes a marker once its
//! batch and every earlier batch are flushed); a driver that drops it loses nothing but
//! the shortcut.
//!
//! This module builds the records' columns and keys; where they go is
//! [`FunctionPaths::records`](super::layout::FunctionPaths). It never writes: building
//! gives a [`StoreWrite`] for [`apply_writes`](super::apply_writes).

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, LargeStringArray, RecordBatch, UInt32Array, UInt64Array,
};
use arrow::compute::take_record_batch;
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use arrow_row::{RowConverter, SortField};
use sha2::{Digest, Sha256};

use super::layout::{
    COMPUTED_COLUMN, INPUT_PACKET_HASH_COLUMN, NODE_CONTENT_HASH_COLUMN, PACKET_ID_COLUMN,
};
use super::write::{RecordIds, StoreWrite};
use super::{ArrowStore, RecordPath};
use crate::error::{Error, Result};
use crate::hashing::arrow::RowHasher;
use crate::hashing::content_hash::push_hex;
use crate::model::StreamSchema;

/// What every batch of pipeline records of one node shares: the node's hash, the
/// records' schema and the entry-id hasher.
pub(crate) struct RecordsShared {
    node_hash: String,
    /// Whether the records hold the result id (a store written before layout 4).
    with_packet_id: bool,
    record_schema: SchemaRef,
    entry_schema: SchemaRef,
    /// The names of the entry columns (what the store may derive entry ids from).
    entry_columns: Arc<[String]>,
    entry_hasher: RowHasher,
    /// The row format of the entry columns but the node's hash (for group keys).
    group_rows: RowConverter,
    /// The schema of a marker row.
    marker_schema: SchemaRef,
}

impl RecordsShared {
    /// The records of the node of content hash string `node_hash` reading `input`: its
    /// tags, system tags and source info, then the input packet hash, the node's hash
    /// and whether the result was computed now. The entry id hashes the tags, the system
    /// tags, the input packet hash and the node's hash.
    ///
    /// The result id (`__packet_id`) is derived from the input packet hash, so records
    /// do not hold it, except in a store written before layout 4 whose records at
    /// `stored` (the store and the records' path) hold it already: they keep their
    /// schema.
    pub(crate) fn new(
        node_hash: &str,
        input: &StreamSchema,
        stored: Option<(&dyn ArrowStore, &RecordPath)>,
    ) -> Result<Self> {
        let with_packet_id = match stored {
            Some((store, path)) => store
                .schema(path)?
                .is_some_and(|s| s.index_of(PACKET_ID_COLUMN).is_ok()),
            None => false,
        };
        let text = |name: &str| Arc::new(Field::new(name, DataType::LargeUtf8, false));
        let hash_field = text(INPUT_PACKET_HASH_COLUMN);
        let node_hash_field = text(NODE_CONTENT_HASH_COLUMN);
        let record_fields: Vec<FieldRef> = input
            .tag_fields()
            .iter()
            .chain(input.system_tag_fields())
            .chain(input.source_info_fields())
            .cloned()
            .chain([hash_field.clone()])
            .chain(with_packet_id.then(|| text(PACKET_ID_COLUMN)))
            .chain([
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
        let group_rows = RowConverter::new(
            entry_schema.fields()[..entry_schema.fields().len() - 1]
                .iter()
                .map(|f| SortField::new(f.data_type().clone()))
                .collect(),
        )?;
        Ok(RecordsShared {
            node_hash: node_hash.to_string(),
            with_packet_id,
            record_schema: Arc::new(Schema::new(record_fields)),
            entry_hasher: RowHasher::new(&entry_schema),
            entry_columns: entry_schema
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect(),
            entry_schema,
            group_rows,
            marker_schema: Arc::new(Schema::new(vec![Field::new(
                "rows",
                DataType::UInt64,
                false,
            )])),
        })
    }
}

/// What [`PendingRecords::build`] gives.
#[derive(Debug, Default)]
pub struct BuiltRecords {
    /// The records not stored yet, if any.
    pub records: Option<StoreWrite>,
    /// The marker of the group (see the module docs): to be written only once
    /// `records` is flushed, and every group handed out before it by the same node
    /// (a marker-only group stands for records handed out earlier). `None` when the
    /// group was known to be recorded already.
    pub marker: Option<StoreWrite>,
}

/// Pipeline records of emitted rows, not yet keyed: tags, system tags and input source
/// info, the input packet hash, the node's hash and whether the result
/// was computed now, each keyed by its entry id (the Arrow hash of the tags, the system
/// tags, the input packet hash and the node's content hash, reference §8.2). Building
/// them ([`PendingRecords::build`]) hashes every row, so a driver may do it on another
/// thread.
pub struct PendingRecords {
    pub(crate) shared: Arc<RecordsShared>,
    pub(crate) store: Arc<dyn ArrowStore>,
    pub(crate) path: RecordPath,
    /// Where the markers of recorded groups are.
    pub(crate) recorded: RecordPath,
    /// The rows' tags, system tags and input source info.
    pub(crate) picked: RecordBatch,
    pub(crate) n_tag_columns: usize,
    pub(crate) input_hashes: ArrayRef,
    pub(crate) result_ids: ArrayRef,
    pub(crate) computed: Vec<bool>,
    /// Only the group's marker is wanted: its records were handed out in other
    /// groups (the whole of an input batch handed out in pieces).
    pub(crate) marker_only: bool,
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

    /// The key of this group of rows (see the module docs): `group_v1:` and the hex
    /// SHA-256 of the node's hash, then each row's entry columns (tags, system tags,
    /// input packet hash) in Arrow's row format, each preceded by its length.
    pub fn group_key(&self) -> Result<String> {
        let shared = &self.shared;
        let mut columns: Vec<ArrayRef> = self.picked.columns()[..self.n_tag_columns].to_vec();
        columns.push(self.input_hashes.clone());
        let rows = shared.group_rows.convert_columns(&columns)?;
        let mut hasher = Sha256::new();
        hasher.update(b"orcapod-record-group/1\0");
        hasher.update((shared.node_hash.len() as u64).to_le_bytes());
        hasher.update(shared.node_hash.as_bytes());
        for field in shared.entry_schema.fields() {
            hasher.update(format!("{}:{}\0", field.name(), field.data_type()).as_bytes());
        }
        hasher.update((rows.num_rows() as u64).to_le_bytes());
        for row in rows.iter() {
            let bytes = row.as_ref();
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        }
        let mut key = String::with_capacity(9 + 64);
        key.push_str("group_v1:");
        push_hex(&mut key, &hasher.finalize());
        Ok(key)
    }

    /// The records not stored yet (records are first-write-wins, so rows already
    /// stored, as in a re-run, are not built) and the group's marker. A group whose
    /// marker is stored is skipped whole, without hashing its rows.
    pub fn build(self) -> Result<BuiltRecords> {
        let key = self.group_key()?;
        if self.store.contains(&self.recorded, &key)? {
            return Ok(BuiltRecords::default());
        }
        let marker = StoreWrite {
            path: self.recorded.clone(),
            ids: RecordIds::Known(vec![key]),
            batch: RecordBatch::try_new(
                self.shared.marker_schema.clone(),
                vec![Arc::new(UInt64Array::from(vec![
                    self.picked.num_rows() as u64
                ]))],
            )?,
        };
        if self.marker_only {
            return Ok(BuiltRecords {
                records: None,
                marker: Some(marker),
            });
        }
        Ok(BuiltRecords {
            records: self.build_records()?,
            marker: Some(marker),
        })
    }

    /// The write of the records not stored yet; `None` when there is none.
    fn build_records(self) -> Result<Option<StoreWrite>> {
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
        let (Some(first), Some(last)) = (ids.first(), ids.last()) else {
            return Ok(None);
        };
        // Asking which rows are stored spares the writer rows it would skip anyway (a
        // re-run whose groups are not those of the run before). A group neither of
        // whose ends is stored is new, as in a first run: asking for every row would
        // cost a lookup each for nothing; should some row be stored all the same, the
        // store's first-write-wins write skips it.
        let ends = [first.clone(), last.clone()];
        let stored = if self.store.contains_many(&self.path, &ends)?.contains(&true) {
            self.store.contains_many(&self.path, &ids)?
        } else {
            vec![false; n]
        };
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
        if shared.with_packet_id {
            columns.push(self.result_ids);
        }
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
            ids: RecordIds::RowHashes {
                ids,
                columns: shared.entry_columns.clone(),
            },
            batch: records,
        }))
    }
}
