//! [`StoreWriter`]: the threads that apply and flush a run's store writes, one batch
//! after another, and acknowledge each batch to the supervisor ([`Flushed`]).
//!
//! Keying threads (one per CPU, at most [`KEYERS`]) build the pipeline records of each
//! batch (a hash per row) and prepare its writes (the store compresses them:
//! `orcapod::store::prepare_writes`), and one thread applies and flushes the prepared
//! batches, so keying and encoding overlap writing. A batch holds results with the records naming them and is
//! applied whole; batches are independent (first write wins per id), so their order does
//! not matter. The markers of the record groups a batch stored (see
//! `orcapod::store::PendingRecords`) are written only after that batch and every batch
//! handed over before it are flushed (batches are numbered as they are handed over; the
//! keyers may finish them out of order): with a later batch, or when the writer closes.
//! So a marker is never durable without its records, even a marker standing for records
//! a node handed out in earlier batches (the whole of an input batch).
//!
//! The channels are unbounded, but what waits in them is not: each node holds its input
//! credit back while too many of its rows wait to be stored (acknowledged through
//! [`Flushed::owners`]), so a slow store slows the nodes that write to it.
//!
//! The writer only stores what it is handed: it must never decide when to flush (the
//! supervisor batches writes), run on an actor thread, nor know the supervisor's type
//! (it acknowledges through a [`Recipient`]).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use actix::Recipient;
use crossbeam_channel::Sender;
use orcapod::store::ArrowStore;
use orcapod::store::{apply_prepared, apply_writes, prepare_writes, PreparedRecords, StoreWrite};

use crate::messages::{Flushed, StoreWrites};

/// At most this many threads key pipeline records for the store writer.
const KEYERS: usize = 4;

/// A batch of writes built and prepared by a keyer (and the markers of its record
/// groups), its number, and whose rows they are.
type Built = (
    u64,
    orcapod::Result<(Vec<PreparedRecords>, Vec<StoreWrite>)>,
    Vec<(usize, usize)>,
);

/// The store-writer threads of one run.
pub(crate) struct StoreWriter {
    batches: Option<Sender<(u64, StoreWrites)>>,
    /// The number of the next batch handed over.
    next: AtomicU64,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// The markers of flushed batches, waiting until every batch before theirs is flushed.
#[derive(Default)]
struct Markers {
    /// Every batch numbered below this one is flushed.
    flushed_below: u64,
    /// Flushed batches numbered at or above `flushed_below`.
    flushed: BTreeSet<u64>,
    /// Markers by the number of their batch.
    waiting: Vec<(u64, Vec<StoreWrite>)>,
}

impl Markers {
    /// Batch `batch` is flushed, with `markers`.
    fn flushed(&mut self, batch: u64, markers: Vec<StoreWrite>) {
        self.waiting.push((batch, markers));
        self.flushed.insert(batch);
        while self.flushed.remove(&self.flushed_below) {
            self.flushed_below += 1;
        }
    }

    /// The markers whose batch and every batch before it are flushed.
    fn ready(&mut self) -> Vec<StoreWrite> {
        let below = self.flushed_below;
        let (ready, waiting) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition::<Vec<_>, _>(|(b, _)| *b < below);
        self.waiting = waiting;
        ready.into_iter().flat_map(|(_, m)| m).collect()
    }
}

impl StoreWriter {
    /// Starts the writer on `store`; each batch handed over is acknowledged once to
    /// `flushed`.
    pub(crate) fn start(
        store: Arc<dyn ArrowStore>,
        flushed: Recipient<Flushed>,
    ) -> std::io::Result<Self> {
        let (tx, rx) = crossbeam_channel::unbounded::<(u64, StoreWrites)>();
        let (built_tx, built_rx) = crossbeam_channel::unbounded::<Built>();
        let keyers = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .clamp(1, KEYERS);
        let mut threads = Vec::with_capacity(keyers + 1);
        for i in 0..keyers {
            let rx = rx.clone();
            let built_tx = built_tx.clone();
            let store = store.clone();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("orcapod-store-keyer-{i}"))
                    .spawn(move || {
                        let store = store.as_ref();
                        while let Ok((
                            number,
                            StoreWrites {
                                mut writes,
                                records,
                                owners,
                            },
                        )) = rx.recv()
                        {
                            let mut markers = Vec::new();
                            let built = records
                                .into_iter()
                                .try_for_each(|r| {
                                    let built = r.build()?;
                                    writes.extend(built.records);
                                    markers.extend(built.marker);
                                    Ok(())
                                })
                                .and_then(|()| Ok((prepare_writes(store, writes)?, markers)));
                            if built_tx.send((number, built, owners)).is_err() {
                                return;
                            }
                        }
                    })?,
            );
        }
        drop(built_tx);
        let writer = std::thread::Builder::new()
            .name("orcapod-store-writer".to_string())
            .spawn(move || {
                // Markers of flushed batches, written with a later batch once every
                // batch before theirs is flushed too.
                let mut markers = Markers::default();
                while let Ok((number, built, owners)) = built_rx.recv() {
                    let result = built.and_then(|(prepared, batch_markers)| {
                        apply_writes(store.as_ref(), markers.ready())?;
                        apply_prepared(store.as_ref(), prepared)?;
                        store.flush()?;
                        markers.flushed(number, batch_markers);
                        Ok(())
                    });
                    flushed.do_send(Flushed { result, owners });
                }
                // Losing these would only cost the next run the hashing they save.
                let ready = markers.ready();
                if !ready.is_empty() && apply_writes(store.as_ref(), ready).is_ok() {
                    let _ = store.flush();
                }
            })?;
        threads.push(writer);
        Ok(StoreWriter {
            batches: Some(tx),
            next: AtomicU64::new(0),
            threads,
        })
    }

    /// Hands a batch over; false if the writer is gone.
    pub(crate) fn send(&self, writes: StoreWrites) -> bool {
        let number = self.next.fetch_add(1, Ordering::Relaxed);
        self.batches
            .as_ref()
            .is_some_and(|tx| tx.send((number, writes)).is_ok())
    }

    /// Ends the threads once their queues are done.
    pub(crate) fn close(&mut self) {
        self.batches = None;
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orcapod::store::{RecordIds, RecordPath};

    fn marker(id: &str) -> StoreWrite {
        let schema = std::sync::Arc::new(arrow::datatypes::Schema::empty());
        StoreWrite {
            path: RecordPath::parse("m").unwrap(),
            ids: RecordIds::Known(vec![id.to_string()]),
            batch: arrow::array::RecordBatch::try_new_with_options(
                schema,
                vec![],
                &arrow::array::RecordBatchOptions::new().with_row_count(Some(1)),
            )
            .unwrap(),
        }
    }

    fn ids(markers: Vec<StoreWrite>) -> Vec<String> {
        markers
            .into_iter()
            .flat_map(|m| match m.ids {
                RecordIds::Known(ids) => ids,
                _ => Vec::new(),
            })
            .collect()
    }

    #[test]
    fn markers_wait_for_every_earlier_batch_to_be_flushed() {
        let mut markers = Markers::default();
        // Batch 1 is flushed before batch 0: its marker waits.
        markers.flushed(1, vec![marker("b1")]);
        assert!(ids(markers.ready()).is_empty());
        markers.flushed(0, vec![marker("b0")]);
        markers.flushed(3, vec![marker("b3")]);
        assert_eq!(ids(markers.ready()), ["b1", "b0"]);
        assert!(ids(markers.ready()).is_empty());
        markers.flushed(2, vec![]);
        assert_eq!(ids(markers.ready()), ["b3"]);
    }
}
