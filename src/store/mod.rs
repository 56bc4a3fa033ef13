//! Record stores: Arrow tables under hierarchical record paths, one string record id per row.
//!
//! This is the port of the reference's `ArrowDatabaseProtocol` (semantics §10). A store
//! holds, under each [`RecordPath`] (`results/fn/v0`), a table whose rows each carry a
//! string **record id**. Two implementations share one trait, [`ArrowStore`]:
//!
//! - [`MemoryStore`]: in memory, for tests and for runs without a database;
//! - [`SledStore`]: the embedded default, on disk (`SledStore::open(dir)`), batched and
//!   crash-consistent (see its module for the on-disk layout and the write protocol).
//!
//! # Invariants (both implementations)
//!
//! 1. **One live row per id.** Within a path each record id maps to exactly one row.
//!    Duplicate ids inside one added batch keep the *last* occurrence (as the reference).
//! 2. **Duplicates across writes.** `skip_duplicates = true` keeps what is stored for an id
//!    that already exists (first write wins); `skip_duplicates = false` replaces it (last
//!    write wins). Either way `add_records` returns how many ids were new to the path.
//! 3. **Schema fixed by the first write.** The first non-empty batch added under a path
//!    fixes its Arrow schema (fields, types, nullability, field metadata). A later batch with
//!    different fields is rejected with [`Error::Store`] naming the path; there is no silent
//!    evolution. An empty batch is a no-op and fixes nothing.
//! 4. **Record ids beside the data.** Ids are passed and returned *beside* the batch
//!    ([`Records`]), never mixed in as a column; the stored batches hold exactly the
//!    caller's columns. (A caller column named `__record_id` is plain data to the store.)
//! 5. **Read order.** `get_all` returns live rows in the order their current version was
//!    written (write call order, then row order inside the batch); `ids` returns ids in
//!    byte order; `get_records` returns found rows in the order of the requested ids (first
//!    occurrence of a repeated id only).
//! 6. **Scoped views share storage.** [`ArrowStore::at`] returns a view whose paths are
//!    prefixed by the given components; views and their root see the same data, and
//!    [`ArrowStore::flush`] on any view flushes the whole store.
//! 7. **Durability point.** After [`ArrowStore::flush`] returns `Ok`, everything added
//!    before it (through any view) survives a crash or `SIGKILL`. Each `add_records` call is
//!    atomic: after a crash it is either wholly there or wholly absent, never half.
//! 8. **Paths.** A record path has 1 to [`RecordPath::MAX_DEPTH`] (10) components, each
//!    non-empty, without `/` or NUL; the limit applies to the scope prefix plus the path.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use arrow::array::{Int64Array, RecordBatch};
//! use arrow::datatypes::{DataType, Field, Schema};
//! use orcapod::store::{ArrowStore, MemoryStore, RecordPath};
//!
//! # fn main() -> orcapod::Result<()> {
//! let schema = Arc::new(Schema::new(vec![Field::new("y", DataType::Int64, false)]));
//! let batch = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![10, 20]))])?;
//!
//! let root = MemoryStore::new();
//! let results = root.at(&["pipeline-hash"])?; // a scoped view
//! let path = RecordPath::parse("fn/v0")?;
//! let ids = vec!["in-hash-1".to_string(), "in-hash-2".to_string()];
//! assert_eq!(results.add_records(&path, &ids, &batch, true)?, 2);
//! results.flush()?;
//!
//! let wanted = vec!["in-hash-2".to_string(), "in-hash-3".to_string()];
//! let lookup = root.get_records(&RecordPath::parse("pipeline-hash/fn/v0")?, &wanted)?;
//! assert_eq!(lookup.found.map(|r| r.ids), Some(vec!["in-hash-2".to_string()]));
//! assert_eq!(lookup.missing, vec!["in-hash-3".to_string()]);
//! # Ok(())
//! # }
//! ```
//!
//! Only this module names `sled`: no sled type appears in a public signature, so another
//! backend can be added behind [`ArrowStore`] without touching the rest of the crate.

