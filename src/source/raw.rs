//! A table's rows as a file reader gives them, before provenance ([`RawBatches`]): the
//! interface of the CSV, Arrow IPC and Parquet readers, and its one implementation over
//! an Arrow reader ([`ArrowBatches`]), which normalises types and cuts batches to size.
//! Knows no provenance and no particular file format.

use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::datatypes::Schema;

use super::types::normalize_types;
use crate::error::{Error, Result};
use crate::files::{content_schema, content_tokens, file_hashes};
use crate::hashing::arrow::hash_batches;
use crate::hashing::ContentHash;

/// A table's rows as read from a file, before provenance; types normalised.
pub(super) trait RawBatches: Send {
    /// The next rows (at most `max_rows`; possibly none), or `None` at the end.
    fn next_raw(&mut self, max_rows: usize) -> Result<Option<RecordBatch>>;
}

/// Rows read by an Arrow reader (IPC or Parquet), normalised and cut to size.
pub(super) struct ArrowBatches<I> {
    pub(super) path: PathBuf,
    pub(super) what: &'static str,
    pub(super) reader: I,
    /// What is left of the last batch read.
    pub(super) rest: Option<RecordBatch>,
}

impl<I> RawBatches for ArrowBatches<I>
where
    I: Iterator<Item = std::result::Result<RecordBatch, arrow::error::ArrowError>> + Send,
{
    fn next_raw(&mut self, max_rows: usize) -> Result<Option<RecordBatch>> {
        let batch = match self.rest.take() {
            Some(batch) => batch,
            None => match self.reader.next() {
                None => return Ok(None),
                Some(batch) => normalize_types(&batch.map_err(|e| {
                    Error::invalid(
                        self.path.display().to_string(),
                        format!("not a readable {} file: {e}", self.what),
                    )
                })?)?,
            },
        };
        let max_rows = max_rows.max(1);
        if batch.num_rows() > max_rows {
            self.rest = Some(batch.slice(max_rows, batch.num_rows() - max_rows));
            return Ok(Some(batch.slice(0, max_rows)));
        }
        Ok(Some(batch))
    }
}

/// Opens `path` for reading.
pub(super) fn open_file(path: &Path) -> Result<std::fs::File> {
    std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The Arrow hash of the whole table read by `batches` (of `schema`), in one pass, one
/// batch at a time: the hash does not depend on how the table is cut into batches.
pub(super) fn hash_table(schema: &Schema, mut batches: Box<dyn RawBatches>) -> Result<ContentHash> {
    let mut error = None;
    // Files and directories count by content (as tokens even in a column without any
    // value: see `content_tokens`).
    let image = content_schema(schema);
    let hash = hash_batches(
        &image,
        std::iter::from_fn(|| {
            match batches.next_raw(usize::MAX).and_then(|b| {
                b.map(|b| content_tokens(&b, file_hashes(), None))
                    .transpose()
            }) {
                Ok(batch) => batch,
                Err(e) => {
                    error = Some(e);
                    None
                }
            }
        }),
    );
    match error {
        Some(e) => Err(e),
        None => Ok(hash),
    }
}
