//! The store-write protocol: what a node hands its driver to store ([`StoreWrite`], with
//! its [`RecordIds`]), and the one way such writes reach a store: [`prepare_writes`]
//! (any thread: ids computed, rows put together per path and encoded by the store) then
//! [`apply_prepared`] (the writing thread), or both at once with [`apply_writes`]. Both
//! executors store everything through here: the synchronous executor directly, the
//! actor runtime on its store-keying and store-writer threads.
//!
//! Writes are first-write-wins (`skip_duplicates`). This module never decides what to
//! write or where (the nodes and [`layout`](super::layout) do); it never flushes.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;

use super::batch_file::EncodedBatch;
use super::{ArrowStore, RecordPath};
use crate::error::Result;
use crate::hashing::arrow::RowHasher;

/// Writes for the store: rows to add under a path, keyed by record id.
#[derive(Debug, Clone)]
pub struct StoreWrite {
    /// Where.
    pub path: RecordPath,
    /// One id per row, or how to compute them.
    pub ids: RecordIds,
    /// The rows.
    pub batch: RecordBatch,
}

/// The record ids of a [`StoreWrite`].
#[derive(Debug, Clone)]
pub enum RecordIds {
    /// One id per row, known already.
    Known(Vec<String>),
    /// Each row's Arrow hash hex (no method prefix), computed when the write is applied,
    /// so that a driver may hash on another thread than the one producing the rows. The
    /// hasher has the batch's schema.
    RowHashHex(Arc<RowHasher>),
    /// One id per row, known already, each the `arrow_v0.1` row hash
    /// ([`RowHasher::hash_row_strings`]) of the named columns of its row: a store may
    /// keep the rule instead of the ids, and hash those columns again when it reads them
    /// (the sled store does, see `batch_file`).
    RowHashes {
        /// The ids.
        ids: Vec<String>,
        /// The columns each id is the row hash of.
        columns: Arc<[String]>,
    },
}

impl StoreWrite {
    /// The number of rows.
    pub fn len(&self) -> usize {
        self.batch.num_rows()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.batch.num_rows() == 0
    }

    /// The record ids, computed now if they are deferred.
    pub fn into_ids(self) -> (RecordPath, Vec<String>, RecordBatch) {
        let ids = match self.ids {
            RecordIds::Known(ids) | RecordIds::RowHashes { ids, .. } => ids,
            RecordIds::RowHashHex(hasher) => hasher.hash_row_hex(&self.batch),
        };
        (self.path, ids, self.batch)
    }

    /// The columns the ids are the row hash of, if the write says so.
    fn derived_from(&self) -> Option<Arc<[String]>> {
        match &self.ids {
            RecordIds::RowHashes { columns, .. } => Some(columns.clone()),
            _ => None,
        }
    }
}

/// Rows to add under one path, made ready by [`prepare_writes`] (on any thread) for
/// [`apply_prepared`] (on the writing one): in the path's column order and, for a store
/// that encodes its batches, encoded ahead ([`ArrowStore::prepare_records`]). The fields
/// are private so that an encoding made ahead always matches its ids and rows.
#[derive(Debug)]
pub struct PreparedRecords {
    pub(crate) path: RecordPath,
    pub(crate) ids: Vec<String>,
    pub(crate) batch: RecordBatch,
    /// The store's encoding of exactly `ids` and `batch`, if it made one.
    pub(crate) encoded: Option<EncodedBatch>,
    /// The columns every id is the row hash of, if they are ([`RecordIds::RowHashes`]).
    pub(crate) derived_from: Option<Arc<[String]>>,
}

impl PreparedRecords {
    /// Rows with no encoding made ahead.
    pub fn plain(path: RecordPath, ids: Vec<String>, batch: RecordBatch) -> Self {
        PreparedRecords {
            path,
            ids,
            batch,
            encoded: None,
            derived_from: None,
        }
    }

    /// Where the rows go.
    pub fn path(&self) -> &RecordPath {
        &self.path
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.batch.num_rows()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.batch.num_rows() == 0
    }
}

/// Applies writes to a store: [`prepare_writes`] then [`apply_prepared`], on this thread.
pub fn apply_writes(store: &dyn ArrowStore, writes: Vec<StoreWrite>) -> Result<()> {
    apply_prepared(store, prepare_writes(store, writes)?)
}

