//! Persistence tiers of operator and source nodes: operator cache modes (reference §8.3)
//! and cached sources (reference §4.4).
//!
//! Both executors use the functions here, so they write and read the same rows at the
//! same paths (all inside the pipeline's scope, the store view `store.at(&[name])`):
//!
//! | what | path | record id |
//! |---|---|---|
//! | operator LOG rows | `{OpClass}/{operator content hash hex}/schema:{node pipeline hash}` | Arrow hash hex of the row, `_node_content_hash` included |
//! | cached source rows | `source/node:{source content hash}` | Arrow hash hex of the row |
//!
//! Rows are stored whole — user tags, packets, system tags and each row's own source
//! info (never the first row's, bug K1) — and written with `skip_duplicates = true`, so
//! identical rows dedupe and re-running never duplicates anything.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, BooleanArray, LargeStringArray, RecordBatch};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use super::{Node, NodeKind, Pipeline, RunWarning};
use crate::error::{Error, Result};
use crate::hashing::arrow::RowHasher;
use crate::model::{Stream, StreamSchema};
use crate::source::Source;
use crate::store::layout::{self, NODE_CONTENT_HASH_COLUMN};
use crate::store::{ArrowStore, RecordPath};
use crate::store::{RecordIds, StoreWrite};

/// What an operator node does with the store (reference §8.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheMode {
    /// Compute, store nothing (the default).
    #[default]
    Off,
    /// Compute as usual and store every output row (with its system tags and source
    /// info) under the node's path; without a store, the same as `Off`.
    Log,
    /// Do not compute: serve the rows this node instance logged before (an empty stream
    /// when there are none). The node's inputs are not computed for it. Needs a store.
    Replay,
}

/// Where and how an operator node in [`CacheMode::Log`] stores its output rows.
#[derive(Debug, Clone)]
pub struct OperatorLog {
    path: RecordPath,
    node_hash: String,
    /// The stored rows' schema: the node's output columns and `_node_content_hash`.
    stored_schema: SchemaRef,
    /// Hashes stored rows, the schema's part of the digest done once per node.
    hasher: Arc<RowHasher>,
}

impl OperatorLog {
    /// The store path of operator node `index` of `pipeline` (relative to the pipeline's
    /// scope), or `None` when it is not an operator node.
    pub fn for_node(pipeline: &Pipeline, index: usize) -> Result<Option<OperatorLog>> {
        let node = &pipeline.nodes()[index];
        let NodeKind::Operator(spec) = node.kind() else {
            return Ok(None);
        };
        let path = layout::operator_log_path(
            spec.class_name(),
            &spec.content_hash(),
            &node.identity().pipeline,
        )
        .map_err(|e| e.at_node(node.name()))?;
        let stored_schema = with_node_hash_field(node.output_schema().arrow());
        Ok(Some(OperatorLog {
            path,
            node_hash: node.identity().content.to_string(),
            hasher: Arc::new(RowHasher::new(&stored_schema)),
            stored_schema,
        }))
    }

    /// The path of the logged rows, inside the pipeline's scope.
    pub fn path(&self) -> &RecordPath {
        &self.path
    }

    /// The node's content hash string, stored in every row's `_node_content_hash`.
    pub fn node_hash(&self) -> &str {
        &self.node_hash
    }

    /// The store write for output batches of the node: each row plus the node content
    /// hash column, keyed by the Arrow hash of that full row. `None` when there are no
    /// rows.
    pub fn write(&self, batches: &[RecordBatch]) -> Result<Option<StoreWrite>> {
        let mut stored = Vec::new();
        for batch in batches.iter().filter(|b| b.num_rows() > 0) {
            let output_fields =
                &self.stored_schema.fields()[..self.stored_schema.fields().len() - 1];
            // The node's declared schema when the batch has it (the usual case), so
            // every stored row is hashed on the fast path.
            let schema = if batch.schema().fields()[..] == *output_fields {
                self.stored_schema.clone()
            } else {
                with_node_hash_field(&batch.schema())
            };
            let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
            columns.push(Arc::new(LargeStringArray::from_iter_values(
                std::iter::repeat_n(self.node_hash.as_str(), batch.num_rows()),
            )));
            stored.push(RecordBatch::try_new(schema, columns)?);
        }
        let Some(first) = stored.first() else {
            return Ok(None);
        };
        let batch = if stored.len() == 1 {
            stored.swap_remove(0)
        } else {
            arrow::compute::concat_batches(&first.schema(), &stored)?
        };
        // Ids are the rows' hashes, computed when the write is applied (by the actor
        // runtime, on its store-writer thread).
        let hasher = if batch.schema().fields() == self.stored_schema.fields() {
            self.hasher.clone()
        } else {
            Arc::new(RowHasher::new(&batch.schema()))
        };
        Ok(Some(StoreWrite {
            path: self.path.clone(),
            ids: RecordIds::RowHashHex(hasher),
            batch,
        }))
    }

