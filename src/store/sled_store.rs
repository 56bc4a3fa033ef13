//! The sled store: the embedded, on-disk default.
//!
//! # On-disk layout (layout version 4)
//!
//! A store directory `DIR` holds:
//!
//! - `DIR/batches/{path number}/{file number}.arrow`: one file per `add_records` call
//!   that wrote rows (its file number is its batch number; a batch rewritten by
//!   compaction gets a fresh one), an Arrow IPC file compressed with zstd holding those
//!   rows and their record ids (`batch_file.rs`: hash-like ids `{prefix}:{hex}` sharing
//!   one prefix are kept as the prefix once and raw bytes, any other ids as text;
//!   ids that are the row hash of some of the row's columns, as pipeline records'
//!   entry ids are, are not kept at all but hashed again when read; either way they
//!   read back byte for byte);
//! - `DIR/indexes/{path number}.idx`: a path's id index as it was saved when a run
//!   ended ([`ArrowStore::save_indexes`]: paths of at least 65,536 ids that reads by id
//!   asked a quarter of in the run, as a function's results), a cache read
//!   back only for the exact catalog entries it names (`sled_store/saved_indexes.rs`,
//!   `id_index/saved.rs`); deleting it costs the next open the time to build it again;
//! - `DIR/catalog/`: a sled database of small values only. Every key starts with the
//!   key-prefix byte `0x01`, then a tag byte; integers are big-endian (byte order is
//!   numeric order).
//!
//! | key | value |
//! |---|---|
//! | `01 00 "format"` | `"orcapod-store/4"` (written when the catalog is complete) |
//! | `01 00 "next_path"` | next free path number, u64 |
//! | `01 00 "synced"` | the last *generation* whose batch files were all made durable, u64 |
//! | `01 30 "a/b/c"` | the path's entry: path number u64, then its schema as an Arrow IPC stream |
//! | `01 40 path:u64 batch:u64` | one batch: its file's number (the batch number unless compacted), row count, byte length, generation, checksum (u64 each) |
//!
//! Batch numbers count up per path from 0, so a path's batches scan in write order.
//! Arrow IPC is the only data format on disk (never `arrow-row` bytes). A row's id is
//! live in the *latest* batch holding it; a batch none of whose rows is live any more
//! (all replaced by later writes) leaves the catalog at the next flush, and its file is
//! deleted once that is durable. A batch with a few live rows left keeps its file until
//! [`SledStore::compact`] rewrites it (with its neighbours as badly off) into a file of
//! its live rows. A generation is the period between two flushes: each flush makes the
//! files written since the last one durable and then records their generation as
//! synced.
//!
//! A store of layout 3 (the same, without derived ids) is read as it is: opening it
//! moves its marker to layout 4, so that a build of layout 3 refuses it rather than
//! misread a file of derived ids. A store of layout 2 (batches and ids inside sled, in
//! `DIR` itself) is migrated on open (`sled_store/migrate.rs`: crash-safe, the old files deleted at the end); a store
//! of layout 1 is refused with a message naming the layouts this build reads.
//!
//! # The id index
//!
//! Ids are looked up in memory (`id_index.rs`): the first use of a path reads its saved
//! index back when one was saved for its catalog as it is, else the id column of each of
//! its batch files, into an `IdIndex`, which every write then updates.
//! It keeps no id text: 48 bits of each live id's fingerprint and the ordinal of its row
//! in an open-addressing table (12.5 to 16 bytes per id), and one bit per stored row. A
//! fingerprint match is checked against the id itself, read from its batch's id column
//! (recently used id columns stay in a bounded cache), so a collision costs a read,
//! never a wrong answer; 48 bits keep collisions rare even at tens of millions of ids.
//!
//! # Write protocol (one `add_records` call)
//!
//! Writes (and flushes) are serialised by an in-process mutex (one process per
//! directory, see below).
//!
//! 1. Resolve duplicates in memory: keep the last occurrence of each id in the batch; with
//!    `skip_duplicates`, drop rows whose id is already in the index. Nothing left: no
//!    write at all (so re-running the same writes never grows the store).
//! 2. Encode the remaining rows and their ids as one compressed Arrow IPC file.
//! 3. Write the file to `{batch}.arrow.tmp` and rename it to `{batch}.arrow` (its name
//!    appears whole or not at all).
//! 4. Apply **one** sled batch: the file's catalog entry (with the current generation and
//!    the file's length and checksum) and, for a new path, its entry and the bumped
//!    `next_path` counter. sled recovers a batch atomically.
//! 5. Only then update the in-memory state (next batch number, path cache, id index,
//!    caches); batches this call left without a live row are noted for the next flush.
//!
//! [`ArrowStore::flush`], the durability point: fsync every file written since the last
//! flush, then their directories; apply one sled batch recording this generation as
//! synced and removing the entries of batches without a live row; make the catalog
//! durable (sled's `flush`); only then delete those batches' files.
//!
//! Readers of this process see a write wholly or not at all: the id index is updated
//! (under its lock) only after the sled batch is applied, and readers find rows only
//! through the index.
//!
//! # Crash consistency
//!
//! A batch's rows are in the store exactly when the catalog names its file. On open
//! (`sled_store/open.rs`), every file the catalog does not name is deleted, and every
//! file it names is checked:
//!
//! - a crash between steps 3 and 4 leaves a file no entry names: deleted on open, the
//!   call wholly absent;
//! - an entry of a synced generation names a file made durable before that generation
//!   was recorded: it must be there with its length, else the open fails, naming the
//!   file (the store is damaged; nothing is dropped silently);
//! - an entry of a later generation was never flushed; sled may have written it (on its
//!   own schedule, or at exit) while its file did not reach the disk (a power cut). Its
//!   file is checked whole (length and checksum): if it is, the call is wholly present
//!   (and its file is made durable at the next flush); if not, its entry is dropped and
//!   the call is wholly absent. The rows it replaced are still there: entries leave the
//!   catalog only in a flush's sled batch, after every newer file was made durable, or
//!   in a compaction, which flushes first and makes its new file durable before its
//!   sled batch; and files are deleted only once their removal is durable.
//!
//! Either way an id has exactly one live row, the latest named batch's. So after
//! `flush` returns, every call completed before it survives `SIGKILL` or a power cut; a
//! call not yet flushed may or may not survive, but never partly.
//! (`tests/crash_safety.rs` kills a writer at many moments and checks that the store
//! holds the result of a prefix of its calls, at least the flushed ones.)
//!
//! # Reads
//!
//! Reads by id go through the index and decode only the batches they need; a small cache
//! keeps recently decoded (and just written) batches. `get_all` walks the path's batches
//! holding live rows, in order, and takes those rows.
//!
//! # Cost
//!
//! Writing a batch costs its IPC encoding and compression, one file written and renamed,
//! and one small sled batch, whatever its number of rows; a flush costs one fsync per
//! file written since the last one, one per directory, and sled's. On disk a row costs
//! its compressed columns and its id (35 bytes for a packet hash, its prefix once per
//! file). A lookup is an in-memory probe and, on a match, a comparison with the stored
//! id; loading a path's index reads the id columns of its files. A flush with more than
//! a few files to make durable syncs their file system once instead.
//!
//! Measured in release on a busy 2-core machine (`examples/store_throughput.rs`: 1M rows
//! of an integer and a short text, ids `arrow_v0.1:` and 70 hex digits, added in calls
//! of 10k rows): 34 bytes per row on disk (layout 2: 283), adding them about 1.1 s and
//! the flush 30 ms, `contains_many` of the 1M ids about 0.5 s from a fresh handle
//! (index loaded from the files) and 0.3 s after, `get_records` of 100k 0.13 s,
//! `get_all` 0.2 s; the id index 13 bytes per id with 32-bit tags (12.5 to 16 since the
//! 48-bit fingerprints; the process grew by 18 to 28 bytes
//! per id, cached id columns included; layout 2: 100). A one-row add costs about a millisecond
//! (a file created and renamed): callers add many rows per call. For a function
//! pipeline of 1M packets (its results and their pipeline records) the directory holds
//! 160 bytes per packet (layout 2: 1,729), most of it the random bytes of three 35-byte
//! hashes and a 16-byte uuid stored twice, which no compression removes.
//!
//! # One process per directory
//!
//! sled takes an exclusive lock on its directory (`DIR/catalog`). [`SledStore::open`] on
//! a directory this process already has open **shares** the open store (a process-wide
//! registry keyed by the canonical directory); opening a directory held by another
//! process fails with [`Error::Store`] saying so. Reopening a directory whose last handle
//! this process has just dropped waits on sled's lock itself until that handle has let
//! go (never sleeping).
//!
//! Only this module and its children (`inner.rs`: the open store; `compact.rs`:
//! compaction; `lock.rs`: sled's lock; `open.rs`: opening and recovery; `files.rs`:
//! batch files; `migrate.rs`: layout 2; `tests.rs`) name sled.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};