mod batch_cache;
mod batch_file;
mod codec;
mod id_index;
pub mod layout;
mod memory;
mod read;
mod records;
mod sled_store;
mod write;

use std::fmt;
use std::sync::Arc;

use arrow::array::{LargeStringArray, RecordBatch, RecordBatchOptions};
use arrow::compute::{concat_batches, take_record_batch};
use arrow::datatypes::SchemaRef;

use crate::error::{Error, Result};

pub use layout::FunctionPaths;
pub use memory::MemoryStore;
pub use read::{FoundRows, StoreRead};
pub(crate) use records::RecordsShared;
pub use records::{BuiltRecords, PendingRecords};
pub use sled_store::SledStore;
pub use write::{
    apply_prepared, apply_writes, prepare_writes, PreparedRecords, RecordIds, StoreWrite,
};

/// A validated record path: 1 to [`RecordPath::MAX_DEPTH`] components, each non-empty and
/// free of `/` and NUL. Displays as its components joined by `/`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordPath(Vec<String>);

impl RecordPath {
    /// The maximum number of components of a path, scope prefix included (the reference's
    /// default `max_hierarchy_depth`).
    pub const MAX_DEPTH: usize = 10;

    /// Builds a path from its components, validating each.
    pub fn new<I, S>(components: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let components: Vec<String> = components.into_iter().map(Into::into).collect();
        validate_components(&components, true)?;
        Ok(RecordPath(components))
    }

    /// Parses `a/b/c` into a path (every component must be non-empty: `a//b` is an error).
    pub fn parse(path: &str) -> Result<Self> {
        RecordPath::new(path.split('/'))
    }

    /// The path's components.
    pub fn components(&self) -> &[String] {
        &self.0
    }

    /// The number of components (at least 1).
    pub fn depth(&self) -> usize {
        self.0.len()
    }

    /// This path followed by `other`.
    pub fn join(&self, other: &RecordPath) -> Result<RecordPath> {
        RecordPath::new(self.0.iter().chain(other.0.iter()).cloned())
    }

    /// This path followed by one more component.
    pub fn child(&self, component: impl Into<String>) -> Result<RecordPath> {
        RecordPath::new(
            self.0
                .iter()
                .cloned()
                .chain(std::iter::once(component.into())),
        )
    }

    /// Whether `prefix` is a (not necessarily proper) prefix of this path, component-wise.
    pub fn starts_with(&self, prefix: &RecordPath) -> bool {
        self.0.starts_with(&prefix.0)
    }
}

impl fmt::Display for RecordPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("/"))
    }
}

impl fmt::Debug for RecordPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordPath({self})")
    }
}

impl std::str::FromStr for RecordPath {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        RecordPath::parse(s)
    }
}

/// Checks path components; `non_empty` requires at least one (scope prefixes may be empty).
pub(crate) fn validate_components(components: &[String], non_empty: bool) -> Result<()> {
    let shown = components.join("/");
    if non_empty && components.is_empty() {
        return Err(store_err(
            shown,
            "a record path needs at least one component",
        ));
    }
    if components.len() > RecordPath::MAX_DEPTH {
        return Err(store_err(
            shown,
            format!(
                "record path has {} components, more than the maximum of {}",
                components.len(),
                RecordPath::MAX_DEPTH
            ),
        ));
    }
    for (i, c) in components.iter().enumerate() {
        let problem = if c.is_empty() {
            Some("is empty")
        } else if c.contains('/') {
            Some("contains `/`")
        } else if c.contains('\0') {
            Some("contains a NUL character")
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(store_err(
                shown,
                format!("record path component {} ({c:?}) {problem}", i + 1),
            ));
        }
    }
    Ok(())
}

/// Builds an [`Error::Store`].
pub(crate) fn store_err(path: impl Into<String>, message: impl Into<String>) -> Error {
    Error::Store {
        path: path.into(),
        message: message.into(),
    }
}

/// Rows read from a store: one record id per row of `batch`, in the same order.
#[derive(Debug, Clone)]
pub struct Records {
    /// The record id of each row.
    pub ids: Vec<String>,
    /// The rows, with the path's schema.
    pub batch: RecordBatch,
}

