//! [`FunctionNode`]: the running state of a function pod in a pipeline — a sans-IO
//! state machine like the operators, plus a result cache.
//!
//! ```text
//!  push(batch) ──▶ hash each input packet ──▶ cached? ──yes──▶ output row at once
//!                                               │no
//!                                               ▼
//!                      already being computed? ──yes──▶ wait for that job
//!                                               │no
//!                                               ▼
//!                                  Job { id, packet } ──▶ the driver runs it
//!  complete(id, result) ──▶ output rows for every waiting row, a result write,
//!                           and a pipeline record per row
//! ```
//!
//! The driver (synchronous executor or actor) decides where jobs run and applies the
//! store writes this state machine hands out ([`FunctionNode::take_writes`]): results
//! keyed by input packet content hash (shared by every node running the same function),
//! and pipeline records keyed by entry id (which rows this node processed). A packet is
//! computed at most once per node even when it appears in many rows.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, LargeStringArray, RecordBatch};
use arrow::compute::{concat_batches, interleave_record_batch};
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};

use super::{FunctionError, FunctionPod};
use crate::error::{Error, Result};
use crate::hashing::arrow::RowHasher;
use crate::hashing::ContentHash;
use crate::model::{array_from_datums, row_of, Datum, StreamSchema};
use crate::store::{ArrowStore, RecordPath};

/// Column of a pipeline record holding the result's record id.
pub const PACKET_ID_COLUMN: &str = "__packet_id";
/// Column of a pipeline record holding the node's content hash.
pub const NODE_CONTENT_HASH_COLUMN: &str = "_node_content_hash";
/// Column of a pipeline record telling whether the result was computed in this run.
pub const COMPUTED_COLUMN: &str = "__computed";
/// Column of a pipeline record (and of the entry-id hash) holding the input packet hash.
pub const INPUT_PACKET_HASH_COLUMN: &str = "__input_packet_hash";

/// One packet to compute.
#[derive(Debug, Clone)]
pub struct Job {
    /// The job's id within its node.
    pub id: u64,
    /// The input packet: (column, value) in the function's parameter order.
    pub packet: Vec<(String, Datum)>,
}

/// A packet whose computation failed.
#[derive(Debug, Clone, PartialEq)]
pub struct PacketFailure {
    /// The input packet's content hash.
    pub input_hash: String,
    /// The user tags of the first row carrying the packet.
    pub tag: Vec<(String, Datum)>,
    /// What went wrong.
    pub error: FunctionError,
}

impl PacketFailure {
    /// The failure as a fail-fast error of function `function`.
    pub fn to_error(&self, function: &str) -> Error {
        crate::pipeline::packet_failed(function, self)
    }
}

/// Per-node packet counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PacketCounts {
    /// Rows served from stored or earlier results.
    pub cached: u64,
    /// Packets computed in this run.
    pub computed: u64,
    /// Packets that failed.
    pub failed: u64,
}

/// Writes for the store: rows to add under a path, keyed by record id.
#[derive(Debug, Clone)]
pub struct StoreWrite {
    /// Where.
    pub path: RecordPath,
    /// One id per row.
    pub ids: Vec<String>,
    /// The rows.
    pub batch: RecordBatch,
}

/// Where a function node keeps its results and records in a store.
#[derive(Debug, Clone)]
pub struct FunctionPaths {
    /// Results keyed by input packet hash: `_result / uri…`.
    pub results: RecordPath,
    /// This node's records: `uri… / schema:{pipeline hash}`.
    pub records: RecordPath,
}

impl FunctionPaths {
    /// The reference's layout (inside the pipeline's scope).
    pub fn new(pod: &FunctionPod, node_pipeline_hash: &ContentHash) -> Result<Self> {
        let uri = pod.uri().components();
        let results = RecordPath::new(std::iter::once("_result".to_string()).chain(uri.clone()))?;
        let records = RecordPath::new(
            uri.into_iter()
                .chain(std::iter::once(format!("schema:{node_pipeline_hash}"))),
        )?;
        Ok(FunctionPaths { results, records })
    }
}

struct Waiting {
    /// Row of the input batch (tag, system tag and source-info columns are used).
    batch: RecordBatch,
    row: usize,
}

