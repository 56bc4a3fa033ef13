//! [`FunctionNode`]: the running state of a function pod in a pipeline — a sans-IO
//! state machine like the operators, plus a result cache.
//!
//! ```text
//!  push(batch) ──▶ hash each input packet ──▶ read step ──▶ known? ──yes──▶ output row
//!                                                             │no
//!                                                             ▼
//!                      already being computed? ──yes──▶ wait for that job
//!                                               │no
//!                                               ▼
//!                                  Job { id, packet } ──▶ the driver runs it
//!  complete(id, ..) ─▶ output rows for every waiting row, a result write,
//!                           and a pipeline record per row
//! ```
//!
//! Store access is explicit, reads as well as writes. Reads: a push states what it
//! needs to know as a [`StoreRead`] (the stored results of the packets neither known nor
//! being computed, in one request per input batch), which [`FunctionNode::push`] runs
//! against the node's store and serves back to the node before deciding what to compute
//! (the read step, [`FunctionNode::push`]'s only store access; split in two,
//! [`FunctionNode::prepare`] states it and [`FunctionNode::push_prepared`] takes its
//! answer, so a driver may run it elsewhere). Writes: the driver applies the
//! [`StoreWrite`]s this state machine hands out ([`FunctionNode::take_writes`]): results
//! keyed by input packet content hash (shared by every node running the same function;
//! the output packets alone, their source info and result id being derived from the
//! input hash when read back), and pipeline records keyed by entry id (which rows this
//! node processed). A packet is computed at most once per node even when it appears in
//! many rows. The job protocol is in `job`, output gathering in `emit`, stored results
//! read back in `stored`, records by input batch in `recording`, the store-write
//! protocol and layout in [`store`](crate::store).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{RecordBatch, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::datatypes::{DataType, Field, FieldRef, Schema};

use super::emit::{gather, row_u32, InputBatch, Pending};
use super::job::ResultBuilder;
use super::known::{DigestMap, KnownResults, DEFAULT_BUDGET_ROWS};
use super::prepare::PushPreparer;
use super::recording::{InputRecords, RecordsByInput};
use super::stored::{input_hashes, stored_fields, ChunkReader, PlannedRead};
use super::FunctionPod;
use crate::error::{Error, Result};
use crate::files::PacketHasher;
use crate::hashing::arrow::{digest_string, RowDigest};
use crate::hashing::ContentHash;
use crate::model::{row_of, StreamSchema};
use crate::store::{ArrowStore, FoundRows, RecordsShared};

pub use super::failure::{MissingResults, PacketCounts, PacketFailure};
pub use super::job::{Completed, Job, PacketBuffer, PacketResult};
pub use super::stored::PreparedPush;
pub use crate::store::layout::{
    FunctionPaths, COMPUTED_COLUMN, INPUT_PACKET_HASH_COLUMN, NODE_CONTENT_HASH_COLUMN,
    PACKET_ID_COLUMN,
};
pub use crate::store::{apply_writes, PendingRecords, RecordIds, StoreWrite};

/// A job handed out and not wholly completed.
struct JobState {
    /// The input hash of each of its packets.
    hashes: Arc<[RowDigest]>,
    /// How many of its packets (a prefix) have completed.
    done: usize,
}

