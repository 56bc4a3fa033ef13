//! The engine of every join: a binary symmetric hash join over Arrow batches
//! ([`HashJoinCore`]). Each side's batches are probed against the other side's stored
//! rows as they arrive, stored in turn while the other side may still send rows, and
//! every match is gathered at once (`take` / `interleave`) into the columns it is told
//! to gather.
//!
//! A join on one integer key column uses the [`IntKeyIndex`]; any other key is encoded
//! with `arrow-row` into the byte-keyed [`KeyIndex`]. Both give the same matches in the
//! same (arrival) order. Rows with a null in any key column never match.
//!
//! The engine knows nothing of schemas' roles, of the order of a join's arguments or of
//! how many inputs a join has: that is planning (`plan`) and the operators. It must never
//! keep rows that can no longer match, nor fail on empty batches.

use arrow::array::{Array, ArrayRef, AsArray, UInt32Array};
use arrow::compute::{interleave, take};
use arrow::datatypes::{DataType, Int64Type, UInt64Type};
use arrow::record_batch::RecordBatch;
use arrow_row::{RowConverter, Rows, SortField};

use super::index::{KeyHash, KeyIndex, ShortKey, NONE};
use super::int_index::IntKeyIndex;
use super::stored::{gather_text, StoredBatch};
use crate::error::{Error, Result};
use crate::model::StreamSchema;
use crate::operator::keys::key_hash;

/// One of the two inputs of a binary join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    /// The canonically first input (or the accumulated result of a chain).
    Left = 0,
    /// The canonically second input.
    Right = 1,
}

impl Side {
    pub(super) fn index(self) -> usize {
        self as usize
    }

    pub(super) fn other(self) -> Side {
        match self {
            Side::Left => Side::Right,
            Side::Right => Side::Left,
        }
    }
}

/// Where a gathered column comes from: a side and a column index in that side's batches.
pub(super) type ColumnSource = (Side, usize);

/// The rows one side of a symmetric hash join has seen, indexed by join key.
#[derive(Default)]
struct SideState {
    /// Stored batches (only while the other side may still send rows), their
    /// provenance text held compactly.
    batches: Vec<StoredBatch>,
    /// The encoded keys of each stored batch (only with [`KeyEncoding::Rows`]).
    keys: Vec<Rows>,
    /// The number of the first row of each stored batch in the [`IntKeyIndex`] (only
    /// with [`KeyEncoding::Int`]).
    starts: Vec<u32>,
    /// Indices of this side's key columns, in key order.
    key_columns: Vec<usize>,
    /// No more batches will arrive on this side.
    finished: bool,
}

impl SideState {
    /// The stored batch and row of the row numbered `number` in the [`IntKeyIndex`].
    fn locate(&self, number: u32) -> (u32, u32) {
        let batch = self.starts.partition_point(|&s| s <= number) - 1;
        (batch as u32, number - self.starts[batch])
    }

    /// The encoded key of a stored row (empty without keys).
    fn key(&self, batch: u32, row: u32) -> &[u8] {
        match self.keys.get(batch as usize) {
            Some(rows) => rows.row(row as usize).data(),
            None => &[],
        }
    }
}

/// The integer-key probe first loads the table slots of this many rows, then probes
/// them ([`IntKeyIndex::warm`]).
const WARM_ROWS: usize = 256;

/// How a join's key columns become index keys.
enum KeyEncoding {
    /// No keys: a Cartesian product (every row has the empty key).
    None,
    /// One integer key column: its value, in the [`IntKeyIndex`].
    Int,
    /// Anything else: `arrow-row` bytes, in the byte-keyed indexes.
    Rows(RowConverter),
}

/// A binary symmetric hash join over Arrow batches.
///
/// Each pushed batch is probed against the other side's index and (while the other side
/// has not finished) indexed itself; every match is gathered at once into the columns
/// named by `gather`.
pub(super) struct HashJoinCore {
    sides: [SideState; 2],
    /// Short key → the stored rows of each side with that key.
    short: KeyIndex<ShortKey>,
    /// Key hash → the stored rows of each side with a longer key of that hash (the bytes
    /// are compared with the stored rows' keys).
    long: KeyIndex<KeyHash>,
    /// One integer key → the stored rows of each side with that key.
    int: IntKeyIndex,
    /// How keys are encoded, and so which index holds them.
    encoding: KeyEncoding,
    /// The columns to gather for each match, in output order.
    pub(super) gather: Vec<ColumnSource>,
}

