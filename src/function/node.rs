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
//!  complete_built(id, ..) ─▶ output rows for every waiting row, a result write,
//!                           and a pipeline record per row
//! ```
//!
//! The driver (synchronous executor or actor) decides where jobs run and applies the
//! store writes this state machine hands out ([`FunctionNode::take_writes`]): results
//! keyed by input packet content hash (shared by every node running the same function),
//! and pipeline records keyed by entry id (which rows this node processed). A packet is
//! computed at most once per node even when it appears in many rows.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, LargeStringArray, LargeStringBuilder, RecordBatch,
    UInt32Array,
};
use arrow::compute::{concat_batches, interleave_record_batch, take_record_batch};
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};

use super::{call_catching_panics, FunctionError, FunctionPod, FunctionWorker};
use crate::error::{Error, Result};
use crate::hashing::arrow::{digest_string, RowDigest, RowHasher};
use crate::hashing::ContentHash;
use crate::model::columns::BLOCK_SEPARATOR;
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

/// Packets to compute: a batch of distinct input packets, one per row.
#[derive(Clone)]
pub struct Job {
    /// The job's id within its node.
    pub id: u64,
    /// The input packets, one per row: the input stream's packet columns (the
    /// function's parameters).
    pub packets: RecordBatch,
    /// The input packet hash of each row.
    hashes: Arc<[RowDigest]>,
    builder: Arc<ResultBuilder>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("id", &self.id)
            .field("packets", &self.packets.num_rows())
            .finish()
    }
}

/// The outcome of computing one packet.
pub type PacketResult = std::result::Result<Vec<Datum>, FunctionError>;

impl Job {
    /// How many packets the job holds.
    pub fn len(&self) -> usize {
        self.packets.num_rows()
    }

    /// Whether the job holds no packet.
    pub fn is_empty(&self) -> bool {
        self.packets.num_rows() == 0
    }

    /// Packet `i` as (column, value) pairs.
    pub fn packet(&self, i: usize) -> Result<Vec<(String, Datum)>> {
        let schema = self.packets.schema();
        schema
            .fields()
            .iter()
            .zip(self.packets.columns())
            .map(|(f, c)| Ok((f.name().clone(), Datum::from_array(c.as_ref(), i)?)))
            .collect()
    }

    /// Turns the results of packets `start..start + results.len()`, which took `retried`
    /// retries, into result rows, off the node (a worker thread may do it): what
    /// [`FunctionNode::complete_built`] takes. A wrong number or type of output values
    /// is a failure of the packet, like an error of the function itself.
    pub fn build(
        &self,
        start: usize,
        results: Vec<PacketResult>,
        retried: u64,
    ) -> Result<Completed> {
        let end = start + results.len();
        let hashes = self.hashes.get(start..end).ok_or_else(|| {
            Error::internal(format!(
                "function node: job {} has {} packets, got results up to {end}",
                self.id,
                self.hashes.len()
            ))
        })?;
        let mut completed = self.builder.build(hashes, results)?;
        completed.retried = retried;
        Ok(completed)
    }
}

/// The results of some of a job's packets, validated and built into result rows.
#[derive(Debug)]
pub struct Completed {
    /// How many packets this covers.
    packets: usize,
    /// The successful packets' hashes and their chunk of result rows.
    ok: Option<(Vec<RowDigest>, RecordBatch)>,
    /// The failed packets.
    failed: Vec<(RowDigest, FunctionError)>,
    /// Retries these packets took.
    retried: u64,
}

/// Builds result rows from computed values: shared by a node and its jobs, so that
/// workers build them.
struct ResultBuilder {
    pod: FunctionPod,
    /// The output packet fields.
    fields: Vec<FieldRef>,
    /// Output packet columns, their source info, the input hash and the result id.
    chunk_schema: SchemaRef,
}

