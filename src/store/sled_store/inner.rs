//! The open store of one directory ([`Inner`]): its catalog (sled), its batch files, the
//! writer's state, path entries, reading batches and id columns, the id indexes, and the
//! durability point. Shared by every view of the store ([`SledStore`](super::SledStore));
//! the store's protocol is in the parent module's docs.
//!
//! It never sleeps and never writes a batch: writes are the parent's `add_records`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use super::files::Files;
use super::lock::sled_err;
use super::open;
use crate::error::{Error, Result};
use crate::store::batch_cache::{batch_cache, id_cache, Cache};
use crate::store::batch_file::{self, IdColumn};
use crate::store::codec;
use crate::store::id_index::{IdIndex, IdSource};
use crate::store::store_err;

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
}

/// State only the (single) writer touches.
pub(crate) struct WriterState {
    pub(crate) next_path: u64,
    /// Next batch number per path number, filled lazily from the last batch entry.
    pub(crate) next_batch: HashMap<u64, u64>,
    /// The generation batches are written in now: one more than the last synced.
    pub(crate) generation: u64,
    /// Batches written (or found after a crash) whose files are not yet durable.
    pub(crate) unsynced: Vec<(u64, u64)>,
    /// Batches none of whose rows is live: at the next flush their entries leave the
    /// catalog, and once that is durable their files are deleted.
    pub(crate) doomed: Vec<(u64, u64)>,
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
            }),
            paths: RwLock::new(HashMap::new()),
            indexes: Mutex::new(HashMap::new()),
            cache: Mutex::new(batch_cache()),
            id_cache: Mutex::new(id_cache()),
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
            .scan_prefix(codec::entry_key_prefix(path_no))
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
        if let (Some(batch), Some(ids)) = (cached, cached_ids) {
            return Ok((batch, ids));
        }
        let bytes = self.files.read(meta.number, batch_no)?;
        let (batch, ids) = batch_file::decode(&bytes, &meta.schema)?;
        let ids = Arc::new(ids);
        self.remember(key, Some(batch.clone()), &ids)?;
        Ok((batch, ids))
    }

    /// The ids of a stored batch, from the cache or its file.
    pub(crate) fn id_column(&self, path_no: u64, batch_no: u64) -> Result<Arc<IdColumn>> {
        let key = (path_no, batch_no);
        if let Some(ids) = self.id_cache.lock().map_err(|_| self.poisoned())?.get(key) {
            return Ok(ids);
        }
        let ids = Arc::new(batch_file::decode_ids(
            &self.files.read(path_no, batch_no)?,
        )?);
        self.remember(key, None, &ids)?;
        Ok(ids)
    }

    /// Reads ids of path `path_no` to verify index lookups.
    pub(crate) fn id_source(&self, path_no: u64) -> StoredIds<'_> {
        StoredIds {
            inner: self,
            path_no,
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
        let mut index = IdIndex::default();
        let mut src = self.id_source(path_no);
        let mut dead = Vec::new();
        let mut last = None;
        for entry in self.db.scan_prefix(codec::entry_key_prefix(path_no)) {
            let (k, _) = entry.map_err(|e| self.sled_err(e))?;
            let batch_no = codec::batch_no_of_key(&k)?;
            let ids = self.id_column(path_no, batch_no)?;
            dead.extend(index.add_batch(batch_no, &ids, &mut src)?.dead);
            last = Some(batch_no);
        }
        if let Some(last) = last {
            let next = w.next_batch.entry(path_no).or_insert(0);
            *next = (*next).max(last + 1);
        }
        if !dead.is_empty() {
            let mut removal = sled::Batch::default();
            for b in &dead {
                removal.remove(&codec::entry_key(path_no, *b)[..]);
            }
            self.db.apply_batch(removal).map_err(|e| self.sled_err(e))?;
            w.doomed.extend(dead.iter().map(|b| (path_no, *b)));
        }
        let index = Arc::new(RwLock::new(index));
        self.indexes
            .lock()
            .map_err(|_| self.poisoned())?
            .insert(path_no, index.clone());
        Ok(index)
    }

    /// The durability point: makes the batch files written since the last flush durable
    /// (contents, then names); then, in one sled batch, records their generation as
    /// synced and removes the entries of batches none of whose rows is live; makes the
    /// catalog durable; and only then deletes those batches' files.
    pub(crate) fn flush(&self) -> Result<()> {
        let mut w = self.writer()?;
        self.files.sync(&w.unsynced)?;
        let mut sb = sled::Batch::default();
        let synced = !w.unsynced.is_empty();
        if synced {
            sb.insert(codec::synced_key(), &w.generation.to_be_bytes()[..]);
        }
        for &(p, b) in &w.doomed {
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
            self.files.remove(&self.files.file(p, b))?;
            self.cache
                .lock()
                .map_err(|_| self.poisoned())?
                .remove((p, b));
            self.id_cache
                .lock()
                .map_err(|_| self.poisoned())?
                .remove((p, b));
        }
        Ok(())
    }
}

/// The stored ids of one path, read through the id cache (an [`IdSource`]).
pub(crate) struct StoredIds<'a> {
    inner: &'a Inner,
    path_no: u64,
    last: Option<(u64, Arc<IdColumn>)>,
}

impl IdSource for StoredIds<'_> {
    fn id_is(&mut self, batch: u64, row: u32, id: &str) -> Result<bool> {
        let ids = match &self.last {
            Some((b, ids)) if *b == batch => ids.clone(),
            _ => {
                let ids = self.inner.id_column(self.path_no, batch)?;
                self.last = Some((batch, ids.clone()));
                ids
            }
        };
        if row as usize >= ids.len() {
            return Err(store_err(
                self.inner.dir.display().to_string(),
                format!("the id index points past the end of batch {batch} (corrupt store)"),
            ));
        }
        Ok(ids.is(row as usize, id))
    }
}
