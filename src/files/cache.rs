//! The cache of file hashes: each file is read at most once per process while it stays
//! unchanged, and, with a store, at most once across runs.
//!
//! A file's hash is cached under its key: its absolute path, size, modification time
//! (nanoseconds) and inode. Any change to the file that the file system records changes
//! the key, so a cached hash is never served for other content; a key not seen before
//! means the file is read again. (A file rewritten in place with the same size, keeping
//! its inode, within one tick of the file system's timestamps would not be noticed:
//! Linux stamps files with a coarse clock, a few milliseconds, even on file systems
//! that store nanoseconds. Programs that write a new file and rename it over the old
//! one, as most editors and tools do, change the inode and are always noticed.)
//!
//! In memory the cache lives as long as the process ([`file_hashes`]); in a store it
//! lives at [`file_hashes_path`] (inside the pipeline's scope), one row per key (column
//! `sha256`), the record id being the key written `{size}:{mtime ns}:{inode}:{path}`,
//! first write wins. It is read and written through the [`ArrowStore`] trait only. The
//! counters say how many files were read and how many hashes came from the cache, so a
//! caller can tell that a run read no file content.
//!
//! Never caches a directory's hash (a directory's entries are listed each time; its
//! files' hashes are cached), a failure, or the hash of a file whose key changed while
//! it was read (that hash serves the one call that read it).

use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use arrow::array::{Array, AsArray, LargeStringArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};

use super::digest::{sha256_file, DirTree};
use crate::error::{Error, Result};
use crate::store::layout::file_hashes_path;
use crate::store::ArrowStore;

/// The column of a stored file hash.
const HASH_COLUMN: &str = "sha256";

/// What identifies a file's content without reading it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct FileKey {
    path: PathBuf,
    size: u64,
    mtime_ns: i128,
    inode: u64,
}

impl FileKey {
    /// The key of the regular file at `path` (absolute), or why it has none.
    fn of(path: &Path) -> Result<FileKey> {
        let meta = fs::metadata(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                Error::invalid(
                    path.display().to_string(),
                    "this file is gone (deleted or moved since the value naming it was made; \
                     a stored result's file deleted by hand is computed again only once the \
                     result is removed from the database)",
                )
            } else {
                Error::Io {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
        if !meta.is_file() {
            return Err(Error::invalid(
                path.display().to_string(),
                "a `file` value must name a regular file, and this is not one (declare the \
                 column `dir` for a directory)",
            ));
        }
        Ok(FileKey {
            path: path.to_path_buf(),
            size: meta.size(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            inode: meta.ino(),
        })
    }

    /// The record id of the key in a store.
    fn record_id(&self) -> String {
        format!(
            "{}:{}:{}:{}",
            self.size,
            self.mtime_ns,
            self.inode,
            self.path.to_string_lossy()
        )
    }
}

/// How a hashing call may use a store: read the hashes it holds, and add new ones when
/// `write` (a lookup-only run writes nothing).
#[derive(Clone, Copy)]
pub struct StoreUse<'a> {
    /// The store (scoped to the pipeline).
    pub store: &'a dyn ArrowStore,
    /// Whether new hashes are added to it.
    pub write: bool,
}

impl<'a> StoreUse<'a> {
    /// `store`, written to when `write`.
    pub fn new(store: &'a dyn ArrowStore, write: bool) -> Self {
        StoreUse { store, write }
    }
}

/// Counts of the work of a [`FileHashes`]; subtract two to get a run's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HashCounts {
    /// Files whose content was read and hashed.
    pub files_hashed: u64,
    /// Bytes read to hash them.
    pub bytes_read: u64,
    /// File hashes served without reading the file (memory or store).
    pub cache_hits: u64,
}

impl HashCounts {
    /// The counts since `earlier`.
    pub fn since(self, earlier: HashCounts) -> HashCounts {
        HashCounts {
            files_hashed: self.files_hashed - earlier.files_hashed,
            bytes_read: self.bytes_read - earlier.bytes_read,
            cache_hits: self.cache_hits - earlier.cache_hits,
        }
    }
}

/// A cache of file hashes with its counters.
#[derive(Debug, Default)]
pub struct FileHashes {
    /// Held for the whole of a hashing call, so concurrent nodes never read one file
    /// twice.
    memory: Mutex<HashMap<FileKey, Arc<str>>>,
    files_hashed: AtomicU64,
    bytes_read: AtomicU64,
    cache_hits: AtomicU64,
}

/// The process's cache of file hashes, which function nodes use.
pub fn file_hashes() -> &'static FileHashes {
    static HASHES: OnceLock<FileHashes> = OnceLock::new();
    HASHES.get_or_init(FileHashes::default)
}

