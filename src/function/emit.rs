//! Output rows of a function node: input rows whose result is known ([`Pending`]) are
//! gathered, in one pass, into one output batch (the input's tags and system tags, the
//! result's packets and source info), with the picked input and result columns the
//! node's pipeline records are built from.
//!
//! Pure: this module reads no store and keeps no state; the node decides which rows
//! are ready.

use std::collections::HashMap;

use arrow::array::{ArrayRef, RecordBatch};

use super::known::KnownResults;
use crate::error::{Error, Result};
use crate::model::{pick_rows, StreamSchema};

/// An input row whose result is known, not yet turned into output.
pub(crate) struct Pending {
    /// The input batch (node-local number).
    pub(crate) input: u64,
    /// The row in that batch.
    pub(crate) row: u32,
    /// The result's chunk.
    pub(crate) chunk: u32,
    /// The result's row in that chunk.
    pub(crate) chunk_row: u32,
    /// Whether the result was computed in this run.
    pub(crate) computed: bool,
}

/// An input batch with rows not yet emitted (or dropped with a failed packet).
pub(crate) struct InputBatch {
    pub(crate) batch: RecordBatch,
    pub(crate) open_rows: usize,
}

/// What [`gather`] gives.
pub(crate) struct Gathered {
    /// The output rows, with the node's output schema.
    pub(crate) output: RecordBatch,
    /// The rows' input tags, system tags and source info.
    pub(crate) inputs: RecordBatch,
    /// The rows' result chunk rows (packets, source info, input hash, result id).
    pub(crate) results: RecordBatch,
}

/// Gathers the output rows of `pending` from the `inputs` batches and the result
/// chunks the node knows, in the order of `pending`.
pub(crate) fn gather(
    input: &StreamSchema,
    output: &StreamSchema,
    pending: &[Pending],
    inputs: &HashMap<u64, InputBatch>,
    chunks: &KnownResults,
) -> Result<Gathered> {
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
    for p in pending {
        let slot = match input_slots.get(&p.input) {
            Some(s) => *s,
            None => {
                let b = inputs.get(&p.input).ok_or_else(|| {
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
                chunk_batches.push(chunks.chunk(p.chunk).ok_or_else(|| {
                    Error::internal("function node: a pending row's result chunk is gone")
                })?);
                chunk_slots.insert(p.chunk, chunk_batches.len() - 1);
                chunk_batches.len() - 1
            }
        };
        chunk_refs.push((slot, p.chunk_row as usize));
    }
    let picked_inputs = {
        let refs: Vec<&RecordBatch> = input_batches.iter().collect();
        pick_rows(&refs, &input_refs)?
    };
    let picked_results = pick_rows(&chunk_batches, &chunk_refs)?;
    let n_out = output.packet_fields().len();
    let mut columns: Vec<ArrayRef> = Vec::new();
    columns.extend((0..n_tags).map(|i| picked_inputs.column(i).clone()));
    columns.extend((0..n_out).map(|i| picked_results.column(i).clone()));
    columns.extend((n_tags..n_tags + n_sys).map(|i| picked_inputs.column(i).clone()));
    columns.extend((n_out..2 * n_out).map(|i| picked_results.column(i).clone()));
    Ok(Gathered {
        output: RecordBatch::try_new(output.arrow().clone(), columns)?,
        inputs: picked_inputs,
        results: picked_results,
    })
}

/// A row number as `u32` (a batch holds at most 2^32 - 1 rows).
pub(crate) fn row_u32(row: usize) -> Result<u32> {
    u32::try_from(row).map_err(|_| Error::internal("a batch may hold at most 2^32 - 1 rows"))
}
