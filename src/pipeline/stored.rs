//! What a store holds about a pipeline: a node's stored results as a derived source
//! ([`stored_source`]), and the run log ([`write_run_log`], [`read_run_log`]).
//!
//! Unlike the reference's `DerivedSource` (bug K7), a stored source keeps the system
//! tags and source info of the rows it serves, so provenance survives the detour
//! through the store.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, LargeStringArray, RecordBatch, UInt64Array};
use arrow::compute::{filter_record_batch, take_record_batch};
use arrow::datatypes::{DataType, Field, Schema};

use super::{NodeKind, NodeStats, Pipeline};
use crate::error::{Error, Result};
use crate::function::node::{FunctionPaths, INPUT_PACKET_HASH_COLUMN, NODE_CONTENT_HASH_COLUMN};
use crate::hashing::identity::{self, Identity};
use crate::hashing::{hash_value, Value};
use crate::model::{Stream, StreamSchema};
use crate::source::Source;
use crate::store::{ArrowStore, RecordPath};

/// The stored results of node `node` of `pipeline` (in `store`, scoped by the
/// pipeline's name), as a source: the node's tags and system tags, its output packets
/// and their source info. For a function node, the results of every run of this node
/// instance so far; for an operator node, the rows it logged (`CacheMode::Log`).
pub fn stored_source(store: &dyn ArrowStore, pipeline: &Pipeline, node: &str) -> Result<Source> {
    let index = pipeline.index_of(node).ok_or_else(|| Error::Plan {
        pipeline: pipeline.name().to_string(),
        message: format!("there is no node `{node}`"),
    })?;
    let n = &pipeline.nodes()[index];
    let identity = Identity {
        content: hash_value(&Value::tuple([Value::Hash(n.identity().content.clone())])),
        pipeline: hash_value(&identity::schema_pair(
            n.output_schema().tag_fields(),
            n.output_schema().packet_fields(),
        )?),
    };
    let pod = match n.kind() {
        NodeKind::Function(pod) => pod,
        // An operator's stored rows are what it logged (CacheMode::Log).
        NodeKind::Operator(_) => {
            let scoped = store.at(&[pipeline.name()])?;
            let stream = pipeline.replay(index, Some(scoped.as_ref()))?;
            let source_id = format!("{}:{}", node, n.identity().content.hex_prefix(16));
            return Source::from_stream("DerivedSource", source_id, stream, identity);
        }
        NodeKind::Source(_) => {
            return Err(Error::invalid(
                format!("node `{node}`"),
                "a source node stores nothing of its own; use the source itself",
            ))
        }
    };
    let store = store.at(&[pipeline.name()])?;
    let paths = FunctionPaths::new(pod, &n.identity().pipeline)?;
    let schema = n.output_schema().clone();
    let content = n.identity().content.to_string();
    let batch = match store.get_all(&paths.records)? {
        None => RecordBatch::new_empty(schema.arrow().clone()),
        Some(records) => rows_of_node(&*store, &paths, &schema, records.batch, &content)?,
    };
    let identity = Identity {
        content: hash_value(&Value::tuple([Value::Hash(n.identity().content.clone())])),
        pipeline: hash_value(&identity::schema_pair(
            schema.tag_fields(),
            schema.packet_fields(),
        )?),
    };
    let source_id = format!("{}:{}", paths.records, &n.identity().content.hex_prefix(16));
    Source::from_stream(
        "DerivedSource",
        source_id,
        Stream::new(schema, vec![batch])?,
        identity,
    )
}

/// Joins this node's pipeline records with the stored results.
fn rows_of_node(
    store: &dyn ArrowStore,
    paths: &FunctionPaths,
    schema: &Arc<StreamSchema>,
    records: RecordBatch,
    node_content_hash: &str,
) -> Result<RecordBatch> {
    // Only this node instance's records (the table is shared by every node with the same
    // function and schema).
    let mine = records
        .column_by_name(NODE_CONTENT_HASH_COLUMN)
        .ok_or_else(|| Error::internal("pipeline records without a node hash column"))?
        .as_string::<i64>()
        .iter()
        .map(|h| Some(h == Some(node_content_hash)))
        .collect::<arrow::array::BooleanArray>();
    let records = filter_record_batch(&records, &mine)?;
    let hashes: Vec<String> = records
        .column_by_name(INPUT_PACKET_HASH_COLUMN)
        .ok_or_else(|| Error::internal("pipeline records without input hashes"))?
        .as_string::<i64>()
        .iter()
        .map(|h| h.unwrap_or_default().to_string())
        .collect();
    let found = store.get_records(&paths.results, &hashes)?;
    let Some(results) = found.found else {
        return Ok(RecordBatch::new_empty(schema.arrow().clone()));
    };
    let position: std::collections::HashMap<&str, u64> = results
        .ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i as u64))
        .collect();
    // Records whose result is missing (never expected) are skipped.
    let (keep, take): (Vec<u64>, Vec<u64>) = hashes
        .iter()
        .enumerate()
        .filter_map(|(i, h)| position.get(h.as_str()).map(|&p| (i as u64, p)))
        .unzip();
    let records = take_record_batch(&records, &UInt64Array::from(keep))?;
    let results = take_record_batch(&results.batch, &UInt64Array::from(take))?;
    let n_out = schema.packet_fields().len();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for f in schema.tag_fields().iter().chain(schema.system_tag_fields()) {
        columns.push(records.column_by_name(f.name()).cloned().ok_or_else(|| {
            Error::internal(format!("pipeline records without column `{}`", f.name()))
        })?);
    }
    let tags = schema.tag_fields().len();
    let mut ordered: Vec<ArrayRef> = columns[..tags].to_vec();
    ordered.extend((0..n_out).map(|i| results.column(i).clone()));
    ordered.extend(columns[tags..].iter().cloned());
    ordered.extend((n_out..2 * n_out).map(|i| results.column(i).clone()));
    Ok(RecordBatch::try_new(schema.arrow().clone(), ordered)?)
}

