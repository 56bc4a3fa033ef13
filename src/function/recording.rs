//! [`RecordsByInput`]: a function node's pipeline records, split by input batch.
//!
//! A node emits its rows as their results come, in whatever groups the jobs complete
//! in, which differ from run to run. Its pipeline records are handed out in groups,
//! each keyed as a whole ([`PendingRecords`](crate::store::PendingRecords): a re-run
//! that hands out a group recorded before skips hashing its rows, and the store's
//! index of entry ids need not even be loaded). So that a re-run over the same input
//! hands out groups recorded before, the records of each emission are split by input
//! batch, each piece in row order, and handed out at once (a crash loses no more than
//! before); and when an input batch closes (every row emitted or failed) after being
//! handed out in several pieces, the group of all its rows, in row order, is handed out
//! too, for its marker only: the group a re-run hands out, when its rows all come at
//! once.
//!
//! It holds the records of input batches still open (at most the node's inputs in
//! flight). It never touches a store.

use std::collections::HashMap;

use arrow::array::{Array, ArrayRef, RecordBatch, UInt32Array};
use arrow::compute::{concat, concat_batches, take, take_record_batch};

use super::emit::{row_u32, Pending};
use crate::error::Result;

/// The records of some emitted rows of one input batch, in row order.
#[derive(Clone)]
pub(crate) struct InputRecords {
    /// The rows' numbers in their input batch.
    pub(crate) rows: Vec<u32>,
    /// Their tags, system tags and input source info.
    pub(crate) picked: RecordBatch,
    pub(crate) input_hashes: ArrayRef,
    pub(crate) result_ids: ArrayRef,
    pub(crate) computed: Vec<bool>,
}

impl InputRecords {
    /// The rows `at` of these records, in that order.
    fn take(&self, at: &[u32]) -> Result<InputRecords> {
        let indices = UInt32Array::from(at.to_vec());
        Ok(InputRecords {
            rows: at.iter().map(|&i| self.rows[i as usize]).collect(),
            picked: take_record_batch(&self.picked, &indices)?,
            input_hashes: take(&self.input_hashes, &indices, None)?,
            result_ids: take(&self.result_ids, &indices, None)?,
            computed: at.iter().map(|&i| self.computed[i as usize]).collect(),
        })
    }

    /// These records in row order.
    fn in_row_order(self) -> Result<InputRecords> {
        if self.rows.windows(2).all(|w| w[0] < w[1]) {
            return Ok(self);
        }
        let mut order: Vec<u32> = (0..row_u32(self.rows.len())?).collect();
        order.sort_unstable_by_key(|&i| self.rows[i as usize]);
        self.take(&order)
    }
}

/// Records of emitted rows, by input batch, until the batch closes (see the module
/// docs).
#[derive(Default)]
pub(crate) struct RecordsByInput {
    open: HashMap<u64, Vec<InputRecords>>,
}

impl RecordsByInput {
    /// The records of the emitted rows `pending` (row `i` of `picked`, `input_hashes`
    /// and `result_ids` is `pending[i]`'s), split by input batch, each piece in row
    /// order: to be handed out now. A copy is kept until the input batch closes.
    pub(crate) fn add(
        &mut self,
        pending: &[Pending],
        picked: &RecordBatch,
        input_hashes: &ArrayRef,
        result_ids: &ArrayRef,
    ) -> Result<Vec<InputRecords>> {
        let emitted = InputRecords {
            rows: pending.iter().map(|p| p.row).collect(),
            picked: picked.clone(),
            input_hashes: input_hashes.clone(),
            result_ids: result_ids.clone(),
            computed: pending.iter().map(|p| p.computed).collect(),
        };
        let mut by_input: Vec<(u64, Vec<u32>)> = Vec::new();
        for (i, p) in pending.iter().enumerate() {
            match by_input.iter_mut().find(|(input, _)| *input == p.input) {
                Some((_, at)) => at.push(row_u32(i)?),
                None => by_input.push((p.input, vec![row_u32(i)?])),
            }
        }
        let mut pieces = Vec::with_capacity(by_input.len());
        for (input, at) in by_input {
            let piece = if at.len() == pending.len() {
                emitted.clone().in_row_order()?
            } else {
                emitted.take(&at)?.in_row_order()?
            };
            self.open.entry(input).or_default().push(piece.clone());
            pieces.push(piece);
        }
        Ok(pieces)
    }

    /// Input batch `input` is closed: the group of all its emitted rows in row order,
    /// if they were handed out in more than one piece (one piece is that group already).
    pub(crate) fn close(&mut self, input: u64) -> Result<Option<InputRecords>> {
        let Some(pieces) = self.open.remove(&input) else {
            return Ok(None);
        };
        if pieces.len() < 2 {
            return Ok(None);
        }
        let schema = pieces[0].picked.schema();
        let hashes: Vec<&dyn Array> = pieces.iter().map(|p| p.input_hashes.as_ref()).collect();
        let ids: Vec<&dyn Array> = pieces.iter().map(|p| p.result_ids.as_ref()).collect();
        let group = InputRecords {
            rows: pieces.iter().flat_map(|p| p.rows.iter().copied()).collect(),
            picked: concat_batches(&schema, pieces.iter().map(|p| &p.picked))?,
            input_hashes: concat(&hashes)?,
            result_ids: concat(&ids)?,
            computed: pieces
                .iter()
                .flat_map(|p| p.computed.iter().copied())
                .collect(),
        };
        Ok(Some(group.in_row_order()?))
    }
}