impl ResultBuilder {
    /// Validates computed values and builds the chunk of the successful ones.
    fn build(&self, hashes: &[RowDigest], results: Vec<PacketResult>) -> Result<Completed> {
        let packets = results.len();
        let fields = &self.fields;
        let mut failed: Vec<(RowDigest, FunctionError)> = Vec::new();
        let mut ok: Vec<RowDigest> = Vec::with_capacity(results.len());
        // The successful values, column by column.
        let mut values: Vec<Vec<Datum>> = fields
            .iter()
            .map(|_| Vec::with_capacity(results.len()))
            .collect();
        for (hash, result) in hashes.iter().zip(results) {
            match result.and_then(|v| check_values(fields, v)) {
                Ok(row) => {
                    ok.push(*hash);
                    for (column, value) in values.iter_mut().zip(row) {
                        column.push(value);
                    }
                }
                Err(e) => failed.push((*hash, e)),
            }
        }
        // A value of the wrong type fails its packet (and only it).
        let columns = loop {
            let mut columns: Vec<ArrayRef> = Vec::with_capacity(fields.len());
            let mut bad: Option<(usize, FunctionError)> = None;
            for (field, column) in fields.iter().zip(&values) {
                match array_from_datums(field.name(), field.data_type(), column) {
                    Ok(array) => columns.push(array),
                    Err(_) => {
                        bad = column.iter().enumerate().find_map(|(i, v)| {
                            array_from_datums(
                                field.name(),
                                field.data_type(),
                                std::slice::from_ref(v),
                            )
                            .err()
                            .map(|e| {
                                (
                                    i,
                                    FunctionError::new(format!("output `{}`: {e}", field.name())),
                                )
                            })
                        });
                        if bad.is_none() {
                            return Err(Error::internal(format!(
                                "function node: output `{}` fails as a column but not per value",
                                field.name()
                            )));
                        }
                        break;
                    }
                }
            }
            match bad {
                Some((i, e)) => {
                    failed.push((ok.remove(i), e));
                    for column in &mut values {
                        column.remove(i);
                    }
                }
                None => break columns,
            }
        };
        if ok.is_empty() {
            return Ok(Completed {
                packets,
                ok: None,
                failed,
                retried: 0,
            });
        }
        let hash_strings: Vec<String> = ok.iter().map(digest_string).collect();
        let batch = self.chunk(columns, &hash_strings)?;
        Ok(Completed {
            packets,
            ok: Some((ok, batch)),
            failed,
            retried: 0,
        })
    }

    /// A chunk from output columns and the input hashes of its rows: adds source info
    /// (from the result ids), the input hashes and the result ids.
    fn chunk(&self, mut columns: Vec<ArrayRef>, hashes: &[String]) -> Result<RecordBatch> {
        let ids: Vec<String> = hashes.iter().map(|h| self.pod.result_id(h)).collect();
        let mut text = String::new();
        for field in &self.fields {
            let mut builder = LargeStringBuilder::with_capacity(ids.len(), 0);
            for id in &ids {
                text.clear();
                self.pod.push_source_info(&mut text, id, field.name());
                builder.append_value(&text);
            }
            columns.push(Arc::new(builder.finish()));
        }
        columns.push(Arc::new(LargeStringArray::from_iter_values(hashes)));
        columns.push(Arc::new(LargeStringArray::from_iter_values(&ids)));
        Ok(RecordBatch::try_new(self.chunk_schema.clone(), columns)?)
    }
}

/// A reusable (column, value) buffer for calling a worker on the packets of jobs: the
/// column names are written once, the values per packet.
#[derive(Debug, Default)]
pub struct PacketBuffer {
    values: Vec<(String, Datum)>,
}

impl PacketBuffer {
    /// Computes packet `i` of `job` with `worker`, catching panics of user code.
    pub fn call(&mut self, job: &Job, worker: &mut dyn FunctionWorker, i: usize) -> PacketResult {
        let schema = job.packets.schema();
        let fields = schema.fields();
        let names_match = self.values.len() == fields.len()
            && self
                .values
                .iter()
                .zip(fields.iter())
                .all(|((n, _), f)| n == f.name());
        if !names_match {
            self.values = fields
                .iter()
                .map(|f| (f.name().clone(), Datum::Null))
                .collect();
        }
        for ((_, value), column) in self.values.iter_mut().zip(job.packets.columns()) {
            *value = Datum::from_array(column.as_ref(), i)
                .map_err(|e| FunctionError::new(format!("cannot read the input packet: {e}")))?;
        }
        call_catching_panics(worker, &self.values)
    }
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
    /// Packets that failed (after their retries).
    pub failed: u64,
    /// Retries: packets computed again after a failed attempt (each attempt counts).
    pub retried: u64,
}

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
            RecordIds::Known(ids) => ids,
            RecordIds::RowHashHex(hasher) => hasher.hash_row_hex(&self.batch),
        };
        (self.path, ids, self.batch)
    }
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

