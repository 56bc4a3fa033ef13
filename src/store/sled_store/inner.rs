//! The sled database of one store directory ([`Inner`]): opening it (format check,
//! waiting for this process's own last handle to let go of sled's lock), the writer's
//! state, path entries, batch loading and the id indexes. Shared by every view of the
//! store ([`SledStore`](super::SledStore)); the store's protocol is in the parent
//! module's docs.
//!
//! It never sleeps: a lock still held by this process's last handle is waited for on the
//! lock itself, and a lock held by another process is an error at once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use super::super::batch_cache::BatchCache;
use super::super::codec;
use super::super::id_index::{IdChunk, IdIndex};
use super::super::{store_err, RecordPath};
use crate::error::{Error, Result};

/// One open sled database and what is known of it in memory.
pub(crate) struct Inner {
    pub(crate) db: sled::Db,
    pub(crate) dir: PathBuf,
    pub(crate) writer: Mutex<WriterState>,
    pub(crate) paths: RwLock<HashMap<String, Arc<PathMeta>>>,
    /// The id index of each path used so far, by path number.
    pub(crate) indexes: Mutex<HashMap<u64, Arc<RwLock<IdIndex>>>>,
    pub(crate) cache: Mutex<BatchCache>,
}

/// State only the (single) writer touches.
pub(crate) struct WriterState {
    pub(crate) next_path: u64,
    /// Next batch number per path number, filled lazily from the last batch key.
    pub(crate) next_batch: HashMap<u64, u64>,
}

/// A path's entry.
pub(crate) struct PathMeta {
    pub(crate) number: u64,
    pub(crate) schema: SchemaRef,
}

/// Checks sled's lock on `dir` before sled takes it (an exclusive `flock` of `dir/db`,
/// taken and released at once). A lock another process holds is an error at once,
/// naming that process, as the kernel's table of locks (`/proc/locks`) lists it. When
/// this process had the directory open (`was_open`), a lock held by no other process is
/// its own last handle letting go (its files close as its last references go, maybe on
/// another thread or a moment later): that is waited for, on the lock itself. It never
/// sleeps, reads no clock, and never waits on another process.
fn wait_for_release(dir: &Path, was_open: bool) -> Result<()> {
    use rustix::fs::{flock, FlockOperation};
    let lock_file = dir.join("db");
    let Ok(file) = std::fs::File::open(&lock_file) else {
        // No lock file: nothing holds the lock.
        return Ok(());
    };
    let cannot_wait = |e: rustix::io::Errno| {
        store_err(
            dir.display().to_string(),
            format!("cannot wait for the store's lock: {e}"),
        )
    };
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => return Ok(()),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => {}
        Err(e) => return Err(cannot_wait(e)),
    }
    if let Some(pid) = other_holder(&file) {
        return Err(store_err(
            dir.display().to_string(),
            format!(
                "the store directory is locked by another process \
                 (sled allows one process per directory): process {pid} holds the lock on \
                 {}",
                lock_file.display()
            ),
        ));
    }
    if !was_open {
        // No other process is named (no `/proc/locks` here, or it let go meanwhile):
        // sled's own attempt says what it finds.
        return Ok(());
    }
    // Held by this process's last handle, which is letting go.
    flock(&file, FlockOperation::LockExclusive).map_err(cannot_wait)
}

/// The id of a process other than this one that holds an `flock` on `file`, as the
/// kernel's table of locks (`/proc/locks`) lists it; `None` when the table names none
/// (or cannot be read).
fn other_holder(file: &std::fs::File) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let meta = file.metadata().ok()?;
    let dev = meta.dev();
    // The kernel's encoding of a device number (`MAJOR`/`MINOR` of a `dev_t`).
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    let file_id = format!("{major:02x}:{minor:02x}:{}", meta.ino());
    let table = std::fs::read_to_string("/proc/locks").ok()?;
    let me = std::process::id();
    table.lines().find_map(|line| {
        // `1: FLOCK  ADVISORY  WRITE 12345 fd:01:1234567 0 EOF`; waiters are `1: -> …`.
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            [_, "FLOCK", _, _, pid, id, ..] if *id == file_id => {
                pid.parse::<u32>().ok().filter(|&pid| pid != me)
            }
            _ => None,
        }
    })
}

impl Inner {
    /// Opens sled in `dir`. A lock another process holds is an error naming it;
    /// `was_open`: this process had the directory open a moment ago (its last handle may
    /// still be releasing sled's lock), so the lock is waited for ([`wait_for_release`])
    /// rather than its failure blamed on another process.
    pub(crate) fn open(dir: &Path, was_open: bool) -> Result<Inner> {
        let shown = dir.display().to_string();
        wait_for_release(dir, was_open)?;
        let db = match sled::Config::new().path(dir).open() {
            Ok(db) => db,
            Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => {
                return Err(store_err(
                    shown,
                    format!(
                        "the store directory is locked by another process \
                         (sled allows one process per directory): {e}"
                    ),
                ));
            }
            Err(e) => return Err(store_err(shown, format!("cannot open sled store: {e}"))),
        };
        let sled_err = |e: sled::Error| store_err(dir.display().to_string(), format!("sled: {e}"));
        match db.get(codec::format_key()).map_err(sled_err)? {
            Some(v) if v.as_ref() == codec::FORMAT_VALUE => {}
            Some(v) => {
                return Err(store_err(
                    shown,
                    format!(
                        "unsupported store layout {:?} (this build reads {:?})",
                        String::from_utf8_lossy(&v),
                        String::from_utf8_lossy(codec::FORMAT_VALUE)
                    ),
                ))
            }
            None => {
                if db.first().map_err(sled_err)?.is_some() {
                    return Err(store_err(
                        shown,
                        "the directory holds a sled database that is not an orcapod store",
                    ));
                }
                db.insert(codec::format_key(), codec::FORMAT_VALUE)
                    .map_err(sled_err)?;
                db.flush().map_err(sled_err)?;
            }
        }
        let next_path = match db.get(codec::next_path_key()).map_err(sled_err)? {
            Some(v) => u64::from_be_bytes(
                v.as_ref()
                    .try_into()
                    .map_err(|_| store_err(shown.clone(), "corrupt next_path counter"))?,
            ),
            None => 0,
        };
        Ok(Inner {
            db,
            dir: dir.to_path_buf(),
            writer: Mutex::new(WriterState {
                next_path,
                next_batch: HashMap::new(),
            }),
            paths: RwLock::new(HashMap::new()),
            indexes: Mutex::new(HashMap::new()),
            cache: Mutex::new(BatchCache::default()),
        })
    }

