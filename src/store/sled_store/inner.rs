//! The open store of one directory ([`Inner`]): its catalog (sled), its batch files, the
//! writer's state, path entries, reading batches and id columns, the id indexes, and the
//! durability point. Shared by every view of the store ([`SledStore`](super::SledStore));
//! the store's protocol is in the parent module's docs.
//!
//! It never sleeps and never writes a batch: writes are the parent's `add_records`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use super::files::Files;
use super::lock::sled_err;
use super::open;
use super::saved_indexes;
use crate::error::{Error, Result};
use crate::store::batch_cache::{batch_cache, id_cache, Cache};
use crate::store::batch_file::{self, IdColumn};
use crate::store::codec;
use crate::store::id_index::{CatalogBatch, IdIndex, IdSource};
use crate::store::store_err;

/// How many stored ids loading an index adds at once: their ids are in memory together
/// (about 40 bytes each), and the more of them, the more local the walk of the table.
const LOAD_ROWS: usize = 1 << 19;

/// One open store and what is known of it in memory.
pub(crate) struct Inner {
    /// The catalog.
    pub(crate) db: sled::Db,
    pub(crate) dir: PathBuf,
    pub(crate) files: Files,
    pub(crate) writer: Mutex<WriterState>,
    pub(crate) paths: RwLock<HashMap<String, Arc<PathMeta>>>,
    /// The id index of each path used so far, by path number.
    pub(crate) indexes: Mutex<HashMap<u64, Arc<RwLock<IdIndex>>>>,
    pub(crate) cache: Mutex<Cache<RecordBatch>>,
    pub(crate) id_cache: Mutex<Cache<Arc<IdColumn>>>,
    /// How many id indexes were read back from their saved files (not from batches).
    pub(crate) saved_indexes_read: AtomicUsize,
    /// How many ids reads by id asked for, by path number: what makes an index worth
    /// saving.
    pub(crate) asked_by_id: Mutex<HashMap<u64, usize>>,
}

/// State only the (single) writer touches.
pub(crate) struct WriterState {
    pub(crate) next_path: u64,
    /// Next batch number per path number, filled lazily from the last batch entry.
    pub(crate) next_batch: HashMap<u64, u64>,
    /// The generation batches are written in now: one more than the last synced.
    pub(crate) generation: u64,
    /// Files (path and file numbers) written, or found after a crash, not yet durable.
    pub(crate) unsynced: Vec<(u64, u64)>,
    /// Batches none of whose rows is live: at the next flush their entries leave the
    /// catalog, and once that is durable their files are deleted.
    pub(crate) doomed: Vec<(u64, u64)>,
    /// Files (path and file numbers) no entry names any more (replaced by compaction),
    /// deleted once that is durable, at the next flush.
    pub(crate) doomed_files: Vec<(u64, u64)>,
}

/// A path's entry.
pub(crate) struct PathMeta {
    pub(crate) number: u64,
    pub(crate) schema: SchemaRef,
}

impl Inner {
    /// Opens the store in `dir` (see [`open::open_catalog`]; `was_open`: this process had
    /// the directory open a moment ago) and recovers its batch files.
    pub(crate) fn open(dir: &Path, was_open: bool) -> Result<Inner> {
        let db = open::open_catalog(dir, was_open)?;
        let files = Files::new(dir);
        let recovered = open::recover(&db, &files)?;
        let next_path = match db.get(codec::next_path_key()).map_err(sled_err(dir))? {
            Some(v) => codec::decode_counter(&v)?,
            None => 0,
        };
        Ok(Inner {
            db,
            dir: dir.to_path_buf(),
            files,
            writer: Mutex::new(WriterState {
                next_path,
                next_batch: HashMap::new(),
                generation: recovered.synced + 1,
                unsynced: recovered.unsynced,
                doomed: Vec::new(),
                doomed_files: Vec::new(),
            }),
            paths: RwLock::new(HashMap::new()),
            indexes: Mutex::new(HashMap::new()),
            cache: Mutex::new(batch_cache()),
            id_cache: Mutex::new(id_cache()),
            saved_indexes_read: AtomicUsize::new(0),
            asked_by_id: Mutex::new(HashMap::new()),
        })
    }