/// A job handed out and not wholly completed.
struct JobState {
    /// The input hash of each of its packets.
    hashes: Arc<[RowDigest]>,
    /// How many of its packets (a prefix) have completed.
    done: usize,
}

/// An input row whose result is known, not yet turned into output.
struct Pending {
    input: u64,
    row: u32,
    chunk: u32,
    chunk_row: u32,
    computed: bool,
}

/// An input batch with rows not yet emitted (or dropped with a failed packet).
struct InputBatch {
    batch: RecordBatch,
    open_rows: usize,
}

/// The running state of one function node.
///
/// Results known in this run are kept columnar: chunks of result rows (output packet
/// columns, their source info, then the input packet hash and the result id), one chunk
/// per completed job or store lookup, indexed by input packet digest.
pub struct FunctionNode {
    pod: FunctionPod,
    input: Arc<StreamSchema>,
    output: Arc<StreamSchema>,
    store: Option<(Arc<dyn ArrowStore>, FunctionPaths)>,
    chunks: Vec<RecordBatch>,
    /// Input hash → (chunk, row) of its result.
    known: DigestMap<(u32, u32)>,
    /// Rows waiting for a job, by input hash: (input batch, row).
    waiting: DigestMap<Vec<(u64, u32)>>,
    jobs: HashMap<u64, JobState>,
    next_job: u64,
    inputs: HashMap<u64, InputBatch>,
    next_input: u64,
    /// How many jobs the packets of one input batch are split into (at most).
    parallelism: usize,
    to_emit: Vec<Pending>,
    ready: Vec<RecordBatch>,
    writes: Vec<StoreWrite>,
    counts: PacketCounts,
    failures: Vec<PacketFailure>,
    result_schema: SchemaRef,
    builder: Arc<ResultBuilder>,
    records_shared: Arc<RecordsShared>,
    /// Records of emitted rows, not yet built.
    records: Vec<PendingRecords>,
    packet_hasher: RowHasher,
    /// Lookup-only: serve stored results, compute nothing, record nothing
    /// ([`FunctionNode::set_lookup_only`]).
    lookup_only: bool,
    /// In lookup-only mode, the distinct packets without a stored result so far.
    missing: DigestMap<()>,
    /// In lookup-only mode, the input rows dropped for want of a stored result.
    missing_rows: u64,
    /// The input's packet columns in the order of the function's parameters.
    packet_columns: Vec<usize>,
}

