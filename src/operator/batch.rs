//! Batch (reference §6.5): groups rows into list-valued rows.
//!
//! Rows are grouped in their **canonical order**, not in arrival order: sorted by their
//! system tags (the record ids of the source rows behind them, compared naturally, so
//! `row_2` comes before `row_10`), ties broken by every other column. For rows straight
//! from a source with default record ids that is the file's order, as in the reference;
//! after a join or a function pod, whose output order depends on timing in the actor
//! runtime, it makes the groups — and so the content hashes of everything downstream —
//! the same in every run and in both executors. The price: Batch sees all its input
//! before emitting anything.
//!
//! Every column — user tags, packets, system tags and source info — becomes a
//! `large_list<T>` whose items are the grouped rows' values, in input order (system tags
//! are *type-evolving*, reference §2.8: `_tag_record_id::h` becomes
//! `["row_0", "row_1", …]`). The list field is non-nullable and its item field is named
//! `item` and nullable, which is what the reference's pyarrow lists look like, so packet
//! content hashes of grouped rows match the reference's.
//!
//! Lists are built with Arrow kernels (sorting indices, take and list offsets); only the
//! system-tag values are read per row, to order them. This module must never let
//! groups depend on arrival order or on how the input was chunked into batches.

use std::sync::Arc;

use std::cmp::Ordering;

use arrow::array::{Array, ArrayRef, LargeListArray, UInt32Array};
use arrow::buffer::OffsetBuffer;
use arrow::compute::concat;
use arrow::compute::take_record_batch;
use arrow::datatypes::{DataType, Field, FieldRef};
use arrow::record_batch::RecordBatch;

use super::checks::single_port;
use super::{InputInfo, Operator};
use crate::error::{Error, Result};
use crate::model::{Datum, StreamSchema};
use arrow_row::{RowConverter, SortField};

/// The reference's class name, used in error messages.
const NAME: &str = "Batch";

/// The running Batch operator.
///
/// Rows are accumulated until [`finish`](Operator::finish), put in canonical order (see
/// the module docs) and grouped:
/// - `batch_size > 0`: consecutive groups of `batch_size` rows; the last, partial group
///   is emitted unless `drop_partial_batch` is set. Output rows: ⌈n / size⌉, or
///   ⌊n / size⌋ when dropping the partial group.
/// - `batch_size == 0`: every row becomes one output row (none when the input is
///   empty). Like the reference, the single group counts as *partial*,
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
    /// Index range of the system-tag columns (the canonical order's first keys).
    system_tags: std::ops::Range<usize>,
    /// Input rows not yet grouped.
    pending: Vec<RecordBatch>,
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
            system_tags: schema.system_tag_range(),
            item_fields,
            batch_size,
            drop_partial_batch,
            pending: Vec::new(),
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

/// The permutation that puts `rows` in canonical order: by the system-tag columns
/// (strings compared naturally, lists item by item), then by every column's encoded
/// row, so that equal orders mean identical rows.
fn canonical_order(
    rows: &RecordBatch,
    system_tags: &std::ops::Range<usize>,
) -> Result<UInt32Array> {
    let n = rows.num_rows();
    let mut keys: Vec<Vec<Datum>> = Vec::with_capacity(n);
    for i in 0..n {
        keys.push(
            system_tags
                .clone()
                .map(|c| Datum::from_array(rows.column(c).as_ref(), i))
                .collect::<Result<_>>()?,
        );
    }
    let converter = RowConverter::new(
        rows.schema()
            .fields()
            .iter()
            .map(|f| SortField::new(f.data_type().clone()))
            .collect(),
    )?;
    let encoded = converter.convert_columns(rows.columns())?;
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (a as usize, b as usize);
        keys[a]
            .iter()
            .zip(&keys[b])
            .map(|(x, y)| natural_cmp(x, y))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
            .then_with(|| encoded.row(a).cmp(&encoded.row(b)))
    });
    Ok(UInt32Array::from(order))
}

/// Strings by their runs of digits (as numbers) and of other characters; lists item
/// by item; anything else by [`Datum::total_cmp`].
fn natural_cmp(a: &Datum, b: &Datum) -> Ordering {
    match (a, b) {
        (Datum::Str(a), Datum::Str(b)) => natural_str_cmp(a, b),
        (Datum::List(a), Datum::List(b)) => a
            .iter()
            .zip(b)
            .map(|(x, y)| natural_cmp(x, y))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| a.len().cmp(&b.len())),
        _ => a.total_cmp(b),
    }
}

fn natural_str_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a, b);
    loop {
        let (Some(ca), Some(cb)) = (a.chars().next(), b.chars().next()) else {
            return a.len().cmp(&b.len());
        };
        let run = |s: &str, digits: bool| {
            s.find(|c: char| c.is_ascii_digit() != digits)
                .unwrap_or(s.len())
        };
        let digits = ca.is_ascii_digit();
        if digits != cb.is_ascii_digit() {
            return a.cmp(b);
        }
        let (ra, rb) = (run(a, digits), run(b, digits));
        let (pa, pb) = (&a[..ra], &b[..rb]);
        let order = if digits {
            let (ta, tb) = (pa.trim_start_matches('0'), pb.trim_start_matches('0'));
            ta.len()
                .cmp(&tb.len())
                .then_with(|| ta.cmp(tb))
                .then_with(|| pa.len().cmp(&pb.len()))
        } else {
            pa.cmp(pb)
        };
        if order.is_ne() {
            return order;
        }
        a = &a[ra..];
        b = &b[rb..];
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
        single_port(NAME, port)?;
        if self.finished {
            return Err(Error::internal(format!("{NAME}: push after finish")));
        }
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.pending.push(batch);
        Ok(())
    }

    fn finish(&mut self, port: usize) -> Result<()> {
        single_port(NAME, port)?;
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        // What is left is the final group; with `batch_size > 0` it is partial, and with
        // `batch_size == 0` it counts as partial too (reference behaviour, see above).
        let Some(all) = self.take_pending()? else {
            return Ok(());
        };
        let all = take_record_batch(&all, &canonical_order(&all, &self.system_tags)?)?;
        let n = all.num_rows();
        let size = if self.batch_size == 0 {
            n
        } else {
            self.batch_size
        };
        let full = n / size * size;
        let kept = if self.drop_partial_batch && self.batch_size == 0 {
            0
        } else if self.drop_partial_batch {
            full
        } else {
            n
        };
        self.emit_groups(&all.slice(0, kept), size)
    }

    fn take_output(&mut self) -> Vec<RecordBatch> {
        std::mem::take(&mut self.ready)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_ids_compare_naturally() {
        let mut ids = vec!["row_10", "row_2", "row_1", "row_02", "a", "row_", "row_1b"];
        ids.sort_by(|a, b| natural_str_cmp(a, b));
        assert_eq!(
            ids,
            ["a", "row_", "row_1", "row_1b", "row_2", "row_02", "row_10"]
        );
        assert_eq!(
            natural_cmp(
                &Datum::List(vec![Datum::Str("row_9".into())]),
                &Datum::List(vec![Datum::Str("row_10".into())])
            ),
            Ordering::Less
        );
    }
}