    pub(crate) fn sled_err(&self, e: sled::Error) -> Error {
        store_err(self.dir.display().to_string(), format!("sled: {e}"))
    }

    pub(crate) fn poisoned(&self) -> Error {
        store_err(self.dir.display().to_string(), "a store lock is poisoned")
    }

    pub(crate) fn writer(&self) -> Result<MutexGuard<'_, WriterState>> {
        self.writer.lock().map_err(|_| self.poisoned())
    }

    /// The entry of the path `key` (`a/b/c`), if it exists.
    pub(crate) fn path_meta(&self, key: &str) -> Result<Option<Arc<PathMeta>>> {
        if let Some(m) = self.paths.read().map_err(|_| self.poisoned())?.get(key) {
            return Ok(Some(m.clone()));
        }
        let Some(v) = self
            .db
            .get(codec::path_key(key))
            .map_err(|e| self.sled_err(e))?
        else {
            return Ok(None);
        };
        let (number, schema) = codec::decode_path_value(&v)?;
        let meta = Arc::new(PathMeta { number, schema });
        self.paths
            .write()
            .map_err(|_| self.poisoned())?
            .insert(key.to_string(), meta.clone());
        Ok(Some(meta))
    }

    /// The next batch number of a path (writer only).
    pub(crate) fn next_batch(&self, w: &mut WriterState, path_no: u64) -> Result<u64> {
        if let Some(n) = w.next_batch.get(&path_no) {
            return Ok(*n);
        }
        let next = match self
            .db
            .scan_prefix(codec::batch_key_prefix(path_no))
            .next_back()
        {
            Some(entry) => {
                let (k, _) = entry.map_err(|e| self.sled_err(e))?;
                codec::batch_no_of_key(&k)? + 1
            }
            None => 0,
        };
        w.next_batch.insert(path_no, next);
        Ok(next)
    }

    /// A stored batch, from the cache or decoded.
    pub(crate) fn load_batch(
        &self,
        path: &RecordPath,
        path_no: u64,
        batch_no: u64,
    ) -> Result<RecordBatch> {
        if let Some(b) = self
            .cache
            .lock()
            .map_err(|_| self.poisoned())?
            .get((path_no, batch_no))
        {
            return Ok(b);
        }
        let bytes = self
            .db
            .get(codec::batch_key(path_no, batch_no))
            .map_err(|e| self.sled_err(e))?
            .ok_or_else(|| {
                store_err(
                    path.to_string(),
                    format!(
                        "the index points to batch {batch_no}, which is missing (corrupt store)"
                    ),
                )
            })?;
        let batch = codec::decode_batch(&bytes)?;
        self.cache
            .lock()
            .map_err(|_| self.poisoned())?
            .insert((path_no, batch_no), batch.clone());
        Ok(batch)
    }

    /// The id index of path `path_no`, loading it if needed (takes the writer mutex to
    /// load, so call `index_locked` while holding it).
    pub(crate) fn index(&self, path_no: u64) -> Result<Arc<RwLock<IdIndex>>> {
        if let Some(index) = self.loaded_index(path_no)? {
            return Ok(index);
        }
        let w = self.writer()?;
        self.index_locked(&w, path_no)
    }

    /// The id index of path `path_no` if it is loaded.
    pub(crate) fn loaded_index(&self, path_no: u64) -> Result<Option<Arc<RwLock<IdIndex>>>> {
        let indexes = self.indexes.lock().map_err(|_| self.poisoned())?;
        Ok(indexes.get(&path_no).cloned())
    }

    /// `index` for a caller holding the writer mutex.
    pub(crate) fn index_locked(
        &self,
        _writer: &WriterState,
        path_no: u64,
    ) -> Result<Arc<RwLock<IdIndex>>> {
        if let Some(index) = self.loaded_index(path_no)? {
            return Ok(index);
        }
        let mut index = IdIndex::default();
        for entry in self.db.scan_prefix(codec::ids_key_prefix(path_no)) {
            let (k, v) = entry.map_err(|e| self.sled_err(e))?;
            index.add_batch(codec::batch_no_of_key(&k)?, IdChunk::decode(&v)?)?;
        }
        let index = Arc::new(RwLock::new(index));
        self.indexes
            .lock()
            .map_err(|_| self.poisoned())?
            .insert(path_no, index.clone());
        Ok(index)
    }
}