/// What a lookup-only function node could not serve: packets without a stored result
/// (never computed, or failed), and the input rows that carried them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MissingResults {
    /// Distinct input packets with no stored result.
    pub packets: u64,
    /// Input rows dropped because their packet has no stored result.
    pub rows: u64,
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
        let hash_field = Arc::new(Field::new(
            INPUT_PACKET_HASH_COLUMN,
            DataType::LargeUtf8,
            false,
        ));
        let packet_id_field = Arc::new(Field::new(PACKET_ID_COLUMN, DataType::LargeUtf8, false));
        let node_hash_field = Arc::new(Field::new(
            NODE_CONTENT_HASH_COLUMN,
            DataType::LargeUtf8,
            false,
        ));
        let chunk_fields: Vec<FieldRef> = result_fields
            .iter()
            .cloned()
            .chain([hash_field.clone(), packet_id_field.clone()])
            .collect();
        let record_fields: Vec<FieldRef> = input
            .tag_fields()
            .iter()
            .chain(input.system_tag_fields())
            .chain(input.source_info_fields())
            .cloned()
            .chain([
                hash_field.clone(),
                packet_id_field,
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
        // The function's parameters, matched by name to the input's packet columns: a
        // function sees its parameters in its own order, whatever the order of the
        // input's columns (a join lists them in the order of its inputs).
        let packet_columns: Vec<usize> = pod
            .function()
            .input_schema()
            .iter()
            .map(|param| Ok(input.arrow().index_of(param.name())?))
            .collect::<Result<_>>()?;
        let packet_schema = Schema::new(
            packet_columns
                .iter()
                .map(|&i| input.arrow().fields()[i].clone())
                .collect::<Vec<_>>(),
        );
        let builder = Arc::new(ResultBuilder {
            pod: pod.clone(),
            fields: output.packet_fields().to_vec(),
            chunk_schema: Arc::new(Schema::new(chunk_fields)),
        });
        Ok(FunctionNode {
            records_shared: Arc::new(RecordsShared {
                node_hash: node_hash.to_string(),
                record_schema: Arc::new(Schema::new(record_fields)),
                entry_hasher: RowHasher::new(&entry_schema),
                entry_schema,
            }),
            records: Vec::new(),
            packet_hasher: RowHasher::new(&packet_schema),
            packet_columns,
            to_emit: Vec::new(),
            pod,
            input,
            output,
            store,
            chunks: Vec::new(),
            known: DigestMap::default(),
            waiting: DigestMap::default(),
            jobs: HashMap::new(),
            next_job: 0,
            inputs: HashMap::new(),
            next_input: 0,
            parallelism: 1,
            ready: Vec::new(),
            writes: Vec::new(),
            counts: PacketCounts::default(),
            failures: Vec::new(),
            result_schema: Arc::new(Schema::new(result_fields)),
            builder,
            lookup_only: false,
            missing: DigestMap::default(),
            missing_rows: 0,
        })
    }

    /// Lookup-only mode: [`push`](Self::push) serves the results known to the store
    /// and hands out no job; a row whose packet has no stored result is dropped and
    /// counted ([`missing`](Self::missing)). No write is handed out, pipeline records
    /// included: the node neither computes nor stores anything. This is how a
    /// pipeline's current result is read from what earlier runs stored
    /// ([`SyncExecutor::lookup_only`](crate::pipeline::SyncExecutor::lookup_only)).
    pub fn set_lookup_only(&mut self) {
        self.lookup_only = true;
    }

    /// In lookup-only mode, the packets (and rows) pushed so far that had no stored
    /// result; always zero otherwise.
    pub fn missing(&self) -> MissingResults {
        MissingResults {
            packets: self.missing.len() as u64,
            rows: self.missing_rows,
        }
    }

    /// Splits the packets to compute of each input batch into at most `jobs` jobs of
    /// about equal size (default 1), so that several workers share them.
    pub fn set_parallelism(&mut self, jobs: usize) {
        self.parallelism = jobs.max(1);
    }

    /// The schema of every output batch.
    pub fn output_schema(&self) -> &Arc<StreamSchema> {
        &self.output
    }

    /// The pod.
    pub fn pod(&self) -> &FunctionPod {
        &self.pod
    }

    /// Takes an input batch: cached rows become output at once, the distinct packets
    /// not known and not already being computed become jobs.
    pub fn push(&mut self, batch: RecordBatch) -> Result<Vec<Job>> {
        let n = batch.num_rows();
        if n == 0 {
            return Ok(Vec::new());
        }
        let packets = batch.project(&self.packet_columns)?;
        let hashes = self.packet_hasher.hash_row_digests(&packets);
        self.load_stored(&hashes)?;

        let input = self.next_input;
        self.next_input += 1;
        let mut new_rows: Vec<u32> = Vec::new();
        let mut new_hashes: Vec<RowDigest> = Vec::new();
        let mut hits = 0;
        for (row, hash) in hashes.iter().enumerate() {
            let row = row_u32(row)?;
            if let Some(&(chunk, chunk_row)) = self.known.get(hash) {
                hits += 1;
                self.to_emit.push(Pending {
                    input,
                    row,
                    chunk,
                    chunk_row,
                    computed: false,
                });
            } else if self.lookup_only {
                self.missing.insert(*hash, ());
                self.missing_rows += 1;
            } else if let Some(rows) = self.waiting.get_mut(hash) {
                rows.push((input, row));
            } else {
                self.waiting.insert(*hash, vec![(input, row)]);
                new_rows.push(row);
                new_hashes.push(*hash);
            }
        }
        self.counts.cached += hits;
        // In lookup-only mode the rows without a result are done with already.
        let open_rows = if self.lookup_only { hits as usize } else { n };
        if open_rows > 0 {
            self.inputs.insert(input, InputBatch { batch, open_rows });
        }
        if new_rows.is_empty() {
            return Ok(Vec::new());
        }
        let to_compute = if new_rows.len() == n {
            packets
        } else {
            take_record_batch(&packets, &UInt32Array::from(new_rows))?
        };
        let size = to_compute.num_rows().div_ceil(self.parallelism);
        let mut jobs = Vec::new();
        let mut start = 0;
        while start < to_compute.num_rows() {
            let len = size.min(to_compute.num_rows() - start);
            let id = self.next_job;
            self.next_job += 1;
            let hashes: Arc<[RowDigest]> = new_hashes[start..start + len].into();
            self.jobs.insert(
                id,
                JobState {
                    hashes: hashes.clone(),
                    done: 0,
                },
            );
            jobs.push(Job {
                id,
                packets: to_compute.slice(start, len),
                hashes,
                builder: self.builder.clone(),
            });
            start += len;
        }
        Ok(jobs)
    }

    /// Takes the next packets of job `id` (a job's packets complete in order, in one
    /// call or several) as built by [`Job::build`].
    pub fn complete_built(&mut self, id: u64, completed: Completed) -> Result<()> {
        let job = self
            .jobs
            .get_mut(&id)
            .ok_or_else(|| Error::internal(format!("function node: unknown job {id}")))?;
        job.done += completed.packets;
        self.counts.retried += completed.retried;
        if job.done > job.hashes.len() {
            return Err(Error::internal(format!(
                "function node: job {id} completed more packets than it has"
            )));
        }
        if job.done == job.hashes.len() {
            self.jobs.remove(&id);
        }
        if let Some((chunk_hashes, batch)) = completed.ok {
            let chunk = u32::try_from(self.chunks.len())
                .map_err(|_| Error::internal("function node: too many result chunks"))?;
            if self.store.is_some() {
                let n_result = self.result_schema.fields().len();
                let ids = batch
                    .column(n_result)
                    .as_string::<i64>()
                    .iter()
                    .map(|h| h.unwrap_or_default().to_string())
                    .collect();
                let result_cols: Vec<usize> = (0..n_result).collect();
                let path = self.paths().results.clone();
                self.writes.push(StoreWrite {
                    path,
                    ids: RecordIds::Known(ids),
                    batch: batch.project(&result_cols)?,
                });
            }
            self.chunks.push(batch);
            for (r, hash) in chunk_hashes.iter().enumerate() {
                let chunk_row = row_u32(r)?;
                self.known.insert(*hash, (chunk, chunk_row));
                let rows = self.waiting.remove(hash).unwrap_or_default();
                self.counts.computed += 1;
                self.counts.cached += rows.len().saturating_sub(1) as u64;
                for (input, row) in rows {
                    self.to_emit.push(Pending {
                        input,
                        row,
                        chunk,
                        chunk_row,
                        computed: true,
                    });
                }
            }
        }
        for (hash, error) in completed.failed {
            self.counts.failed += 1;
            let rows = self.waiting.remove(&hash).unwrap_or_default();
            let tag = match rows.first() {
                Some(&(input, row)) => match self.inputs.get(&input) {
                    Some(b) => row_of(&self.input, &b.batch, row as usize)?
                        .0
                        .columns()
                        .to_vec(),
                    None => Vec::new(),
                },
                None => Vec::new(),
            };
            for (input, _) in &rows {
                self.close_rows(*input, 1);
            }
            self.failures.push(PacketFailure {
                input_hash: digest_string(&hash),
                tag,
                error,
            });
        }
        Ok(())
    }

    /// Jobs handed out and not yet wholly completed.
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
        let (mut writes, records) = self.take_writes_deferred()?;
        for records in records {
            writes.extend(records.build()?);
        }
        Ok(writes)
    }

    /// Store writes ready so far: the results, and the pipeline records left for the
    /// caller to build ([`PendingRecords::build`], perhaps on another thread).
    pub fn take_writes_deferred(&mut self) -> Result<(Vec<StoreWrite>, Vec<PendingRecords>)> {
        self.build_pending()?;
        Ok((
            std::mem::take(&mut self.writes),
            std::mem::take(&mut self.records),
        ))
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

    /// One input row of batch `input` is done with (emitted or dropped).
    fn close_rows(&mut self, input: u64, rows: usize) {
        if let Some(b) = self.inputs.get_mut(&input) {
            b.open_rows = b.open_rows.saturating_sub(rows);
            if b.open_rows == 0 {
                self.inputs.remove(&input);
            }
        }
    }

    /// Loads the stored results of the hashes neither known nor being computed.
    fn load_stored(&mut self, hashes: &[RowDigest]) -> Result<()> {
        let Some((store, paths)) = &self.store else {
            return Ok(());
        };
        let mut seen: DigestMap<()> = DigestMap::default();
        let wanted_digests: Vec<RowDigest> = hashes
            .iter()
            .filter(|h| !self.known.contains_key(*h) && !self.waiting.contains_key(*h))
            .filter(|h| seen.insert(**h, ()).is_none())
            .copied()
            .collect();
        if wanted_digests.is_empty() {
            return Ok(());
        }
        let wanted: Vec<String> = wanted_digests.iter().map(digest_string).collect();
        let lookup = store.get_records(&paths.results, &wanted)?;
        let Some(found) = lookup.found else {
            return Ok(());
        };
        if found.batch.schema().fields() != self.result_schema.fields() {
            return Err(Error::invalid(
                format!("store path {}", paths.results),
                "stored results do not have the function's output schema",
            ));
        }
        // Found rows come in request order: match them to the wanted digests.
        let mut digests: Vec<RowDigest> = Vec::with_capacity(found.ids.len());
        let mut next = 0;
        for id in &found.ids {
            while next < wanted.len() && wanted[next] != *id {
                next += 1;
            }
            let digest = wanted_digests.get(next).ok_or_else(|| {
                Error::internal("function node: the store returned an id it was not asked for")
            })?;
            digests.push(*digest);
            next += 1;
        }
        // The result id is in the stored source info (`{uri}::{result id}::{column}`),
        // as this node writes it; otherwise it is derived again.
        let n_out = self.output.packet_fields().len();
        let info = found.batch.column(n_out).as_string::<i64>();
        let prefix = self.pod.source_prefix();
        let key = self.output.packet_fields()[0].name();
        let ids: Vec<String> = found
            .ids
            .iter()
            .enumerate()
            .map(|(r, hash)| {
                let stored = info
                    .is_valid(r)
                    .then(|| result_id_of_source_info(info.value(r), prefix, key))
                    .flatten();
                match stored {
                    Some(id) => id.to_string(),
                    None => self.pod.result_id(hash),
                }
            })
            .collect();
        let mut columns = found.batch.columns().to_vec();
        columns.push(Arc::new(LargeStringArray::from_iter_values(&found.ids)));
        columns.push(Arc::new(LargeStringArray::from_iter_values(&ids)));
        let batch = RecordBatch::try_new(self.builder.chunk_schema.clone(), columns)?;
        let chunk = u32::try_from(self.chunks.len())
            .map_err(|_| Error::internal("function node: too many result chunks"))?;
        self.chunks.push(batch);
        for (r, digest) in digests.into_iter().enumerate() {
            self.known.insert(digest, (chunk, row_u32(r)?));
        }
        Ok(())
    }

    /// Turns the rows completed since the last call into one output batch and their
    /// pipeline records.
    fn build_pending(&mut self) -> Result<()> {
        if self.to_emit.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.to_emit);
        let input = &self.input;
        // The columns of the inputs that the output and the records use.
        let kept: Vec<usize> = input
            .tag_range()
            .chain(input.system_tag_range())
            .chain(input.source_info_range())
            .collect();
        let n_tags = input.tag_range().len();
        let n_sys = input.system_tag_range().len();
        let mut input_slots: HashMap<u64, usize> = HashMap::new();
        let mut input_batches: Vec<RecordBatch> = Vec::new();
        let mut chunk_slots: HashMap<u32, usize> = HashMap::new();
        let mut chunk_batches: Vec<&RecordBatch> = Vec::new();
        let mut input_refs = Vec::with_capacity(pending.len());
        let mut chunk_refs = Vec::with_capacity(pending.len());
        for p in &pending {
            let slot = match input_slots.get(&p.input) {
                Some(s) => *s,
                None => {
                    let b = self.inputs.get(&p.input).ok_or_else(|| {
                        Error::internal("function node: a pending row's input batch is gone")
                    })?;
                    input_batches.push(b.batch.project(&kept)?);
                    input_slots.insert(p.input, input_batches.len() - 1);
                    input_batches.len() - 1
                }
            };
            input_refs.push((slot, p.row as usize));
            let slot = match chunk_slots.get(&p.chunk) {
                Some(s) => *s,
                None => {
                    chunk_batches.push(&self.chunks[p.chunk as usize]);
                    chunk_slots.insert(p.chunk, chunk_batches.len() - 1);
                    chunk_batches.len() - 1
                }
            };
            chunk_refs.push((slot, p.chunk_row as usize));
        }
        let picked_inputs = {
            let refs: Vec<&RecordBatch> = input_batches.iter().collect();
            interleave_record_batch(&refs, &input_refs)?
        };
        let picked_results = interleave_record_batch(&chunk_batches, &chunk_refs)?;
        let n_out = self.output.packet_fields().len();
        let mut columns: Vec<ArrayRef> = Vec::new();
        columns.extend((0..n_tags).map(|i| picked_inputs.column(i).clone()));
        columns.extend((0..n_out).map(|i| picked_results.column(i).clone()));
        columns.extend((n_tags..n_tags + n_sys).map(|i| picked_inputs.column(i).clone()));
        columns.extend((n_out..2 * n_out).map(|i| picked_results.column(i).clone()));
        self.ready
            .push(RecordBatch::try_new(self.output.arrow().clone(), columns)?);

        if self.store.is_some() && !self.lookup_only {
            let computed: Vec<bool> = pending.iter().map(|p| p.computed).collect();
            let hashes = picked_results.column(2 * n_out).clone();
            let result_ids = picked_results.column(2 * n_out + 1).clone();
            self.record_rows(&picked_inputs, n_tags + n_sys, hashes, result_ids, computed)?;
        }
        let mut closed: HashMap<u64, usize> = HashMap::new();
        for p in &pending {
            *closed.entry(p.input).or_default() += 1;
        }
        for (input, rows) in closed {
            self.close_rows(input, rows);
        }
        Ok(())
    }

    /// Pipeline records for emitted rows (see [`PendingRecords`]).
    fn record_rows(
        &mut self,
        picked: &RecordBatch,
        n_tag_columns: usize,
        input_hashes: ArrayRef,
        result_ids: ArrayRef,
        computed: Vec<bool>,
    ) -> Result<()> {
        let (store, paths) = self.store.as_ref().expect("only called with a store");
        self.records.push(PendingRecords {
            shared: self.records_shared.clone(),
            store: store.clone(),
            path: paths.records.clone(),
            picked: picked.clone(),
            n_tag_columns,
            input_hashes,
            result_ids,
            computed,
        });
        Ok(())
    }
}

