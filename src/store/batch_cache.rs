//! The caches of the sled store: recently read (and just written) batches and id
//! columns, by (path number, batch number), bounded in count and in bytes, oldest out
//! first.
//!
//! Memory only: it never reads or writes the store.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use arrow::array::RecordBatch;

use super::batch_file::IdColumn;

/// What a cache holds, and its size in bytes.
pub(crate) trait Weighed: Clone {
    fn bytes(&self) -> usize;
}

impl Weighed for RecordBatch {
    fn bytes(&self) -> usize {
        self.get_array_memory_size()
    }
}

impl Weighed for Arc<IdColumn> {
    fn bytes(&self) -> usize {
        self.memory_size()
    }
}

/// Decoded batches kept in memory: at most 64 of them and 64 MiB. Reads by id go
/// mostly in write order (a re-run asks for results batch after batch), so a few
/// batches serve them; more would only hold memory for the whole run.
pub(crate) fn batch_cache() -> Cache<RecordBatch> {
    Cache::new(64, 64 << 20)
}

/// Id columns kept in memory (to verify id lookups): at most 64 of them and 64 MiB.
pub(crate) fn id_cache() -> Cache<Arc<IdColumn>> {
    Cache::new(64, 64 << 20)
}

/// A bounded cache, oldest insertion out first.
pub(crate) struct Cache<V> {
    map: HashMap<(u64, u64), V>,
    order: VecDeque<(u64, u64)>,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
}

impl<V: Weighed> Cache<V> {
    fn new(max_entries: usize, max_bytes: usize) -> Self {
        Cache {
            map: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
            max_entries,
            max_bytes,
        }
    }

    pub(crate) fn get(&self, key: (u64, u64)) -> Option<V> {
        self.map.get(&key).cloned()
    }

    pub(crate) fn insert(&mut self, key: (u64, u64), value: V) {
        let size = value.bytes();
        if size > self.max_bytes || self.map.contains_key(&key) {
            return;
        }
        while self.map.len() >= self.max_entries || self.bytes + size > self.max_bytes {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(v) = self.map.remove(&old) {
                self.bytes = self.bytes.saturating_sub(v.bytes());
            }
        }
        self.bytes += size;
        self.order.push_back(key);
        self.map.insert(key, value);
    }

    /// Forgets an entry (a removed batch).
    pub(crate) fn remove(&mut self, key: (u64, u64)) {
        if let Some(v) = self.map.remove(&key) {
            self.bytes = self.bytes.saturating_sub(v.bytes());
            self.order.retain(|k| *k != key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_cache_is_bounded() {
        let mut cache = batch_cache();
        let batch = RecordBatch::new_empty(Arc::new(arrow::datatypes::Schema::empty()));
        for i in 0..74 {
            cache.insert((0, i), batch.clone());
        }
        assert_eq!(cache.map.len(), 64);
        assert!(cache.get((0, 0)).is_none());
        assert!(cache.get((0, 73)).is_some());
        cache.remove((0, 73));
        assert!(cache.get((0, 73)).is_none());
    }
}
