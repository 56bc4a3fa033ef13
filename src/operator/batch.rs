//! Batch (reference §6.5): groups consecutive rows into list-valued rows.
//!
//! Every column — user tags, packets, system tags and source info — becomes a
//! `large_list<T>` whose items are the grouped rows' values, in input order (system tags
//! are *type-evolving*, reference §2.8: `_tag_record_id::h` becomes
//! `["row_0", "row_1", …]`). The list field is non-nullable and its item field is named
//! `item` and nullable, which is what the reference's pyarrow lists look like, so packet
//! content hashes of grouped rows match the reference's.
//!
//! Lists are built with Arrow kernels (concatenation, slicing and list offsets); this
//! module must never go through per-row [`Datum`](crate::model::Datum)s, never reorder
//! rows and never let group boundaries depend on how the input was chunked into batches.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, LargeListArray};
use arrow::buffer::OffsetBuffer;
use arrow::compute::concat;
use arrow::datatypes::{DataType, Field, FieldRef};
use arrow::record_batch::RecordBatch;

use super::{InputInfo, Operator};
use crate::error::{Error, Result};
use crate::model::StreamSchema;

/// The reference's class name, used in error messages.
const NAME: &str = "Batch";

/// The running Batch operator.
///
/// - `batch_size > 0`: rows are accumulated across pushed batches and each full group is
///   emitted as soon as it fills; the last, partial group is emitted at
///   [`finish`](Operator::finish) unless `drop_partial_batch` is set. Output rows:
///   ⌈n / size⌉, or ⌊n / size⌋ when dropping the partial group.
/// - `batch_size == 0`: a barrier; at `finish` every row becomes one output row (none
///   when the input is empty). Like the reference, the single group counts as *partial*,
///   so `batch_size = 0` with `drop_partial_batch = true` yields **zero rows** (the
///   reference's documented behaviour, listed as quirk K9; kept so that results and
///   hashes agree with it).
///
/// An empty input gives zero rows and no error.
pub(super) struct Batch {
    output: Arc<StreamSchema>,
    /// Item fields of the output lists, one per column (in column order).
    item_fields: Vec<FieldRef>,
    batch_size: usize,
    drop_partial_batch: bool,
    /// Input rows not yet grouped (never a full group when `batch_size > 0`).
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    finished: bool,
    ready: Vec<RecordBatch>,
}

impl Batch {
    /// Builds the operator and predicts its schema: every column `c: T` becomes
    /// `c: large_list<item: T>` (non-nullable list, nullable items).
    pub(super) fn new(
        input: &InputInfo,
        batch_size: usize,
        drop_partial_batch: bool,
    ) -> Result<Self> {
        let schema = &input.schema;
        let item_fields: Vec<FieldRef> = schema
            .arrow()
            .fields()
            .iter()
            .map(|f| Arc::new(Field::new("item", f.data_type().clone(), true)))
            .collect();
        let wrap = |fields: &[FieldRef]| -> Vec<FieldRef> {
            fields
                .iter()
                .map(|f| {
                    Arc::new(
                        f.as_ref()
                            .clone()
                            .with_data_type(list_type(f.data_type()))
                            .with_nullable(false),
                    )
                })
                .collect()
        };
        let output = Arc::new(StreamSchema::new(
            wrap(schema.tag_fields()),
            wrap(schema.packet_fields()),
            wrap(schema.system_tag_fields()),
            wrap(schema.source_info_fields()),
        )?);
        Ok(Batch {
            output,
            item_fields,
            batch_size,
            drop_partial_batch,
            pending: Vec::new(),
            pending_rows: 0,
            finished: false,
            ready: Vec::new(),
        })
    }

    /// Groups `rows` (all pending rows, concatenated) into lists: consecutive groups of
    /// `group` rows each, plus one shorter final group if `rows` is not a multiple.
    fn emit_groups(&mut self, rows: &RecordBatch, group: usize) -> Result<()> {
        let n = rows.num_rows();
        if n == 0 || group == 0 {
            return Ok(());
        }
        let mut offsets: Vec<i64> = (0..n).step_by(group).map(|o| o as i64).collect();
        offsets.push(n as i64);
        let offsets = OffsetBuffer::new(offsets.into());
        let columns = rows
            .columns()
            .iter()
            .zip(&self.item_fields)
            .map(|(values, item)| -> Result<ArrayRef> {
                Ok(Arc::new(LargeListArray::try_new(
                    item.clone(),
                    offsets.clone(),
                    values.clone(),
                    None,
                )?))
            })
            .collect::<Result<Vec<_>>>()?;
        self.ready
            .push(RecordBatch::try_new(self.output.arrow().clone(), columns)?);
        Ok(())
    }

    /// Concatenates the pending batches into one and clears them.
    fn take_pending(&mut self) -> Result<Option<RecordBatch>> {
        let pending = std::mem::take(&mut self.pending);
        self.pending_rows = 0;
        match pending.len() {
            0 => Ok(None),
            1 => Ok(pending.into_iter().next()),
            _ => {
                let schema = pending[0].schema();
                let columns = (0..schema.fields().len())
                    .map(|i| {
                        let parts: Vec<&dyn Array> =
                            pending.iter().map(|b| b.column(i).as_ref()).collect();
                        concat(&parts)
                    })
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                Ok(Some(RecordBatch::try_new(schema, columns)?))
            }
        }
    }
}

/// `large_list<item: T>` with a nullable item field named `item`.
fn list_type(item: &DataType) -> DataType {
    DataType::LargeList(Arc::new(Field::new("item", item.clone(), true)))
}

impl Operator for Batch {
    fn output_schema(&self) -> &Arc<StreamSchema> {
        &self.output
    }

    fn push(&mut self, port: usize, batch: RecordBatch) -> Result<()> {
        if port != 0 {
            return Err(Error::internal(format!("{NAME}: no input port {port}")));
        }
        if self.finished {
            return Err(Error::internal(format!("{NAME}: push after finish")));
        }
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.pending_rows += batch.num_rows();
        self.pending.push(batch);
        if self.batch_size == 0 || self.pending_rows < self.batch_size {
            return Ok(());
        }
        // At least one group is full: emit every full group, keep the remainder.
        let Some(all) = self.take_pending()? else {
            return Ok(());
        };
        let full = all.num_rows() / self.batch_size * self.batch_size;
        self.emit_groups(&all.slice(0, full), self.batch_size)?;
        if full < all.num_rows() {
            self.pending_rows = all.num_rows() - full;
            self.pending.push(all.slice(full, all.num_rows() - full));
        }
        Ok(())
    }

    fn finish(&mut self, port: usize) -> Result<()> {
        if port != 0 {
            return Err(Error::internal(format!("{NAME}: no input port {port}")));
        }
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        // What is left is the final group; with `batch_size > 0` it is partial, and with
        // `batch_size == 0` it counts as partial too (reference behaviour, see above).
        let Some(rest) = self.take_pending()? else {
            return Ok(());
        };
        if self.drop_partial_batch {
            return Ok(());
        }
        self.emit_groups(&rest, rest.num_rows())
    }

    fn take_output(&mut self) -> Vec<RecordBatch> {
        std::mem::take(&mut self.ready)
    }
}