/// `path` made absolute (against the working directory), without resolving links.
pub fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

impl FileHashes {
    /// The counters so far.
    pub fn counts(&self) -> HashCounts {
        HashCounts {
            files_hashed: self.files_hashed.load(Ordering::Relaxed),
            bytes_read: self.bytes_read.load(Ordering::Relaxed),
            cache_hits: self.cache_hits.load(Ordering::Relaxed),
        }
    }

    /// The SHA-256 (hex) of each file of `paths`, each distinct file read at most once,
    /// and not at all when its hash is cached in memory or in `store`.
    pub fn hash_files(
        &self,
        paths: &[PathBuf],
        store: Option<StoreUse<'_>>,
    ) -> Result<Vec<String>> {
        let keys = paths
            .iter()
            .map(|p| FileKey::of(&absolute(p)?))
            .collect::<Result<Vec<_>>>()?;
        let mut memory = self.memory.lock().unwrap_or_else(|e| e.into_inner());
        let mut seen: HashSet<&FileKey> = HashSet::new();
        let mut unknown: Vec<&FileKey> = Vec::new();
        for key in &keys {
            if !memory.contains_key(key) && seen.insert(key) {
                unknown.push(key);
            }
        }
        let hits = (keys.len() - unknown.len()) as u64;
        self.cache_hits.fetch_add(hits, Ordering::Relaxed);
        if !unknown.is_empty() {
            if let Some(s) = store {
                let stored = read_stored(s.store, &unknown)?;
                self.cache_hits
                    .fetch_add(stored.len() as u64, Ordering::Relaxed);
                for (key, hash) in stored {
                    memory.insert(key, hash);
                }
                unknown.retain(|k| !memory.contains_key(*k));
            }
        }
        let mut new = Vec::with_capacity(unknown.len());
        // Hashes of files that changed while they were read: used for this call only.
        let mut uncached: HashMap<&FileKey, Arc<str>> = HashMap::new();
        for key in unknown {
            let (hash, read) = sha256_file(&key.path)?;
            self.files_hashed.fetch_add(1, Ordering::Relaxed);
            self.bytes_read.fetch_add(read, Ordering::Relaxed);
            let hash: Arc<str> = hash.into();
            if FileKey::of(&key.path)? == *key {
                memory.insert(key.clone(), hash.clone());
                new.push((key.record_id(), hash));
            } else {
                uncached.insert(key, hash);
            }
        }
        if let Some(StoreUse { store, write: true }) = store {
            write_new(store, &new)?;
        }
        Ok(keys
            .iter()
            .map(|k| uncached.get(k).unwrap_or_else(|| &memory[k]).to_string())
            .collect())
    }

    /// The Merkle digest (hex) of each directory of `dirs` (see `super::digest`), its
    /// files' hashes taken from the cache where it holds them.
    pub fn hash_dirs(&self, dirs: &[PathBuf], store: Option<StoreUse<'_>>) -> Result<Vec<String>> {
        let mut files = Vec::new();
        let trees = dirs
            .iter()
            .map(|d| DirTree::walk(&absolute(d)?, &mut files))
            .collect::<Result<Vec<_>>>()?;
        let hashes = self.hash_files(&files, store)?;
        trees.iter().map(|t| t.merkle(&hashes)).collect()
    }
}

