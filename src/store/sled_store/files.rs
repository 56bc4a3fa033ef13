//! The batch files of a store (layouts 3 and 4): `DIR/batches/{path number}/{file number}.arrow`
//! (a file's number is its batch's, unless compaction rewrote the batch).
//! Writing one (a temporary name, renamed: the name appears whole or not at all), making
//! written files durable (fsync of each, then of their directories), reading one,
//! listing them (to find files no catalog entry names) and deleting one.
//!
//! It knows file names only: never the catalog, never what a file holds.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Up to this many files written since the last flush are made durable one by one.
const SYNC_ONE_BY_ONE: usize = 8;

/// The batch files under one store directory.
#[derive(Debug, Clone)]
pub(crate) struct Files {
    root: PathBuf,
}

/// One file found by [`Files::list`].
pub(crate) enum Found {
    /// `{path}/{file}.arrow`.
    Batch(u64, u64, PathBuf),
    /// Anything else under the batches directory (temporary files of an interrupted
    /// write, strays).
    Other(PathBuf),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Makes a rename or a new entry of `dir` durable.
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

impl Files {
    /// The batch files of the store in `dir`.
    pub(crate) fn new(dir: &Path) -> Files {
        Files {
            root: dir.join("batches"),
        }
    }

    /// The batches directory.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    fn path_dir(&self, path_no: u64) -> PathBuf {
        self.root.join(path_no.to_string())
    }

    /// The file of a batch.
    pub(crate) fn file(&self, path_no: u64, batch_no: u64) -> PathBuf {
        self.path_dir(path_no).join(format!("{batch_no}.arrow"))
    }

    /// Writes a batch file: to a temporary name, renamed once whole. It is durable only
    /// after [`Files::sync`] (or at once when `durable`: fsync before the rename, and of
    /// its directory after). New directories are made durable at once.
    pub(crate) fn write(
        &self,
        path_no: u64,
        batch_no: u64,
        bytes: &[u8],
        durable: bool,
    ) -> Result<()> {
        let dir = self.path_dir(path_no);
        if !dir.is_dir() {
            for d in [&self.root, &dir] {
                match std::fs::create_dir(d) {
                    Ok(()) => {
                        if let Some(parent) = d.parent() {
                            sync_dir(parent)?;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(io(d)(e)),
                }
            }
        }
        let target = self.file(path_no, batch_no);
        let temporary = dir.join(format!("{batch_no}.arrow.tmp"));
        let mut file = File::create(&temporary).map_err(io(&temporary))?;
        file.write_all(bytes).map_err(io(&temporary))?;
        if durable {
            file.sync_all().map_err(io(&temporary))?;
        }
        drop(file);
        std::fs::rename(&temporary, &target).map_err(io(&target))?;
        if durable {
            sync_dir(&dir)?;
        }
        Ok(())
    }

    /// Makes written batch files durable: their contents, then their names. Many files
    /// are made durable at once by syncing their file system (`syncfs`: one call
    /// rather than one fsync per file and directory).
    pub(crate) fn sync(&self, batches: &[(u64, u64)]) -> Result<()> {
        if batches.len() > SYNC_ONE_BY_ONE {
            let root = File::open(&self.root).map_err(io(&self.root))?;
            return rustix::fs::syncfs(&root).map_err(|e| io(&self.root)(e.into()));
        }
        let mut dirs = std::collections::BTreeSet::new();
        for &(path_no, batch_no) in batches {
            let file = self.file(path_no, batch_no);
            File::open(&file)
                .and_then(|f| f.sync_all())
                .map_err(io(&file))?;
            dirs.insert(path_no);
        }
        for path_no in dirs {
            sync_dir(&self.path_dir(path_no))?;
        }
        Ok(())
    }

    /// The bytes of a batch file.
    pub(crate) fn read(&self, path_no: u64, batch_no: u64) -> Result<Vec<u8>> {
        let file = self.file(path_no, batch_no);
        std::fs::read(&file).map_err(io(&file))
    }

    /// Deletes a file; one already gone is not an error.
    pub(crate) fn remove(&self, file: &Path) -> Result<()> {
        match std::fs::remove_file(file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(file)(e)),
            _ => Ok(()),
        }
    }

    /// Every file under the batches directory.
    pub(crate) fn list(&self) -> Result<Vec<Found>> {
        let mut found = Vec::new();
        let Ok(dirs) = std::fs::read_dir(&self.root) else {
            return Ok(found);
        };
        for dir in dirs {
            let dir = dir.map_err(io(&self.root))?;
            let dir_path = dir.path();
            let path_no = dir.file_name().to_str().and_then(|n| n.parse::<u64>().ok());
            let (Some(path_no), true) = (path_no, dir_path.is_dir()) else {
                found.push(Found::Other(dir_path));
                continue;
            };
            for file in std::fs::read_dir(&dir_path).map_err(io(&dir_path))? {
                let file = file.map_err(io(&dir_path))?.path();
                let batch_no = file
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_suffix(".arrow"))
                    .and_then(|n| n.parse::<u64>().ok());
                found.push(match batch_no {
                    Some(batch_no) => Found::Batch(path_no, batch_no, file),
                    None => Found::Other(file),
                });
            }
        }
        Ok(found)
    }
}
