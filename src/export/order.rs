//! [`RowOrder`]: the canonical export row order (see the [module docs](super)), computed
//! columnarly with the Arrow row format instead of per-cell value comparisons.
//!
//! Every column becomes one or more sort keys whose row-format byte order is exactly the
//! order of [`Datum::total_cmp`] on the column's values, so comparing two rows' key
//! bytes compares the rows as the export contract says:
//!
//! - nulls first (the row format's `nulls_first`), as `None` is the smallest value;
//! - booleans, integers, strings (byte order) and bytes as the row format orders them;
//! - a float column as two keys: "is NaN", then the value (as `f64`) in IEEE total
//!   order, so every NaN comes after every number and NaNs among themselves by their
//!   bits, `-0.0` before `0.0`; inside lists the same pair as a struct;
//! - lists element by element, then by length, with their items keyed the same way.
//!
//! A value `Datum` cannot read (an integer over `i64::MAX`, an Arrow type orcapod
//! streams do not use) fails exactly as reading it as a `Datum` does; a column of such a
//! type that holds only nulls sorts as nulls. This module never reorders rows with equal
//! keys: ties keep the order rows arrived in.

use std::cmp::Ordering;
use std::sync::Arc;

use arrow::array::{
    new_empty_array, new_null_array, Array, ArrayRef, AsArray, BooleanArray, GenericListArray,
    OffsetSizeTrait, RecordBatch, RecordBatchOptions, StructArray,
};
use arrow::buffer::BooleanBuffer;
use arrow::compute::interleave_record_batch;
use arrow::datatypes::{DataType, Field, Fields, Float32Type, Float64Type, Schema, SchemaRef};
use arrow_row::{Row, RowConverter, Rows, SortField};

use crate::error::{Error, Result};
use crate::model::Datum;

/// The sort keys of a schema's rows, in the canonical export order.
#[derive(Debug)]
pub(super) struct RowOrder {
    width: usize,
    converter: RowConverter,
    /// Columns whose values must be read as `Datum`s first, to fail as that would.
    checked: Vec<usize>,
}

impl RowOrder {
    /// The order of rows of `schema`.
    pub(super) fn new(schema: &Schema) -> Result<RowOrder> {
        let mut fields = Vec::new();
        let mut checked = Vec::new();
        for (c, field) in schema.fields().iter().enumerate() {
            let data_type = field.data_type();
            if needs_check(data_type) {
                checked.push(c);
            }
            if is_float(data_type) {
                fields.push(SortField::new(DataType::Boolean));
                fields.push(SortField::new(DataType::Float64));
            } else {
                fields.push(SortField::new(key_type(data_type)));
            }
        }
        Ok(RowOrder {
            width: schema.fields().len(),
            converter: RowConverter::new(fields)?,
            checked,
        })
    }

    /// The sort keys of `batch`'s rows: comparing two keys (of this order's batches)
    /// compares the rows. Fails as reading a value as a `Datum` would.
    pub(super) fn keys(&self, batch: &RecordBatch) -> Result<Rows> {
        for r in 0..batch.num_rows() {
            for &c in &self.checked {
                Datum::from_array(batch.column(c).as_ref(), r)?;
            }
        }
        let mut columns = Vec::with_capacity(self.converter.size());
        for column in batch.columns() {
            if is_float(column.data_type()) {
                let values = as_f64(column);
                columns.push(is_nan(&values));
                columns.push(values);
            } else {
                columns.push(key_array(column));
            }
        }
        Ok(self.converter.convert_columns(&columns)?)
    }

    /// Every row of `batches` as (batch, row), in the canonical order; rows with equal
    /// keys in the order they come in `batches`.
    pub(super) fn sorted_positions(&self, batches: &[RecordBatch]) -> Result<Vec<(usize, usize)>> {
        if self.width == 0 {
            // No columns: every row is the same row.
            return Ok(positions(batches).collect());
        }
        let keys = batches
            .iter()
            .map(|b| self.keys(b))
            .collect::<Result<Vec<_>>>()?;
        let mut keyed: Vec<Keyed<'_>> = positions(batches)
            .map(|(b, r)| {
                let key = keys[b].row(r);
                (prefix(key.as_ref()), key, b, r)
            })
            .collect();
        keyed.sort_unstable_by(compare_keyed);
        Ok(keyed.into_iter().map(|(_, _, b, r)| (b, r)).collect())
    }
}

/// A row's key with its first bytes as a number (to compare most rows without a call to
/// `memcmp`), and its (batch, row).
type Keyed<'a> = (u64, Row<'a>, usize, usize);

/// The first 8 bytes of a key, big-endian, zero-padded: keys whose prefixes differ
/// compare as their prefixes do (a padding zero sorts like the end of a shorter key).
fn prefix(key: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    let n = key.len().min(8);
    bytes[..n].copy_from_slice(&key[..n]);
    u64::from_be_bytes(bytes)
}

/// Keys, then arrival position: a total order equal to a stable sort by keys.
fn compare_keyed(x: &Keyed<'_>, y: &Keyed<'_>) -> Ordering {
    x.0.cmp(&y.0)
        .then_with(|| x.1.cmp(&y.1))
        .then((x.2, x.3).cmp(&(y.2, y.3)))
}

