//! The sled store: the embedded, on-disk default.
//!
//! # On-disk layout (layout version 2)
//!
//! Everything lives in sled's default tree of one directory. Every key starts with the
//! key-prefix byte `0x01`, then a tag byte; integers are big-endian (so byte order is
//! numeric order).
//!
//! | key | value |
//! |---|---|
//! | `01 00 "format"` | `"orcapod-store/2"` (written when the directory is created) |
//! | `01 00 "next_path"` | next free path number, u64 |
//! | `01 10 path:u64 batch:u64` | one added batch: an Arrow IPC stream (schema + one record batch) |
//! | `01 20 path:u64 batch:u64` | the record ids of that batch's rows, in row order: u32 count, u32 end offsets, UTF-8 bytes (little-endian) |
//! | `01 30 "a/b/c"` | the path's entry: path number u64, then its schema as an Arrow IPC stream |
//!
//! Batch numbers count up per path from 0, so a path's batches scan in write order. Arrow
//! IPC is the only data format on disk (never `arrow-row` bytes, whose format may change).
//! A row's id is live in the *latest* batch holding it: a replaced row stays in its
//! batch, superseded (space is not reclaimed: there is no compaction yet). A store of
//! layout 1 (one index key per id) is refused with a message naming both layouts.
//!
//! # The id index
//!
//! Ids are looked up in memory: the first use of a path reads its id keys (one per
//! batch) into an `IdIndex` (id → batch and row of its live row), which every write
//! then updates. So a lookup costs a hash probe, and a write one sled key per batch
//! rather than one per row. The index holds every id of the path in memory (its bytes
//! plus about 30 bytes).
//!
//! # Write protocol (one `add_records` call)
//!
//! Writes are serialised by an in-process mutex (sled allows a single process per
//! directory, so this serialises all writers).
//!
//! 1. Resolve duplicates in memory: keep the last occurrence of each id in the batch; with
//!    `skip_duplicates`, drop rows whose id is already in the index.
//! 2. Encode the remaining rows once as an Arrow IPC stream, and their ids.
//! 3. Build **one** sled `Batch` holding: the data key `01 10 p b` → IPC bytes; the id
//!    key `01 20 p b` → the ids; and, for a new path, its entry `01 30 path` and the
//!    bumped `next_path` counter.
//! 4. Apply it with `apply_batch`: sled recovers a batch atomically, so after a crash the
//!    call is either wholly present or wholly absent. An id key therefore never names
//!    rows of a missing batch, and a batch is never half-written. Because the index
//!    keeps one live row per id (the latest batch's), an id has exactly one live row
//!    however often it is written.
//! 5. Only after the batch is applied, update the in-memory state (next batch number, path
//!    cache, id index, decoded-batch cache).
//!
//! Readers of this process see a write wholly or not at all: the id index is updated
//! (under its lock) only after the sled batch is applied, and readers find rows only
//! through the index. The index of a path is loaded under the writer mutex, so no write
//! is half-seen by the load either.
//!
//! Durability: sled writes its log in the background (every 500 ms by default);
//! [`ArrowStore::flush`] forces it, and is the promise: after `flush` returns, every call
//! completed before it survives `SIGKILL`. A call not yet flushed may or may not survive,
//! but (step 4) never partly. So a rerun after a crash finds every flushed result exactly
//! once, and recomputes only what is missing (`contains_many` / `get_records`).
//!
//! # Reads
//!
//! Reads by id go through the index and decode only the batches they need; a small cache
//! keeps recently decoded (and just written) batches. `get_all` walks the path's batches
//! in order and keeps each row that is its id's live row.
//!
//! # Cost
//!
//! Writing a batch costs its IPC encoding and two sled values, whatever its number of
//! rows; a lookup is an in-memory probe once the path's index is loaded (reading the
//! index costs one sled read per stored batch). Measured in release on a busy 2-core
//! machine (`examples/store_throughput.rs`): adding 100k rows in one call about 0.13 s,
//! `contains_many` of 100k ids about 25 ms, `get_records` of 100k ids about 0.12 s,
//! `get_all` of 100k rows about 80 ms, a one-row add about 70 µs.
//!
//! # One process per directory
//!
//! sled takes an exclusive lock on its directory. [`SledStore::open`] on a directory this
//! process already has open **shares** the open store (a process-wide registry keyed by the
//! canonical directory); opening a directory held by another process fails with
//! [`Error::Store`] saying so.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock, Weak};
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use super::codec;
use super::id_index::{IdChunk, IdIndex, IdMap};
use super::{
    check_schema, extend_base, gather_all, pick_rows, plan_write, relative_paths, scoped,
    store_err, validate_components, ArrowStore, Lookup, RecordPath, Records,
};
use crate::error::{Error, Result};

