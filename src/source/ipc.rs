//! Reading an Arrow IPC file (the random-access "file" format) batch by batch: its
//! table's schema (types normalised) and its rows as [`RawBatches`]. Never holds more
//! than one of the file's batches.

use std::path::Path;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::Schema;
use arrow::ipc::reader::FileReader;

use super::raw::{open_file, ArrowBatches, RawBatches};
use super::types::normalize_types;
use crate::error::{Error, Result};

const WHAT: &str = "Arrow IPC";

fn reader(path: &Path) -> Result<FileReader<std::fs::File>> {
    FileReader::try_new(open_file(path)?, None).map_err(|e| {
        Error::invalid(
            path.display().to_string(),
            format!("not a readable {WHAT} file: {e}"),
        )
    })
}

/// The schema of the table in the IPC file at `path`, types normalised.
pub(super) fn schema(path: &Path) -> Result<Arc<Schema>> {
    let reader = reader(path)?;
    Ok(normalize_types(&RecordBatch::new_empty(reader.schema()))?.schema())
}

/// The rows of the IPC file at `path`.
pub(super) fn batches(path: &Path) -> Result<Box<dyn RawBatches>> {
    Ok(Box::new(ArrowBatches {
        path: path.to_path_buf(),
        what: WHAT,
        reader: reader(path)?,
        rest: None,
    }))
}