    /// The rows this node instance logged, with the node's output `schema` (the node hash
    /// column dropped); an empty stream when nothing is stored.
    pub fn replay(&self, store: &dyn ArrowStore, schema: &Arc<StreamSchema>) -> Result<Stream> {
        let Some(records) = store.get_all(&self.path)? else {
            return Ok(Stream::empty(schema.clone()));
        };
        let batch = records.batch;
        let hashes = batch
            .column_by_name(NODE_CONTENT_HASH_COLUMN)
            .ok_or_else(|| {
                Error::invalid(
                    format!("store path `{}`", self.path),
                    "logged operator rows without a node hash column",
                )
            })?
            .as_string_opt::<i64>()
            .ok_or_else(|| {
                Error::invalid(
                    format!("store path `{}`", self.path),
                    "the node hash column is not a large string",
                )
            })?;
        let mine: BooleanArray = hashes
            .iter()
            .map(|h| Some(h == Some(self.node_hash.as_str())))
            .collect();
        let batch = filter_record_batch(&batch, &mine)?;
        Stream::new(schema.clone(), vec![project(&batch, schema, &self.path)?])
    }
}

/// Where a cached source keeps its rows: `source/node:{content hash string}`.
pub fn cached_source_path(identity: &crate::hashing::identity::Identity) -> Result<RecordPath> {
    layout::cached_source_path(&identity.content)
}

/// The Arrow hash hex (no method prefix) of each row of `batch`.
fn row_hashes(batch: &RecordBatch) -> Vec<String> {
    RowHasher::new(&batch.schema()).hash_row_hex(batch)
}

/// `schema` with the `_node_content_hash` column appended.
fn with_node_hash_field(schema: &Schema) -> SchemaRef {
    let mut fields: Vec<Arc<Field>> = schema.fields().iter().cloned().collect();
    fields.push(Arc::new(Field::new(
        NODE_CONTENT_HASH_COLUMN,
        DataType::LargeUtf8,
        false,
    )));
    Arc::new(Schema::new(fields))
}