/// Decoded batches kept in memory, at most this many…
const CACHE_MAX_BATCHES: usize = 256;
/// …and at most this many bytes of Arrow buffers.
const CACHE_MAX_BYTES: usize = 256 << 20;

/// An [`ArrowStore`] on disk, backed by sled (see the module docs for the layout and the
/// write protocol). Cloning, or [`ArrowStore::at`], gives another view of the same store.
#[derive(Clone)]
pub struct SledStore {
    inner: Arc<Inner>,
    base: Vec<String>,
}

struct Inner {
    db: sled::Db,
    dir: PathBuf,
    writer: Mutex<WriterState>,
    paths: RwLock<HashMap<String, Arc<PathMeta>>>,
    /// The id index of each path used so far, by path number.
    indexes: Mutex<HashMap<u64, Arc<RwLock<IdIndex>>>>,
    cache: Mutex<BatchCache>,
}

/// State only the (single) writer touches.
struct WriterState {
    next_path: u64,
    /// Next batch number per path number, filled lazily from the last batch key.
    next_batch: HashMap<u64, u64>,
}

/// A path's entry.
struct PathMeta {
    number: u64,
    schema: SchemaRef,
}

#[derive(Default)]
struct BatchCache {
    map: HashMap<(u64, u64), RecordBatch>,
    order: VecDeque<(u64, u64)>,
    bytes: usize,
}

impl BatchCache {
    fn get(&self, key: (u64, u64)) -> Option<RecordBatch> {
        self.map.get(&key).cloned()
    }

    fn insert(&mut self, key: (u64, u64), batch: RecordBatch) {
        let size = batch.get_array_memory_size();
        if size > CACHE_MAX_BYTES || self.map.contains_key(&key) {
            return;
        }
        while self.map.len() >= CACHE_MAX_BATCHES || self.bytes + size > CACHE_MAX_BYTES {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(b) = self.map.remove(&old) {
                self.bytes = self.bytes.saturating_sub(b.get_array_memory_size());
            }
        }
        self.bytes += size;
        self.order.push_back(key);
        self.map.insert(key, batch);
    }
}

/// Open stores of this process, by canonical directory.
fn registry() -> &'static Mutex<HashMap<PathBuf, Weak<Inner>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<PathBuf, Weak<Inner>>>> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(HashMap::new()))
}

impl SledStore {
    /// Opens (creating if needed) the store in directory `dir`.
    ///
    /// If this process already has the directory open, the open store is shared (same
    /// data, same caches). If another process holds it, this fails with [`Error::Store`]
    /// saying so (sled allows one process per directory).
    pub fn open(dir: impl AsRef<Path>) -> Result<SledStore> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let canonical = dir.canonicalize().map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let mut open = registry()
            .lock()
            .map_err(|_| store_err(canonical.display().to_string(), "store registry poisoned"))?;
        let was_open = match open.get(&canonical) {
            Some(weak) => match weak.upgrade() {
                Some(inner) => {
                    return Ok(SledStore {
                        inner,
                        base: Vec::new(),
                    })
                }
                None => true,
            },
            None => false,
        };
        let inner = Arc::new(Inner::open(&canonical, was_open)?);
        open.retain(|_, w| w.strong_count() > 0);
        open.insert(canonical, Arc::downgrade(&inner));
        Ok(SledStore {
            inner,
            base: Vec::new(),
        })
    }

    /// The store's directory (canonical).
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// How many batches are stored for `path` (one per `add_records` call that wrote
    /// rows): a measure of write batching, for tests and diagnostics.
    pub fn stored_batches(&self, path: &RecordPath) -> Result<usize> {
        let full = scoped(&self.base, path)?;
        let Some(meta) = self.inner.path_meta(&full.to_string())? else {
            return Ok(0);
        };
        let mut n = 0;
        for entry in self
            .inner
            .db
            .scan_prefix(codec::batch_key_prefix(meta.number))
        {
            entry.map_err(|e| self.inner.sled_err(e))?;
            n += 1;
        }
        Ok(n)
    }
}

