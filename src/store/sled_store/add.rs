//! Adding rows to a path of the sled store: the write protocol of the module docs
//! (duplicates resolved against the id index, one encoding, the batch file written, one
//! sled batch, then the in-memory state). Encoding may have been done ahead, on another
//! thread ([`ArrowStore::prepare_records`](crate::store::ArrowStore::prepare_records)).
//!
//! It never flushes: durability is `flush`'s.

use std::sync::{Arc, RwLock};

use arrow::array::RecordBatch;

use super::SledStore;
use crate::error::Result;
use crate::store::batch_file::EncodedBatch;
use crate::store::codec;
use crate::store::id_index::{IdIndex, Probe};
use crate::store::sled_store::inner::PathMeta;
use crate::store::{check_schema, plan_write, scoped, RecordPath};

/// How the rows of a write are encoded: ahead of the write (when they were prepared),
/// and whether their ids are derived from some of their columns.
#[derive(Debug, Default)]
pub(crate) struct Encoding {
    pub(crate) ahead: Option<EncodedBatch>,
    pub(crate) derived_from: Option<Arc<[String]>>,
}

impl SledStore {
    /// `add_records`, with the rows' encoding when it was made ahead.
    pub(super) fn add(
        &self,
        path: &RecordPath,
        ids: &[String],
        batch: &RecordBatch,
        skip_duplicates: bool,
        encoding: Encoding,
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
            Arc::new(RwLock::new(IdIndex::default()))
        } else {
            inner.index_locked(&mut w, path_no)?
        };
        // 1. Resolve duplicates: room made for every id, each probed once (readers go
        // on meanwhile), the probes kept to add the rows written without probing again
        // (`id_index/probe.rs`: nothing moves a slot in between, under the writer lock).
        let mut src = inner.id_source(path_no);
        let keys = index.write().map_err(|_| inner.poisoned())?.make_room(ids);
        let probes = index
            .read()
            .map_err(|_| inner.poisoned())?
            .probe(ids, keys, &mut src)?;
        let planned = plan_write(
            &full,
            &schema,
            ids,
            batch,
            skip_duplicates,
            &mut |row, _| Ok(probes[row].is_stored()),
        )?;
        let Some(planned) = planned else {
            return Ok(0);
        };
        let batch_no = inner.next_batch(&mut w, path_no)?;
        // 2. One encoding (the one made ahead when every row is written: then the
        // planned rows are the given ones, in order), 3. the file written (made durable
        // at flush).
        let (id_column, bytes) = match encoding.ahead {
            Some(e) if planned.batch.num_rows() == batch.num_rows() => (e.ids, e.bytes),
            _ => {
                let e = EncodedBatch::new(
                    &planned.ids,
                    &planned.batch,
                    encoding.derived_from.as_deref(),
                )?;
                (e.ids, e.bytes)
            }
        };
        inner.files.write(path_no, batch_no, &bytes, false)?;
        w.unsynced.push((path_no, batch_no));
        // 4. One sled batch, applied atomically.
        let entry = codec::Entry::of(batch_no, planned.ids.len(), &bytes, w.generation);
        let mut sb = sled::Batch::default();
        sb.insert(
            &codec::entry_key(path_no, batch_no)[..],
            &entry.encode()[..],
        );
        if is_new_path {
            sb.insert(codec::path_key(&key), codec::path_value(path_no, &schema)?);
            sb.insert(codec::next_path_key(), &(path_no + 1).to_be_bytes()[..]);
        }
        inner.db.apply_batch(sb).map_err(|e| inner.sled_err(e))?;
        // 5. In-memory state.
        w.next_batch.insert(path_no, batch_no + 1);
        if is_new_path {
            w.next_path = path_no + 1;
            inner
                .indexes
                .lock()
                .map_err(|_| inner.poisoned())?
                .insert(path_no, index.clone());
            inner.paths.write().map_err(|_| inner.poisoned())?.insert(
                key,
                Arc::new(PathMeta {
                    number: path_no,
                    schema,
                }),
            );
        }
        inner.remember((path_no, batch_no), Some(planned.batch), &id_column)?;
        let kept: Vec<Probe> = planned.rows.iter().map(|&r| probes[r as usize]).collect();
        let added = index.write().map_err(|_| inner.poisoned())?.add_probed(
            batch_no,
            id_column.len(),
            &kept,
        );
        // An index that took part of the batch is not the catalog's any more.
        let added = match added {
            Ok(added) => added,
            Err(e) => {
                inner.forget_index(path_no)?;
                return Err(e);
            }
        };
        w.doomed
            .extend(added.dead.into_iter().map(|b| (path_no, b)));
        Ok(planned.new_ids)
    }
}
