//! [`Canonical`]: rows gathered into batches whose arrays are rebuilt from the Arrow row
//! format, so they are a function of the values alone.
//!
//! What lies under nulls, whether a column without nulls carries a validity buffer, and
//! how the input was chunked leave no trace in a canonical batch: equal rows give equal
//! bytes when written. This module never reorders rows: it gathers them in the order
//! asked.

use arrow::array::{make_array, Array, ArrayRef, RecordBatch, RecordBatchOptions};
use arrow::compute::concat;
use arrow::datatypes::{DataType, SchemaRef};
use arrow_row::{RowConverter, SortField};

use crate::error::Result;

/// Rebuilds rows of one schema canonically.
#[derive(Debug)]
pub(super) struct Canonical {
    schema: SchemaRef,
    converter: Option<RowConverter>,
}

impl Canonical {
    /// Canonical batches of `schema` (with that schema, metadata included).
    pub(super) fn new(schema: &SchemaRef) -> Canonical {
        Canonical {
            schema: schema.clone(),
            // Made on the first rows: a type the row format cannot hold fails only
            // when there are rows of it.
            converter: None,
        }
    }

    fn converter(&mut self) -> Result<&RowConverter> {
        if self.converter.is_none() {
            let fields = self
                .schema
                .fields()
                .iter()
                .map(|f| SortField::new(f.data_type().clone()))
                .collect();
            self.converter = Some(RowConverter::new(fields)?);
        }
        Ok(self.converter.as_ref().expect("just made"))
    }

    /// The rows of `batches` at `positions` (batch, row), in that order, as one batch.
    pub(super) fn gather(
        &mut self,
        batches: &[RecordBatch],
        positions: &[(usize, usize)],
    ) -> Result<RecordBatch> {
        if positions.is_empty() {
            return Ok(RecordBatch::new_empty(self.schema.clone()));
        }
        if self.schema.fields().is_empty() {
            return Ok(RecordBatch::try_new_with_options(
                self.schema.clone(),
                Vec::new(),
                &RecordBatchOptions::new().with_row_count(Some(positions.len())),
            )?);
        }
        let schema = self.schema.clone();
        let converter = self.converter()?;
        let encoded = batches
            .iter()
            .map(|batch| converter.convert_columns(batch.columns()))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let columns = converter.convert_rows(positions.iter().map(|&(b, r)| encoded[b].row(r)))?;
        Ok(RecordBatch::try_new(schema, columns)?)
    }

    /// Every row of `batches`, in order, as one canonical batch.
    pub(super) fn rebuild(&mut self, batches: &[RecordBatch]) -> Result<RecordBatch> {
        if let Some(batch) = concat_plain(&self.schema, batches)? {
            return Ok(batch);
        }
        let positions: Vec<(usize, usize)> = batches
            .iter()
            .enumerate()
            .flat_map(|(b, batch)| (0..batch.num_rows()).map(move |r| (b, r)))
            .collect();
        self.gather(batches, &positions)
    }
}

/// Whether the Arrow row format gives back every value of a column of type `t` without
/// nulls exactly as it was (bit for bit, floats included), so that concatenating such
/// columns is already their canonical form.
fn plain(t: &DataType) -> bool {
    use DataType::*;
    matches!(
        t,
        Int8 | Int16
            | Int32
            | Int64
            | UInt8
            | UInt16
            | UInt32
            | UInt64
            | Float32
            | Float64
            | Utf8
            | LargeUtf8
            | Binary
            | LargeBinary
    )
}

