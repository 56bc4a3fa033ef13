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
use arrow_row::{OwnedRow, RowConverter, Rows, SortField};

use crate::error::{Error, Result};
use crate::files::kind::{path_strings, PathKind};
use crate::model::Datum;

/// The sort keys of a schema's rows, in the canonical export order.
#[derive(Debug)]
pub(super) struct RowOrder {
    width: usize,
    converter: RowConverter,
    /// The keys of the first column alone (see [`RowOrder::sorted_positions`]).
    lead: RowConverter,
    /// Columns whose values must be read as `Datum`s first, to fail as that would.
    checked: Vec<usize>,
}

/// The last row of rows found in order so far ([`RowOrder::continues`]).
#[derive(Debug, Default, Clone)]
pub(super) struct Tail {
    last: Option<Last>,
}

#[derive(Debug, Clone)]
struct Last {
    /// The keys of its first column.
    lead: OwnedRow,
    /// The keys of all its columns.
    full: OwnedRow,
}

impl RowOrder {
    /// The order of rows of `schema`.
    pub(super) fn new(schema: &Schema) -> Result<RowOrder> {
        let mut fields = Vec::new();
        let mut lead = Vec::new();
        let mut checked = Vec::new();
        for (c, field) in schema.fields().iter().enumerate() {
            let data_type = field.data_type();
            if needs_check(data_type) {
                checked.push(c);
            }
            let column_fields = if is_float(data_type) {
                vec![
                    SortField::new(DataType::Boolean),
                    SortField::new(DataType::Float64),
                ]
            } else {
                vec![SortField::new(key_type(data_type))]
            };
            if c == 0 {
                lead.clone_from(&column_fields);
            }
            fields.extend(column_fields);
        }
        Ok(RowOrder {
            width: schema.fields().len(),
            converter: RowConverter::new(fields)?,
            lead: RowConverter::new(lead)?,
            checked,
        })
    }

    /// The sort keys of `batch`'s rows: comparing two keys (of this order's batches)
    /// compares the rows. Fails as reading a value as a `Datum` would.
    pub(super) fn keys(&self, batch: &RecordBatch) -> Result<Rows> {
        self.check(batch)?;
        self.full_keys(batch)
    }

    /// Fails as reading a value of `batch` as a `Datum` would.
    fn check(&self, batch: &RecordBatch) -> Result<()> {
        for r in 0..batch.num_rows() {
            for &c in &self.checked {
                Datum::from_array(batch.column(c).as_ref(), r)?;
            }
        }
        Ok(())
    }

    /// The keys of every column of `batch` (values not checked).
    fn full_keys(&self, batch: &RecordBatch) -> Result<Rows> {
        let columns: Vec<ArrayRef> = batch.columns().iter().flat_map(key_columns).collect();
        Ok(self.converter.convert_columns(&columns)?)
    }

    /// Every row of `batches` as (batch, row), in the canonical order; rows with equal
    /// keys in the order they come in `batches`.
    ///
    /// The Arrow row format encodes each column so that comparing concatenated keys
    /// compares the columns one after the other. So rows are first sorted by the keys of
    /// the first column alone, and only rows that tie on it get the keys of every column,
    /// to order them among themselves: when the first column (usually a tag) tells most
    /// rows apart, the keys cost a few bytes per row instead of a copy of the output.
    /// When most rows tie on it, every row gets its whole key at once.
    pub(super) fn sorted_positions(&self, batches: &[RecordBatch]) -> Result<Vec<(usize, usize)>> {
        if self.width == 0 {
            // No columns: every row is the same row.
            return Ok(positions(batches).collect());
        }
        for batch in batches {
            self.check(batch)?;
        }
        let keys = batches
            .iter()
            .map(|b| self.lead_keys(b))
            .collect::<Result<Vec<_>>>()?;
        let mut order = sorted_by_keys(batches, &keys);
        if self.width == 1 {
            return Ok(order);
        }
        let ties = ties(&order, &keys);
        if ties.rows > order.len() / 2 {
            let keys = batches
                .iter()
                .map(|b| self.full_keys(b))
                .collect::<Result<Vec<_>>>()?;
            return Ok(sorted_by_keys(batches, &keys));
        }
        self.order_ties(batches, &mut order, &ties)?;
        Ok(order)
    }