use arrow::array::{Array, LargeStringArray, RecordBatch};
use arrow::datatypes::SchemaRef;

mod add;
use add::Encoding;
mod compact;
mod files;
mod inner;
mod lock;
mod lookup;
mod migrate;
mod open;
mod saved_indexes;

use self::inner::{Inner, PathMeta};
use super::batch_file::EncodedBatch;
use super::codec;
use super::id_index::IdIndex;
use super::{
    extend_base, gather_all, relative_paths, scoped, store_err, validate_components, ArrowStore,
    FoundRows, Lookup, PreparedRecords, RecordPath, Records,
};
use crate::error::{Error, Result};

/// An [`ArrowStore`] on disk: batch files beside a sled catalog (see the module docs for
/// the layout and the write protocol). Cloning, or [`ArrowStore::at`], gives another
/// view of the same store.
#[derive(Clone)]
pub struct SledStore {
    inner: Arc<Inner>,
    base: Vec<String>,
}

/// [`ArrowStore::save_indexes`] saves the id index of a path holding at least this
/// many ids: a smaller one is built again in a few milliseconds.
const SAVE_INDEXES_OF: usize = 1 << 16;

/// A path's id index, shared by the store's views.
type SharedIndex = Arc<RwLock<IdIndex>>;

/// Open stores of this process, by canonical directory.
fn registry() -> &'static Mutex<HashMap<PathBuf, Weak<Inner>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<PathBuf, Weak<Inner>>>> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(HashMap::new()))
}

