//! Reading rows by id: each asked id through its path's index to its live row, each
//! batch holding one decoded once, the rows taken in request order. What
//! [`get_records`](crate::store::ArrowStore::get_records) (ids as strings) and
//! [`get_rows_at`](crate::store::ArrowStore::get_rows_at) (ids as one Arrow array, no
//! string per id) share: only how they hand the answer back differs.
//!
//! A repeated id is found at its one live row again: found ids are told apart by that
//! row (a bit per row of each batch read), so each live row is taken once, for the
//! first position asking for it; missing ids are told apart by their text.
//!
//! It never writes and never changes the index.

use std::collections::HashMap;

use arrow::array::RecordBatch;

use super::inner::{Inner, PathMeta};
use crate::error::Result;
use crate::model::pick_rows;
use crate::store::id_index::{IdIndex, IdMap};

/// What a read by id found.
pub(crate) struct Finding {
    /// The rows found, in request order (`None`: none was).
    pub(crate) rows: Option<RecordBatch>,
    /// The position in the request of each found row's id.
    pub(crate) found: Vec<u32>,
    /// The position in the request of each id not found (its first occurrence).
    pub(crate) missing: Vec<u32>,
}

/// Finds the `n` ids `id(0)`, .., `id(n - 1)` in path `meta` through its `index`.
pub(crate) fn find<'a>(
    inner: &Inner,
    meta: &PathMeta,
    index: &IdIndex,
    n: usize,
    id: impl Fn(usize) -> &'a str,
) -> Result<Finding> {
    // The batch of an id verified found is read for its row anyway: read whole.
    let mut src = inner.rows_source(meta);
    let mut missing_seen: IdMap<&str, ()> = IdMap::default();
    let mut found = Vec::new();
    let mut missing = Vec::new();
    let mut slots: HashMap<u64, usize> = HashMap::new();
    let mut batches: Vec<RecordBatch> = Vec::new();
    let mut taken: Vec<Vec<u64>> = Vec::new();
    let mut last: Option<(u64, usize)> = None;
    let mut picks = Vec::new();
    let mut hint = None;
    for at in 0..n {
        let asked = id(at);
        let Some((batch_no, row)) = index.get_next(asked, &mut hint, &mut src)? else {
            if missing_seen.capacity() == 0 {
                missing_seen.reserve(n);
            }
            if missing_seen.insert(asked, ()).is_none() {
                missing.push(at as u32);
            }
            continue;
        };
        let slot = match (last, slots.get(&batch_no)) {
            (Some((b, s)), _) if b == batch_no => s,
            (_, Some(s)) => *s,
            (_, None) => {
                let batch = inner.load(meta, batch_no)?.0;
                taken.push(vec![0; batch.num_rows().div_ceil(64)]);
                batches.push(batch);
                slots.insert(batch_no, batches.len() - 1);
                batches.len() - 1
            }
        };
        last = Some((batch_no, slot));
        let (word, bit) = (row as usize / 64, 1u64 << (row % 64));
        let Some(bits) = taken[slot].get_mut(word) else {
            return Err(inner.past_the_end(batch_no));
        };
        if *bits & bit != 0 {
            continue;
        }
        *bits |= bit;
        picks.push((slot, row as usize));
        found.push(at as u32);
    }
    let rows = if picks.is_empty() {
        None
    } else {
        let refs: Vec<&RecordBatch> = batches.iter().collect();
        Some(pick_rows(&refs, &picks)?)
    };
    Ok(Finding {
        rows,
        found,
        missing,
    })
}
