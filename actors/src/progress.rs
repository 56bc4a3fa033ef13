//! Per-node progress counters, shared between the actors and the caller's handle.
//!
//! Counters are plain atomics: actors only add, observers only read, and a snapshot is
//! not a consistent cut across nodes (it does not need to be).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// A snapshot of one node's progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeProgress {
    /// The node's name.
    pub name: String,
    /// Rows the node has emitted so far.
    pub rows_out: u64,
    /// Batches the node has emitted so far.
    pub batches_out: u64,
    /// Rows the node has emitted that its consumers have not yet released: in flight
    /// on its edges plus queued for sending (a row sent to two consumers counts twice).
    pub rows_buffered: u64,
    /// Whether the node has sent its end of stream.
    pub ended: bool,
    /// Function nodes: packets computed so far in this run (0 for other nodes).
    pub computed: u64,
    /// Function nodes: packets served from stored results so far.
    pub cached: u64,
    /// Function nodes: packets failed so far (after their retries).
    pub failed: u64,
    /// Function nodes: retries so far (packets computed again after a failed attempt).
    pub retried: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    rows_out: AtomicU64,
    batches_out: AtomicU64,
    buffered: AtomicU64,
    ended: AtomicBool,
    computed: AtomicU64,
    cached: AtomicU64,
    failed: AtomicU64,
    retried: AtomicU64,
}

/// The counters of every node of one run, in pipeline order.
#[derive(Debug)]
pub(crate) struct Progress {
    names: Vec<String>,
    counters: Vec<Counters>,
}

impl Progress {
    pub(crate) fn new(names: Vec<String>) -> Self {
        let counters = names.iter().map(|_| Counters::default()).collect();
        Progress { names, counters }
    }

    pub(crate) fn emitted(&self, node: usize, rows: usize) {
        let c = &self.counters[node];
        c.rows_out.fetch_add(rows as u64, Ordering::Relaxed);
        c.batches_out.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn buffered(&self, node: usize, rows: usize) {
        self.counters[node]
            .buffered
            .store(rows as u64, Ordering::Relaxed);
    }

    /// Sets a function node's packet counts (they only grow).
    pub(crate) fn packets(&self, node: usize, counts: &orcapod::function::PacketCounts) {
        let c = &self.counters[node];
        c.computed.store(counts.computed, Ordering::Relaxed);
        c.cached.store(counts.cached, Ordering::Relaxed);
        c.failed.store(counts.failed, Ordering::Relaxed);
        c.retried.store(counts.retried, Ordering::Relaxed);
    }

    pub(crate) fn ended(&self, node: usize) {
        self.counters[node].ended.store(true, Ordering::Relaxed);
    }

    /// A node's packet counts as they stand (all 0 for nodes other than function nodes).
    pub(crate) fn counts(&self, node: usize) -> orcapod::function::PacketCounts {
        let c = &self.counters[node];
        orcapod::function::PacketCounts {
            cached: c.cached.load(Ordering::Relaxed),
            computed: c.computed.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            retried: c.retried.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn snapshot(&self) -> Vec<NodeProgress> {
        self.names
            .iter()
            .zip(&self.counters)
            .map(|(name, c)| NodeProgress {
                name: name.clone(),
                rows_out: c.rows_out.load(Ordering::Relaxed),
                batches_out: c.batches_out.load(Ordering::Relaxed),
                rows_buffered: c.buffered.load(Ordering::Relaxed),
                ended: c.ended.load(Ordering::Relaxed),
                computed: c.computed.load(Ordering::Relaxed),
                cached: c.cached.load(Ordering::Relaxed),
                failed: c.failed.load(Ordering::Relaxed),
                retried: c.retried.load(Ordering::Relaxed),
            })
            .collect()
    }
}