/// (batch, row) of every row of `batches`, in order.
fn positions(batches: &[RecordBatch]) -> impl Iterator<Item = (usize, usize)> + '_ {
    batches
        .iter()
        .enumerate()
        .flat_map(|(b, batch)| (0..batch.num_rows()).map(move |r| (b, r)))
}

fn is_float(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Float32 | DataType::Float64)
}

/// Whether `Datum::from_array` reads every value of this type (and with this order).
fn is_plain(data_type: &DataType) -> bool {
    use DataType as T;
    matches!(
        data_type,
        T::Null
            | T::Boolean
            | T::Int8
            | T::Int16
            | T::Int32
            | T::Int64
            | T::UInt8
            | T::UInt16
            | T::UInt32
            | T::Utf8
            | T::LargeUtf8
            | T::Binary
            | T::LargeBinary
    )
}

/// Whether some value of this type may fail to read as a `Datum`: `UInt64` (over
/// `i64::MAX`) or a type `Datum` does not read, anywhere in the type.
fn needs_check(data_type: &DataType) -> bool {
    match data_type {
        DataType::List(f) | DataType::LargeList(f) => needs_check(f.data_type()),
        t => !(is_plain(t) || is_float(t)),
    }
}

/// The type of a column's key inside a list (or of a non-float column): floats become
/// a struct (is NaN, value), types `Datum` does not read become `Null` (only nulls pass
/// the check), `UInt64` stays (its checked values fit `i64` and keep their order).
fn key_type(data_type: &DataType) -> DataType {
    match data_type {
        t if is_plain(t) || *t == DataType::UInt64 => t.clone(),
        t if is_float(t) => DataType::Struct(float_fields()),
        DataType::List(f) => DataType::List(list_field(key_type(f.data_type()))),
        DataType::LargeList(f) => DataType::LargeList(list_field(key_type(f.data_type()))),
        _ => DataType::Null,
    }
}

fn list_field(item: DataType) -> Arc<Field> {
    Arc::new(Field::new_list_field(item, true))
}

fn float_fields() -> Fields {
    Fields::from(vec![
        Field::new("is_nan", DataType::Boolean, true),
        Field::new("value", DataType::Float64, true),
    ])
}

/// A column's key array, of [`key_type`].
fn key_array(array: &ArrayRef) -> ArrayRef {
    match array.data_type() {
        t if is_plain(t) || *t == DataType::UInt64 => array.clone(),
        t if is_float(t) => {
            let values = as_f64(array);
            let nulls = values.nulls().cloned();
            Arc::new(StructArray::new(
                float_fields(),
                vec![is_nan(&values), values],
                nulls,
            ))
        }
        DataType::List(_) => list_key(array.as_list::<i32>()),
        DataType::LargeList(_) => list_key(array.as_list::<i64>()),
        _ => new_null_array(&DataType::Null, array.len()),
    }
}

fn list_key<O: OffsetSizeTrait>(list: &GenericListArray<O>) -> ArrayRef {
    let items = key_array(list.values());
    Arc::new(GenericListArray::<O>::new(
        list_field(items.data_type().clone()),
        list.offsets().clone(),
        items,
        list.nulls().cloned(),
    ))
}

/// A float column as `f64` (as `Datum` reads it).
fn as_f64(array: &ArrayRef) -> ArrayRef {
    match array.data_type() {
        DataType::Float32 => Arc::new(
            array
                .as_primitive::<Float32Type>()
                .unary::<_, Float64Type>(f64::from),
        ),
        _ => array.clone(),
    }
}

/// Whether each value of an `f64` array is NaN (null where the value is).
fn is_nan(values: &ArrayRef) -> ArrayRef {
    let values = values.as_primitive::<Float64Type>();
    let bits = BooleanBuffer::collect_bool(values.len(), |i| values.value(i).is_nan());
    Arc::new(BooleanArray::new(bits, values.nulls().cloned()))
}

/// The rows of `batches` at `positions` (batch, row), in that order, as one batch of
/// their values as they are (not rebuilt; see `Canonical` for that).
pub(super) fn take_rows(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    positions: &[(usize, usize)],
) -> Result<RecordBatch> {
    if schema.fields().is_empty() || positions.is_empty() {
        return Ok(RecordBatch::try_new_with_options(
            schema.clone(),
            schema
                .fields()
                .iter()
                .map(|f| new_empty_array(f.data_type()))
                .collect(),
            &RecordBatchOptions::new().with_row_count(Some(positions.len())),
        )?);
    }
    let batches: Vec<&RecordBatch> = batches.iter().collect();
    Ok(interleave_record_batch(&batches, positions)?)
}

/// Fails unless `batch` has the fields of `schema` (metadata of the schema aside).
pub(super) fn check_fields(batch: &RecordBatch, schema: &SchemaRef) -> Result<()> {
    if batch.schema().fields() != schema.fields() {
        return Err(Error::internal(format!(
            "batch schema {:?} differs from output schema {:?}",
            batch.schema().fields(),
            schema.fields()
        )));
    }
    Ok(())
}