impl HashJoinCore {
    /// A join of `left` and `right` on the columns named `keys` (present on both sides,
    /// with equal types) that gathers the columns in `gather`.
    pub(super) fn new(
        left: &StreamSchema,
        right: &StreamSchema,
        keys: &[String],
        gather: Vec<ColumnSource>,
    ) -> Result<Self> {
        let key_columns = |schema: &StreamSchema| -> Result<Vec<usize>> {
            keys.iter()
                .map(|k| Ok(schema.arrow().index_of(k)?))
                .collect()
        };
        let left_keys = key_columns(left)?;
        let key_type = |i: usize| left.arrow().field(i).data_type().clone();
        let encoding = match left_keys[..] {
            [] => KeyEncoding::None,
            [only] if key_type(only).is_integer() => KeyEncoding::Int,
            _ => KeyEncoding::Rows(RowConverter::new(
                left_keys
                    .iter()
                    .map(|&i| SortField::new(key_type(i)))
                    .collect(),
            )?),
        };
        Ok(HashJoinCore {
            sides: [
                SideState {
                    key_columns: left_keys,
                    ..Default::default()
                },
                SideState {
                    key_columns: key_columns(right)?,
                    ..Default::default()
                },
            ],
            short: KeyIndex::default(),
            long: KeyIndex::default(),
            int: IntKeyIndex::default(),
            encoding,
            gather,
        })
    }

    /// Accepts a batch on `side`; returns the gathered columns of its matches, if any.
    pub(super) fn push(&mut self, side: Side, batch: RecordBatch) -> Result<Option<Vec<ArrayRef>>> {
        if self.sides[side.index()].finished {
            return Err(Error::internal(
                "join: a batch arrived after its input finished",
            ));
        }
        if batch.num_rows() == 0 {
            return Ok(None);
        }
        if batch.num_rows() >= NONE as usize
            || self.sides[side.index()].batches.len() >= NONE as usize
            || self.int.next_row(side.index()) + batch.num_rows() >= NONE as usize
        {
            return Err(Error::invalid(
                "join",
                "too many rows in one batch or on one side",
            ));
        }
        let key_arrays: Vec<ArrayRef> = self.sides[side.index()]
            .key_columns
            .iter()
            .map(|&i| batch.column(i).clone())
            .collect();
        let rows = match &self.encoding {
            KeyEncoding::Rows(converter) => Some(converter.convert_columns(&key_arrays)?),
            KeyEncoding::None | KeyEncoding::Int => None,
        };
        let valid = key_validity(&key_arrays, batch.num_rows());
        let keep = !self.sides[side.other().index()].finished;
        let first_number = self.int.next_row(side.index()) as u32;
        let (this_rows, other_rows) = match self.encoding {
            KeyEncoding::Int => {
                let values = int_key_values(&key_arrays[0])?;
                self.probe_and_index_int(side, &values, &valid, keep)
            }
            _ => self.probe_and_index(side, rows.as_ref(), &valid, keep),
        };
        let output = if this_rows.is_empty() {
            None
        } else {
            Some(self.gather(side, &batch, &this_rows, &other_rows)?)
        };
        if keep {
            let this = &mut self.sides[side.index()];
            this.batches.push(StoredBatch::new(&batch));
            if let Some(rows) = rows {
                this.keys.push(rows);
            }
            if let KeyEncoding::Int = self.encoding {
                this.starts.push(first_number);
            }
        }
        Ok(output)
    }

    /// [`HashJoinCore::probe_and_index`] for one integer key column, whose values
    /// (arbitrary where not `valid`) are `values`.
    fn probe_and_index_int(
        &mut self,
        side: Side,
        values: &[u64],
        valid: &[bool],
        keep: bool,
    ) -> (Vec<u32>, Vec<(u32, u32)>) {
        let other = &self.sides[side.other().index()];
        let mut this_rows = Vec::with_capacity(values.len());
        let mut other_rows = Vec::with_capacity(values.len());
        let mut found = Vec::new();
        for (row, (&value, &valid)) in values.iter().zip(valid).enumerate() {
            if row % WARM_ROWS == 0 {
                self.int
                    .warm(&values[row..values.len().min(row + WARM_ROWS)]);
            }
            if !valid {
                if keep {
                    self.int.skip_row(side.index());
                }
                continue;
            }
            found.clear();
            self.int
                .probe_and_insert(value, side.index(), keep, &mut found);
            for &number in &found {
                this_rows.push(row as u32);
                other_rows.push(other.locate(number));
            }
        }
        (this_rows, other_rows)
    }

