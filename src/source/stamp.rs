//! The text of a source's provenance columns, built column by column: record ids
//! (`row_{i}` or `{column}={value}`), the source-id system tag (one value repeated) and
//! each packet column's source info (`{source_id}::{record_id}::{column}`).
//!
//! Every value is written straight into one Arrow buffer per column, with no string
//! allocated per row: at millions of rows, per-row `format!` was most of the time a
//! source took to load. The text is exactly what the formatting rules of the
//! [enrichment](super) say; the tests hold it against those rules written per row.
//! This module decides no name, no id and no order; it only writes text.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, LargeStringArray};
use arrow::buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Int64Type};

use crate::error::Result;
use crate::model::columns::BLOCK_SEPARATOR;
use crate::model::Datum;

/// A string column being written: its bytes and the offset where each value ends.
struct Text {
    bytes: Vec<u8>,
    offsets: Vec<i64>,
}

impl Text {
    fn with_capacity(rows: usize, bytes: usize) -> Text {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        Text {
            bytes: Vec::with_capacity(bytes),
            offsets,
        }
    }

    /// Ends the current value.
    fn end_value(&mut self) {
        self.offsets.push(self.bytes.len() as i64);
    }

    fn finish(self) -> LargeStringArray {
        // Every value was written from `&str`s, so the bytes are UTF-8 and the offsets
        // ascend; `new` checks both again.
        LargeStringArray::new(
            OffsetBuffer::new(ScalarBuffer::from(self.offsets)),
            Buffer::from_vec(self.bytes),
            None,
        )
    }
}

/// Appends the decimal digits of `value`.
fn push_decimal(bytes: &mut Vec<u8>, value: i64) {
    if value < 0 {
        bytes.push(b'-');
    }
    let mut digits = [0u8; 20];
    let mut rest = value.unsigned_abs();
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    bytes.extend_from_slice(&digits[at..]);
}

/// `value` repeated `rows` times.
pub(super) fn repeated(value: &str, rows: usize) -> ArrayRef {
    let mut text = Text::with_capacity(rows, value.len() * rows);
    for _ in 0..rows {
        text.bytes.extend_from_slice(value.as_bytes());
        text.end_value();
    }
    Arc::new(text.finish())
}

/// The record ids `row_{first}`, `row_{first + 1}`, … of `rows` rows.
pub(super) fn row_numbers(first: usize, rows: usize) -> LargeStringArray {
    let mut text = Text::with_capacity(rows, rows * 12);
    for i in first..first + rows {
        text.bytes.extend_from_slice(b"row_");
        push_decimal(&mut text.bytes, i as i64);
        text.end_value();
    }
    text.finish()
}

/// The record ids `{name}={value}` of a record-id column, the value as Python's `str`
/// shows it.
pub(super) fn column_values(name: &str, column: &dyn Array) -> Result<LargeStringArray> {
    let rows = column.len();
    let mut text = Text::with_capacity(rows, rows * (name.len() + 12));
    let prefix = |text: &mut Text| {
        text.bytes.extend_from_slice(name.as_bytes());
        text.bytes.push(b'=');
    };
    match column.data_type() {
        DataType::Int64 if column.null_count() == 0 => {
            for value in column.as_primitive::<Int64Type>().values() {
                prefix(&mut text);
                push_decimal(&mut text.bytes, *value);
                text.end_value();
            }
        }
        DataType::LargeUtf8 if column.null_count() == 0 => {
            for value in column.as_string::<i64>().iter().flatten() {
                prefix(&mut text);
                text.bytes.extend_from_slice(value.as_bytes());
                text.end_value();
            }
        }
        _ => {
            for row in 0..rows {
                prefix(&mut text);
                let shown = Datum::from_array(column, row)?.python_str();
                text.bytes.extend_from_slice(shown.as_bytes());
                text.end_value();
            }
        }
    }
    Ok(text.finish())
}

/// The source info of packet column `column`: `{source_id}::{record_id}::{column}` for
/// each record id.
pub(super) fn source_info(
    source_id: &str,
    record_ids: &LargeStringArray,
    column: &str,
) -> ArrayRef {
    let rows = record_ids.len();
    let fixed = source_id.len() + column.len() + 2 * BLOCK_SEPARATOR.len();
    let mut text = Text::with_capacity(rows, rows * fixed + record_ids.values().len());
    for record_id in record_ids.iter().flatten() {
        text.bytes.extend_from_slice(source_id.as_bytes());
        text.bytes.extend_from_slice(BLOCK_SEPARATOR.as_bytes());
        text.bytes.extend_from_slice(record_id.as_bytes());
        text.bytes.extend_from_slice(BLOCK_SEPARATOR.as_bytes());
        text.bytes.extend_from_slice(column.as_bytes());
        text.end_value();
    }
    Arc::new(text.finish())
}

#[cfg(test)]
mod tests {
    use arrow::array::{Float64Array, Int64Array};

    use super::*;

    fn texts(array: &dyn Array) -> Vec<String> {
        array
            .as_string::<i64>()
            .iter()
            .map(|v| v.unwrap().to_string())
            .collect()
    }

    #[test]
    fn row_numbers_are_written_as_the_rules_say() {
        let expected: Vec<String> = (98..1003).map(|i| format!("row_{i}")).collect();
        assert_eq!(texts(&row_numbers(98, 905)), expected);
        assert_eq!(texts(&row_numbers(0, 1)), ["row_0"]);
        assert_eq!(row_numbers(5, 0).len(), 0);
    }

    #[test]
    fn column_values_show_each_value_as_python_does() {
        let ints = Int64Array::from(vec![0, -7, i64::MIN, i64::MAX, 42]);
        let expected: Vec<String> = ints.values().iter().map(|v| format!("id={v}")).collect();
        assert_eq!(texts(&column_values("id", &ints).unwrap()), expected);
        let strings = LargeStringArray::from(vec!["a", "", "x::y", "é"]);
        assert_eq!(
            texts(&column_values("k", &strings).unwrap()),
            ["k=a", "k=", "k=x::y", "k=é"]
        );
        let floats = Float64Array::from(vec![1.0, 0.1, 1e22]);
        assert_eq!(
            texts(&column_values("f", &floats).unwrap()),
            ["f=1.0", "f=0.1", "f=1e+22"]
        );
        let with_null = Int64Array::from(vec![Some(1), None]);
        assert_eq!(
            texts(&column_values("n", &with_null).unwrap()),
            ["n=1", "n=None"]
        );
    }

    #[test]
    fn source_info_joins_source_record_and_column() {
        let ids = row_numbers(9, 3);
        let info = source_info("data/a.csv", &ids, "score");
        let expected: Vec<String> = (9..12)
            .map(|i| format!("data/a.csv::row_{i}::score"))
            .collect();
        assert_eq!(texts(&info), expected);
        assert_eq!(texts(&repeated("src", 3)), ["src", "src", "src"]);
    }
}
