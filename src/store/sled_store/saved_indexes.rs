//! Where the sled store keeps its saved id indexes, `DIR/indexes/{path number}.idx`
//! (the format, and when one is read back: `id_index/saved.rs`): writing one and
//! reading one back.
//!
//! A saved index is a cache, so it is written without an fsync: a file a crash cut
//! short fails its checksum when read, and the index is built from the batches again.
//! It is written to a temporary name and renamed, so that a reader never takes a file
//! being written for a saved one. It never reads the catalog (the caller gives its
//! entries) and never touches a batch file.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::store::id_index::{CatalogBatch, IdIndex};

/// The directory of the saved indexes of the store in `dir`.
fn indexes_dir(dir: &Path) -> PathBuf {
    dir.join("indexes")
}

/// The saved index of path `path_no` of the store in `dir`.
pub(crate) fn file(dir: &Path, path_no: u64) -> PathBuf {
    indexes_dir(dir).join(format!("{path_no}.idx"))
}

/// The index of path `path_no` saved for exactly `catalog`, if one reads back whole.
pub(crate) fn read(dir: &Path, path_no: u64, catalog: &[CatalogBatch]) -> Option<IdIndex> {
    let input = File::open(file(dir, path_no)).ok()?;
    IdIndex::read_saved(BufReader::with_capacity(1 << 20, input), catalog)
}

/// Saves `index`, the index of path `path_no` whose catalog entries are `catalog`.
pub(crate) fn write(
    dir: &Path,
    path_no: u64,
    index: &IdIndex,
    catalog: &[CatalogBatch],
) -> Result<()> {
    let target = file(dir, path_no);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    let folder = indexes_dir(dir);
    std::fs::create_dir_all(&folder).map_err(io(&folder))?;
    let temp = folder.join(format!(".{path_no}.idx.tmp"));
    let out = File::create(&temp).map_err(io(&temp))?;
    let written = index
        .save(catalog, BufWriter::with_capacity(1 << 20, out))
        .map_err(io(&temp))
        .and_then(|()| std::fs::rename(&temp, &target).map_err(io(&target)));
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}