    /// Orders each run of `order` that ties on the first column by every column's keys,
    /// keeping the arrival order of rows whose keys are equal.
    fn order_ties(
        &self,
        batches: &[RecordBatch],
        order: &mut [(usize, usize)],
        ties: &Ties,
    ) -> Result<()> {
        if ties.runs.is_empty() {
            return Ok(());
        }
        let tied: Vec<(usize, usize)> = ties
            .runs
            .iter()
            .flat_map(|run| order[run.clone()].iter().copied())
            .collect();
        let tied_rows = take_rows(&batches[0].schema(), batches, &tied)?;
        let keys = self.full_keys(&tied_rows)?;
        let mut at = 0;
        for run in &ties.runs {
            // Rows of a run are in arrival order (the first sort breaks ties by
            // position), so their index in `tied` breaks ties of whole keys.
            let mut indices: Vec<usize> = (at..at + run.len()).collect();
            indices.sort_by(|&x, &y| keys.row(x).cmp(&keys.row(y)).then(x.cmp(&y)));
            for (slot, i) in run.clone().zip(indices) {
                order[slot] = tied[i];
            }
            at += run.len();
        }
        Ok(())
    }

    /// Whether the rows of `batch`, coming after the rows whose last is `tail`, are in
    /// the canonical order (rows equal in every column count as in order: they keep
    /// their arrival order anyway); if so, `tail` becomes `batch`'s last row. Checks the
    /// values as [`RowOrder::sorted_positions`] does.
    ///
    /// Like the sort, this compares the first column's keys, and every column's keys
    /// only where the first column ties.
    pub(super) fn continues(&self, tail: &mut Tail, batch: &RecordBatch) -> Result<bool> {
        self.check(batch)?;
        let rows = batch.num_rows();
        if self.width == 0 || rows == 0 {
            return Ok(true);
        }
        let mut keys = BatchKeys::new(self, batch)?;
        if let Some(last) = &tail.last {
            if !keys.not_before(last, 0)? {
                return Ok(false);
            }
        }
        for r in 1..rows {
            if !keys.follows_previous(r)? {
                return Ok(false);
            }
        }
        *tail = self.tail_of(batch)?;
        Ok(true)
    }

    /// Whether no row of `batch` sorts before `tail`'s row (true without one).
    pub(super) fn none_before(&self, tail: &Tail, batch: &RecordBatch) -> Result<bool> {
        self.check(batch)?;
        let Some(last) = &tail.last else {
            return Ok(true);
        };
        if self.width == 0 || batch.num_rows() == 0 {
            return Ok(true);
        }
        let mut keys = BatchKeys::new(self, batch)?;
        for r in 0..batch.num_rows() {
            if !keys.not_before(last, r)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The tail of rows whose last is `batch`'s last row (an empty tail for no rows).
    pub(super) fn tail_of(&self, batch: &RecordBatch) -> Result<Tail> {
        let rows = batch.num_rows();
        if self.width == 0 || rows == 0 {
            return Ok(Tail::default());
        }
        let last = batch.slice(rows - 1, 1);
        Ok(Tail {
            last: Some(Last {
                lead: self.lead_keys(&last)?.row(0).owned(),
                full: self.full_keys(&last)?.row(0).owned(),
            }),
        })
    }

    /// The keys of `batch`'s first column (the whole keys, when it is the only one).
    fn lead_keys(&self, batch: &RecordBatch) -> Result<Rows> {
        Ok(self.lead.convert_columns(&key_columns(batch.column(0)))?)
    }
}

/// The sort keys of one batch's rows, compared as [`RowOrder::sorted_positions`] sorts:
/// by the first column's keys, and by every column's keys (made at the first tie) where
/// the first column ties.
struct BatchKeys<'a> {
    order: &'a RowOrder,
    batch: &'a RecordBatch,
    lead: Rows,
    full: Option<Rows>,
}

impl<'a> BatchKeys<'a> {
    fn new(order: &'a RowOrder, batch: &'a RecordBatch) -> Result<Self> {
        Ok(BatchKeys {
            order,
            batch,
            lead: order.lead_keys(batch)?,
            full: None,
        })
    }

    fn full(&mut self) -> Result<&Rows> {
        let full = match self.full.take() {
            Some(full) => full,
            None => self.order.full_keys(self.batch)?,
        };
        Ok(self.full.insert(full))
    }

