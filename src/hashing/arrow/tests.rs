//! Unit tests of the Arrow hasher: starfix's properties, and the fast row digests equal
//! to starfix's for every flat type.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, LargeStringArray};
use arrow::datatypes::{DataType, Field};

use super::*;

#[test]
fn chunking_and_column_order_do_not_matter_but_nullability_does() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::LargeUtf8, false),
        Field::new("x", DataType::Int64, false),
    ]));
    let whole = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(LargeStringArray::from(vec!["a", "b"])),
            Arc::new(Int64Array::from(vec![1, 2])),
        ],
    )
    .unwrap();
    let h = hash_batch(&whole);
    assert!(h.hex().starts_with("000001"));
    assert_eq!(
        hash_batches(&schema, [&whole.slice(0, 1), &whole.slice(1, 1)]),
        h
    );
    let reordered = whole.project(&[1, 0]).unwrap();
    assert_eq!(hash_batch(&reordered), h);
    let rows = hash_rows(&whole);
    assert_eq!(
        rows,
        vec![
            hash_batch(&whole.slice(0, 1)),
            hash_batch(&whole.slice(1, 1))
        ]
    );

    let nullable = Arc::new(Schema::new(vec![
        Field::new("id", DataType::LargeUtf8, false),
        Field::new("x", DataType::Int64, true),
    ]));
    let as_nullable = RecordBatch::try_new(nullable, whole.columns().to_vec()).unwrap();
    assert_ne!(hash_batch(&as_nullable), h);
}

/// starfix's own digest of each one-row slice (the definition of a row hash).
fn starfix_rows(batch: &RecordBatch) -> Vec<ContentHash> {
    (0..batch.num_rows())
        .map(|i| hash_batch(&batch.slice(i, 1)))
        .collect()
}

/// Whether row `i` of the columns of the flat-type test holds a value (else a null).
fn valid(i: usize) -> bool {
    i % 3 != 1
}

/// A column of `n` rows: `value(i)` where [`valid`], else null.
fn column<A, T>(n: usize, value: impl Fn(usize) -> T) -> ArrayRef
where
    A: FromIterator<Option<T>> + Array + 'static,
{
    Arc::new((0..n).map(|i| valid(i).then(|| value(i))).collect::<A>())
}

