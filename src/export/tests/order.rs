//! The columnar sort against the old per-value sort.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use proptest::prelude::*;

use super::data::{batches, oracle_positions, stream};
use crate::export::order::RowOrder;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn the_row_format_sorts_as_datum_total_cmp((types, rows) in batches(5)) {
        let stream = stream(&types, &rows);
        let order = RowOrder::new(stream.schema().arrow()).unwrap();
        let got = order.sorted_positions(stream.batches()).unwrap();
        let want = oracle_positions(stream.batches()).unwrap();
        prop_assert_eq!(got, want);
    }
}

fn u64_batch(values: Vec<u64>) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::UInt64, true)]));
    let column: ArrayRef = Arc::new(UInt64Array::from(values));
    RecordBatch::try_new(schema, vec![column]).unwrap()
}

#[test]
fn integers_datum_cannot_read_fail_as_before() {
    let batch = u64_batch(vec![1, u64::MAX]);
    let order = RowOrder::new(&batch.schema()).unwrap();
    let got = order
        .sorted_positions(std::slice::from_ref(&batch))
        .unwrap_err();
    let want = oracle_positions(std::slice::from_ref(&batch)).unwrap_err();
    assert_eq!(got.to_string(), want.to_string());
    let fine = u64_batch(vec![i64::MAX as u64, 0, 7]);
    assert_eq!(
        order.sorted_positions(std::slice::from_ref(&fine)).unwrap(),
        [(0, 1), (0, 2), (0, 0)]
    );
}

#[test]
fn a_schema_without_columns_keeps_every_row() {
    let schema = Arc::new(Schema::empty());
    let batch = arrow::array::RecordBatch::try_new_with_options(
        schema.clone(),
        vec![],
        &arrow::array::RecordBatchOptions::new().with_row_count(Some(3)),
    )
    .unwrap();
    let order = RowOrder::new(&schema).unwrap();
    assert_eq!(
        order.sorted_positions(&[batch]).unwrap(),
        [(0, 0), (0, 1), (0, 2)]
    );
}

/// Rows that tie on the first column, in a few of many rows: only they get whole keys
/// (`RowOrder::sorted_positions`'s second step), and they must end up as the per-value
/// sort puts them, equal rows in arrival order.
#[test]
fn rows_tied_on_the_first_column_are_ordered_by_the_rest() {
    use arrow::array::{Float64Array, Int64Array, StringArray};
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, true),
        Field::new("x", DataType::Float64, true),
        Field::new("s", DataType::Utf8, true),
    ]));
    let batch = |from: i64| {
        let k: Vec<Option<i64>> = (from..from + 300)
            .map(|i| (i % 97 != 0).then_some(if i % 10 == 0 { i / 10 % 7 } else { -i }))
            .collect();
        let x: Vec<Option<f64>> = (from..from + 300)
            .map(|i| [Some(f64::NAN), None, Some(-0.0), Some(0.0), Some(1.5)][(i % 5) as usize])
            .collect();
        let s: Vec<Option<String>> = (from..from + 300)
            .map(|i| (i % 3 != 0).then(|| format!("v{}", (i * 7) % 4)))
            .collect();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(k)),
            Arc::new(Float64Array::from(x)),
            Arc::new(StringArray::from(s)),
        ];
        RecordBatch::try_new(schema.clone(), columns).unwrap()
    };
    let batches = [batch(0), batch(300), batch(600)];
    let order = RowOrder::new(&schema).unwrap();
    let got = order.sorted_positions(&batches).unwrap();
    assert_eq!(got, oracle_positions(&batches).unwrap());
}
