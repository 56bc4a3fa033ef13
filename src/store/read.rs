//! The read half of the store protocol: a [`StoreRead`] names the records a node needs
//! (a path and record ids, as one Arrow array), and running it gives what is stored
//! ([`FoundRows`]: the rows, and which id each answers). A node states its reads as
//! values, like its writes ([`StoreWrite`](super::StoreWrite)), so every store access of
//! a running node goes through a named step.
//!
//! This module never writes and never interprets the rows it reads.

use arrow::array::{Array, LargeStringArray, RecordBatch};

use super::{ArrowStore, Lookup, RecordPath};
use crate::error::{Error, Result};

/// Records to read: the rows stored at `path` for `ids`.
#[derive(Debug, Clone)]
pub struct StoreRead {
    /// Where.
    pub path: RecordPath,
    /// Which records, in the order the reader wants them (no null).
    pub ids: LargeStringArray,
}

impl StoreRead {
    /// Reads the records from `store`: the rows found, in request order, with the
    /// position in [`ids`](Self::ids) of each; `None` when none was found.
    pub fn run(&self, store: &dyn ArrowStore) -> Result<Option<FoundRows>> {
        store.get_rows_at(&self.path, &self.ids)
    }
}

/// The answer to [`ArrowStore::get_rows_at`]: the rows found, in request order, and the
/// position in the request of the id of each.
#[derive(Debug, Clone)]
pub struct FoundRows {
    /// The rows, with the path's schema.
    pub batch: RecordBatch,
    /// Row `i` of `batch` is the one stored for id `asked[i]` of the request.
    pub asked: Vec<u32>,
}

/// The ids of an array of ids, as strings (an array holding a null is refused).
pub(crate) fn id_strings(ids: &LargeStringArray) -> Result<Vec<String>> {
    if ids.null_count() > 0 {
        return Err(Error::internal("a read by id was given a null id"));
    }
    Ok(ids
        .iter()
        .map(|id| id.unwrap_or_default().to_string())
        .collect())
}

/// What `get_records` found for `wanted`, as [`FoundRows`].
pub(crate) fn found_rows(found: Lookup, wanted: &[String]) -> Result<Option<FoundRows>> {
    let Some(found) = found.found else {
        return Ok(None);
    };
    let asked = positions_in_request(wanted, &found.ids)?;
    Ok(Some(FoundRows {
        batch: found.batch,
        asked,
    }))
}

/// The position in `wanted` of each found id: found rows come in request order, each
/// wanted id at most once (at its first position).
fn positions_in_request(wanted: &[String], found: &[String]) -> Result<Vec<u32>> {
    let mut positions = Vec::with_capacity(found.len());
    let mut next = 0;
    for id in found {
        while next < wanted.len() && wanted[next] != *id {
            next += 1;
        }
        if next >= wanted.len() {
            return Err(Error::internal(
                "the store returned an id it was not asked for",
            ));
        }
        positions.push(next as u32);
        next += 1;
    }
    Ok(positions)
}