/// The columns of `schema`, by name, from a stored batch.
fn project(batch: &RecordBatch, schema: &StreamSchema, path: &RecordPath) -> Result<RecordBatch> {
    let columns = schema
        .arrow()
        .fields()
        .iter()
        .map(|f| {
            batch.column_by_name(f.name()).cloned().ok_or_else(|| {
                Error::invalid(
                    format!("store path `{path}`"),
                    format!("stored rows lack column `{}`", f.name()),
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    RecordBatch::try_new(schema.arrow().clone(), columns).map_err(|e| {
        Error::invalid(
            format!("store path `{path}`"),
            format!("stored rows do not match the node's schema: {e}"),
        )
    })
}

impl Pipeline {
    /// The output of operator node `index` in [`CacheMode::Replay`], read from `store`
    /// (already scoped to this pipeline); an error naming the node without a store.
    pub fn replay(&self, index: usize, store: Option<&dyn ArrowStore>) -> Result<Stream> {
        let node = &self.nodes()[index];
        let store = store.ok_or_else(|| {
            Error::invalid(
                format!("operator `{}`", node.name()),
                "replay needs a store",
            )
            .at_node(node.name())
        })?;
        let log = OperatorLog::for_node(self, index)?.ok_or_else(|| {
            Error::invalid(
                format!("node `{}`", node.name()),
                "only operator nodes can replay",
            )
        })?;
        log.replay(store, node.output_schema())
            .map_err(|e| e.at_node(node.name()))
    }

    /// [`Pipeline::replay`], and the warning to give when the node found nothing of its
    /// own stored (it then yields no row, which is rarely what the user meant).
    pub fn replay_or_warn(
        &self,
        index: usize,
        store: Option<&dyn ArrowStore>,
    ) -> Result<(Stream, Option<RunWarning>)> {
        let stream = self.replay(index, store)?;
        if stream.num_rows() > 0 {
            return Ok((stream, None));
        }
        let node = &self.nodes()[index];
        let log = OperatorLog::for_node(self, index)?
            .ok_or_else(|| Error::internal("a replaying node is not an operator node"))?;
        let warning = RunWarning::NothingToReplay {
            node: node.name().to_string(),
            path: log.path().to_string(),
        };
        Ok((stream, Some(warning)))
    }

    /// What cached source node `index` would serve if the pipeline ran now, without
    /// writing anything: the rows stored at `source/node:{source content hash}` (in
    /// `store`, already scoped to this pipeline) and the source's current rows not
    /// stored there yet, each distinct row once. [`Pipeline::cached_source`] is the same
    /// rows, after storing the current ones.
    pub fn cached_source_lookup(&self, index: usize, store: &dyn ArrowStore) -> Result<Stream> {
        let (node, source, path) = self.cached_source_node(index)?;
        let at_node = |e: Error| e.at_node(node.name());
        let schema = node.output_schema();
        let mut batches = Vec::new();
        if let Some(records) = store.get_all(&path).map_err(at_node)? {
            batches.push(project(&records.batch, schema, &path).map_err(at_node)?);
        }
        let mut seen = std::collections::HashSet::new();
        // Read whole, as stored: the same batches as every run.
        for batch in source.stream().map_err(at_node)?.batches() {
            let ids = row_hashes(batch);
            let stored = store.contains_many(&path, &ids).map_err(at_node)?;
            let new: BooleanArray = ids
                .into_iter()
                .zip(stored)
                .map(|(id, stored)| Some(!stored && seen.insert(id)))
                .collect();
            let new = filter_record_batch(batch, &new)?;
            if new.num_rows() > 0 {
                batches.push(new);
            }
        }
        Stream::new(schema.clone(), batches).map_err(at_node)
    }

    /// The output of cached source node `index` (reference §4.4): adds the source's
    /// current rows to `store` (already scoped to this pipeline) at
    /// `source/node:{source content hash}`, one record per distinct row, flushes, and
    /// returns every row stored there (the union of all runs so far).
    pub fn cached_source(&self, index: usize, store: &dyn ArrowStore) -> Result<Stream> {
        let (node, source, path) = self.cached_source_node(index)?;
        let at_node = |e: Error| e.at_node(node.name());
        for batch in source.stream().map_err(at_node)?.batches() {
            store
                .add_records(&path, &row_hashes(batch), batch, true)
                .map_err(at_node)?;
        }
        store.flush().map_err(at_node)?;
        let schema = node.output_schema();
        match store.get_all(&path).map_err(at_node)? {
            None => Ok(Stream::empty(schema.clone())),
            Some(records) => Stream::new(
                schema.clone(),
                vec![project(&records.batch, schema, &path).map_err(at_node)?],
            )
            .map_err(at_node),
        }
    }

    /// Source node `index`, its source and where it is cached.
    fn cached_source_node(&self, index: usize) -> Result<(&Node, &Source, RecordPath)> {
        let node = &self.nodes()[index];
        let NodeKind::Source(source) = node.kind() else {
            return Err(Error::internal(format!(
                "node `{}` is not a source node",
                node.name()
            )));
        };
        let path = cached_source_path(node.identity()).map_err(|e| e.at_node(node.name()))?;
        Ok((node, source, path))
    }

    /// The log of operator node `index` when it is in [`CacheMode::Log`] and a store is
    /// given (otherwise `None`: nothing is logged).
    pub fn operator_log(&self, index: usize, has_store: bool) -> Result<Option<OperatorLog>> {
        if !has_store || self.nodes()[index].cache_mode() != CacheMode::Log {
            return Ok(None);
        }
        OperatorLog::for_node(self, index)
    }
}