    /// Probes each valid row of a new batch on `side` against the other side's index and,
    /// when `keep`, indexes it. Returns the matches as (new row, (other batch, other row)).
    fn probe_and_index(
        &mut self,
        side: Side,
        rows: Option<&Rows>,
        valid: &[bool],
        keep: bool,
    ) -> (Vec<u32>, Vec<(u32, u32)>) {
        let other_side = side.other().index();
        let [left, right] = &self.sides;
        let (this, other) = match side {
            Side::Left => (left, right),
            Side::Right => (right, left),
        };
        let batch_index = this.batches.len() as u32;
        let mut this_rows = Vec::new();
        let mut other_rows = Vec::new();
        for (row, _) in valid.iter().enumerate().filter(|(_, v)| **v) {
            let key: &[u8] = rows.map_or(&[], |r| r.row(row).data());
            let at = keep.then_some((batch_index, row as u32));
            let mut found = |m: (u32, u32)| {
                this_rows.push(row as u32);
                other_rows.push(m);
            };
            match ShortKey::new(key) {
                Some(short) => self.short.probe_and_insert(short, other_side, at, found),
                None => {
                    let hash = KeyHash(key_hash(key));
                    self.long.probe_and_insert(hash, other_side, at, |(b, r)| {
                        // Distinct long keys may share a hash: compare the bytes.
                        if other.key(b, r) == key {
                            found((b, r));
                        }
                    });
                }
            }
        }
        (this_rows, other_rows)
    }

    /// Gathers the output columns of the matches of a new batch on `side`.
    fn gather(
        &self,
        side: Side,
        batch: &RecordBatch,
        this_rows: &[u32],
        other_rows: &[(u32, u32)],
    ) -> Result<Vec<ArrayRef>> {
        let take_indices = UInt32Array::from(this_rows.to_vec());
        let other = &self.sides[side.other().index()];
        // Only the stored batches the matches come from take part in `interleave`.
        let mut used: Vec<u32> = other_rows.iter().map(|&(b, _)| b).collect();
        used.sort_unstable();
        used.dedup();
        let other_indices: Vec<(usize, usize)> = other_rows
            .iter()
            .map(|&(b, r)| {
                let slot = used.binary_search(&b).expect("a used batch");
                (slot, r as usize)
            })
            .collect();
        let stored: Vec<&StoredBatch> = used.iter().map(|&b| &other.batches[b as usize]).collect();
        self.gather
            .iter()
            .map(|&(from, column)| {
                if from == side {
                    Ok(take(batch.column(column).as_ref(), &take_indices, None)?)
                } else {
                    let plain: Option<Vec<&dyn Array>> = stored
                        .iter()
                        .map(|s| s.plain(column).map(|a| a.as_ref()))
                        .collect();
                    match plain.as_deref() {
                        Some([only]) => {
                            let rows = UInt32Array::from_iter_values(
                                other_indices.iter().map(|&(_, r)| r as u32),
                            );
                            Ok(take(*only, &rows, None)?)
                        }
                        Some(arrays) => Ok(interleave(arrays, &other_indices)?),
                        None => Ok(gather_text(&stored, column, &other_indices)),
                    }
                }
            })
            .collect()
    }

    /// Signals that `side` has ended: the other side's stored rows can never match again
    /// and are dropped, and its future rows are no longer stored.
    pub(super) fn finish(&mut self, side: Side) {
        self.sides[side.index()].finished = true;
        let other = &mut self.sides[side.other().index()];
        other.batches = Vec::new();
        other.keys = Vec::new();
        other.starts = Vec::new();
        self.int.release(side.other().index());
        // The index keeps the other side's chains (a few bytes per key, never read
        // again) until both sides have ended.
        if self.sides.iter().all(|s| s.finished) {
            self.short = KeyIndex::default();
            self.long = KeyIndex::default();
            self.int = IntKeyIndex::default();
        }
    }

    /// Both sides have ended.
    pub(super) fn is_finished(&self) -> bool {
        self.sides.iter().all(|s| s.finished)
    }
}

/// The values of an integer key column as `u64` (the bits of an `Int64`), so equal keys
/// give equal values; values under nulls are arbitrary.
fn int_key_values(array: &ArrayRef) -> Result<Vec<u64>> {
    Ok(match array.data_type() {
        DataType::UInt64 => array.as_primitive::<UInt64Type>().values().to_vec(),
        DataType::Int64 => as_u64(array),
        // Every other integer type fits in an Int64 without loss.
        _ => as_u64(&arrow::compute::cast(array, &DataType::Int64)?),
    })
}

fn as_u64(int64: &ArrayRef) -> Vec<u64> {
    int64
        .as_primitive::<Int64Type>()
        .values()
        .iter()
        .map(|&v| v as u64)
        .collect()
}

/// For each row, whether every key column is non-null there (null keys never match).
fn key_validity(keys: &[ArrayRef], rows: usize) -> Vec<bool> {
    let mut valid = vec![true; rows];
    for key in keys.iter().filter(|k| k.null_count() > 0) {
        for (row, v) in valid.iter_mut().enumerate() {
            *v &= key.is_valid(row);
        }
    }
    valid
}