/// Makes writes ready to be applied, without changing the store: the writes to one path
/// are put together (each path is written once), their record ids computed if deferred,
/// and each path's rows prepared by the store ([`ArrowStore::prepare_records`]: the sled
/// store compresses them here). A thread other than the writing one may call it, so
/// that the writing thread only applies.
///
/// The rows written to one path are matched to its columns by name: the table already
/// stored there, or else the first write's columns, fixes the order, and a batch with
/// the same columns in another order is put in that order. (The nodes `join [a, b]` and
/// `join [b, a]` share a path but list their columns in the order of their inputs, and a
/// table written by an older build may list them in yet another order.)
pub fn prepare_writes(
    store: &dyn ArrowStore,
    writes: Vec<StoreWrite>,
) -> Result<Vec<PreparedRecords>> {
    // Concatenate writes per path to write each path once; their ids are derived from
    // columns when every write to the path says so, with the same columns.
    type PathWrites = (
        RecordPath,
        Vec<String>,
        Vec<RecordBatch>,
        Option<Arc<[String]>>,
    );
    let mut by_path: Vec<PathWrites> = Vec::new();
    for w in writes {
        let derived = w.derived_from();
        let (path, mut more_ids, batch) = w.into_ids();
        match by_path.iter_mut().find(|(p, ..)| *p == path) {
            Some((_, ids, batches, columns)) => {
                ids.append(&mut more_ids);
                batches.push(batch);
                if *columns != derived {
                    *columns = None;
                }
            }
            None => by_path.push((path, more_ids, vec![batch], derived)),
        }
    }
    let mut prepared = Vec::with_capacity(by_path.len());
    for (path, ids, batches, derived_from) in by_path {
        let Some(first) = batches.first() else {
            continue;
        };
        let schema = match store.schema(&path)? {
            Some(stored) => stored,
            None => first.schema(),
        };
        let mut batches = batches
            .into_iter()
            .map(|b| in_column_order(&schema, b))
            .collect::<Result<Vec<_>>>()?;
        // Concatenation goes by position: every batch must have the path's columns.
        for batch in &batches {
            super::check_schema(&path, &schema, batch)?;
        }
        let batch = if batches.len() == 1 {
            batches.remove(0)
        } else {
            concat_batches(&schema, &batches)?
        };
        prepared.push(store.prepare_derived(path, ids, batch, derived_from)?);
    }
    Ok(prepared)
}

/// Applies prepared writes (first write wins: duplicates of stored ids are skipped). A
/// path whose table was created since the rows were prepared, with its columns in
/// another order, gets the rows in its order (and encoded again).
pub fn apply_prepared(store: &dyn ArrowStore, prepared: Vec<PreparedRecords>) -> Result<()> {
    for records in prepared {
        let records = match store.schema(&records.path)? {
            Some(stored) if stored.fields() != records.batch.schema().fields() => {
                let PreparedRecords {
                    path,
                    ids,
                    batch,
                    derived_from,
                    ..
                } = records;
                let mut again = PreparedRecords::plain(path, ids, in_column_order(&stored, batch)?);
                again.derived_from = derived_from;
                again
            }
            _ => records,
        };
        store.add_prepared(records, true)?;
    }
    Ok(())
}

/// `batch` with its columns in the order of `schema`, when it holds exactly the columns
/// of `schema` (names, types, nullability) in another order; otherwise `batch`
/// unchanged (and rejected by the caller if its columns differ). Columns are matched by
/// name, never by position.
fn in_column_order(schema: &SchemaRef, batch: RecordBatch) -> Result<RecordBatch> {
    let own = batch.schema();
    if schema.fields() == own.fields() || schema.fields().len() != own.fields().len() {
        return Ok(batch);
    }
    let mut indices = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        match own.index_of(field.name()) {
            Ok(i) if own.field(i) == field.as_ref() && !indices.contains(&i) => indices.push(i),
            _ => return Ok(batch),
        }
    }
    Ok(batch.project(&indices)?)
}

#[cfg(test)]
mod tests {
    use arrow::array::{ArrayRef, Int64Array};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;
    use crate::store::MemoryStore;

    /// One row of Int64 columns `(name, value)`, in this order.
    fn row(columns: &[(&str, i64)]) -> RecordBatch {
        let schema = Schema::new(
            columns
                .iter()
                .map(|(n, _)| Field::new(*n, DataType::Int64, false))
                .collect::<Vec<_>>(),
        );
        let arrays: Vec<ArrayRef> = columns
            .iter()
            .map(|(_, v)| Arc::new(Int64Array::from(vec![*v])) as ArrayRef)
            .collect();
        RecordBatch::try_new(Arc::new(schema), arrays).unwrap()
    }

    /// The path `t` of a fresh store.
    fn path() -> RecordPath {
        RecordPath::parse("t").unwrap()
    }

    /// Writes of one row each to `t`: (record id, columns).
    fn writes(rows: &[(&str, &[(&str, i64)])]) -> Vec<StoreWrite> {
        rows.iter()
            .map(|(id, columns)| StoreWrite {
                path: path(),
                ids: RecordIds::Known(vec![id.to_string()]),
                batch: row(columns),
            })
            .collect()
    }

    fn column(batch: &RecordBatch, name: &str) -> Vec<i64> {
        batch
            .column_by_name(name)
            .unwrap()
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .values()
            .to_vec()
    }

    #[test]
    fn writes_to_one_path_are_matched_by_column_name() {
        let store = MemoryStore::new();
        // Two writes in one call, in two column orders.
        let first = writes(&[("a", &[("x", 1), ("y", 10)]), ("b", &[("y", 20), ("x", 2)])]);
        apply_writes(&store, first).unwrap();
        // A later write in the other order, to the stored table.
        apply_writes(&store, writes(&[("c", &[("y", 30), ("x", 3)])])).unwrap();
        let stored = store.get_all(&path()).unwrap().unwrap();
        assert_eq!(stored.ids, ["a", "b", "c"]);
        assert_eq!(column(&stored.batch, "x"), [1, 2, 3]);
        assert_eq!(column(&stored.batch, "y"), [10, 20, 30]);
    }

    #[test]
    fn writes_to_one_path_with_other_columns_are_an_error_not_a_concatenation() {
        let store = MemoryStore::new();
        let both = writes(&[("a", &[("x", 1), ("y", 10)]), ("b", &[("x", 2), ("z", 20)])]);
        let error = apply_writes(&store, both).unwrap_err().to_string();
        assert!(error.contains("schema differs"), "{error}");
        assert!(store.get_all(&path()).unwrap().is_none());
    }
}