    /// The error of an id index pointing past the end of batch `batch`.
    pub(crate) fn past_the_end(&self, batch: u64) -> Error {
        store_err(
            self.dir.display().to_string(),
            format!("the id index points past the end of batch {batch} (corrupt store)"),
        )
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

    /// The next batch number of a path (writer only): above every batch number and
    /// every file number (compaction names files with fresh numbers) its entries hold.
    pub(crate) fn next_batch(&self, w: &mut WriterState, path_no: u64) -> Result<u64> {
        if let Some(n) = w.next_batch.get(&path_no) {
            return Ok(*n);
        }
        let mut next = 0;
        for entry in self.db.scan_prefix(codec::entry_key_prefix(path_no)) {
            let (k, v) = entry.map_err(|e| self.sled_err(e))?;
            let file = codec::Entry::decode(&v)?.file;
            next = next.max(codec::batch_no_of_key(&k)?.max(file) + 1);
        }
        w.next_batch.insert(path_no, next);
        Ok(next)
    }

    /// The catalog entry of a batch.
    pub(crate) fn entry(&self, path_no: u64, batch_no: u64) -> Result<codec::Entry> {
        let v = self
            .db
            .get(codec::entry_key(path_no, batch_no))
            .map_err(|e| self.sled_err(e))?
            .ok_or_else(|| {
                store_err(
                    self.dir.display().to_string(),
                    format!(
                        "batch {batch_no} of path number {path_no} has no catalog entry \
                         (corrupt store)"
                    ),
                )
            })?;
        codec::Entry::decode(&v)
    }

    /// The bytes of a batch's file.
    fn read(&self, path_no: u64, batch_no: u64) -> Result<Vec<u8>> {
        let file = self.entry(path_no, batch_no)?.file;
        self.files.read(path_no, file)
    }

    /// Forgets a batch's cached contents.
    pub(crate) fn forget(&self, key: (u64, u64)) -> Result<()> {
        self.cache.lock().map_err(|_| self.poisoned())?.remove(key);
        self.id_cache
            .lock()
            .map_err(|_| self.poisoned())?
            .remove(key);
        Ok(())
    }

    /// Keeps a batch and its ids in the caches.
    pub(crate) fn remember(
        &self,
        key: (u64, u64),
        batch: Option<RecordBatch>,
        ids: &Arc<IdColumn>,
    ) -> Result<()> {
        if let Some(batch) = batch {
            self.cache
                .lock()
                .map_err(|_| self.poisoned())?
                .insert(key, batch);
        }
        self.id_cache
            .lock()
            .map_err(|_| self.poisoned())?
            .insert(key, ids.clone());
        Ok(())
    }

    /// A stored batch and its ids, from the caches or its file.
    pub(crate) fn load(
        &self,
        meta: &PathMeta,
        batch_no: u64,
    ) -> Result<(RecordBatch, Arc<IdColumn>)> {
        let key = (meta.number, batch_no);
        let cached = self.cache.lock().map_err(|_| self.poisoned())?.get(key);
        let cached_ids = self.id_cache.lock().map_err(|_| self.poisoned())?.get(key);
        if let (Some(batch), Some(ids)) = (&cached, &cached_ids) {
            return Ok((batch.clone(), ids.clone()));
        }
        let bytes = self.read(meta.number, batch_no)?;
        // Ids already in the cache are not decoded (or derived) again.
        let (batch, ids) = batch_file::decode(&bytes, &meta.schema, cached_ids)?;
        self.remember(key, Some(batch.clone()), &ids)?;
        Ok((batch, ids))
    }

    /// The ids of a stored batch, from the cache or its file.
    pub(crate) fn id_column(&self, path_no: u64, batch_no: u64) -> Result<Arc<IdColumn>> {
        let key = (path_no, batch_no);
        if let Some(ids) = self.id_cache.lock().map_err(|_| self.poisoned())?.get(key) {
            return Ok(ids);
        }
        let ids = Arc::new(batch_file::decode_ids(&self.read(path_no, batch_no)?)?);
        self.remember(key, None, &ids)?;
        Ok(ids)
    }

    /// Reads ids of path `path_no` to verify index lookups.
    pub(crate) fn id_source(&self, path_no: u64) -> StoredIds<'_> {
        StoredIds {
            inner: self,
            path_no,
            whole: None,
            last: None,
        }
    }

    /// Reads ids of path `meta` to verify index lookups by reading whole batches (and
    /// keeping them in the cache): for reads of rows by id, which read the batch of
    /// every id verified found, so that its file is read and decoded once.
    pub(crate) fn rows_source<'a>(&'a self, meta: &'a PathMeta) -> StoredIds<'a> {
        StoredIds {
            inner: self,
            path_no: meta.number,
            whole: Some(meta),
            last: None,
        }
    }