/// The running state of one function node.
pub struct FunctionNode {
    pod: FunctionPod,
    input: Arc<StreamSchema>,
    output: Arc<StreamSchema>,
    node_hash: String,
    store: Option<(Arc<dyn ArrowStore>, FunctionPaths)>,
    /// Results known in this run: input hash → one-row batch of packet + source columns.
    known: HashMap<String, RecordBatch>,
    /// Rows waiting for a job, by input hash.
    waiting: HashMap<String, Vec<Waiting>>,
    jobs: HashMap<u64, String>,
    next_job: u64,
    ready: Vec<RecordBatch>,
    writes: Vec<StoreWrite>,
    counts: PacketCounts,
    failures: Vec<PacketFailure>,
    result_schema: SchemaRef,
    record_schema: SchemaRef,
    entry_schema: SchemaRef,
    entry_hasher: RowHasher,
    packet_hasher: RowHasher,
    /// Rows whose result is known, not yet turned into output: (input batch, row, input
    /// hash, computed in this run).
    to_emit: Vec<(RecordBatch, usize, String, bool)>,
}

impl FunctionNode {
    /// The state for `pod` reading `input`; `node_hash` is the node's content hash
    /// string; with a store, stored results are reused and new ones handed out as writes.
    pub fn new(
        pod: FunctionPod,
        input: Arc<StreamSchema>,
        node_hash: &ContentHash,
        store: Option<(Arc<dyn ArrowStore>, FunctionPaths)>,
    ) -> Result<Self> {
        pod.check_input(&input)?;
        let output = Arc::new(pod.output_schema(&input)?);
        let result_fields: Vec<FieldRef> = output
            .packet_fields()
            .iter()
            .chain(output.source_info_fields())
            .cloned()
            .collect();
        let record_fields: Vec<FieldRef> = input
            .tag_fields()
            .iter()
            .chain(input.system_tag_fields())
            .chain(input.source_info_fields())
            .cloned()
            .chain([
                Arc::new(Field::new(
                    INPUT_PACKET_HASH_COLUMN,
                    DataType::LargeUtf8,
                    false,
                )),
                Arc::new(Field::new(PACKET_ID_COLUMN, DataType::LargeUtf8, false)),
                Arc::new(Field::new(
                    NODE_CONTENT_HASH_COLUMN,
                    DataType::LargeUtf8,
                    false,
                )),
                Arc::new(Field::new(COMPUTED_COLUMN, DataType::Boolean, false)),
            ])
            .collect();
        let mut entry_fields: Vec<FieldRef> = input
            .tag_fields()
            .iter()
            .chain(input.system_tag_fields())
            .cloned()
            .collect();
        entry_fields.push(Arc::new(Field::new(
            INPUT_PACKET_HASH_COLUMN,
            DataType::LargeUtf8,
            false,
        )));
        entry_fields.push(Arc::new(Field::new(
            NODE_CONTENT_HASH_COLUMN,
            DataType::LargeUtf8,
            false,
        )));
        let entry_schema = Arc::new(Schema::new(entry_fields));
        let packet_schema = Schema::new(input.packet_fields().to_vec());
        Ok(FunctionNode {
            entry_hasher: RowHasher::new(&entry_schema),
            entry_schema,
            packet_hasher: RowHasher::new(&packet_schema),
            to_emit: Vec::new(),
            pod,
            input,
            output,
            node_hash: node_hash.to_string(),
            store,
            known: HashMap::new(),
            waiting: HashMap::new(),
            jobs: HashMap::new(),
            next_job: 0,
            ready: Vec::new(),
            writes: Vec::new(),
            counts: PacketCounts::default(),
            failures: Vec::new(),
            result_schema: Arc::new(Schema::new(result_fields)),
            record_schema: Arc::new(Schema::new(record_fields)),
        })
    }

    /// The schema of every output batch.
    pub fn output_schema(&self) -> &Arc<StreamSchema> {
        &self.output
    }

    /// The pod.
    pub fn pod(&self) -> &FunctionPod {
        &self.pod
    }

