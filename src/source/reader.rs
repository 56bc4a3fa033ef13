//! [`SourceReader`]: a source's enriched rows, one batch at a time, as a driver asks for
//! them — batches held in memory, or a file read batch by batch with provenance stamped
//! on each ([`Stamp::enrich`], record ids continuing from batch to batch). [`Batches`]
//! is the same as an iterator.
//!
//! Reading a file may block (a pipe waits for its writer): a driver that must not block
//! asks [`SourceReader::reads_file`] and reads such a source elsewhere. Never reads
//! ahead of what is asked, never yields an empty batch, and ends after its first error.

use std::collections::VecDeque;
use std::sync::Arc;

use arrow::array::RecordBatch;

use super::enrich::Stamp;
use super::file::SourceFile;
use super::raw::RawBatches;
use crate::error::{Error, Result};

/// A file source's rows: the file and how its rows are stamped.
#[derive(Debug)]
pub(super) struct FileRows {
    pub(super) stamp: Stamp,
    pub(super) file: SourceFile,
}

/// A source's enriched rows, read batch by batch ([`SourceReader::next_batch`]).
pub struct SourceReader {
    state: State,
}

enum State {
    Memory(VecDeque<RecordBatch>),
    File {
        rows: Arc<FileRows>,
        open: Option<Box<dyn RawBatches>>,
        /// The table row of the next batch's first row.
        offset: usize,
    },
    Ended,
}

impl std::fmt::Debug for SourceReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Memory(batches) => format!("{} batches in memory", batches.len()),
            State::File { rows, offset, .. } => {
                format!("{} from row {offset}", rows.file.path.display())
            }
            State::Ended => "ended".to_string(),
        };
        write!(f, "SourceReader({state})")
    }
}

impl SourceReader {
    /// A reader of batches already in memory (empty ones are skipped).
    pub fn from_batches(batches: impl IntoIterator<Item = RecordBatch>) -> SourceReader {
        SourceReader {
            state: State::Memory(batches.into_iter().collect()),
        }
    }

    pub(super) fn from_file(rows: Arc<FileRows>) -> SourceReader {
        SourceReader {
            state: State::File {
                rows,
                open: None,
                offset: 0,
            },
        }
    }

    /// True when the next batches are read from a file, which may block (a pipe waits
    /// for its writer); false when they are in memory.
    pub fn reads_file(&self) -> bool {
        matches!(self.state, State::File { .. })
    }

    /// The next batch of at most `max_rows` rows (never an empty one), or `None` once
    /// every row has been read. After an error the reader has ended.
    pub fn next_batch(&mut self, max_rows: usize) -> Result<Option<RecordBatch>> {
        let max_rows = max_rows.max(1);
        let next = self.next_inner(max_rows);
        if !matches!(next, Ok(Some(_))) {
            self.state = State::Ended;
        }
        next
    }

    fn next_inner(&mut self, max_rows: usize) -> Result<Option<RecordBatch>> {
        match &mut self.state {
            State::Ended => Ok(None),
            State::Memory(batches) => loop {
                let Some(batch) = batches.pop_front() else {
                    return Ok(None);
                };
                if batch.num_rows() > max_rows {
                    batches.push_front(batch.slice(max_rows, batch.num_rows() - max_rows));
                    return Ok(Some(batch.slice(0, max_rows)));
                }
                if batch.num_rows() > 0 {
                    return Ok(Some(batch));
                }
            },
            State::File { rows, open, offset } => {
                let raw = match open {
                    Some(raw) => raw,
                    None => open.insert(rows.file.open()?),
                };
                loop {
                    let Some(batch) = raw.next_raw(max_rows)? else {
                        return Ok(None);
                    };
                    if batch.num_rows() == 0 {
                        continue;
                    }
                    if batch.schema().fields() != rows.stamp.table.fields() {
                        return Err(Error::invalid(
                            rows.file.path.display().to_string(),
                            "the file's columns changed since the source was loaded; load \
                             the pipeline again",
                        ));
                    }
                    let enriched = rows.stamp.enrich(&batch, *offset)?;
                    *offset += batch.num_rows();
                    return Ok(Some(enriched));
                }
            }
        }
    }
}

/// A source's enriched rows as an iterator of batches of at most a given size
/// ([`Source::batches`](super::Source::batches)).
#[derive(Debug)]
pub struct Batches {
    reader: SourceReader,
    max_rows: usize,
}

impl Batches {
    pub(super) fn new(reader: SourceReader, max_rows: usize) -> Batches {
        Batches { reader, max_rows }
    }
}

impl Iterator for Batches {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        self.reader.next_batch(self.max_rows).transpose()
    }
}
