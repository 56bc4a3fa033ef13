//! [`Chunks`]: sorted rows cut into canonical batches of [`CHUNK_ROWS`] rows, the record
//! batches of Arrow files and row groups of Parquet files.
//!
//! The cut depends only on the row count (every chunk has [`CHUNK_ROWS`] rows, the last
//! one fewer; an output without rows is one empty batch), and each chunk is rebuilt
//! canonically, so the bytes do not depend on how the rows arrived. This module never
//! reorders rows.

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use super::canonical::Canonical;
use crate::error::Result;

/// Rows per record batch of an Arrow file (and row group of a Parquet file).
pub const CHUNK_ROWS: usize = 65_536;

/// Cuts sorted rows into canonical batches of [`CHUNK_ROWS`] rows.
pub(super) struct Chunks {
    canonical: Canonical,
    pending: Vec<RecordBatch>,
    rows: usize,
    emitted: bool,
}

impl Chunks {
    /// Chunks with `schema` (that of the batches given back).
    pub(super) fn new(schema: SchemaRef) -> Chunks {
        Chunks {
            canonical: Canonical::new(&schema),
            pending: Vec::new(),
            rows: 0,
            emitted: false,
        }
    }

    /// Takes the next sorted rows; gives back the chunks they complete.
    pub(super) fn push(&mut self, batch: &RecordBatch) -> Result<Vec<RecordBatch>> {
        let mut full = Vec::new();
        if batch.num_rows() == 0 {
            return Ok(full);
        }
        self.pending.push(batch.clone());
        self.rows += batch.num_rows();
        while self.rows >= CHUNK_ROWS {
            let mut head = Vec::new();
            let mut needed = CHUNK_ROWS;
            let mut rest = Vec::new();
            for b in self.pending.drain(..) {
                if needed == 0 {
                    rest.push(b);
                } else if b.num_rows() <= needed {
                    needed -= b.num_rows();
                    head.push(b);
                } else {
                    head.push(b.slice(0, needed));
                    rest.push(b.slice(needed, b.num_rows() - needed));
                    needed = 0;
                }
            }
            self.pending = rest;
            self.rows -= CHUNK_ROWS;
            full.push(self.canonical.rebuild(&head)?);
            self.emitted = true;
        }
        Ok(full)
    }

    /// The last chunk: the rows left, or one empty batch if there were no rows at all.
    pub(super) fn finish(mut self) -> Result<Vec<RecordBatch>> {
        if self.rows > 0 || !self.emitted {
            let pending = std::mem::take(&mut self.pending);
            return Ok(vec![self.canonical.rebuild(&pending)?]);
        }
        Ok(Vec::new())
    }
}