/// The hashes `store` holds for `keys`.
fn read_stored(store: &dyn ArrowStore, keys: &[&FileKey]) -> Result<Vec<(FileKey, Arc<str>)>> {
    let path = file_hashes_path()?;
    let ids: Vec<String> = keys.iter().map(|k| k.record_id()).collect();
    let lookup = store.get_records(&path, &ids)?;
    let Some(found) = lookup.found else {
        return Ok(Vec::new());
    };
    let column = found
        .batch
        .column_by_name(HASH_COLUMN)
        .and_then(|c| c.as_string_opt::<i64>())
        .ok_or_else(|| {
            Error::internal(format!(
                "the stored file hashes at {path} have no `{HASH_COLUMN}`"
            ))
        })?;
    let by_id: HashMap<&str, &FileKey> = ids
        .iter()
        .map(String::as_str)
        .zip(keys.iter().copied())
        .collect();
    let mut out = Vec::with_capacity(found.ids.len());
    for (row, id) in found.ids.iter().enumerate() {
        if let (Some(key), true) = (by_id.get(id.as_str()), column.is_valid(row)) {
            out.push(((*key).clone(), Arc::from(column.value(row))));
        }
    }
    Ok(out)
}

/// Adds the new hashes (record id, hash) to `store`, first write winning.
fn write_new(store: &dyn ArrowStore, new: &[(String, Arc<str>)]) -> Result<()> {
    if new.is_empty() {
        return Ok(());
    }
    let schema = Arc::new(Schema::new(vec![Field::new(
        HASH_COLUMN,
        DataType::LargeUtf8,
        false,
    )]));
    let hashes: LargeStringArray = new.iter().map(|(_, h)| Some(h.as_ref())).collect();
    let batch = RecordBatch::try_new(schema, vec![Arc::new(hashes)])?;
    let ids: Vec<String> = new.iter().map(|(id, _)| id.clone()).collect();
    store.add_records(&file_hashes_path()?, &ids, &batch, true)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[test]
    fn each_file_is_read_once_then_served_from_memory_or_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        fs::write(&a, b"abc").unwrap();
        fs::write(&b, b"abc").unwrap();
        let store = MemoryStore::new();
        let use_store = Some(StoreUse {
            store: &store,
            write: true,
        });
        let first = FileHashes::default();
        let hashes = first
            .hash_files(&[a.clone(), b.clone(), a.clone()], use_store)
            .unwrap();
        assert_eq!(hashes[0], hashes[1]);
        assert_eq!(hashes[0], hashes[2]);
        assert_eq!(first.counts().files_hashed, 2);
        assert_eq!(first.counts().bytes_read, 6);
        assert_eq!(first.counts().cache_hits, 1);
        // A new process (a new cache) with the same store reads nothing.
        let second = FileHashes::default();
        assert_eq!(
            second
                .hash_files(&[a.clone(), b.clone()], use_store)
                .unwrap(),
            hashes[..2]
        );
        assert_eq!(second.counts().files_hashed, 0);
        assert_eq!(second.counts().cache_hits, 2);
        // An edited file is read again.
        fs::write(&a, b"abcd").unwrap();
        let edited = second
            .hash_files(std::slice::from_ref(&a), use_store)
            .unwrap();
        assert_ne!(edited[0], hashes[0]);
        assert_eq!(second.counts().files_hashed, 1);
        // A missing file or a directory is an error naming it.
        let err = second
            .hash_files(&[dir.path().join("nope")], None)
            .unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
        let err = second
            .hash_files(&[dir.path().to_path_buf()], None)
            .unwrap_err();
        assert!(err.to_string().contains("regular file"), "{err}");
    }
}
