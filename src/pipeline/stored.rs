//! What a store holds of a pipeline's nodes: a node's stored results as a derived
//! source ([`stored_source`]). (The run log is in `run_log`.)
//!
//! Unlike the reference's `DerivedSource` (bug K7), a stored source keeps the system
//! tags and source info of the rows it serves, so provenance survives the detour
//! through the store.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, LargeStringArray, RecordBatch, UInt64Array};
use arrow::compute::{filter_record_batch, take_record_batch};

use super::{NodeKind, Pipeline};
use crate::error::{Error, Result};
use crate::function::{source_info_columns, FunctionPod};
use crate::hashing::identity::{self, Identity};
use crate::hashing::{hash_value, Value};
use crate::model::{Stream, StreamSchema};
use crate::source::Source;
use crate::store::layout::{FunctionPaths, INPUT_PACKET_HASH_COLUMN, NODE_CONTENT_HASH_COLUMN};
use crate::store::ArrowStore;

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
        Some(records) => rows_of_node(&*store, pod, &paths, &schema, records.batch, &content)?,
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
    pod: &FunctionPod,
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
    let n_out = schema.packet_fields().len();
    // Results stored with their output packets alone get their source info derived
    // from their input hashes, as the function node does (`stored_chunk`).
    let derived_info = (results.batch.num_columns() == n_out).then(|| {
        let hashes: LargeStringArray = take
            .iter()
            .map(|&p| Some(&results.ids[p as usize]))
            .collect();
        source_info_columns(pod, schema.packet_fields(), &hashes).0
    });
    let results = take_record_batch(&results.batch, &UInt64Array::from(take))?;
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
    match derived_info {
        Some(info) => ordered.extend(info),
        None => ordered.extend((n_out..2 * n_out).map(|i| results.column(i).clone())),
    }
    Ok(RecordBatch::try_new(schema.arrow().clone(), ordered)?)
}
