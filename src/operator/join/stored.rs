//! [`StoredBatch`]: a batch a join keeps for the other side's rows to match, with its
//! provenance text held compactly.
//!
//! A join holds every row of a side until the other side ends, so what a stored row
//! costs is what a join's memory grows by. Most of a row's bytes are often its
//! provenance: the source id (one value repeated), record ids `row_{n}` and source info
//! `{source_id}::row_{n}::{column}`, one string per row per column. A text column is
//! kept here as one value when every row has that value, or as a prefix, a number per
//! row and a suffix when every value is that (a number written in plain decimal, with
//! no sign and no leading zero), the numbers as a start when they count up by one from
//! row to row. Every value is checked when a batch is stored, so the text given back
//! is the text stored, byte for byte; a column that does not fit stays as it came.
//!
//! This module decides nothing about matches: it stores and gives back values. It must
//! never change a value, its type or whether it is null.

use std::fmt::Write;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, GenericStringArray, GenericStringBuilder, OffsetSizeTrait,
    RecordBatch,
};
use arrow::datatypes::{DataType, SchemaRef};

/// A stored batch: each column as it came, or its text held compactly.
pub(super) struct StoredBatch {
    schema: SchemaRef,
    columns: Vec<StoredColumn>,
}

enum StoredColumn {
    /// The column as it came.
    Plain(ArrayRef),
    /// Every value is this text (no nulls).
    Repeated(Box<str>),
    /// Every value is `prefix`, a number, `suffix` (no nulls).
    Numbered {
        prefix: Box<str>,
        suffix: Box<str>,
        numbers: Numbers,
    },
}

/// The numbers of a [`StoredColumn::Numbered`] column, row by row.
enum Numbers {
    /// `start + row`.
    Counting(u64),
    /// One per row.
    Each(Vec<u64>),
}

impl Numbers {
    fn get(&self, row: usize) -> u64 {
        match self {
            Numbers::Counting(start) => start + row as u64,
            Numbers::Each(numbers) => numbers[row],
        }
    }
}

impl StoredBatch {
    /// `batch`, with each text column held compactly where its values allow.
    pub(super) fn new(batch: &RecordBatch) -> StoredBatch {
        StoredBatch {
            schema: batch.schema(),
            columns: batch.columns().iter().map(compact).collect(),
        }
    }

    /// Column `column` as it came, unless it is held compactly.
    pub(super) fn plain(&self, column: usize) -> Option<&ArrayRef> {
        match &self.columns[column] {
            StoredColumn::Plain(array) => Some(array),
            _ => None,
        }
    }
}

/// The values of text column `column` at `rows` — (index in `batches`, row) — in that
/// order, as one array of the column's type.
pub(super) fn gather_text(
    batches: &[&StoredBatch],
    column: usize,
    rows: &[(usize, usize)],
) -> ArrayRef {
    match batches[0].schema.field(column).data_type() {
        DataType::LargeUtf8 => Arc::new(gather::<i64>(batches, column, rows)),
        // Only text columns are held compactly, so any other type is Utf8.
        _ => Arc::new(gather::<i32>(batches, column, rows)),
    }
}

fn gather<O: OffsetSizeTrait>(
    batches: &[&StoredBatch],
    column: usize,
    rows: &[(usize, usize)],
) -> GenericStringArray<O> {
    let mut out = GenericStringBuilder::<O>::with_capacity(rows.len(), rows.len() * 16);
    let mut text = String::new();
    for &(b, r) in rows {
        match &batches[b].columns[column] {
            StoredColumn::Plain(array) => {
                let array = array.as_string::<O>();
                if array.is_null(r) {
                    out.append_null();
                } else {
                    out.append_value(array.value(r));
                }
            }
            StoredColumn::Repeated(value) => out.append_value(value),
            StoredColumn::Numbered {
                prefix,
                suffix,
                numbers,
            } => {
                text.clear();
                text.push_str(prefix);
                write!(text, "{}", numbers.get(r)).expect("writing to a String");
                text.push_str(suffix);
                out.append_value(&text);
            }
        }
    }
    out.finish()
}

/// A column as stored: text held compactly where every value allows it.
fn compact(array: &ArrayRef) -> StoredColumn {
    let compacted = match array.data_type() {
        DataType::Utf8 => compact_text(array.as_string::<i32>()),
        DataType::LargeUtf8 => compact_text(array.as_string::<i64>()),
        _ => None,
    };
    compacted.unwrap_or_else(|| StoredColumn::Plain(array.clone()))
}

fn compact_text<O: OffsetSizeTrait>(text: &GenericStringArray<O>) -> Option<StoredColumn> {
    let rows = text.len();
    if rows == 0 || text.null_count() > 0 {
        return None;
    }
    let first = text.value(0);
    if (1..rows).all(|r| text.value(r) == first) {
        return Some(StoredColumn::Repeated(first.into()));
    }
    let (prefix, suffix) = pattern(first, text.value(rows - 1))?;
    let mut numbers = Vec::with_capacity(rows);
    for r in 0..rows {
        let value = text.value(r);
        let middle = value
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(suffix))?;
        numbers.push(decimal(middle)?);
    }
    let start = numbers[0];
    let counting = numbers
        .iter()
        .enumerate()
        .all(|(r, &n)| start.checked_add(r as u64) == Some(n));
    Some(StoredColumn::Numbered {
        prefix: prefix.into(),
        suffix: suffix.into(),
        numbers: if counting {
            Numbers::Counting(start)
        } else {
            Numbers::Each(numbers)
        },
    })
}

