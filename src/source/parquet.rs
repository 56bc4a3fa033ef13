//! Reading a Parquet file row group by row group: its table's schema (as the Arrow
//! reader gives it, types normalised) and its rows as [`RawBatches`]. Never holds more
//! than one decoded batch of the file.

use std::path::Path;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::Schema;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::raw::{open_file, ArrowBatches, RawBatches};
use super::types::normalize_types;
use crate::error::{Error, Result};

const WHAT: &str = "Parquet";

/// Rows decoded at a time (batches are then cut to what the reader asks for).
const DECODED_ROWS: usize = 8192;

fn builder(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<std::fs::File>> {
    ParquetRecordBatchReaderBuilder::try_new(open_file(path)?).map_err(|e| {
        Error::invalid(
            path.display().to_string(),
            format!("not a readable {WHAT} file: {e}"),
        )
    })
}

/// The schema of the table in the Parquet file at `path`, types normalised.
pub(super) fn schema(path: &Path) -> Result<Arc<Schema>> {
    let builder = builder(path)?;
    Ok(normalize_types(&RecordBatch::new_empty(builder.schema().clone()))?.schema())
}

/// The rows of the Parquet file at `path`.
pub(super) fn batches(path: &Path) -> Result<Box<dyn RawBatches>> {
    let reader = builder(path)?
        .with_batch_size(DECODED_ROWS)
        .build()
        .map_err(|e| {
            Error::invalid(
                path.display().to_string(),
                format!("not a readable {WHAT} file: {e}"),
            )
        })?;
    Ok(Box::new(ArrowBatches {
        path: path.to_path_buf(),
        what: WHAT,
        reader,
        rest: None,
    }))
}