impl fmt::Debug for SledStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SledStore")
            .field("dir", &self.inner.dir)
            .field("base", &self.base)
            .finish()
    }
}

impl Inner {
    /// Opens sled in `dir`. `was_open`: this process had the directory open a moment ago
    /// (its last handle may still be releasing sled's lock), so a lock failure is retried
    /// briefly rather than blamed on another process.
    fn open(dir: &Path, was_open: bool) -> Result<Inner> {
        let shown = dir.display().to_string();
        let mut attempts = if was_open { 50 } else { 1 };
        let db = loop {
            attempts -= 1;
            match sled::Config::new().path(dir).open() {
                Ok(db) => break db,
                Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => {
                    if attempts == 0 {
                        return Err(store_err(
                            shown,
                            format!(
                                "the store directory is locked by another process \
                                 (sled allows one process per directory): {e}"
                            ),
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(store_err(shown, format!("cannot open sled store: {e}"))),
            }
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

    fn sled_err(&self, e: sled::Error) -> Error {
        store_err(self.dir.display().to_string(), format!("sled: {e}"))
    }

    fn poisoned(&self) -> Error {
        store_err(self.dir.display().to_string(), "a store lock is poisoned")
    }

    fn writer(&self) -> Result<MutexGuard<'_, WriterState>> {
        self.writer.lock().map_err(|_| self.poisoned())
    }

    /// The entry of the path `key` (`a/b/c`), if it exists.
    fn path_meta(&self, key: &str) -> Result<Option<Arc<PathMeta>>> {
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
    fn next_batch(&self, w: &mut WriterState, path_no: u64) -> Result<u64> {
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
    fn load_batch(&self, path: &RecordPath, path_no: u64, batch_no: u64) -> Result<RecordBatch> {
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
    fn index(&self, path_no: u64) -> Result<Arc<RwLock<IdIndex>>> {
        if let Some(index) = self
            .indexes
            .lock()
            .map_err(|_| self.poisoned())?
            .get(&path_no)
        {
            return Ok(index.clone());
        }
        let w = self.writer()?;
        self.index_locked(&w, path_no)
    }

    /// `index` for a caller holding the writer mutex.
    fn index_locked(&self, _writer: &WriterState, path_no: u64) -> Result<Arc<RwLock<IdIndex>>> {
        if let Some(index) = self
            .indexes
            .lock()
            .map_err(|_| self.poisoned())?
            .get(&path_no)
        {
            return Ok(index.clone());
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

impl ArrowStore for SledStore {
    fn base_path(&self) -> &[String] {
        &self.base
    }

    fn add_records(
        &self,
        path: &RecordPath,
        ids: &[String],
        batch: &RecordBatch,
        skip_duplicates: bool,
    ) -> Result<usize> {
        let full = scoped(&self.base, path)?;
        if batch.num_rows() == 0 && ids.is_empty() {
            return Ok(0);
        }
        let key = full.to_string();
        let inner = &*self.inner;
        let mut w = inner.writer()?;
        let existing = inner.path_meta(&key)?;
        let (path_no, schema) = match &existing {
            Some(m) => {
                check_schema(&full, &m.schema, batch)?;
                (m.number, m.schema.clone())
            }
            None => (w.next_path, batch.schema()),
        };
        let is_new_path = existing.is_none();
        let index = if is_new_path {
            None
        } else {
            Some(inner.index_locked(&w, path_no)?)
        };
        // 1. Resolve duplicates.
        let planned = {
            let guard = match &index {
                Some(index) => Some(index.read().map_err(|_| inner.poisoned())?),
                None => None,
            };
            plan_write(&full, &schema, ids, batch, skip_duplicates, &mut |id| {
                Ok(guard
                    .as_ref()
                    .is_some_and(|index| index.get(id.as_bytes()).is_some()))
            })?
        };
        let Some(planned) = planned else {
            return Ok(0);
        };
        let batch_no = inner.next_batch(&mut w, path_no)?;
        // 2. One IPC encode and the ids, 3. one sled batch.
        let id_chunk = IdChunk::new(planned.ids.iter().map(String::as_str))?;
        let mut sb = sled::Batch::default();
        sb.insert(
            &codec::batch_key(path_no, batch_no)[..],
            codec::encode_batch(&planned.batch)?,
        );
        sb.insert(&codec::ids_key(path_no, batch_no)[..], id_chunk.encode());
        if is_new_path {
            sb.insert(codec::path_key(&key), codec::path_value(path_no, &schema)?);
            sb.insert(codec::next_path_key(), &(path_no + 1).to_be_bytes()[..]);
        }
        // 4. Apply atomically.
        inner.db.apply_batch(sb).map_err(|e| inner.sled_err(e))?;
        // 5. In-memory state.
        w.next_batch.insert(path_no, batch_no + 1);
        if is_new_path {
            w.next_path = path_no + 1;
            inner.paths.write().map_err(|_| inner.poisoned())?.insert(
                key,
                Arc::new(PathMeta {
                    number: path_no,
                    schema,
                }),
            );
        }
        let index = match index {
            Some(index) => index,
            None => inner.index_locked(&w, path_no)?,
        };
        index
            .write()
            .map_err(|_| inner.poisoned())?
            .add_batch(batch_no, id_chunk)?;
        inner
            .cache
            .lock()
            .map_err(|_| inner.poisoned())?
            .insert((path_no, batch_no), planned.batch);
        Ok(planned.new_ids)
    }

    fn get_records(&self, path: &RecordPath, ids: &[String]) -> Result<Lookup> {
        let full = scoped(&self.base, path)?;
        let inner = &*self.inner;
        let Some(meta) = inner.path_meta(&full.to_string())? else {
            let mut seen = std::collections::HashSet::with_capacity(ids.len());
            let missing = ids
                .iter()
                .filter(|id| seen.insert(id.as_str()))
                .cloned()
                .collect();
            return Ok(Lookup {
                found: None,
                missing,
            });
        };
        let index = inner.index(meta.number)?;
        let index = index.read().map_err(|_| inner.poisoned())?;
        let mut seen: IdMap<&str, ()> =
            IdMap::with_capacity_and_hasher(ids.len(), Default::default());
        let mut found_ids = Vec::new();
        let mut missing = Vec::new();
        let mut slots: HashMap<u64, usize> = HashMap::new();
        let mut batches: Vec<RecordBatch> = Vec::new();
        let mut picks = Vec::new();
        for id in ids {
            if seen.insert(id.as_str(), ()).is_some() {
                continue;
            }
            let Some((batch_no, row)) = index.get(id.as_bytes()) else {
                missing.push(id.clone());
                continue;
            };
            let slot = match slots.get(&batch_no) {
                Some(s) => *s,
                None => {
                    batches.push(inner.load_batch(&full, meta.number, batch_no)?);
                    slots.insert(batch_no, batches.len() - 1);
                    batches.len() - 1
                }
            };
            picks.push((slot, row as usize));
            found_ids.push(id.clone());
        }
        let found = if picks.is_empty() {
            None
        } else {
            let refs: Vec<&RecordBatch> = batches.iter().collect();
            Some(Records {
                ids: found_ids,
                batch: pick_rows(&refs, &picks)?,
            })
        };
        Ok(Lookup { found, missing })
    }

    fn get_all(&self, path: &RecordPath) -> Result<Option<Records>> {
        let full = scoped(&self.base, path)?;
        let inner = &*self.inner;
        let Some(meta) = inner.path_meta(&full.to_string())? else {
            return Ok(None);
        };
        let index = inner.index(meta.number)?;
        let index = index.read().map_err(|_| inner.poisoned())?;
        if index.len() == 0 {
            return Ok(None);
        }
        let mut ids = Vec::with_capacity(index.len());
        let mut loaded = Vec::new();
        for b in index.batch_numbers() {
            let Some(chunk) = index.batch_ids(b) else {
                continue;
            };
            let mut rows = Vec::new();
            for r in 0..chunk.len() {
                let id = chunk.id(r);
                let row = u32::try_from(r)
                    .map_err(|_| store_err(full.to_string(), "too many rows in a batch"))?;
                if index.get(id) == Some((b, row)) {
                    rows.push(row);
                    ids.push(id_string(id)?);
                }
            }
            if !rows.is_empty() {
                loaded.push((inner.load_batch(&full, meta.number, b)?, rows));
            }
        }
        Ok(Some(Records {
            ids,
            batch: gather_all(&meta.schema, loaded)?,
        }))
    }

    fn contains_many(&self, path: &RecordPath, ids: &[String]) -> Result<Vec<bool>> {
        let full = scoped(&self.base, path)?;
        let inner = &*self.inner;
        let Some(meta) = inner.path_meta(&full.to_string())? else {
            return Ok(vec![false; ids.len()]);
        };
        let index = inner.index(meta.number)?;
        let index = index.read().map_err(|_| inner.poisoned())?;
        Ok(ids
            .iter()
            .map(|id| index.get(id.as_bytes()).is_some())
            .collect())
    }

    fn ids(&self, path: &RecordPath) -> Result<Vec<String>> {
        let full = scoped(&self.base, path)?;
        let inner = &*self.inner;
        let Some(meta) = inner.path_meta(&full.to_string())? else {
            return Ok(Vec::new());
        };
        let index = inner.index(meta.number)?;
        let index = index.read().map_err(|_| inner.poisoned())?;
        let mut ids = index.live_ids();
        ids.sort_unstable();
        ids.into_iter().map(id_string).collect()
    }

    fn count(&self, path: &RecordPath) -> Result<usize> {
        let full = scoped(&self.base, path)?;
        let inner = &*self.inner;
        let Some(meta) = inner.path_meta(&full.to_string())? else {
            return Ok(0);
        };
        let index = inner.index(meta.number)?;
        let live = index.read().map_err(|_| inner.poisoned())?.len();
        Ok(live)
    }

    fn schema(&self, path: &RecordPath) -> Result<Option<SchemaRef>> {
        let full = scoped(&self.base, path)?;
        Ok(self
            .inner
            .path_meta(&full.to_string())?
            .map(|m| m.schema.clone()))
    }

    fn list_paths(&self, prefix: Option<&RecordPath>) -> Result<Vec<RecordPath>> {
        let mut under = self.base.clone();
        if let Some(p) = prefix {
            under.extend(p.components().iter().cloned());
            validate_components(&under, true)?;
        }
        let inner = &*self.inner;
        let scan = if under.is_empty() {
            codec::path_key_prefix().to_vec()
        } else {
            codec::path_key(&under.join("/"))
        };
        let mut full = Vec::new();
        for entry in inner.db.scan_prefix(scan) {
            let (k, _) = entry.map_err(|e| inner.sled_err(e))?;
            let text = std::str::from_utf8(&k[2..])
                .map_err(|_| store_err(inner.dir.display().to_string(), "corrupt path key"))?;
            let components: Vec<String> = text.split('/').map(str::to_string).collect();
            // `a/b` as a byte prefix also matches `a/bc`: keep component-wise matches.
            if components.starts_with(&under) {
                full.push(components);
            }
        }
        Ok(relative_paths(&self.base, full))
    }

    fn flush(&self) -> Result<()> {
        self.inner
            .db
            .flush()
            .map(|_| ())
            .map_err(|e| self.inner.sled_err(e))
    }

    fn at(&self, components: &[&str]) -> Result<Arc<dyn ArrowStore>> {
        Ok(Arc::new(SledStore {
            inner: self.inner.clone(),
            base: extend_base(&self.base, components)?,
        }))
    }
}

/// A stored id as a string (ids are checked to be UTF-8 when read).
fn id_string(id: &[u8]) -> Result<String> {
    String::from_utf8(id.to_vec()).map_err(|_| store_err("(store data)", "an id is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_sled_database_that_is_not_a_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let db = sled::open(dir.path()).expect("open sled");
            db.insert(b"someone else's key", b"value").expect("insert");
            db.flush().expect("flush");
        }
        let err = SledStore::open(dir.path()).expect_err("foreign database");
        assert!(err.to_string().contains("not an orcapod store"), "{err}");
    }

    #[test]
    fn refuses_an_unknown_layout_version() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let db = sled::open(dir.path()).expect("open sled");
            db.insert(codec::format_key(), b"orcapod-store/1")
                .expect("insert");
            db.flush().expect("flush");
        }
        let err = SledStore::open(dir.path()).expect_err("unknown layout");
        assert!(
            err.to_string().contains("unsupported store layout"),
            "{err}"
        );
    }

    #[test]
    fn batch_cache_is_bounded() {
        let mut cache = BatchCache::default();
        let batch = RecordBatch::new_empty(Arc::new(arrow::datatypes::Schema::empty()));
        for i in 0..(CACHE_MAX_BATCHES as u64 + 10) {
            cache.insert((0, i), batch.clone());
        }
        assert_eq!(cache.map.len(), CACHE_MAX_BATCHES);
        assert!(cache.get((0, 0)).is_none());
        assert!(cache.get((0, CACHE_MAX_BATCHES as u64 + 9)).is_some());
    }
}