/// `batches` concatenated, when that is their canonical form (what [`Canonical::gather`]
/// would give for all their rows in order, to the byte): every column of a [`plain`] type
/// and without a null. The concatenated arrays start at offset 0 and hold only their
/// rows' values; a validity buffer without a null is dropped. `None` otherwise (the row
/// format is then the way), or when there are no batches.
fn concat_plain(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Option<RecordBatch>> {
    if batches.is_empty()
        || schema.fields().is_empty()
        || !schema.fields().iter().all(|f| plain(f.data_type()))
        || batches
            .iter()
            .any(|b| b.columns().iter().any(|c| c.null_count() > 0))
    {
        return Ok(None);
    }
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for i in 0..schema.fields().len() {
        let parts: Vec<&dyn Array> = batches.iter().map(|b| b.column(i).as_ref()).collect();
        let column = concat(&parts)?;
        columns.push(if column.nulls().is_some() {
            make_array(column.into_data().into_builder().nulls(None).build()?)
        } else {
            column
        });
    }
    Ok(Some(RecordBatch::try_new(schema.clone(), columns)?))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        BinaryArray, Float32Array, Float64Array, Int16Array, Int64Array, LargeStringArray,
        StringArray, UInt8Array,
    };
    use arrow::buffer::NullBuffer;
    use arrow::datatypes::{Field, Schema};

    use super::*;

    /// One array's buffers, validity buffer and offset.
    type Bytes = (Vec<Vec<u8>>, Option<Vec<u8>>, usize);

    /// The buffers of every array of `batch`, as bytes.
    fn buffers(batch: &RecordBatch) -> Vec<Bytes> {
        batch
            .columns()
            .iter()
            .map(|c| {
                let data = c.to_data();
                (
                    data.buffers()
                        .iter()
                        .map(|b| b.as_slice().to_vec())
                        .collect(),
                    data.nulls().map(|n| n.buffer().as_slice().to_vec()),
                    data.offset(),
                )
            })
            .collect()
    }

    #[test]
    fn concatenated_plain_columns_are_the_row_format_s_bytes() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("i", DataType::Int64, false),
            Field::new("u", DataType::UInt8, false),
            Field::new("h", DataType::Int16, true),
            Field::new("f", DataType::Float64, false),
            Field::new("g", DataType::Float32, false),
            Field::new("s", DataType::LargeUtf8, false),
            Field::new("t", DataType::Utf8, true),
            Field::new("b", DataType::Binary, false),
        ]));
        let n = 70usize;
        let floats: Vec<f64> = (0..n)
            .map(|i| match i % 5 {
                0 => -0.0,
                1 => f64::from_bits(0x7ff8_0000_0000_1234),
                2 => f64::NEG_INFINITY,
                _ => i as f64 / 3.0,
            })
            .collect();
        let text: Vec<String> = (0..n).map(|i| "x".repeat(i % 7)).collect();
        // A validity buffer that says every row is valid: dropped by the rebuild.
        let all_valid = Some(NullBuffer::new_valid(n));
        let whole = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from_iter_values((0..n as i64).map(|i| i * -7))),
                Arc::new(UInt8Array::from_iter_values((0..n).map(|i| i as u8))),
                Arc::new(Int16Array::new((0..n as i16).collect(), all_valid.clone())),
                Arc::new(Float64Array::from(floats)),
                Arc::new(Float32Array::from_iter_values(
                    (0..n).map(|i| i as f32 * 0.1),
                )),
                Arc::new(LargeStringArray::from_iter_values(&text)),
                Arc::new(StringArray::new(
                    StringArray::from_iter_values(&text).offsets().clone(),
                    StringArray::from_iter_values(&text).values().clone(),
                    all_valid,
                )),
                Arc::new(BinaryArray::from_iter_values(
                    text.iter().map(|t| t.as_bytes()),
                )),
            ],
        )
        .unwrap();
        // Slices at odd places, as chunks cut from larger batches are.
        let parts = [whole.slice(3, 20), whole.slice(0, 1), whole.slice(29, 41)];
        let mut canonical = Canonical::new(&schema);
        let fast = canonical.rebuild(&parts).unwrap();
        let positions: Vec<(usize, usize)> = parts
            .iter()
            .enumerate()
            .flat_map(|(b, p)| (0..p.num_rows()).map(move |r| (b, r)))
            .collect();
        let by_rows = canonical.gather(&parts, &positions).unwrap();
        assert_eq!(fast, by_rows);
        assert_eq!(buffers(&fast), buffers(&by_rows));
        assert!(fast.columns().iter().all(|c| c.nulls().is_none()));
    }

    #[test]
    fn a_null_or_another_type_takes_the_row_format() {
        let schema = Arc::new(Schema::new(vec![Field::new("i", DataType::Int64, true)]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from(vec![Some(1), None]))],
        )
        .unwrap();
        assert!(concat_plain(&schema, std::slice::from_ref(&batch))
            .unwrap()
            .is_none());
        let bools = Arc::new(Schema::new(vec![Field::new("b", DataType::Boolean, false)]));
        let batch = RecordBatch::try_new(
            bools.clone(),
            vec![Arc::new(arrow::array::BooleanArray::from(vec![
                true, false,
            ]))],
        )
        .unwrap();
        assert!(concat_plain(&bools, &[batch]).unwrap().is_none());
    }
}