impl Records {
    /// The number of rows.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// The answer to [`ArrowStore::get_records`]: the rows found and the ids that were not.
#[derive(Debug, Clone)]
pub struct Lookup {
    /// The rows found, in the order of the requested ids; `None` when none was found.
    pub found: Option<Records>,
    /// Requested ids with no stored row, in request order, each once.
    pub missing: Vec<String>,
}

/// A store of Arrow tables under record paths, one record id per row (see the module
/// docs for the invariants every implementation keeps).
///
/// Object safe: pipelines hold an `Arc<dyn ArrowStore>`. All methods take `&self`; a store
/// may be shared between threads. Paths given to a scoped view (see [`ArrowStore::at`])
/// are relative to its base path, and paths it returns are too.
pub trait ArrowStore: Send + Sync + fmt::Debug {
    /// The scope prefix of this view (empty for a root store).
    fn base_path(&self) -> &[String];

    /// Adds the rows of `batch` under `path`, `ids[i]` being the record id of row `i`.
    ///
    /// Duplicate ids within `batch` keep the last occurrence. For ids already stored,
    /// `skip_duplicates = true` keeps the stored row and drops the new one, `false`
    /// replaces the stored row (last write wins). Returns how many ids were new to the
    /// path. The call is atomic with respect to crashes; it is durable after
    /// [`ArrowStore::flush`].
    ///
    /// Errors: `ids.len()` differs from the row count; the batch's schema differs from the
    /// one fixed by the path's first write; the path is too deep once scoped; I/O.
    fn add_records(
        &self,
        path: &RecordPath,
        ids: &[String],
        batch: &RecordBatch,
        skip_duplicates: bool,
    ) -> Result<usize>;

    /// Makes rows ready to be added under `path` by [`add_prepared`](Self::add_prepared),
    /// without changing the store, on any thread: a store that encodes its batches
    /// encodes them here, so that the writing thread has less to do. The default keeps
    /// the rows as they are.
    fn prepare_records(
        &self,
        path: RecordPath,
        ids: Vec<String>,
        batch: RecordBatch,
    ) -> Result<PreparedRecords> {
        Ok(PreparedRecords::plain(path, ids, batch))
    }

    /// [`prepare_records`](Self::prepare_records) for rows whose ids are each the row
    /// hash of columns `derived_from` ([`RecordIds::RowHashes`]), which a store may keep
    /// as that rule instead of the ids. The default keeps the rule beside the rows.
    fn prepare_derived(
        &self,
        path: RecordPath,
        ids: Vec<String>,
        batch: RecordBatch,
        derived_from: Option<Arc<[String]>>,
    ) -> Result<PreparedRecords> {
        let mut prepared = self.prepare_records(path, ids, batch)?;
        prepared.derived_from = derived_from;
        Ok(prepared)
    }

    /// Adds prepared rows, exactly as [`add_records`](Self::add_records) adds them; an
    /// encoding made ahead is used only when every row is written (else the rows that
    /// are written are encoded again).
    fn add_prepared(&self, records: PreparedRecords, skip_duplicates: bool) -> Result<usize> {
        self.add_records(&records.path, &records.ids, &records.batch, skip_duplicates)
    }

    /// Looks up many ids at once. Found rows come in request order (a repeated id once).
    fn get_records(&self, path: &RecordPath, ids: &[String]) -> Result<Lookup>;

    /// [`get_records`](Self::get_records) for ids given as one Arrow array (no string
    /// per id, none per answer): the rows found, in request order (a repeated id once,
    /// at its first position), with the position in `ids` of each; `None` when none
    /// was found. What a function node reads its stored results with. `ids` holds no
    /// null. The default runs `get_records`.
    fn get_rows_at(&self, path: &RecordPath, ids: &LargeStringArray) -> Result<Option<FoundRows>> {
        let wanted = read::id_strings(ids)?;
        read::found_rows(self.get_records(path, &wanted)?, &wanted)
    }

    /// Every live row of `path`, in write order (see the module docs); `None` when the path
    /// holds no row.
    fn get_all(&self, path: &RecordPath) -> Result<Option<Records>>;

