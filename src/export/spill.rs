//! Sorted runs spilled to disk while an output is written: a hidden temporary
//! directory beside the output, one Arrow IPC stream file per run (or an Arrow IPC file,
//! an output's own file that became a run), read back batch by batch.
//!
//! The directory (`DIR/.NAME.sort-PID-N`) is made on the first spill and removed with
//! everything in it when the [`SpillDir`] is dropped, whether the output was written or
//! not. This module never sorts: a run holds rows in the order they were given.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::ipc::reader::{FileReader, StreamReader};
use arrow::ipc::writer::StreamWriter;

use crate::error::{Error, Result};

/// Distinguishes the spill directories of concurrent writers in one process.
static SPILL_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The temporary directory of an output's runs.
#[derive(Debug)]
pub(super) struct SpillDir {
    path: PathBuf,
    next: usize,
}

impl SpillDir {
    /// Makes the directory for output `name` in `dir`.
    pub(super) fn create(dir: &Path, name: &str) -> Result<SpillDir> {
        let path = dir.join(format!(
            ".{name}.sort-{}-{}",
            std::process::id(),
            SPILL_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir(&path).map_err(|source| io_error(&path, source))?;
        Ok(SpillDir { path, next: 0 })
    }

    /// Writes `batches` (in order) as a new run; returns its path.
    pub(super) fn write_run(
        &mut self,
        schema: &SchemaRef,
        batches: impl IntoIterator<Item = Result<RecordBatch>>,
    ) -> Result<PathBuf> {
        let mut run = self.start_run(schema)?;
        for batch in batches {
            run.write(&batch?)?;
        }
        run.finish()
    }

    /// The path of the next run: `run-N.arrows` for an Arrow IPC stream, `run-N.arrow`
    /// for an Arrow IPC file (see [`RunReader::open`]).
    pub(super) fn next_run_path(&mut self, ipc_file: bool) -> PathBuf {
        let extension = if ipc_file { RUN_FILE } else { "arrows" };
        let path = self.path.join(format!("run-{}.{extension}", self.next));
        self.next += 1;
        path
    }

    /// Starts a new run, to be written batch by batch.
    pub(super) fn start_run(&mut self, schema: &SchemaRef) -> Result<RunWriter> {
        let path = self.next_run_path(false);
        let file = File::create(&path).map_err(|source| io_error(&path, source))?;
        let writer = StreamWriter::try_new(BufWriter::new(file), schema)?;
        Ok(RunWriter { path, writer })
    }
}

impl Drop for SpillDir {
    fn drop(&mut self) {
        // Nothing to report to: the output already succeeded or failed.
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// A run being written.
pub(super) struct RunWriter {
    path: PathBuf,
    writer: StreamWriter<BufWriter<File>>,
}

impl std::fmt::Debug for RunWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunWriter")
            .field("path", &self.path)
            .finish()
    }
}

impl RunWriter {
    /// Appends `batch` to the run.
    pub(super) fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        Ok(self.writer.write(batch)?)
    }

    /// Ends the run; returns its path.
    pub(super) fn finish(mut self) -> Result<PathBuf> {
        self.writer.finish()?;
        Ok(self.path)
    }
}

/// The extension of a run that is an Arrow IPC file rather than a stream.
const RUN_FILE: &str = "arrow";

/// Reads a run back, batch by batch.
pub(super) enum RunReader {
    Stream(StreamReader<BufReader<File>>),
    File(FileReader<BufReader<File>>),
}

impl RunReader {
    /// Opens a run: an Arrow IPC file if its extension says so, else a stream.
    pub(super) fn open(path: &Path) -> Result<RunReader> {
        let file = BufReader::new(File::open(path).map_err(|source| io_error(path, source))?);
        Ok(if path.extension().is_some_and(|e| e == RUN_FILE) {
            RunReader::File(FileReader::try_new(file, None)?)
        } else {
            RunReader::Stream(StreamReader::try_new(file, None)?)
        })
    }

    /// The run's next batch with rows, if any.
    pub(super) fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        let batches: &mut dyn Iterator<Item = _> = match self {
            RunReader::Stream(reader) => reader,
            RunReader::File(reader) => reader,
        };
        for batch in batches {
            let batch = batch?;
            if batch.num_rows() > 0 {
                return Ok(Some(batch));
            }
        }
        Ok(None)
    }
}

fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}
