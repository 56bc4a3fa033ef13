//! The k-way merge of sorted runs into one sorted sequence of batches, reading each run
//! batch by batch (memory: one batch per run, plus the batch being filled).
//!
//! Rows compare by their sort keys ([`RowOrder`]); equal rows come out in run order
//! (runs are given in the order their rows arrived), so merging runs gives the order of
//! sorting all their rows at once. This module never reads a run whole.

use std::cmp::Ordering;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow_row::Rows;

use super::order::{take_rows, RowOrder};
use super::spill::RunReader;
use crate::error::Result;

/// Rows per merged batch.
const MERGED_ROWS: usize = 8192;

/// One run's current batch, its keys and the next row to take.
struct Cursor {
    reader: RunReader,
    batch: RecordBatch,
    keys: Rows,
    row: usize,
}

impl Cursor {
    fn current(&self) -> arrow_row::Row<'_> {
        self.keys.row(self.row)
    }
}

/// Merges `runs` (each sorted by `order`, given in arrival order), passing the merged
/// rows to `emit` in batches, in order.
pub(super) fn merge_runs(
    schema: &SchemaRef,
    order: &RowOrder,
    runs: Vec<RunReader>,
    emit: &mut dyn FnMut(RecordBatch) -> Result<()>,
) -> Result<()> {
    let mut cursors: Vec<Cursor> = Vec::with_capacity(runs.len());
    for mut reader in runs {
        if let Some(batch) = reader.next_batch()? {
            let keys = order.keys(&batch)?;
            cursors.push(Cursor {
                reader,
                batch,
                keys,
                row: 0,
            });
        }
    }
    // A binary min-heap of cursor indices; ties go to the earlier run.
    let less = |cursors: &[Cursor], a: usize, b: usize| {
        cursors[a]
            .current()
            .cmp(&cursors[b].current())
            .then(a.cmp(&b))
            == Ordering::Less
    };
    let mut heap: Vec<usize> = (0..cursors.len()).collect();
    for i in (0..heap.len() / 2).rev() {
        sift_down(&mut heap, i, |a, b| less(&cursors, a, b));
    }
    let mut taken: Vec<(usize, usize)> = Vec::with_capacity(MERGED_ROWS);
    let flush = |cursors: &[Cursor],
                 taken: &mut Vec<(usize, usize)>,
                 emit: &mut dyn FnMut(RecordBatch) -> Result<()>|
     -> Result<()> {
        if !taken.is_empty() {
            let batches: Vec<RecordBatch> = cursors.iter().map(|c| c.batch.clone()).collect();
            emit(take_rows(schema, &batches, taken)?)?;
            taken.clear();
        }
        Ok(())
    };
    while let Some(&top) = heap.first() {
        taken.push((top, cursors[top].row));
        cursors[top].row += 1;
        if cursors[top].row == cursors[top].batch.num_rows() {
            // The batch is used up: emit what refers to it before replacing it.
            flush(&cursors, &mut taken, emit)?;
            match cursors[top].reader.next_batch()? {
                Some(batch) => {
                    cursors[top].keys = order.keys(&batch)?;
                    cursors[top].batch = batch;
                    cursors[top].row = 0;
                }
                None => {
                    let last = heap.pop().expect("the heap holds `top`");
                    if heap.is_empty() {
                        break;
                    }
                    heap[0] = last;
                }
            }
        } else if taken.len() == MERGED_ROWS {
            flush(&cursors, &mut taken, emit)?;
        }
        sift_down(&mut heap, 0, |a, b| less(&cursors, a, b));
    }
    flush(&cursors, &mut taken, emit)
}

/// Restores the heap property below position `i`.
fn sift_down(heap: &mut [usize], mut i: usize, less: impl Fn(usize, usize) -> bool) {
    loop {
        let (left, right) = (2 * i + 1, 2 * i + 2);
        let mut smallest = i;
        if left < heap.len() && less(heap[left], heap[smallest]) {
            smallest = left;
        }
        if right < heap.len() && less(heap[right], heap[smallest]) {
            smallest = right;
        }
        if smallest == i {
            return;
        }
        heap.swap(i, smallest);
        i = smallest;
    }
}