/// The running state of one function node.
///
/// Results known in this run are kept columnar: chunks of result rows (output packet
/// columns, their source info, then the input packet hash and the result id), one chunk
/// per completed job or store lookup, indexed by input packet digest; with a store, only
/// a bounded number of them ([`KnownResults`]).
pub struct FunctionNode {
    pod: FunctionPod,
    input: Arc<StreamSchema>,
    output: Arc<StreamSchema>,
    store: Option<(Arc<dyn ArrowStore>, FunctionPaths)>,
    /// The results known in this run, by input hash.
    known: KnownResults,
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
    /// Makes stored results read back into chunks (and holds the result builder).
    chunks: ChunkReader,
    records_shared: Arc<RecordsShared>,
    /// What the records of input batches still open need (`recording`).
    recording: RecordsByInput,
    /// Records of emitted rows, not yet built.
    records: Vec<PendingRecords>,
    /// Hashes packets and reads their stored results (the stateless half of a push).
    preparer: PushPreparer,
    /// Serve stored results, compute and record nothing ([`FunctionNode::set_lookup_only`]).
    lookup_only: bool,
    /// In lookup-only mode, the distinct packets without a stored result so far.
    missing: DigestMap<()>,
    /// In lookup-only mode, the input rows dropped for want of a stored result.
    missing_rows: u64,
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
        let with_info: Vec<FieldRef> = output
            .packet_fields()
            .iter()
            .chain(output.source_info_fields())
            .cloned()
            .collect();
        let result_fields = stored_fields(&store, &with_info, output.packet_fields().len())?;
        let text = |name: &str| Arc::new(Field::new(name, DataType::LargeUtf8, false));
        let chunk_fields: Vec<FieldRef> = with_info
            .iter()
            .cloned()
            .chain([text(INPUT_PACKET_HASH_COLUMN), text(PACKET_ID_COLUMN)])
            .collect();
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
        let chunks = ChunkReader {
            output: output.clone(),
            result_schema: Arc::new(Schema::new(result_fields)),
            builder: Arc::new(ResultBuilder::new(
                pod.clone(),
                output.packet_fields().to_vec(),
                Arc::new(Schema::new(chunk_fields)),
            )),
        };
        let preparer = PushPreparer::new(
            packet_columns,
            PacketHasher::new(&packet_schema),
            store
                .as_ref()
                .map(|(s, paths)| (s.clone(), paths.results.clone())),
            chunks.clone(),
        );
        Ok(FunctionNode {
            records_shared: Arc::new(RecordsShared::new(
                &node_hash.to_string(),
                &input,
                store.as_ref().map(|(s, p)| (s.as_ref(), &p.records)),
            )?),
            records: Vec::new(),
            recording: RecordsByInput::default(),
            preparer,
            to_emit: Vec::new(),
            pod,
            input,
            output,
            store,
            known: KnownResults::new(DEFAULT_BUDGET_ROWS),
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
            chunks,
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
    /// (the synchronous executor's `lookup_only`).
    pub fn set_lookup_only(&mut self) {
        self.lookup_only = true;
        self.preparer.set_read_only();
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

    /// With a store, how many result rows the node keeps before it lets go of the oldest
    /// the store holds (default 131,072; see [`KnownResults`]).
    pub fn set_known_budget(&mut self, rows: usize) {
        self.known = KnownResults::new(rows);
    }

    /// The stateless half of this node's pushes, to run on another thread
    /// ([`PushPreparer::prepare`], then [`push_prepared`](Self::push_prepared), batches
    /// in arrival order).
    pub fn preparer(&self) -> PushPreparer {
        self.preparer.clone()
    }

    /// The schema of every output batch.
    pub fn output_schema(&self) -> &Arc<StreamSchema> {
        &self.output
    }

    /// The pod.
    pub fn pod(&self) -> &FunctionPod {
        &self.pod
    }

    /// Takes an input batch: its read step (the stored results of its packets neither
    /// known nor being computed, in one request), then cached rows become output and
    /// the other distinct packets jobs: [`prepare`](Self::prepare), the read, then
    /// [`push_prepared`](Self::push_prepared).
    pub fn push(&mut self, batch: RecordBatch) -> Result<Vec<Job>> {
        let prepared = self.prepare(batch);
        let found = match (prepared.read(), &self.store) {
            (Some(read), Some((store, _))) => read.run(store.as_ref())?,
            _ => None,
        };
        self.push_prepared(prepared, found)
    }

    /// The first half of a push: hashes the batch's packets and states the store read
    /// the push needs ([`PreparedPush::read`]), which the driver may run anywhere (it
    /// only reads) before handing its answer to [`push_prepared`](Self::push_prepared).
    pub fn prepare(&self, batch: RecordBatch) -> PreparedPush {
        let (packets, hashes) = self.preparer.hash(&batch);
        let read = self.read_for(&hashes);
        PreparedPush {
            batch,
            packets,
            hashes,
            read,
            stored: None,
        }
    }

    /// The second half of a push: `found` is the answer to the prepared read (`None`
    /// when there was none). Results read meanwhile by other pushes or computed by jobs
    /// are kept: a stored result only serves packets still neither known nor computing.
    pub fn push_prepared(
        &mut self,
        prepared: PreparedPush,
        found: Option<FoundRows>,
    ) -> Result<Vec<Job>> {
        let PreparedPush {
            batch,
            packets,
            hashes,
            read,
            stored,
        } = prepared;
        let Some(packets) = packets? else {
            return Ok(Vec::new());
        };
        let n = batch.num_rows();
        let stored = match (stored, &read, found) {
            (Some(stored), ..) => Some(stored),
            (None, Some(planned), Some(found)) => self.chunks.chunk(&planned.read, Some(found))?,
            _ => None,
        };
        // Rows whose packet the read found are served from its chunk by position.
        let from_store = match (stored, read) {
            (Some(stored), Some(planned)) => {
                let rows = stored.rows_by_ask(planned);
                Some((self.known.add_stored(stored.batch)?, rows))
            }
            _ => None,
        };
        let stored_row = |r| {
            from_store
                .as_ref()
                .and_then(|(c, rows)| Some((*c, rows.of(r)?)))
        };
        let input = self.next_input;
        self.next_input += 1;
        let mut new_rows: Vec<u32> = Vec::new();
        let mut new_hashes: Vec<RowDigest> = Vec::new();
        let mut hits = 0;
        for (r, hash) in hashes.iter().enumerate() {
            let row = row_u32(r)?;
            // Known in this run, else being computed, else stored (as pushed alone).
            let known = self.known.get(hash);
            let waiting = known.is_none().then(|| self.waiting.get_mut(hash));
            if let Some(rows) = waiting.flatten() {
                rows.push((input, row));
            } else if let Some((chunk, chunk_row)) = known.or_else(|| stored_row(r)) {
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
                builder: self.chunks.builder.clone(),
            });
            start += len;
        }
        Ok(jobs)
    }

    /// Takes the next packets of job `id` (a job's packets complete in order, in one
    /// call or several) as built by [`Job::build`].
    pub fn complete(&mut self, id: u64, completed: Completed) -> Result<()> {
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
            if self.store.is_some() {
                let n_result = self.chunks.result_schema.fields().len();
                // (A chunk's input hash follows the packet columns and their source info.)
                let ids = input_hashes(&batch, 2 * self.output.packet_fields().len());
                let result_cols: Vec<usize> = (0..n_result).collect();
                let path = self.paths().results.clone();
                self.writes.push(StoreWrite {
                    path,
                    ids: RecordIds::Known(ids),
                    batch: batch.project(&result_cols)?,
                });
            }
            let chunk = self.known.add(batch, chunk_hashes, |_| true)?;
            for (r, hash) in self.known.digests(chunk).iter().enumerate() {
                let chunk_row = row_u32(r)?;
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
                self.close_rows(*input, 1)?;
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
            // The markers of recorded groups are left out: they may only be written
            // once these records are flushed, which the caller decides.
            writes.extend(records.build()?.records);
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
    fn close_rows(&mut self, input: u64, rows: usize) -> Result<()> {
        let Some(b) = self.inputs.get_mut(&input) else {
            return Ok(());
        };
        b.open_rows = b.open_rows.saturating_sub(rows);
        if b.open_rows > 0 {
            return Ok(());
        }
        self.inputs.remove(&input);
        if let Some(group) = self.recording.close(input)? {
            self.push_records(group, true);
        }
        Ok(())
    }

    /// Hands out records to build later (see [`PendingRecords`]), or their marker only.
    fn push_records(&mut self, r: InputRecords, marker_only: bool) {
        let Some((store, paths)) = &self.store else {
            return;
        };
        self.records.push(PendingRecords {
            shared: self.records_shared.clone(),
            store: store.clone(),
            path: paths.records.clone(),
            recorded: paths.recorded.clone(),
            picked: r.picked,
            n_tag_columns: self.input.tag_range().len() + self.input.system_tag_range().len(),
            input_hashes: r.input_hashes,
            result_ids: r.result_ids,
            computed: r.computed,
            marker_only,
        });
    }

    /// The read a push of packets `hashes` needs: the stored results of the hashes
    /// neither known nor being computed (each once). `None` without a store or when
    /// nothing is to be read.
    fn read_for(&self, hashes: &[RowDigest]) -> Option<PlannedRead> {
        self.preparer.read_of(hashes, |h| {
            !self.known.contains(h) && !self.waiting.contains_key(h)
        })
    }

    /// Turns the rows completed since the last call into one output batch and their
    /// pipeline records.
    fn build_pending(&mut self) -> Result<()> {
        if self.to_emit.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.to_emit);
        let gathered = gather(
            &self.input,
            &self.output,
            &pending,
            &self.inputs,
            &self.known,
        )?;
        self.ready.push(gathered.output);
        if self.store.is_some() && !self.lookup_only {
            // The records of these rows, by input batch (`recording`).
            let results = &gathered.results;
            let n_out = self.output.packet_fields().len();
            let (hashes, ids) = (results.column(2 * n_out), results.column(2 * n_out + 1));
            for piece in self
                .recording
                .add(&pending, &gathered.inputs, hashes, ids)?
            {
                self.push_records(piece, false);
            }
        }
        let mut closed: HashMap<u64, usize> = HashMap::new();
        for p in &pending {
            *closed.entry(p.input).or_default() += 1;
        }
        for (input, rows) in closed {
            self.close_rows(input, rows)?;
        }
        self.let_go_of_stored_results()
    }

    /// Lets the oldest known results go once more than a budget of them are held, if
    /// the store holds them (see [`KnownResults`]); without a store, nothing goes.
    fn let_go_of_stored_results(&mut self) -> Result<()> {
        let Some((store, paths)) = &self.store else {
            return Ok(());
        };
        let hash_column = 2 * self.output.packet_fields().len();
        self.known.evict(|chunk| {
            Ok(store
                .contains_many(&paths.results, &input_hashes(chunk, hash_column))?
                .into_iter()
                .all(|stored| stored))
        })
    }
}
