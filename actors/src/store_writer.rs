//! [`StoreWriter`]: the threads that apply and flush a run's store writes, one batch
//! after another, and acknowledge each batch to the supervisor ([`Flushed`]).
//!
//! Keying threads (one per CPU, at most [`KEYERS`]) build the pipeline records of each
//! batch (a hash per row) and prepare its writes (the store compresses them:
//! `orcapod::store::prepare_writes`), and one thread applies and flushes the prepared
//! batches, so keying and encoding overlap writing. A batch holds results with the records naming them and is
//! applied whole; batches are independent (first write wins per id), so their order does
//! not matter. The markers of the record groups a batch stored (see
//! `orcapod::store::PendingRecords`) are written only after that batch is flushed: with
//! the next batch, or when the writer closes; so a marker is never durable without its
//! records.
//!
//! The channels are unbounded, but what waits in them is not: each node holds its input
//! credit back while too many of its rows wait to be stored (acknowledged through
//! [`Flushed::owners`]), so a slow store slows the nodes that write to it.
//!
//! The writer only stores what it is handed: it must never decide when to flush (the
//! supervisor batches writes), run on an actor thread, nor know the supervisor's type
//! (it acknowledges through a [`Recipient`]).

use std::sync::Arc;

use actix::Recipient;
use crossbeam_channel::Sender;
use orcapod::store::ArrowStore;
use orcapod::store::{apply_prepared, apply_writes, prepare_writes, PreparedRecords, StoreWrite};

use crate::messages::{Flushed, StoreWrites};

/// At most this many threads key pipeline records for the store writer.
const KEYERS: usize = 4;

/// A batch of writes built and prepared by a keyer (and the markers of its record
/// groups), and whose rows they are.
type Built = (
    orcapod::Result<(Vec<PreparedRecords>, Vec<StoreWrite>)>,
    Vec<(usize, usize)>,
);

/// The store-writer threads of one run.
pub(crate) struct StoreWriter {
    batches: Option<Sender<StoreWrites>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl StoreWriter {
    /// Starts the writer on `store`; each batch handed over is acknowledged once to
    /// `flushed`.
    pub(crate) fn start(
        store: Arc<dyn ArrowStore>,
        flushed: Recipient<Flushed>,
    ) -> std::io::Result<Self> {
        let (tx, rx) = crossbeam_channel::unbounded::<StoreWrites>();
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
                        while let Ok(StoreWrites {
                            mut writes,
                            records,
                            owners,
                        }) = rx.recv()
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
                            if built_tx.send((built, owners)).is_err() {
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
                // Markers whose records are flushed, to be written with the next batch.
                let mut flushed_markers: Vec<StoreWrite> = Vec::new();
                while let Ok((built, owners)) = built_rx.recv() {
                    let result = built.and_then(|(prepared, markers)| {
                        apply_writes(store.as_ref(), std::mem::take(&mut flushed_markers))?;
                        apply_prepared(store.as_ref(), prepared)?;
                        store.flush()?;
                        flushed_markers = markers;
                        Ok(())
                    });
                    flushed.do_send(Flushed { result, owners });
                }
                // Losing these would only cost the next run the hashing they save.
                if !flushed_markers.is_empty()
                    && apply_writes(store.as_ref(), flushed_markers).is_ok()
                {
                    let _ = store.flush();
                }
            })?;
        threads.push(writer);
        Ok(StoreWriter {
            batches: Some(tx),
            threads,
        })
    }

    /// Hands a batch over; false if the writer is gone.
    pub(crate) fn send(&self, writes: StoreWrites) -> bool {
        self.batches
            .as_ref()
            .is_some_and(|tx| tx.send(writes).is_ok())
    }

    /// Ends the threads once their queues are done.
    pub(crate) fn close(&mut self) {
        self.batches = None;
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}
