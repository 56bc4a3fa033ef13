//! Compaction: rewrites the batches of a path most of whose rows are superseded, so
//! their dead rows stop taking space.
//!
//! Each maximal run of consecutive batches (among those holding live rows) of which
//! fewer than half the rows are live becomes one new file holding their live rows, in
//! order, under the first batch's number; the run's other entries leave the catalog. So
//! `get_all`'s order (batch order, then row order) is unchanged. The caller flushes
//! first, so every write that superseded a dropped row is durable; the new file is made
//! durable before the one sled batch that names it and removes the others is applied;
//! the replaced files are deleted at the next flush, once that batch is durable (a crash
//! before leaves the old entries and files, and an unnamed new file deleted on open).
//!
//! It runs under the writer's lock and replaces the path's id index in place (readers
//! wait on its lock, then see the new one); it never changes a row or an id.

use arrow::array::UInt32Array;
use arrow::compute::{concat_batches, take_record_batch};

use super::inner::{Inner, PathMeta, WriterState};
use crate::error::Result;
use crate::store::batch_file::{self, IdColumn};
use crate::store::codec;

/// Compacts path `meta`; returns how many batches were rewritten.
pub(crate) fn compact_path(inner: &Inner, w: &mut WriterState, meta: &PathMeta) -> Result<usize> {
    let path_no = meta.number;
    let index = inner.index_locked(w, path_no)?;
    let mut guard = index.write().map_err(|_| inner.poisoned())?;
    let mut runs: Vec<Vec<u64>> = Vec::new();
    let mut run = Vec::new();
    for (batch, rows, live) in guard.occupancy() {
        if u64::from(live) * 2 < u64::from(rows) {
            run.push(batch);
        } else if !run.is_empty() {
            runs.push(std::mem::take(&mut run));
        }
    }
    if !run.is_empty() {
        runs.push(run);
    }
    let live_rows: std::collections::HashMap<u64, Vec<u32>> =
        guard.live_rows().into_iter().collect();
    let mut sb = sled::Batch::default();
    let mut rewritten = 0;
    let mut replaced = Vec::new();
    for run in &runs {
        let mut parts = Vec::with_capacity(run.len());
        let mut ids = Vec::new();
        for &b in run {
            let (batch, batch_ids) = inner.load(meta, b)?;
            let rows = live_rows.get(&b).cloned().unwrap_or_default();
            ids.extend(rows.iter().map(|r| batch_ids.id(*r as usize)));
            parts.push(take_record_batch(&batch, &UInt32Array::from(rows))?);
        }
        let merged = concat_batches(&meta.schema, &parts)?;
        let id_column = IdColumn::from_ids(&ids)?;
        let bytes = batch_file::encode(&merged, &id_column, None)?;
        // A fresh number names the file, so it never replaces a file in use.
        let file = inner.next_batch(w, path_no)?;
        w.next_batch.insert(path_no, file + 1);
        inner.files.write(path_no, file, &bytes, true)?;
        let first = run[0];
        let entry = codec::Entry::of(file, ids.len(), &bytes, 0);
        sb.insert(&codec::entry_key(path_no, first)[..], &entry.encode()[..]);
        for &b in run {
            replaced.push((path_no, inner.entry(path_no, b)?.file));
            if b != first {
                sb.remove(&codec::entry_key(path_no, b)[..]);
            }
        }
        rewritten += run.len();
    }
    if rewritten == 0 {
        return Ok(0);
    }
    inner.db.apply_batch(sb).map_err(|e| inner.sled_err(e))?;
    w.doomed_files.extend(replaced);
    for b in runs.iter().flatten() {
        inner.forget((path_no, *b))?;
    }
    // The catalog changed: an index that cannot be built for it is forgotten.
    match inner.build_index(w, path_no) {
        Ok(rebuilt) => *guard = rebuilt,
        Err(e) => {
            drop(guard);
            inner.forget_index(path_no)?;
            return Err(e);
        }
    }
    Ok(rewritten)
}
