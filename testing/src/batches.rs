//! Record batches for exercising the stores.

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

/// The schema of [`batch`]: `x: int64`, `name: utf8`, both nullable.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("x", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
    ]))
}

/// A batch with `x = xs[i]`, `name = "n{xs[i]}"`.
pub fn batch(xs: &[i64]) -> RecordBatch {
    let names: Vec<String> = xs.iter().map(|x| format!("n{x}")).collect();
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from(xs.to_vec())),
            Arc::new(StringArray::from(names)),
        ],
    )
    .expect("valid batch")
}