    /// For each id, whether a row is stored for it (reads the id index only, no data).
    fn contains_many(&self, path: &RecordPath, ids: &[String]) -> Result<Vec<bool>>;

    /// The ids stored under `path`, in byte order (reads the id index only, no data).
    fn ids(&self, path: &RecordPath) -> Result<Vec<String>>;

    /// The schema fixed for `path` by its first write, if any.
    fn schema(&self, path: &RecordPath) -> Result<Option<SchemaRef>>;

    /// The paths holding a table at or under `prefix` (all paths of this view when
    /// `None`), relative to this view, sorted.
    fn list_paths(&self, prefix: Option<&RecordPath>) -> Result<Vec<RecordPath>>;

    /// Durability point: when this returns `Ok`, everything added before (through any view
    /// of the same store) is on disk.
    fn flush(&self) -> Result<()>;

    /// Flushes, then keeps what lets the next open of the store start sooner (the sled
    /// store saves its large id indexes, so that they are read back rather than built
    /// again from every id); what it keeps is a cache, so a store may keep nothing.
    /// Worth calling when a run ends.
    fn save_indexes(&self) -> Result<()> {
        self.flush()
    }

    /// A view of this store whose paths are prefixed by `components`, sharing its storage.
    fn at(&self, components: &[&str]) -> Result<Arc<dyn ArrowStore>>;

    /// Adds a single record: `batch` must have exactly one row. See
    /// [`ArrowStore::add_records`].
    fn add_record(
        &self,
        path: &RecordPath,
        id: &str,
        batch: &RecordBatch,
        skip_duplicates: bool,
    ) -> Result<usize> {
        if batch.num_rows() != 1 {
            return Err(store_err(
                path.to_string(),
                format!(
                    "add_record needs a batch of exactly one row, got {}",
                    batch.num_rows()
                ),
            ));
        }
        self.add_records(path, &[id.to_string()], batch, skip_duplicates)
    }

    /// The row stored for `id` (a one-row batch), if any.
    fn get_record(&self, path: &RecordPath, id: &str) -> Result<Option<RecordBatch>> {
        Ok(self
            .get_records(path, &[id.to_string()])?
            .found
            .map(|r| r.batch))
    }

    /// Whether a row is stored for `id`.
    fn contains(&self, path: &RecordPath, id: &str) -> Result<bool> {
        Ok(self
            .contains_many(path, &[id.to_string()])?
            .first()
            .copied()
            .unwrap_or(false))
    }

