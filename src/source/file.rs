//! What a file source keeps between loading and reading: the file ([`SourceFile`], a CSV,
//! Arrow IPC or Parquet file, checked when the source was loaded) and how its table's
//! rows are read, batch by batch ([`RawBatches`]: rows before provenance, types
//! normalised). A file is read only when a batch is asked for, never whole.
//!
//! A regular file's length and modification time are noted when the source is loaded
//! and compared before every read, so a file changed since it was checked (its inferred
//! types, its default source id) is an error naming it, never rows read with stale
//! types. Pipes and other special files are not compared: they can be read once only.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::csv::CsvFile;
use super::raw::RawBatches;
use crate::error::{Error, Result};

/// The kinds of file a source reads.
#[derive(Debug)]
pub(super) enum FileKind {
    Csv(Box<CsvFile>),
    Ipc,
    Parquet,
}

/// A source's file, as checked when the source was loaded.
#[derive(Debug)]
pub(super) struct SourceFile {
    pub(super) path: PathBuf,
    pub(super) kind: FileKind,
    /// A regular file's identity, length and modification time when it was checked.
    checked: Option<FileStamp>,
}

impl SourceFile {
    /// `path` of `kind`, as it is now.
    pub(super) fn new(path: &Path, kind: FileKind) -> Result<SourceFile> {
        Ok(SourceFile {
            path: path.to_path_buf(),
            kind,
            checked: stamp_of(path)?,
        })
    }

    /// Opens the file for reading its rows from the first: an error if it changed
    /// since it was checked.
    pub(super) fn open(&self) -> Result<Box<dyn RawBatches>> {
        let now = stamp_of(&self.path)?;
        if self.checked.is_some() && now != self.checked {
            return Err(Error::invalid(
                self.path.display().to_string(),
                "the file changed since the source was loaded (its types and identity were \
                 decided from what it held then); load the pipeline again",
            ));
        }
        match &self.kind {
            FileKind::Csv(csv) => Ok(Box::new(csv.batches(&self.path)?)),
            FileKind::Ipc => super::ipc::batches(&self.path),
            FileKind::Parquet => super::parquet::batches(&self.path),
        }
    }
}

/// What tells a regular file's contents changed: its device and inode (replaced), its
/// length and its modification time (seconds, nanoseconds).
type FileStamp = (u64, u64, u64, i64, i64);

/// A regular file's [`FileStamp`]; `None` for a pipe or another special file.
fn stamp_of(path: &Path) -> Result<Option<FileStamp>> {
    let m = std::fs::metadata(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(m.is_file()
        .then(|| (m.dev(), m.ino(), m.len(), m.mtime(), m.mtime_nsec())))
}