impl SledStore {
    /// Opens (creating if needed) the store in directory `dir`, migrating a store of
    /// layout 2 to layout 4 first (see the module docs).
    ///
    /// If this process already has the directory open, the open store is shared (same
    /// data, same caches). If another process holds it, this fails with [`Error::Store`]
    /// saying so (one process per directory).
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

    /// How many batches (files) the catalog names for `path`: one per `add_records` call
    /// that wrote rows, less those whose rows were all superseded. A measure of write
    /// batching and of reclaimed space, for tests and diagnostics.
    pub fn stored_batches(&self, path: &RecordPath) -> Result<usize> {
        let full = scoped(&self.base, path)?;
        let Some(meta) = self.inner.path_meta(&full.to_string())? else {
            return Ok(0);
        };
        let mut n = 0;
        for entry in self
            .inner
            .db
            .scan_prefix(codec::entry_key_prefix(meta.number))
        {
            entry.map_err(|e| self.inner.sled_err(e))?;
            n += 1;
        }
        Ok(n)
    }

    /// Bytes of memory the id index of `path` holds (loading it if needed), for
    /// diagnostics: about 12.5 to 16 bytes per live id.
    pub fn id_index_bytes(&self, path: &RecordPath) -> Result<usize> {
        let full = scoped(&self.base, path)?;
        let Some(meta) = self.inner.path_meta(&full.to_string())? else {
            return Ok(0);
        };
        let index = self.inner.index(meta.number)?;
        let bytes = index
            .read()
            .map_err(|_| self.inner.poisoned())?
            .memory_size();
        Ok(bytes)
    }

    /// Rewrites, in every path of the store (whatever this view's scope), each run of
    /// consecutive batches fewer than half of whose rows are live into one file of their
    /// live rows (see `sled_store/compact.rs`); returns how many batches were rewritten.
    /// Reads see the same rows, in the same order, before and after. It flushes first;
    /// the replaced files are deleted at the next [`ArrowStore::flush`].
    pub fn compact(&self) -> Result<usize> {
        let inner = &*self.inner;
        let mut keys = Vec::new();
        for entry in inner.db.scan_prefix(codec::path_key_prefix()) {
            let (k, _) = entry.map_err(|e| inner.sled_err(e))?;
            keys.push(String::from_utf8_lossy(&k[2..]).to_string());
        }
        let mut rewritten = 0;
        for key in keys {
            if let Some(meta) = inner.path_meta(&key)? {
                let mut w = inner.writer()?;
                // Every write a rewritten row's liveness depends on is durable first.
                inner.flush_locked(&mut w)?;
                rewritten += compact::compact_path(inner, &mut w, &meta)?;
            }
        }
        Ok(rewritten)
    }

    /// The path's entry and its loaded index, if the path exists, for a read asking
    /// for `asked` ids by id.
    fn path_index(
        &self,
        full: &RecordPath,
        asked: usize,
    ) -> Result<Option<(Arc<PathMeta>, SharedIndex)>> {
        let Some(meta) = self.inner.path_meta(&full.to_string())? else {
            return Ok(None);
        };
        let index = self.inner.index_to_read(meta.number, asked)?;
        Ok(Some((meta, index)))
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
        self.add(path, ids, batch, skip_duplicates, Encoding::default())
    }

    fn prepare_records(
        &self,
        path: RecordPath,
        ids: Vec<String>,
        batch: RecordBatch,
    ) -> Result<PreparedRecords> {
        self.prepare_derived(path, ids, batch, None)
    }

    fn prepare_derived(
        &self,
        path: RecordPath,
        ids: Vec<String>,
        batch: RecordBatch,
        derived_from: Option<Arc<[String]>>,
    ) -> Result<PreparedRecords> {
        // Rows the write will refuse are left for it to refuse, with its message.
        let encoded = (ids.len() == batch.num_rows() && !ids.is_empty())
            .then(|| EncodedBatch::new(&ids, &batch, derived_from.as_deref()))
            .transpose()?;
        let mut prepared = PreparedRecords::plain(path, ids, batch);
        prepared.encoded = encoded;
        prepared.derived_from = derived_from;
        Ok(prepared)
    }