    /// The id index of path `path_no`, loading it if needed (takes the writer mutex to
    /// load, so call `index_locked` while holding it).
    pub(crate) fn index(&self, path_no: u64) -> Result<Arc<RwLock<IdIndex>>> {
        if let Some(index) = self.loaded_index(path_no)? {
            return Ok(index);
        }
        let mut w = self.writer()?;
        self.index_locked(&mut w, path_no)
    }

    /// [`index`](Self::index), for a read asking for `asked` ids: an index asked for
    /// a good share of its ids is saved when a run ends (`save_indexes`).
    pub(crate) fn index_to_read(&self, path_no: u64, asked: usize) -> Result<Arc<RwLock<IdIndex>>> {
        if asked > 0 {
            let mut counts = self.asked_by_id.lock().map_err(|_| self.poisoned())?;
            let count = counts.entry(path_no).or_default();
            *count = count.saturating_add(asked);
        }
        self.index(path_no)
    }

    /// Forgets the loaded index of path `path_no` (one an update failed half-way
    /// through): the next use builds it from the catalog, and it is never saved.
    pub(crate) fn forget_index(&self, path_no: u64) -> Result<()> {
        let mut indexes = self.indexes.lock().map_err(|_| self.poisoned())?;
        indexes.remove(&path_no);
        Ok(())
    }

    /// The id index of path `path_no` if it is loaded.
    pub(crate) fn loaded_index(&self, path_no: u64) -> Result<Option<Arc<RwLock<IdIndex>>>> {
        let indexes = self.indexes.lock().map_err(|_| self.poisoned())?;
        Ok(indexes.get(&path_no).cloned())
    }

    /// `index` for a caller holding the writer mutex. Loading reads the ids of every
    /// batch of the path; a batch found to hold no live row (its removal, due at a flush,
    /// was cut short by a crash) is removed at the next flush.
    pub(crate) fn index_locked(
        &self,
        w: &mut WriterState,
        path_no: u64,
    ) -> Result<Arc<RwLock<IdIndex>>> {
        if let Some(index) = self.loaded_index(path_no)? {
            return Ok(index);
        }
        let index = Arc::new(RwLock::new(self.build_index(w, path_no)?));
        self.indexes
            .lock()
            .map_err(|_| self.poisoned())?
            .insert(path_no, index.clone());
        Ok(index)
    }

    /// The batch entries of path `path_no` in the catalog, in batch order.
    pub(crate) fn catalog_batches(&self, path_no: u64) -> Result<Vec<CatalogBatch>> {
        let mut batches = Vec::new();
        for entry in self.db.scan_prefix(codec::entry_key_prefix(path_no)) {
            let (k, v) = entry.map_err(|e| self.sled_err(e))?;
            let e = codec::Entry::decode(&v)?;
            batches.push(CatalogBatch {
                batch: codec::batch_no_of_key(&k)?,
                file: e.file,
                rows: e.rows,
                checksum: e.checksum,
            });
        }
        Ok(batches)
    }

    /// The id index of path `path_no`: the one saved for its catalog as it is now, else
    /// read from its batches (see `index_locked`).
    pub(crate) fn build_index(&self, w: &mut WriterState, path_no: u64) -> Result<IdIndex> {
        // The catalog is read once: each batch's number, and how many rows they hold.
        let catalog = self.catalog_batches(path_no)?;
        if let Some(index) = saved_indexes::read(&self.dir, path_no, &catalog) {
            self.saved_indexes_read.fetch_add(1, Ordering::Relaxed);
            return Ok(index);
        }
        let mut index = IdIndex::default();
        // Room for every stored row at once: growing the table step by step would place
        // every id again at each step.
        let stored = catalog
            .iter()
            .fold(0usize, |n, c| n.saturating_add(c.rows as usize));
        // (A path can hold fewer than 2^32 rows: more is a corrupt catalog, which adding
        // the batches reports.)
        if stored < u32::MAX as usize {
            index.reserve(stored);
        }
        let mut src = self.id_source(path_no);
        let mut dead = Vec::new();
        // The ids of some batches at a time (bounded memory), added at once.
        let mut loading = Vec::new();
        let mut rows = 0;
        for CatalogBatch {
            batch: batch_no, ..
        } in catalog
        {
            let ids = self.id_column(path_no, batch_no)?;
            rows += ids.len();
            loading.push((batch_no, ids));
            if rows >= LOAD_ROWS {
                dead.extend(index.add_batches(&loading, &mut src)?.dead);
                loading.clear();
                rows = 0;
            }
        }
        dead.extend(index.add_batches(&loading, &mut src)?.dead);
        w.doomed.extend(dead.iter().map(|b| (path_no, *b)));
        Ok(index)
    }