    /// The number of live rows of `path`.
    fn count(&self, path: &RecordPath) -> Result<usize> {
        Ok(self.ids(path)?.len())
    }
}

// ---------------------------------------------------------------------------------------
// Shared machinery of the implementations.

/// A scope prefix plus a relative path, checked against the depth limit.
pub(crate) fn scoped(base: &[String], path: &RecordPath) -> Result<RecordPath> {
    if base.is_empty() {
        return Ok(path.clone());
    }
    let components: Vec<String> = base.iter().chain(path.components()).cloned().collect();
    validate_components(&components, true)?;
    Ok(RecordPath(components))
}

/// A scope prefix extended by `components` (validated).
pub(crate) fn extend_base(base: &[String], components: &[&str]) -> Result<Vec<String>> {
    let extended: Vec<String> = base
        .iter()
        .cloned()
        .chain(components.iter().map(|c| (*c).to_string()))
        .collect();
    validate_components(&extended, false)?;
    Ok(extended)
}

/// Strips a view's base from full paths under it (for `list_paths`).
pub(crate) fn relative_paths(
    base: &[String],
    full: impl IntoIterator<Item = Vec<String>>,
) -> Vec<RecordPath> {
    let mut out: Vec<RecordPath> = full
        .into_iter()
        .filter(|p| p.len() > base.len() && p.starts_with(base))
        .map(|p| RecordPath(p[base.len()..].to_vec()))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Checks a batch against the schema fixed for its path.
pub(crate) fn check_schema(
    path: &RecordPath,
    fixed: &SchemaRef,
    batch: &RecordBatch,
) -> Result<()> {
    if fixed.fields() == batch.schema().fields() {
        return Ok(());
    }
    let describe = |s: &SchemaRef| {
        s.fields()
            .iter()
            .map(|f| {
                format!(
                    "{}: {}{}",
                    f.name(),
                    f.data_type(),
                    if f.is_nullable() { "" } else { " not null" }
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    Err(store_err(
        path.to_string(),
        format!(
            "batch schema differs from the schema fixed by the path's first write: expected [{}], got [{}]",
            describe(fixed),
            describe(&batch.schema())
        ),
    ))
}

/// What one `add_records` call will write once duplicates are resolved.
pub(crate) struct PlannedWrite {
    /// Ids of the rows of `batch`, unique.
    pub ids: Vec<String>,
    /// Where each row of `batch` is in the caller's batch.
    pub rows: Vec<u32>,
    /// The rows to write (a subset of the caller's batch, in its order), with the path schema.
    pub batch: RecordBatch,
    /// How many of `ids` were not stored before.
    pub new_ids: usize,
}

/// Resolves duplicates of one `add_records` call: within the batch the last occurrence of
/// an id wins; with `skip_duplicates`, rows whose id `is_stored` are dropped. Returns
/// `None` when nothing is left to write. `schema` is the path's fixed schema (the batch has
/// been checked against it).
pub(crate) fn plan_write(
    path: &RecordPath,
    schema: &SchemaRef,
    ids: &[String],
    batch: &RecordBatch,
    skip_duplicates: bool,
    is_stored: &mut dyn FnMut(usize, &str) -> Result<bool>,
) -> Result<Option<PlannedWrite>> {
    if ids.len() != batch.num_rows() {
        return Err(store_err(
            path.to_string(),
            format!(
                "{} record ids given for a batch of {} rows",
                ids.len(),
                batch.num_rows()
            ),
        ));
    }
    // Last occurrence of each id.
    let mut last: id_index::IdMap<&str, usize> =
        id_index::IdMap::with_capacity_and_hasher(ids.len(), Default::default());
    for (i, id) in ids.iter().enumerate() {
        last.insert(id.as_str(), i);
    }
    let mut keep: Vec<u32> = Vec::with_capacity(ids.len());
    let mut kept_ids: Vec<String> = Vec::with_capacity(ids.len());
    let mut new_ids = 0;
    for (i, id) in ids.iter().enumerate() {
        if last.get(id.as_str()) != Some(&i) {
            continue;
        }
        let stored = is_stored(i, id)?;
        if stored && skip_duplicates {
            continue;
        }
        if !stored {
            new_ids += 1;
        }
        let row = u32::try_from(i)
            .map_err(|_| store_err(path.to_string(), "a batch may hold at most 2^32 - 1 rows"))?;
        keep.push(row);
        kept_ids.push(id.clone());
    }
    if keep.is_empty() {
        return Ok(None);
    }
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    let batch =
        RecordBatch::try_new_with_options(schema.clone(), batch.columns().to_vec(), &options)?;
    let batch = if keep.len() == batch.num_rows() {
        batch
    } else {
        take_record_batch(&batch, &arrow::array::UInt32Array::from(keep.clone()))?
    };
    Ok(Some(PlannedWrite {
        ids: kept_ids,
        rows: keep,
        batch,
        new_ids,
    }))
}

/// Gathers the live rows of a path for `get_all`: `groups` holds, in batch order, each
/// stored batch with its live rows (sorted). Whole batches are reused without copying.
pub(crate) fn gather_all(
    schema: &SchemaRef,
    groups: Vec<(RecordBatch, Vec<u32>)>,
) -> Result<RecordBatch> {
    let mut parts = Vec::with_capacity(groups.len());
    for (batch, rows) in groups {
        if rows.len() == batch.num_rows() {
            parts.push(batch);
        } else {
            parts.push(take_record_batch(
                &batch,
                &arrow::array::UInt32Array::from(rows),
            )?);
        }
    }
    if parts.len() == 1 {
        if let Some(only) = parts.pop() {
            return Ok(only);
        }
    }
    Ok(concat_batches(schema, &parts)?)
}
