//! The decoded-batch cache of the sled store: recently decoded (and just written)
//! batches, by (path number, batch number), bounded in count and in bytes, oldest out
//! first.
//!
//! Memory only: it never reads or writes the store.

use std::collections::{HashMap, VecDeque};

use arrow::array::RecordBatch;

/// Decoded batches kept in memory, at most this many…
pub(crate) const CACHE_MAX_BATCHES: usize = 256;
/// …and at most this many bytes of Arrow buffers.
pub(crate) const CACHE_MAX_BYTES: usize = 256 << 20;

#[derive(Default)]
pub(crate) struct BatchCache {
    map: HashMap<(u64, u64), RecordBatch>,
    order: VecDeque<(u64, u64)>,
    bytes: usize,
}

impl BatchCache {
    pub(crate) fn get(&self, key: (u64, u64)) -> Option<RecordBatch> {
        self.map.get(&key).cloned()
    }

    pub(crate) fn insert(&mut self, key: (u64, u64), batch: RecordBatch) {
        let size = batch.get_array_memory_size();
        if size > CACHE_MAX_BYTES || self.map.contains_key(&key) {
            return;
        }
        while self.map.len() >= CACHE_MAX_BATCHES || self.bytes + size > CACHE_MAX_BYTES {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(b) = self.map.remove(&old) {
                self.bytes = self.bytes.saturating_sub(b.get_array_memory_size());
            }
        }
        self.bytes += size;
        self.order.push_back(key);
        self.map.insert(key, batch);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn batch_cache_is_bounded() {
        let mut cache = BatchCache::default();
        let batch = RecordBatch::new_empty(Arc::new(arrow::datatypes::Schema::empty()));
        for i in 0..(CACHE_MAX_BATCHES as u64 + 10) {
            cache.insert((0, i), batch.clone());
        }
        assert_eq!(cache.map.len(), CACHE_MAX_BATCHES);
        assert!(cache.get((0, 0)).is_none());
        assert!(cache.get((0, CACHE_MAX_BATCHES as u64 + 9)).is_some());
    }
}