/// What every batch of pipeline records of a node shares.
struct RecordsShared {
    node_hash: String,
    record_schema: SchemaRef,
    entry_schema: SchemaRef,
    entry_hasher: RowHasher,
}

/// Pipeline records of emitted rows, not yet keyed: tags, system tags and input source
/// info, the input packet hash, the result id, the node's hash and whether the result
/// was computed now, each keyed by its entry id (the Arrow hash of the tags, the system
/// tags, the input packet hash and the node's content hash, reference §8.2). Building
/// them ([`PendingRecords::build`]) hashes every row, so a driver may do it on another
/// thread.
pub struct PendingRecords {
    shared: Arc<RecordsShared>,
    store: Arc<dyn ArrowStore>,
    path: RecordPath,
    /// The rows' tags, system tags and input source info.
    picked: RecordBatch,
    n_tag_columns: usize,
    input_hashes: ArrayRef,
    result_ids: ArrayRef,
    computed: Vec<bool>,
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
            .map(|(i, _)| row_u32(i))
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

/// Checks a function's values against the output fields: their number, and no null in
/// a non-nullable column.
fn check_values(
    fields: &[FieldRef],
    values: Vec<Datum>,
) -> std::result::Result<Vec<Datum>, FunctionError> {
    if values.len() != fields.len() {
        return Err(FunctionError::new(format!(
            "the function returned {} values for {} output columns",
            values.len(),
            fields.len()
        )));
    }
    for (field, value) in fields.iter().zip(&values) {
        if *value == Datum::Null && !field.is_nullable() {
            return Err(FunctionError::new(format!(
                "output `{}` is null but its type is not nullable",
                field.name()
            )));
        }
    }
    Ok(values)
}

/// A map keyed by row digests.
type DigestMap<V> = HashMap<RowDigest, V, BuildHasherDefault<DigestHasher>>;

/// Hashes a row digest by eight of its SHA-256 bytes: digests are uniformly spread, so
/// they need no further mixing.
#[derive(Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        match bytes.get(3..11) {
            Some(b) => {
                self.0 ^= u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
            }
            None => {
                for &b in bytes {
                    self.0 = self.0.rotate_left(8) ^ u64::from(b);
                }
            }
        }
    }
}

