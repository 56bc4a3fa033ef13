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