#[test]
fn flat_row_digests_equal_starfix_for_every_flat_type_with_nulls_and_slices() {
    use arrow::array::*;
    use arrow::datatypes::{i256, TimeUnit};
    let n = 37;
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("b", column::<BooleanArray, _>(n, |i| i % 2 == 0)),
        ("i8", column::<Int8Array, _>(n, |i| i as i8 - 5)),
        ("u8", column::<UInt8Array, _>(n, |i| i as u8)),
        ("i16", column::<Int16Array, _>(n, |i| i as i16 * 300)),
        ("u32", column::<UInt32Array, _>(n, |i| i as u32 * 7)),
        ("i32", column::<Int32Array, _>(n, |i| -(i as i32))),
        ("f32", column::<Float32Array, _>(n, |i| i as f32 / 3.0)),
        (
            "i64",
            column::<Int64Array, _>(n, |i| i as i64 * 1_000_000_007),
        ),
        ("f64", column::<Float64Array, _>(n, |i| i as f64 * 0.1)),
        ("d32", column::<Date32Array, _>(n, |i| i as i32)),
        (
            "ts",
            column::<TimestampMicrosecondArray, _>(n, |i| i as i64),
        ),
        ("t64", column::<Time64MicrosecondArray, _>(n, |i| i as i64)),
        ("dur", column::<DurationSecondArray, _>(n, |i| i as i64)),
        (
            "dec",
            Arc::new(
                Decimal128Array::from_iter((0..n).map(|i| valid(i).then_some(i as i128 * 99)))
                    .with_precision_and_scale(20, 2)
                    .unwrap(),
            ),
        ),
        (
            "d256",
            Arc::new(
                Decimal256Array::from_iter(
                    (0..n).map(|i| valid(i).then_some(i256::from_i128(i as i128))),
                )
                .with_precision_and_scale(40, 3)
                .unwrap(),
            ),
        ),
        ("s", column::<StringArray, _>(n, |i| "x".repeat(i))),
        ("ls", column::<LargeStringArray, _>(n, |i| format!("é{i}"))),
        ("bin", column::<BinaryArray, _>(n, |i| vec![i as u8; i % 5])),
        ("lbin", column::<LargeBinaryArray, _>(n, |i| vec![7u8; i])),
        (
            "fsb",
            Arc::new(
                FixedSizeBinaryArray::try_from_sparse_iter_with_size(
                    (0..n).map(|i| valid(i).then_some([i as u8; 3])),
                    3,
                )
                .unwrap(),
            ),
        ),
    ];
    let _ = TimeUnit::Second;
    // Every column nullable (with nulls) and, where there are no nulls, not nullable.
    for (name, array) in &columns {
        for nullable in [true, false] {
            let array = if nullable {
                array.clone()
            } else {
                // Rows without nulls only (a non-nullable field holds none).
                let keep: Vec<u32> = (0..n as u32).filter(|i| valid(*i as usize)).collect();
                arrow::compute::take(array.as_ref(), &UInt32Array::from(keep), None).unwrap()
            };
            let schema = Schema::new(vec![
                Field::new("k", DataType::LargeUtf8, false),
                Field::new(*name, array.data_type().clone(), nullable),
            ]);
            let keys =
                LargeStringArray::from_iter_values((0..array.len()).map(|i| format!("k{i}")));
            let batch =
                RecordBatch::try_new(Arc::new(schema), vec![Arc::new(keys), array]).unwrap();
            let hasher = RowHasher::new(&batch.schema());
            assert!(hasher.flat.is_some(), "{name} has a flat digest");
            assert_eq!(
                hasher.hash_rows(&batch),
                starfix_rows(&batch),
                "{name} nullable={nullable}"
            );
            // Sliced batches (offsets into the buffers and validity bitmaps).
            let sliced = batch.slice(2, batch.num_rows() - 5);
            assert_eq!(
                hasher.hash_rows(&sliced),
                starfix_rows(&sliced),
                "{name} sliced"
            );
        }
    }
    // All columns at once, in an order that differs from the name order.
    let fields: Vec<Field> = columns
        .iter()
        .rev()
        .map(|(name, a)| Field::new(*name, a.data_type().clone(), true))
        .collect();
    let arrays: Vec<ArrayRef> = columns.iter().rev().map(|(_, a)| a.clone()).collect();
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap();
    let hasher = RowHasher::new(&batch.schema());
    assert_eq!(hasher.hash_rows(&batch), starfix_rows(&batch));
    let strings: Vec<String> = starfix_rows(&batch).iter().map(|h| h.to_string()).collect();
    assert_eq!(hasher.hash_row_strings(&batch), strings);
    let digests = hasher.hash_row_digests(&batch);
    assert_eq!(parse_digest_string(&strings[3]), Some(digests[3]));
    assert_eq!(digest_string(&digests[3]), strings[3]);
    assert_eq!(parse_digest_string("semantic_v0.1:00"), None);
}

#[test]
fn nested_columns_fall_back_to_starfix() {
    use arrow::array::{ArrayRef, ListArray};
    use arrow::datatypes::Int32Type;
    let list = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
        Some(vec![Some(1), None]),
        None,
        Some(vec![]),
    ]);
    let schema = Schema::new(vec![Field::new("l", list.data_type().clone(), true)]);
    let batch = RecordBatch::try_new(Arc::new(schema), vec![Arc::new(list) as ArrayRef]).unwrap();
    let hasher = RowHasher::new(&batch.schema());
    assert!(hasher.flat.is_none());
    assert_eq!(hasher.hash_rows(&batch), starfix_rows(&batch));
}
