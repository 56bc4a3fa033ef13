//! The files of one output, written together in one pass over its sorted rows.
//!
//! Each file is written to a temporary file beside its final name (created new), then
//! synced and renamed over the final name only when every file is complete; a failure
//! removes the temporary files and leaves no final file. Arrow files are written in
//! canonical chunks ([`Chunks`]), so the bytes do not depend on how the sorted rows were
//! produced. This module never sorts.

use std::fs::{self, File, OpenOptions};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::RecordBatch;
use arrow::ipc::writer::FileWriter;
use parquet::arrow::ArrowWriter;

use super::arrow_ipc::arrow_file_schema;
use super::chunks::Chunks;
use super::csv::CsvRows;
use super::format::{Columns, Format};
use super::json::JsonRows;
use super::parquet::parquet_writer;
use super::spill::SpillDir;
use crate::error::{Error, Result};
use crate::model::StreamSchema;

/// Distinguishes the temporary files of concurrent writes in one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The files of an output being written.
pub(super) struct Sinks {
    files: Vec<Sink>,
}

impl std::fmt::Debug for Sinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sinks({} files)", self.files.len())
    }
}

impl Sinks {
    /// Creates the temporary files of output `name` in `format` in `dir`.
    pub(super) fn create(
        dir: &Path,
        name: &str,
        schema: &StreamSchema,
        format: Format,
    ) -> Result<Sinks> {
        let mut files = Vec::new();
        for (file_name, columns) in format.files(name) {
            files.push(Sink::create(dir.join(file_name), schema, format, columns)?);
        }
        Ok(Sinks { files })
    }

    /// Writes the next sorted rows to every file.
    pub(super) fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.files.iter_mut().try_for_each(|f| f.write(batch))
    }

    /// Ends the one Arrow file of an Arrow output begun in order, and moves it into
    /// `spill` as a run (an Arrow IPC file holding every column of the rows written, in
    /// order); returns the run's path. Not synced: a run is temporary.
    pub(super) fn into_run(self, spill: &mut SpillDir) -> Result<PathBuf> {
        let mut files = self.files.into_iter();
        let (Some(file), None) = (files.next(), files.next()) else {
            return Err(Error::internal("only a one-file output can become a run"));
        };
        if !matches!(file.body, Body::Arrow(..)) {
            return Err(Error::internal("only an Arrow file can become a run"));
        }
        let mut temp = file.end(false)?;
        let run = spill.next_run_path(true);
        fs::rename(&temp.path, &run).map_err(|source| io_error(&run, source))?;
        temp.renamed = true;
        Ok(run)
    }

    /// Completes every file, then renames each over its final name; returns the final
    /// paths.
    pub(super) fn finish(self) -> Result<Vec<PathBuf>> {
        let mut done = Vec::new();
        for file in self.files {
            done.push(file.end(true)?);
        }
        let mut paths = Vec::new();
        for mut temp in done {
            fs::rename(&temp.path, &temp.target)
                .map_err(|source| io_error(&temp.target, source))?;
            temp.renamed = true;
            paths.push(temp.target.clone());
        }
        if let Some(dir) = paths.first().and_then(|p| p.parent()) {
            sync_dir(dir).map_err(|source| io_error(dir, source))?;
        }
        Ok(paths)
    }
}