    fn add_prepared(&self, records: PreparedRecords, skip_duplicates: bool) -> Result<usize> {
        let PreparedRecords {
            path,
            ids,
            batch,
            encoded,
            derived_from,
        } = records;
        let encoding = Encoding {
            ahead: encoded,
            derived_from,
        };
        self.add(&path, &ids, &batch, skip_duplicates, encoding)
    }

    fn get_records(&self, path: &RecordPath, ids: &[String]) -> Result<Lookup> {
        let full = scoped(&self.base, path)?;
        let Some((meta, index)) = self.path_index(&full, ids.len())? else {
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
        let index = index.read().map_err(|_| self.inner.poisoned())?;
        let finding = lookup::find(&self.inner, &meta, &index, ids.len(), |i| &ids[i])?;
        let pick = |at: &[u32]| at.iter().map(|&i| ids[i as usize].clone()).collect();
        Ok(Lookup {
            found: finding.rows.map(|batch| Records {
                ids: pick(&finding.found),
                batch,
            }),
            missing: pick(&finding.missing),
        })
    }

    fn get_rows_at(&self, path: &RecordPath, ids: &LargeStringArray) -> Result<Option<FoundRows>> {
        if ids.null_count() > 0 {
            return Err(Error::internal("a read by id was given a null id"));
        }
        let full = scoped(&self.base, path)?;
        let Some((meta, index)) = self.path_index(&full, ids.len())? else {
            return Ok(None);
        };
        let index = index.read().map_err(|_| self.inner.poisoned())?;
        let finding = lookup::find(&self.inner, &meta, &index, ids.len(), |i| ids.value(i))?;
        Ok(finding.rows.map(|batch| FoundRows {
            batch,
            asked: finding.found,
        }))
    }

    fn get_all(&self, path: &RecordPath) -> Result<Option<Records>> {
        let full = scoped(&self.base, path)?;
        let inner = &*self.inner;
        let Some((meta, index)) = self.path_index(&full, 0)? else {
            return Ok(None);
        };
        let index = index.read().map_err(|_| inner.poisoned())?;
        if index.len() == 0 {
            return Ok(None);
        }
        let mut ids = Vec::with_capacity(index.len());
        let mut loaded = Vec::new();
        for (b, rows) in index.live_rows() {
            let (batch, batch_ids) = inner.load(&meta, b)?;
            for &r in &rows {
                ids.push(batch_ids.id(r as usize));
            }
            loaded.push((batch, rows));
        }
        Ok(Some(Records {
            ids,
            batch: gather_all(&meta.schema, loaded)?,
        }))
    }

    fn contains_many(&self, path: &RecordPath, ids: &[String]) -> Result<Vec<bool>> {
        let full = scoped(&self.base, path)?;
        let inner = &*self.inner;
        let Some((meta, index)) = self.path_index(&full, ids.len())? else {
            return Ok(vec![false; ids.len()]);
        };
        let index = index.read().map_err(|_| inner.poisoned())?;
        let mut src = inner.id_source(meta.number);
        let mut hint = None;
        ids.iter()
            .map(|id| Ok(index.get_next(id, &mut hint, &mut src)?.is_some()))
            .collect()
    }

    fn ids(&self, path: &RecordPath) -> Result<Vec<String>> {
        let full = scoped(&self.base, path)?;
        let inner = &*self.inner;
        let Some((meta, index)) = self.path_index(&full, 0)? else {
            return Ok(Vec::new());
        };
        let index = index.read().map_err(|_| inner.poisoned())?;
        let mut ids = Vec::with_capacity(index.len());
        for (b, rows) in index.live_rows() {
            let batch_ids = inner.id_column(meta.number, b)?;
            ids.extend(rows.iter().map(|r| batch_ids.id(*r as usize)));
        }
        ids.sort_unstable();
        Ok(ids)
    }

    fn count(&self, path: &RecordPath) -> Result<usize> {
        let full = scoped(&self.base, path)?;
        let Some((_, index)) = self.path_index(&full, 0)? else {
            return Ok(0);
        };
        let live = index.read().map_err(|_| self.inner.poisoned())?.len();
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
        self.inner.flush()
    }

    fn save_indexes(&self) -> Result<()> {
        self.inner.save_indexes(SAVE_INDEXES_OF).map(drop)
    }

    fn at(&self, components: &[&str]) -> Result<Arc<dyn ArrowStore>> {
        Ok(Arc::new(SledStore {
            inner: self.inner.clone(),
            base: extend_base(&self.base, components)?,
        }))
    }
}

#[cfg(test)]
mod tests;
