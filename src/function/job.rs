//! The job protocol of a function node: a [`Job`] is a batch of distinct packets to
//! compute, handed out by the node; its results come back as [`Completed`], built into
//! result rows off the node (a worker thread may build them, [`Job::build`]).
//! [`PacketBuffer`] calls a worker on a job's packets.
//!
//! This module never touches a store and never decides which packets to compute (the
//! node does); it validates a function's answers against the output schema: a wrong
//! number or type of values fails that packet, never the node.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, LargeStringArray, LargeStringBuilder, RecordBatch};
use arrow::datatypes::{FieldRef, SchemaRef};

use super::pod::RESULT_ID_LEN;
use super::{call_catching_panics, FunctionError, FunctionPod, FunctionWorker};
use crate::error::{Error, Result};
use crate::files::function_value;
use crate::hashing::arrow::{digest_array, digest_string, RowDigest};
use crate::model::{array_from_datums, Datum};

/// Packets to compute: a batch of distinct input packets, one per row.
#[derive(Clone)]
pub struct Job {
    /// The job's id within its node.
    pub id: u64,
    /// The input packets, one per row: the input stream's packet columns (the
    /// function's parameters).
    pub packets: RecordBatch,
    /// The input packet hash of each row.
    pub(crate) hashes: Arc<[RowDigest]>,
    pub(crate) builder: Arc<ResultBuilder>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let packets = self.packets.num_rows();
        write!(f, "Job {{ id: {}, packets: {packets} }}", self.id)
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

    /// The input packet hash of packet `i` (as stored: hex text), if there is one.
    pub fn hash(&self, i: usize) -> Option<String> {
        self.hashes.get(i).map(digest_string)
    }

    /// Packet `i` as (column, value) pairs.
    pub fn packet(&self, i: usize) -> Result<Vec<(String, Datum)>> {
        let schema = self.packets.schema();
        schema
            .fields()
            .iter()
            .zip(self.packets.columns())
            .map(|(f, c)| Ok((f.name().clone(), function_value(c.as_ref(), i)?)))
            .collect()
    }

    /// Turns the results of packets `start..start + results.len()`, which took `retried`
    /// retries, into result rows, off the node (a worker thread may do it): what
    /// [`FunctionNode::complete`](super::node::FunctionNode::complete) takes. A wrong number or type of output values
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
    pub(crate) packets: usize,
    /// The successful packets' hashes and their chunk of result rows.
    pub(crate) ok: Option<(Vec<RowDigest>, RecordBatch)>,
    /// The failed packets.
    pub(crate) failed: Vec<(RowDigest, FunctionError)>,
    /// Retries these packets took.
    pub(crate) retried: u64,
}

/// Builds result rows from computed values: shared by a node and its jobs, so that
/// workers build them.
pub(crate) struct ResultBuilder {
    pod: FunctionPod,
    /// The output packet fields.
    fields: Vec<FieldRef>,
    /// Output packet columns, their source info, the input hash and the result id.
    pub(crate) chunk_schema: SchemaRef,
}

impl ResultBuilder {
    /// The builder of `pod`'s result rows: output packet columns `fields`, in chunks of
    /// `chunk_schema`.
    pub(crate) fn new(pod: FunctionPod, fields: Vec<FieldRef>, chunk_schema: SchemaRef) -> Self {
        ResultBuilder {
            pod,
            fields,
            chunk_schema,
        }
    }

    /// The function whose results it builds.
    pub(crate) fn pod(&self) -> &FunctionPod {
        &self.pod
    }

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
        let batch = self.chunk(columns, &digest_array(ok.iter()))?;
        Ok(Completed {
            packets,
            ok: Some((ok, batch)),
            failed,
            retried: 0,
        })
    }

    /// A chunk from output columns and the input hashes of its rows: adds source info
    /// (from the result ids), the input hashes and the result ids.
    pub(crate) fn chunk(
        &self,
        mut columns: Vec<ArrayRef>,
        hashes: &LargeStringArray,
    ) -> Result<RecordBatch> {
        let (info, ids) = source_info_columns(&self.pod, &self.fields, hashes);
        columns.extend(info);
        columns.push(Arc::new(hashes.clone()));
        columns.push(Arc::new(ids));
        Ok(RecordBatch::try_new(self.chunk_schema.clone(), columns)?)
    }
}

/// The source info of `pod`'s results for input packet hashes `hashes` (no null), one
/// column per output field of `fields` (`{uri}::{result id}::{column}`), and the result
/// ids. They are derived from the hashes alone, so the store keeps neither (see
/// [`FunctionNode`](super::node::FunctionNode)).
pub(crate) fn source_info_columns(
    pod: &FunctionPod,
    fields: &[FieldRef],
    hashes: &LargeStringArray,
) -> (Vec<ArrayRef>, LargeStringArray) {
    let n = hashes.len();
    let mut id = String::with_capacity(RESULT_ID_LEN);
    let mut ids = LargeStringBuilder::with_capacity(n, RESULT_ID_LEN * n);
    for hash in hashes.iter() {
        id.clear();
        pod.push_result_id(&mut id, hash.unwrap_or_default());
        ids.append_value(&id);
    }
    let ids = ids.finish();
    let mut text = String::new();
    let columns = fields
        .iter()
        .map(|field| {
            // Every value of the column is as long as the first.
            text.clear();
            if n > 0 {
                pod.push_source_info(&mut text, ids.value(0), field.name());
            }
            let mut builder = LargeStringBuilder::with_capacity(n, n * text.len());
            for id in ids.iter().flatten() {
                text.clear();
                pod.push_source_info(&mut text, id, field.name());
                builder.append_value(&text);
            }
            Arc::new(builder.finish()) as ArrayRef
        })
        .collect();
    (columns, ids)
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
            *value = function_value(column.as_ref(), i)
                .map_err(|e| FunctionError::new(format!("cannot read the input packet: {e}")))?;
        }
        call_catching_panics(worker, &self.values)
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