/// The text before and after the number in which `first` and `last` differ: their
/// common prefix and suffix, short of any digit (the digits belong to the number).
fn pattern<'a>(first: &'a str, last: &str) -> Option<(&'a str, &'a str)> {
    let (a, b) = (first.as_bytes(), last.as_bytes());
    let mut p = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    while p > 0 && (a[p - 1].is_ascii_digit() || !first.is_char_boundary(p)) {
        p -= 1;
    }
    let most = a.len().min(b.len()) - p;
    let mut s = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take(most)
        .take_while(|(x, y)| x == y)
        .count();
    while s > 0 && (a[a.len() - s].is_ascii_digit() || !first.is_char_boundary(a.len() - s)) {
        s -= 1;
    }
    let middle = &first[p..first.len() - s];
    decimal(middle)?;
    Some((&first[..p], &first[first.len() - s..]))
}

/// The number `text` writes in plain decimal: digits only, no leading zero (but `0`
/// itself), at most `u64::MAX`.
fn decimal(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    let plain = !bytes.is_empty()
        && bytes.iter().all(u8::is_ascii_digit)
        && (bytes.len() == 1 || bytes[0] != b'0');
    if plain {
        text.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{LargeStringArray, StringArray};
    use arrow::datatypes::{Field, Schema};
    use proptest::prelude::*;

    use super::*;

    fn stored(columns: Vec<ArrayRef>) -> StoredBatch {
        let fields: Vec<Field> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| Field::new(format!("c{i}"), c.data_type().clone(), true))
            .collect();
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
        StoredBatch::new(&batch)
    }

    fn kind(batch: &StoredBatch, column: usize) -> &'static str {
        match &batch.columns[column] {
            StoredColumn::Plain(_) => "plain",
            StoredColumn::Repeated(_) => "repeated",
            StoredColumn::Numbered {
                numbers: Numbers::Counting(_),
                ..
            } => "counting",
            StoredColumn::Numbered {
                numbers: Numbers::Each(_),
                ..
            } => "each",
        }
    }

    /// Every row of `array` (column 0 of one stored batch) given back.
    fn all_back(array: &ArrayRef) -> (ArrayRef, &'static str) {
        let batch = stored(vec![array.clone()]);
        let rows: Vec<(usize, usize)> = (0..array.len()).map(|r| (0, r)).collect();
        let back = gather_text(&[&batch], 0, &rows);
        (back, kind(&batch, 0))
    }

    #[test]
    fn provenance_columns_are_held_compactly_and_given_back_exactly() {
        let source_info: ArrayRef = Arc::new(LargeStringArray::from_iter_values(
            (7..1007).map(|i| format!("left::row_{i}::x")),
        ));
        let (back, how) = all_back(&source_info);
        assert_eq!(how, "counting");
        assert_eq!(&back, &source_info);

        let filtered: ArrayRef = Arc::new(StringArray::from_iter_values(
            [3u64, 10, 99, 100, 0, u64::MAX].map(|i| format!("s3::row_{i}::col2")),
        ));
        let (back, how) = all_back(&filtered);
        assert_eq!(how, "each");
        assert_eq!(&back, &filtered);

        let source_id: ArrayRef = Arc::new(LargeStringArray::from_iter_values(["left"; 50]));
        let (back, how) = all_back(&source_id);
        assert_eq!(how, "repeated");
        assert_eq!(&back, &source_id);
    }

    #[test]
    fn text_that_does_not_fit_is_kept_as_it_came() {
        for values in [
            vec![Some("row_1"), None, Some("row_2")],
            vec![Some("row_1"), Some("row_01"), Some("row_2")],
            vec![Some("row_1"), Some("row_+2"), Some("row_3")],
            vec![Some("a1b"), Some("a2c"), Some("a3b")],
            vec![Some("é1"), Some("è2")],
            vec![Some("row_1"), Some("row_99999999999999999999999")],
        ] {
            let array: ArrayRef = Arc::new(StringArray::from(values));
            let (back, how) = all_back(&array);
            assert_eq!(how, "plain");
            assert_eq!(&back, &array);
        }
        let numbers: ArrayRef = Arc::new(arrow::array::Int64Array::from(vec![1, 2]));
        assert_eq!(kind(&stored(vec![numbers]), 0), "plain");
    }

    #[test]
    fn rows_of_several_batches_compact_or_not_come_back_in_the_order_asked() {
        let a: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..10).map(|i| format!("row_{i}")),
        ));
        let b: ArrayRef = Arc::new(StringArray::from(vec![Some("x"), None, Some("row_5")]));
        let (sa, sb) = (stored(vec![a.clone()]), stored(vec![b.clone()]));
        let rows = [(1, 2), (0, 9), (1, 1), (0, 0), (1, 0)];
        let back = gather_text(&[&sa, &sb], 0, &rows);
        let want = arrow::compute::interleave(&[a.as_ref(), b.as_ref()], &rows).unwrap();
        assert_eq!(&back, &want);
    }

    proptest! {
        #[test]
        fn any_text_comes_back_as_it_was(
            values in prop::collection::vec(
                prop_oneof![
                    (0u64..30).prop_map(|n| Some(format!("p{n}s"))),
                    (0u64..3).prop_map(|n| Some(format!("p0{n}s"))),
                    "[a-c0-9é]{0,4}".prop_map(Some),
                    Just(None),
                ],
                1..12,
            ),
            large in any::<bool>(),
        ) {
            let array: ArrayRef = if large {
                Arc::new(LargeStringArray::from(values))
            } else {
                Arc::new(StringArray::from(values))
            };
            let (back, _) = all_back(&array);
            prop_assert_eq!(&back, &array);
        }
    }
}
