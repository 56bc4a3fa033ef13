//! Reading an Arrow IPC file (the random-access "file" format) into one record batch.

use std::path::Path;

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use arrow::ipc::reader::FileReader;

use crate::error::{Error, Result};

/// Reads every batch of the IPC file at `path` and concatenates them.
pub(super) fn read_ipc_file(path: &Path) -> Result<RecordBatch> {
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let bad_file = |e: arrow::error::ArrowError| {
        Error::invalid(
            path.display().to_string(),
            format!("not a readable Arrow IPC file: {e}"),
        )
    };
    let reader = FileReader::try_new(file, None).map_err(bad_file)?;
    let schema = reader.schema();
    let batches = reader.collect::<Result<Vec<_>, _>>().map_err(bad_file)?;
    Ok(concat_batches(&schema, &batches)?)
}