/// The length of a result id (a UUID-shaped 36-character string).
const RESULT_ID_LEN: usize = 36;

/// The result id in a result's source info `{prefix}::{result id}::{key}`, if the
/// source info has that form.
fn result_id_of_source_info<'a>(info: &'a str, prefix: &str, key: &str) -> Option<&'a str> {
    let sep = BLOCK_SEPARATOR;
    let rest = info.strip_prefix(prefix)?.strip_prefix(sep)?;
    let id = rest.get(..RESULT_ID_LEN)?;
    (rest[RESULT_ID_LEN..].strip_prefix(sep)? == key).then_some(id)
}

fn row_u32(row: usize) -> Result<u32> {
    u32::try_from(row).map_err(|_| Error::internal("a batch may hold at most 2^32 - 1 rows"))
}

/// Applies writes to a store: results are kept first-write-wins (skip duplicates), as
/// are pipeline records.
///
/// The rows written to one path are matched to its columns by name: the table already
/// stored there, or else the first write's columns, fixes the order, and a batch with
/// the same columns in another order is put in that order. (The nodes `join [a, b]` and
/// `join [b, a]` share a path but list their columns in the order of their inputs, and a
/// table written by an older build may list them in yet another order.)
pub fn apply_writes(store: &dyn ArrowStore, writes: Vec<StoreWrite>) -> Result<()> {
    // Concatenate writes per path to write each path once.
    let mut by_path: Vec<(RecordPath, Vec<String>, Vec<RecordBatch>)> = Vec::new();
    for w in writes {
        let (path, mut more_ids, batch) = w.into_ids();
        match by_path.iter_mut().find(|(p, _, _)| *p == path) {
            Some((_, ids, batches)) => {
                ids.append(&mut more_ids);
                batches.push(batch);
            }
            None => by_path.push((path, more_ids, vec![batch])),
        }
    }
    for (path, ids, batches) in by_path {
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
            crate::store::check_schema(&path, &schema, batch)?;
        }
        let batch = if batches.len() == 1 {
            batches.remove(0)
        } else {
            concat_batches(&schema, &batches)?
        };
        store.add_records(&path, &ids, &batch, true)?;
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
    use arrow::array::Int64Array;

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

    fn write(path: &RecordPath, id: &str, batch: RecordBatch) -> StoreWrite {
        StoreWrite {
            path: path.clone(),
            ids: RecordIds::Known(vec![id.to_string()]),
            batch,
        }
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
        let path = RecordPath::parse("t").unwrap();
        // Two writes in one call, in two column orders.
        let writes = vec![
            write(&path, "a", row(&[("x", 1), ("y", 10)])),
            write(&path, "b", row(&[("y", 20), ("x", 2)])),
        ];
        apply_writes(&store, writes).unwrap();
        // A later write in the other order, to the stored table.
        apply_writes(&store, vec![write(&path, "c", row(&[("y", 30), ("x", 3)]))]).unwrap();
        let stored = store.get_all(&path).unwrap().unwrap();
        assert_eq!(stored.ids, ["a", "b", "c"]);
        assert_eq!(column(&stored.batch, "x"), [1, 2, 3]);
        assert_eq!(column(&stored.batch, "y"), [10, 20, 30]);
    }

    #[test]
    fn writes_to_one_path_with_other_columns_are_an_error_not_a_concatenation() {
        let store = MemoryStore::new();
        let path = RecordPath::parse("t").unwrap();
        let writes = vec![
            write(&path, "a", row(&[("x", 1), ("y", 10)])),
            write(&path, "b", row(&[("x", 2), ("z", 20)])),
        ];
        let error = apply_writes(&store, writes).unwrap_err().to_string();
        assert!(error.contains("schema differs"), "{error}");
        assert!(store.get_all(&path).unwrap().is_none());
    }
}