    /// Takes an input batch: cached rows become output at once, the rest become jobs
    /// (one per distinct packet not already being computed).
    pub fn push(&mut self, batch: RecordBatch) -> Result<Vec<Job>> {
        if batch.num_rows() == 0 {
            return Ok(Vec::new());
        }
        let packet_idx: Vec<usize> = self.input.packet_range().collect();
        let hashes: Vec<String> = self
            .packet_hasher
            .hash_rows(&batch.project(&packet_idx)?)
            .into_iter()
            .map(|h| h.to_string())
            .collect();
        self.load_stored(&hashes)?;

        let mut jobs = Vec::new();
        let mut hits: Vec<usize> = Vec::new();
        for (row, hash) in hashes.iter().enumerate() {
            if self.known.contains_key(hash) {
                hits.push(row);
                continue;
            }
            let waiting = Waiting {
                batch: batch.clone(),
                row,
            };
            if let Some(rows) = self.waiting.get_mut(hash) {
                rows.push(waiting);
                continue;
            }
            let (_, packet) = row_of(&self.input, &batch, row)?;
            let id = self.next_job;
            self.next_job += 1;
            self.jobs.insert(id, hash.clone());
            self.waiting.insert(hash.clone(), vec![waiting]);
            jobs.push(Job {
                id,
                packet: packet.columns().to_vec(),
            });
        }
        self.counts.cached += hits.len() as u64;
        for r in hits {
            self.to_emit
                .push((batch.clone(), r, hashes[r].clone(), false));
        }
        Ok(jobs)
    }

    /// Takes the result of job `id`. A wrong number or type of output values is a
    /// failure of the packet, like an error of the function itself.
    pub fn complete(
        &mut self,
        id: u64,
        result: std::result::Result<Vec<Datum>, FunctionError>,
    ) -> Result<()> {
        let hash = self
            .jobs
            .remove(&id)
            .ok_or_else(|| Error::internal(format!("function node: unknown job {id}")))?;
        let waiting = self.waiting.remove(&hash).unwrap_or_default();
        match result.and_then(|values| self.result_row(&hash, values)) {
            Ok(row) => {
                self.counts.computed += 1;
                self.counts.cached += waiting.len().saturating_sub(1) as u64;
                if self.store.is_some() {
                    let path = self.paths().results.clone();
                    self.writes.push(StoreWrite {
                        path,
                        ids: vec![hash.clone()],
                        batch: row.clone(),
                    });
                }
                self.known.insert(hash.clone(), row);
                for w in waiting {
                    self.to_emit.push((w.batch, w.row, hash.clone(), true));
                }
            }
            Err(error) => {
                self.counts.failed += 1;
                let tag = match waiting.first() {
                    Some(w) => row_of(&self.input, &w.batch, w.row)?.0.columns().to_vec(),
                    None => Vec::new(),
                };
                self.failures.push(PacketFailure {
                    input_hash: hash,
                    tag,
                    error,
                });
            }
        }
        Ok(())
    }

    /// Jobs handed out and not yet completed.
    pub fn jobs_in_flight(&self) -> usize {
        self.jobs.len()
    }

    /// Output batches ready so far (one batch for all rows completed since the last
    /// call).
    pub fn take_output(&mut self) -> Result<Vec<RecordBatch>> {
        self.build_pending()?;
        Ok(std::mem::take(&mut self.ready))
    }

    /// Store writes ready so far (results, then pipeline records).
    pub fn take_writes(&mut self) -> Result<Vec<StoreWrite>> {
        self.build_pending()?;
        Ok(std::mem::take(&mut self.writes))
    }