    /// Flushes, then saves the id index of each path holding at least `min_ids` ids
    /// that changed since it was loaded or saved and that reads by id asked for at
    /// least a quarter of (`index_to_read`), so that the next open reads it back
    /// instead of reading every id (`saved_indexes.rs`); returns how many were saved.
    /// An index is saved only as the index of the catalog it mirrors. (A path mostly
    /// written to, as pipeline records are, has its index built when it is next
    /// needed: saving it would cost as much disk as it spares most runs time.)
    pub(crate) fn save_indexes(&self, min_ids: usize) -> Result<usize> {
        let mut w = self.writer()?;
        // Batches left without a live row leave the catalog, as they left the index.
        self.flush_locked(&mut w)?;
        let loaded: Vec<(u64, usize, Arc<RwLock<IdIndex>>)> = {
            let asked = self.asked_by_id.lock().map_err(|_| self.poisoned())?;
            let indexes = self.indexes.lock().map_err(|_| self.poisoned())?;
            indexes
                .iter()
                .map(|(p, i)| (*p, asked.get(p).copied().unwrap_or(0), i.clone()))
                .collect()
        };
        let mut saved = 0;
        for (path_no, asked, index) in loaded {
            let mut index = index.write().map_err(|_| self.poisoned())?;
            if !index.is_unsaved() || index.len() < min_ids || asked < index.len() / 4 {
                continue;
            }
            let catalog = self.catalog_batches(path_no)?;
            if index.mirrors(&catalog) {
                saved_indexes::write(&self.dir, path_no, &index, &catalog)?;
                index.mark_saved();
                saved += 1;
            }
        }
        Ok(saved)
    }

    /// The durability point: makes the batch files written since the last flush durable
    /// (contents, then names); then, in one sled batch, records their generation as
    /// synced and removes the entries of batches none of whose rows is live; makes the
    /// catalog durable; and only then deletes those batches' files.
    pub(crate) fn flush(&self) -> Result<()> {
        let mut w = self.writer()?;
        self.flush_locked(&mut w)
    }

    /// `flush` for a caller holding the writer mutex.
    pub(crate) fn flush_locked(&self, w: &mut WriterState) -> Result<()> {
        self.files.sync(&w.unsynced)?;
        let mut sb = sled::Batch::default();
        let synced = !w.unsynced.is_empty();
        if synced {
            sb.insert(codec::synced_key(), &w.generation.to_be_bytes()[..]);
        }
        w.doomed.sort_unstable();
        w.doomed.dedup();
        let mut doomed_files = Vec::with_capacity(w.doomed.len() + w.doomed_files.len());
        for &(p, b) in &w.doomed {
            doomed_files.push((p, self.entry(p, b)?.file));
            sb.remove(&codec::entry_key(p, b)[..]);
        }
        if synced || !w.doomed.is_empty() {
            self.db.apply_batch(sb).map_err(|e| self.sled_err(e))?;
        }
        self.db.flush().map_err(|e| self.sled_err(e))?;
        if synced {
            w.unsynced.clear();
            w.generation += 1;
        }
        for (p, b) in std::mem::take(&mut w.doomed) {
            self.forget((p, b))?;
        }
        doomed_files.append(&mut w.doomed_files);
        for (p, f) in doomed_files {
            self.files.remove(&self.files.file(p, f))?;
        }
        Ok(())
    }
}

/// The stored ids of one path, read through the id cache (an [`IdSource`]).
pub(crate) struct StoredIds<'a> {
    inner: &'a Inner,
    path_no: u64,
    /// The path, when whole batches are read rather than their ids alone.
    whole: Option<&'a PathMeta>,
    last: Option<(u64, Arc<IdColumn>)>,
}

impl IdSource for StoredIds<'_> {
    fn id_is(&mut self, batch: u64, row: u32, id: &str) -> Result<bool> {
        if self.last.as_ref().map(|(b, _)| *b) != Some(batch) {
            let ids = match self.whole {
                Some(meta) => self.inner.load(meta, batch)?.1,
                None => self.inner.id_column(self.path_no, batch)?,
            };
            self.last = Some((batch, ids));
        }
        let Some((_, ids)) = &self.last else {
            return Err(Error::internal("the stored ids just read are gone"));
        };
        if row as usize >= ids.len() {
            return Err(self.inner.past_the_end(batch));
        }
        Ok(ids.is(row as usize, id))
    }
}
