//! The read half of the store protocol: a [`StoreRead`] names the records a node needs
//! (a path and record ids), and running it gives what is stored ([`Lookup`]). A node
//! states its reads as values, like its writes ([`StoreWrite`](super::StoreWrite)), so
//! every store access of a running node goes through a named step.
//!
//! This module never writes and never interprets the rows it reads.

use super::{ArrowStore, Lookup, RecordPath};
use crate::error::Result;

/// Records to read: the rows stored at `path` for `ids`.
#[derive(Debug, Clone)]
pub struct StoreRead {
    /// Where.
    pub path: RecordPath,
    /// Which records, in the order the reader wants them.
    pub ids: Vec<String>,
}

impl StoreRead {
    /// Reads the records from `store`: the rows found, in request order.
    pub fn run(&self, store: &dyn ArrowStore) -> Result<Lookup> {
        store.get_records(&self.path, &self.ids)
    }
}