/// One node's line in the run log.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    /// The run's id (unique per run).
    pub run_id: String,
    /// When the run ended (as given by whoever ran it).
    pub finished_at: String,
    /// The node.
    pub node: String,
    /// Rows it produced.
    pub rows_out: u64,
    /// Packets served from stored results.
    pub cached: u64,
    /// Packets computed.
    pub computed: u64,
    /// Packets failed.
    pub failed: u64,
    /// The failures: tags, message and stderr of each, as JSON text.
    pub failures_json: String,
}

fn run_log_path() -> Result<RecordPath> {
    RecordPath::new(["_log", "runs"])
}

fn run_log_schema() -> Arc<Schema> {
    let text = |n: &str| Field::new(n, DataType::LargeUtf8, false);
    let count = |n: &str| Field::new(n, DataType::UInt64, false);
    Arc::new(Schema::new(vec![
        text("run_id"),
        text("finished_at"),
        text("node"),
        count("rows_out"),
        count("cached"),
        count("computed"),
        count("failed"),
        text("failures"),
    ]))
}

/// Appends a run's per-node stats to the run log of the pipeline `pipeline` in `store`
/// and flushes.
pub fn write_run_log(
    store: &dyn ArrowStore,
    pipeline: &str,
    run_id: &str,
    finished_at: &str,
    stats: &[NodeStats],
) -> Result<()> {
    if stats.is_empty() {
        return Ok(());
    }
    let store = store.at(&[pipeline])?;
    let strings = |f: &dyn Fn(&NodeStats) -> String| -> ArrayRef {
        Arc::new(LargeStringArray::from(
            stats.iter().map(f).collect::<Vec<_>>(),
        ))
    };
    let counts = |f: &dyn Fn(&NodeStats) -> u64| -> ArrayRef {
        Arc::new(UInt64Array::from(stats.iter().map(f).collect::<Vec<_>>()))
    };
    let batch = RecordBatch::try_new(
        run_log_schema(),
        vec![
            strings(&|_| run_id.to_string()),
            strings(&|_| finished_at.to_string()),
            strings(&|s| s.node.clone()),
            counts(&|s| s.rows_out),
            counts(&|s| s.counts.cached),
            counts(&|s| s.counts.computed),
            counts(&|s| s.counts.failed),
            strings(&|s| {
                let failures: Vec<serde_json::Value> = s
                    .failures
                    .iter()
                    .map(|f| {
                        let tag: serde_json::Map<String, serde_json::Value> = f
                            .tag
                            .iter()
                            .map(|(k, v)| (k.clone(), crate::function::datum_to_json(v)))
                            .collect();
                        serde_json::json!({
                            "tag": tag,
                            "message": f.error.message,
                            "stderr": f.error.stderr,
                        })
                    })
                    .collect();
                serde_json::Value::Array(failures).to_string()
            }),
        ],
    )?;
    let ids: Vec<String> = stats
        .iter()
        .map(|s| format!("{run_id}/{}", s.node))
        .collect();
    store.add_records(&run_log_path()?, &ids, &batch, true)?;
    store.flush()
}

/// The run log of pipeline `pipeline`, oldest run first.
pub fn read_run_log(store: &dyn ArrowStore, pipeline: &str) -> Result<Vec<RunRecord>> {
    let store = store.at(&[pipeline])?;
    let Some(records) = store.get_all(&run_log_path()?)? else {
        return Ok(Vec::new());
    };
    let b = &records.batch;
    let text = |i: usize, r: usize| b.column(i).as_string::<i64>().value(r).to_string();
    let count = |i: usize, r: usize| {
        b.column(i)
            .as_any()
            .downcast_ref::<UInt64Array>()
            .map_or(0, |a| a.value(r))
    };
    if b.num_columns() != 8 {
        return Err(Error::internal("unexpected run-log layout"));
    }
    Ok((0..b.num_rows())
        .map(|r| RunRecord {
            run_id: text(0, r),
            finished_at: text(1, r),
            node: text(2, r),
            rows_out: count(3, r),
            cached: count(4, r),
            computed: count(5, r),
            failed: count(6, r),
            failures_json: text(7, r),
        })
        .collect())
}