/// A temporary file, removed when dropped unless renamed.
struct TempFile {
    path: PathBuf,
    target: PathBuf,
    renamed: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.renamed {
            // The write already failed; a temporary file that cannot be removed
            // either changes nothing about what to report.
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// One file of an output.
struct Sink {
    temp: TempFile,
    body: Body,
}

enum Body {
    Csv(BufWriter<File>, CsvRows),
    Json(BufWriter<File>, JsonRows),
    Arrow(Box<FileWriter<BufWriter<File>>>, Chunks),
    Parquet(Box<ArrowWriter<BufWriter<File>>>, Chunks),
}

impl Sink {
    fn create(
        target: PathBuf,
        schema: &StreamSchema,
        format: Format,
        columns: Columns,
    ) -> Result<Sink> {
        let (Some(dir), Some(file_name)) = (target.parent(), target.file_name()) else {
            return Err(Error::internal(format!(
                "export path {} has no directory or file name",
                target.display()
            )));
        };
        let temp = TempFile {
            path: dir.join(format!(
                ".{}.{}-{}.tmp",
                file_name.to_string_lossy(),
                std::process::id(),
                TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
            )),
            target: target.clone(),
            renamed: false,
        };
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp.path)
            .map_err(|source| io_error(&target, source))?;
        let mut out = BufWriter::new(file);
        let io = |source| io_error(&target, source);
        let body = match format {
            Format::Csv => {
                let rows = CsvRows::new(&mut out, schema, columns).map_err(io)?;
                Body::Csv(out, rows)
            }
            Format::Json => {
                let rows = JsonRows::new(&mut out, schema, columns).map_err(io)?;
                Body::Json(out, rows)
            }
            Format::Arrow => {
                let file_schema = arrow_file_schema(schema);
                let writer = FileWriter::try_new(out, &file_schema)?;
                Body::Arrow(Box::new(writer), Chunks::new(file_schema))
            }
            Format::Parquet => {
                let file_schema = arrow_file_schema(schema);
                let writer =
                    parquet_writer(out, &file_schema).map_err(|e| parquet_error(&target, e))?;
                Body::Parquet(Box::new(writer), Chunks::new(file_schema))
            }
        };
        Ok(Sink { temp, body })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let target = &self.temp.target;
        match &mut self.body {
            Body::Csv(out, rows) => rows
                .write_batch(out, batch)
                .map_err(|s| io_error(target, s)),
            Body::Json(out, rows) => rows
                .write_batch(out, batch)
                .map_err(|s| io_error(target, s)),
            Body::Arrow(writer, chunks) => {
                for chunk in chunks.push(batch)? {
                    writer.write(&chunk)?;
                }
                Ok(())
            }
            Body::Parquet(writer, chunks) => {
                for chunk in chunks.push(batch)? {
                    write_row_group(writer, &chunk).map_err(|e| parquet_error(target, e))?;
                }
                Ok(())
            }
        }
    }

    /// Ends the file, syncing it if `sync`; the temporary file is then ready to be
    /// renamed.
    fn end(self, sync: bool) -> Result<TempFile> {
        let target = self.temp.target.clone();
        let io = |source| io_error(&target, source);
        let file = match self.body {
            Body::Csv(out, _) => out.into_inner().map_err(|e| io(e.into_error()))?,
            Body::Json(mut out, rows) => {
                rows.finish(&mut out).map_err(io)?;
                out.into_inner().map_err(|e| io(e.into_error()))?
            }
            Body::Arrow(mut writer, chunks) => {
                for chunk in chunks.finish()? {
                    writer.write(&chunk)?;
                }
                writer.finish()?;
                writer
                    .into_inner()?
                    .into_inner()
                    .map_err(|e| io(e.into_error()))?
            }
            Body::Parquet(mut writer, chunks) => {
                for chunk in chunks.finish()? {
                    write_row_group(&mut writer, &chunk).map_err(|e| parquet_error(&target, e))?;
                }
                let out = writer.into_inner().map_err(|e| parquet_error(&target, e))?;
                out.into_inner().map_err(|e| io(e.into_error()))?
            }
        };
        if sync {
            file.sync_all().map_err(io)?;
        }
        Ok(self.temp)
    }
}

/// Writes `chunk` as one row group.
fn write_row_group(
    writer: &mut ArrowWriter<BufWriter<File>>,
    chunk: &RecordBatch,
) -> parquet::errors::Result<()> {
    writer.write(chunk)?;
    writer.flush()
}

fn parquet_error(path: &Path, e: parquet::errors::ParquetError) -> Error {
    io_error(path, std::io::Error::other(e))
}

fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Makes a rename in `dir` durable (Unix; elsewhere renames are left to the OS).
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}
