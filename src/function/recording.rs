//! [`RecordsByInput`]: a function node's pipeline records, grouped by input batch.
//!
//! A node emits its rows as their results come, in whatever groups the jobs complete
//! in, which differ from run to run. Its pipeline records are handed out in groups too,
//! each keyed as a whole ([`PendingRecords`](crate::store::PendingRecords): a re-run
//! that hands out a group recorded before skips hashing its rows, and the store's
//! index of entry ids need not even be loaded). So that a re-run over the same input
//! hands out the same groups, the records of one input batch are held until every row
//! of that batch is emitted or failed, then handed out as one group, in row order.
//!
//! It holds only the records of input batches still open (at most the node's inputs in
//! flight); a run stopped before an input batch closes hands out none of its records
//! (a later run records those rows, its results being stored). It never touches a
//! store.

use std::collections::HashMap;

use arrow::array::{ArrayRef, RecordBatch, UInt32Array};
use arrow::compute::{concat, concat_batches, take, take_record_batch};

use super::emit::{row_u32, Pending};
use crate::error::Result;

/// The records of some emitted rows of one input batch.
struct Piece {
    /// The rows' numbers in their input batch.
    rows: Vec<u32>,
    /// Their tags, system tags and input source info.
    picked: RecordBatch,
    input_hashes: ArrayRef,
    result_ids: ArrayRef,
    computed: Vec<bool>,
}

/// The records of one closed input batch, in row order.
pub(crate) struct InputRecords {
    pub(crate) picked: RecordBatch,
    pub(crate) input_hashes: ArrayRef,
    pub(crate) result_ids: ArrayRef,
    pub(crate) computed: Vec<bool>,
}

/// Records of emitted rows, by input batch, until the batch closes (see the module
/// docs).
#[derive(Default)]
pub(crate) struct RecordsByInput {
    open: HashMap<u64, Vec<Piece>>,
}

impl RecordsByInput {
    /// Keeps the records of the emitted rows `pending`: row `i` of `picked`,
    /// `input_hashes` and `result_ids` is `pending[i]`'s.
    pub(crate) fn add(
        &mut self,
        pending: &[Pending],
        picked: &RecordBatch,
        input_hashes: &ArrayRef,
        result_ids: &ArrayRef,
    ) -> Result<()> {
        let mut by_input: HashMap<u64, Vec<u32>> = HashMap::new();
        for (i, p) in pending.iter().enumerate() {
            by_input.entry(p.input).or_default().push(row_u32(i)?);
        }
        for (input, at) in by_input {
            let indices = UInt32Array::from(at.clone());
            self.open.entry(input).or_default().push(Piece {
                rows: at.iter().map(|&i| pending[i as usize].row).collect(),
                picked: take_record_batch(picked, &indices)?,
                input_hashes: take(input_hashes, &indices, None)?,
                result_ids: take(result_ids, &indices, None)?,
                computed: at.iter().map(|&i| pending[i as usize].computed).collect(),
            });
        }
        Ok(())
    }

    /// The records of input batch `input`, now closed, as one group in row order;
    /// `None` when none of its rows was emitted.
    pub(crate) fn close(&mut self, input: u64) -> Result<Option<InputRecords>> {
        let Some(pieces) = self.open.remove(&input) else {
            return Ok(None);
        };
        let Some(first) = pieces.first() else {
            return Ok(None);
        };
        let schema = first.picked.schema();
        let picked = concat_batches(&schema, pieces.iter().map(|p| &p.picked))?;
        let hashes: Vec<&dyn arrow::array::Array> =
            pieces.iter().map(|p| p.input_hashes.as_ref()).collect();
        let ids: Vec<&dyn arrow::array::Array> =
            pieces.iter().map(|p| p.result_ids.as_ref()).collect();
        let (input_hashes, result_ids) = (concat(&hashes)?, concat(&ids)?);
        let rows: Vec<u32> = pieces.iter().flat_map(|p| p.rows.iter().copied()).collect();
        let computed: Vec<bool> = pieces
            .iter()
            .flat_map(|p| p.computed.iter().copied())
            .collect();
        let mut order: Vec<u32> = (0..row_u32(rows.len())?).collect();
        order.sort_unstable_by_key(|&i| rows[i as usize]);
        if order.windows(2).all(|w| w[0] < w[1]) {
            return Ok(Some(InputRecords {
                picked,
                input_hashes,
                result_ids,
                computed,
            }));
        }
        let indices = UInt32Array::from(order.clone());
        Ok(Some(InputRecords {
            picked: take_record_batch(&picked, &indices)?,
            input_hashes: take(&input_hashes, &indices, None)?,
            result_ids: take(&result_ids, &indices, None)?,
            computed: order.iter().map(|&i| computed[i as usize]).collect(),
        }))
    }
}
