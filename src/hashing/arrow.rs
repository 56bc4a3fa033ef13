//! The Arrow table hasher `arrow_v0.1`, delegated to the `starfix` crate.
//!
//! starfix is byte-compatible with the reference's Python package: the digest is
//! independent of column order and chunking and sensitive to nullability and integer
//! width. Digests are 35 bytes (`00 00 01` ‖ SHA-256), so their hex starts with `000001`.

use arrow::datatypes::Schema;
use arrow::record_batch::RecordBatch;
use starfix::{ArrowDigester, HasherConfig};

use super::ContentHash;

/// The method name of the Arrow hasher.
pub const ARROW_METHOD: &str = "arrow_v0.1";

/// Hashes one record batch as one table.
pub fn hash_batch(batch: &RecordBatch) -> ContentHash {
    ContentHash::new(
        ARROW_METHOD,
        ArrowDigester::hash_record_batch(batch, HasherConfig::default()),
    )
}

/// Hashes several batches sharing `schema` as one table.
pub fn hash_batches<'a>(
    schema: &Schema,
    batches: impl IntoIterator<Item = &'a RecordBatch>,
) -> ContentHash {
    let mut digester = ArrowDigester::new(schema, HasherConfig::default());
    for batch in batches {
        digester.update(batch);
    }
    ContentHash::new(ARROW_METHOD, digester.finalize())
}

/// The hash of each row of `batch` as a one-row table — what [`hash_batch`] gives for
/// `batch.slice(i, 1)` — computed with the schema's part of the digest done once.
pub fn hash_rows(batch: &RecordBatch) -> Vec<ContentHash> {
    RowHasher::new(&batch.schema()).hash_rows(batch)
}

/// Hashes rows of batches that share one schema, digesting the schema once.
#[derive(Clone)]
pub struct RowHasher {
    base: ArrowDigester,
}

impl RowHasher {
    /// A hasher for rows of `schema`.
    pub fn new(schema: &Schema) -> Self {
        RowHasher {
            base: ArrowDigester::new(schema, HasherConfig::default()),
        }
    }

    /// The hash of each row of `batch` (which must have the hasher's schema) as a
    /// one-row table.
    pub fn hash_rows(&self, batch: &RecordBatch) -> Vec<ContentHash> {
        (0..batch.num_rows())
            .map(|i| {
                let mut digester = self.base.clone();
                digester.update(&batch.slice(i, 1));
                ContentHash::new(ARROW_METHOD, digester.finalize())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, LargeStringArray};
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
}