    /// Whether row `r` sorts at or after `last`.
    fn not_before(&mut self, last: &Last, r: usize) -> Result<bool> {
        Ok(match last.lead.row().cmp(&self.lead.row(r)) {
            Ordering::Less => true,
            Ordering::Greater => false,
            Ordering::Equal => last.full.row() <= self.full()?.row(r),
        })
    }

    /// Whether row `r` sorts at or after row `r - 1`.
    fn follows_previous(&mut self, r: usize) -> Result<bool> {
        Ok(match self.lead.row(r - 1).cmp(&self.lead.row(r)) {
            Ordering::Less => true,
            Ordering::Greater => false,
            Ordering::Equal => {
                let full = self.full()?;
                full.row(r - 1) <= full.row(r)
            }
        })
    }
}

/// Every row of `batches` as (batch, row), sorted by `keys` (one `Rows` per batch), rows
/// with equal keys in arrival order.
fn sorted_by_keys(batches: &[RecordBatch], keys: &[Rows]) -> Vec<(usize, usize)> {
    let mut keyed: Vec<Keyed> = positions(batches)
        .map(|(b, r)| (prefix(keys[b].row(r).as_ref()), b as u32, r as u32))
        .collect();
    let key = |&(_, b, r): &Keyed| keys[b as usize].row(r as usize);
    keyed.sort_unstable_by(|x, y| {
        x.0.cmp(&y.0)
            .then_with(|| key(x).cmp(&key(y)))
            .then((x.1, x.2).cmp(&(y.1, y.2)))
    });
    keyed
        .into_iter()
        .map(|(_, b, r)| (b as usize, r as usize))
        .collect()
}

/// The runs of rows of a sorted order whose keys are equal (runs of one row left out).
struct Ties {
    runs: Vec<std::ops::Range<usize>>,
    /// Rows in all runs.
    rows: usize,
}

fn ties(order: &[(usize, usize)], keys: &[Rows]) -> Ties {
    let key = |i: usize| {
        let (b, r) = order[i];
        keys[b].row(r)
    };
    let mut runs = Vec::new();
    let mut rows = 0;
    let mut start = 0;
    for i in 1..=order.len() {
        if i == order.len() || key(i) != key(start) {
            if i - start > 1 {
                runs.push(start..i);
                rows += i - start;
            }
            start = i;
        }
    }
    Ties { runs, rows }
}

/// A column's sort key arrays: a float column gives two (is NaN, value as `f64`), any
/// other column one (of [`key_type`]).
fn key_columns(column: &ArrayRef) -> Vec<ArrayRef> {
    if is_float(column.data_type()) {
        let values = as_f64(column);
        vec![is_nan(&values), values]
    } else {
        vec![key_array(column)]
    }
}

/// A row's key's first bytes as a number (to compare most rows without a call to
/// `memcmp`; the whole key of an integer column fits), and its batch and row: a third
/// of the size of a tuple that holds the key itself.
type Keyed = (u128, u32, u32);

/// The first 16 bytes of a key, big-endian, zero-padded: keys whose prefixes differ
/// compare as their prefixes do (a padding zero sorts like the end of a shorter key).
fn prefix(key: &[u8]) -> u128 {
    let mut bytes = [0u8; 16];
    let n = key.len().min(16);
    bytes[..n].copy_from_slice(&key[..n]);
    u128::from_be_bytes(bytes)
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
        t => !(is_plain(t) || is_float(t) || PathKind::of(t).is_some()),
    }
}

/// The type of a column's key inside a list (or of a non-float column): floats become
/// a struct (is NaN, value), types `Datum` does not read become `Null` (only nulls pass
/// the check), `UInt64` stays (its checked values fit `i64` and keep their order).
fn key_type(data_type: &DataType) -> DataType {
    match data_type {
        t if is_plain(t) || *t == DataType::UInt64 => t.clone(),
        t if is_float(t) => DataType::Struct(float_fields()),
        // A file or directory orders as its path.
        t if PathKind::of(t).is_some() => DataType::LargeUtf8,
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
        t if PathKind::of(t).is_some() => match path_strings(array.as_ref()) {
            Ok(paths) => Arc::new(paths),
            Err(_) => new_null_array(&DataType::Null, array.len()),
        },
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