    /// Turns the rows completed since the last call into one output batch and their
    /// pipeline records.
    fn build_pending(&mut self) -> Result<()> {
        if self.to_emit.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.to_emit);
        let computed: Vec<bool> = pending.iter().map(|p| p.3).collect();
        let rows: Vec<(RecordBatch, usize, String)> =
            pending.into_iter().map(|(b, r, h, _)| (b, r, h)).collect();
        self.emit(&rows, &computed)
    }

    /// Failures so far (taken).
    pub fn take_failures(&mut self) -> Vec<PacketFailure> {
        std::mem::take(&mut self.failures)
    }

    /// Counts so far.
    pub fn counts(&self) -> &PacketCounts {
        &self.counts
    }

    fn paths(&self) -> &FunctionPaths {
        &self.store.as_ref().expect("only called with a store").1
    }

    /// Loads the stored results of the hashes not known yet.
    fn load_stored(&mut self, hashes: &[String]) -> Result<()> {
        let Some((store, paths)) = &self.store else {
            return Ok(());
        };
        let mut wanted: Vec<String> = hashes
            .iter()
            .filter(|h| !self.known.contains_key(*h) && !self.waiting.contains_key(*h))
            .cloned()
            .collect();
        wanted.sort();
        wanted.dedup();
        if wanted.is_empty() {
            return Ok(());
        }
        let lookup = store.get_records(&paths.results, &wanted)?;
        if let Some(found) = lookup.found {
            if found.batch.schema().fields() != self.result_schema.fields() {
                return Err(Error::invalid(
                    format!("store path {}", paths.results),
                    "stored results do not have the function's output schema",
                ));
            }
            for (i, id) in found.ids.iter().enumerate() {
                self.known.insert(id.clone(), found.batch.slice(i, 1));
            }
        }
        Ok(())
    }

    /// The one-row result (packet + source-info columns) of a computation.
    fn result_row(
        &self,
        hash: &str,
        values: Vec<Datum>,
    ) -> std::result::Result<RecordBatch, FunctionError> {
        let fields = self.output.packet_fields();
        if values.len() != fields.len() {
            return Err(FunctionError::new(format!(
                "the function returned {} values for {} output columns",
                values.len(),
                fields.len()
            )));
        }
        let result_id = self.pod.result_id(hash);
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(2 * fields.len());
        for (field, value) in fields.iter().zip(values) {
            if value == Datum::Null && !field.is_nullable() {
                return Err(FunctionError::new(format!(
                    "output `{}` is null but its type is not nullable",
                    field.name()
                )));
            }
            let array = array_from_datums(field.name(), field.data_type(), &[value])
                .map_err(|e| FunctionError::new(format!("output `{}`: {e}", field.name())))?;
            columns.push(array);
        }
        for field in fields {
            let info = self.pod.source_info(&result_id, field.name());
            columns.push(Arc::new(LargeStringArray::from(vec![info])));
        }
        RecordBatch::try_new(self.result_schema.clone(), columns)
            .map_err(|e| FunctionError::new(format!("cannot build the result: {e}")))
    }

    /// Output rows for (input batch, row, input hash) triples whose result is known, and
    /// their pipeline records.
    fn emit(&mut self, rows: &[(RecordBatch, usize, String)], computed: &[bool]) -> Result<()> {
        let input = &self.input;
        let tag_cols: Vec<usize> = input.tag_range().collect();
        let sys_cols: Vec<usize> = input.system_tag_range().collect();
        // Gather from the distinct input batches and result rows involved.
        let mut batches: Vec<RecordBatch> = Vec::new();
        let mut results: Vec<RecordBatch> = Vec::new();
        let mut input_refs = Vec::with_capacity(rows.len());
        let mut result_refs = Vec::with_capacity(rows.len());
        let mut result_index: HashMap<&str, usize> = HashMap::new();
        for (batch, row, hash) in rows {
            let b = match batches.iter().position(|x| same_batch(x, batch)) {
                Some(b) => b,
                None => {
                    batches.push(batch.clone());
                    batches.len() - 1
                }
            };
            input_refs.push((b, *row));
            let r = *result_index.entry(hash.as_str()).or_insert_with(|| {
                results.push(self.known[hash].clone());
                results.len() - 1
            });
            result_refs.push((r, 0));
        }
        let picked_inputs = {
            let refs: Vec<&RecordBatch> = batches.iter().collect();
            interleave_record_batch(&refs, &input_refs)?
        };
        let picked_results = {
            let refs: Vec<&RecordBatch> = results.iter().collect();
            interleave_record_batch(&refs, &result_refs)?
        };
        let n_out = self.output.packet_fields().len();
        let mut columns: Vec<ArrayRef> = Vec::new();
        columns.extend(tag_cols.iter().map(|&i| picked_inputs.column(i).clone()));
        columns.extend((0..n_out).map(|i| picked_results.column(i).clone()));
        columns.extend(sys_cols.iter().map(|&i| picked_inputs.column(i).clone()));
        columns.extend((n_out..2 * n_out).map(|i| picked_results.column(i).clone()));
        self.ready
            .push(RecordBatch::try_new(self.output.arrow().clone(), columns)?);

        if self.store.is_some() {
            self.record_rows(&picked_inputs, rows, computed)?;
        }
        Ok(())
    }

    /// Pipeline records for emitted rows: tags, system tags and input source info, the
    /// input packet hash, the result id, this node's hash and whether it was computed
    /// now; keyed by entry id.
    fn record_rows(
        &mut self,
        picked: &RecordBatch,
        rows: &[(RecordBatch, usize, String)],
        computed: &[bool],
    ) -> Result<()> {
        let input = &self.input;
        let n = picked.num_rows();
        let mut columns: Vec<ArrayRef> = input
            .tag_range()
            .chain(input.system_tag_range())
            .chain(input.source_info_range())
            .map(|i| picked.column(i).clone())
            .collect();
        let input_hashes: Vec<&str> = rows.iter().map(|(_, _, h)| h.as_str()).collect();
        columns.push(Arc::new(LargeStringArray::from(input_hashes)));
        let packet_ids: Vec<String> = rows.iter().map(|(_, _, h)| self.pod.result_id(h)).collect();
        columns.push(Arc::new(LargeStringArray::from(packet_ids)));
        columns.push(Arc::new(LargeStringArray::from(vec![
            self.node_hash.clone();
            n
        ])));
        debug_assert_eq!(computed.len(), n);
        columns.push(Arc::new(BooleanArray::from(computed.to_vec())));
        let records = RecordBatch::try_new(self.record_schema.clone(), columns)?;
        let ids = self.entry_ids(picked, rows)?;
        let path = self.paths().records.clone();
        self.writes.push(StoreWrite {
            path,
            ids,
            batch: records,
        });
        Ok(())
    }

    /// Entry id of each row: the Arrow hash of its tags and system tags, the input packet
    /// hash and this node's content hash (reference §8.2).
    fn entry_ids(
        &self,
        picked: &RecordBatch,
        rows: &[(RecordBatch, usize, String)],
    ) -> Result<Vec<String>> {
        let input = &self.input;
        let mut columns: Vec<ArrayRef> = input
            .tag_range()
            .chain(input.system_tag_range())
            .map(|i| picked.column(i).clone())
            .collect();
        columns.push(Arc::new(LargeStringArray::from(
            rows.iter().map(|(_, _, h)| h.as_str()).collect::<Vec<_>>(),
        )));
        columns.push(Arc::new(LargeStringArray::from(vec![
            self.node_hash
                .as_str();
            picked.num_rows()
        ])));
        let table = RecordBatch::try_new(self.entry_schema.clone(), columns)?;
        Ok(self
            .entry_hasher
            .hash_rows(&table)
            .into_iter()
            .map(|h| h.to_string())
            .collect())
    }
}

fn same_batch(a: &RecordBatch, b: &RecordBatch) -> bool {
    a.num_rows() == b.num_rows()
        && a.columns()
            .iter()
            .zip(b.columns())
            .all(|(x, y)| x.to_data().ptr_eq(&y.to_data()))
}

/// Applies writes to a store: results are kept first-write-wins (skip duplicates), as
/// are pipeline records.
pub fn apply_writes(store: &dyn ArrowStore, writes: &[StoreWrite]) -> Result<()> {
    // Concatenate writes per path to write each path once.
    let mut by_path: Vec<(RecordPath, Vec<String>, Vec<RecordBatch>)> = Vec::new();
    for w in writes {
        match by_path.iter_mut().find(|(p, _, _)| *p == w.path) {
            Some((_, ids, batches)) => {
                ids.extend(w.ids.iter().cloned());
                batches.push(w.batch.clone());
            }
            None => by_path.push((w.path.clone(), w.ids.clone(), vec![w.batch.clone()])),
        }
    }
    for (path, ids, batches) in by_path {
        let batch = concat_batches(&batches[0].schema(), &batches)?;
        store.add_records(&path, &ids, &batch, true)?;
    }
    Ok(())
}
