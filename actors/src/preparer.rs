//! [`Preparer`]: a function node's preparing thread. The half of each push that needs
//! none of the node's state ([`PushPreparer::prepare`]: hashing the packets by content,
//! which may read files, and reading their stored results) runs here, off the actor
//! thread, one batch after another in arrival order; each answer goes back to the node
//! actor as [`Prepared`], which takes it in that order.
//!
//! The channel to the thread is unbounded, but what waits in it is not: a node returns
//! no credit upstream while a batch of its is being prepared. The thread only prepares:
//! it must never drive the node's state machine nor write results.

use std::panic::{catch_unwind, AssertUnwindSafe};

use actix::Recipient;
use arrow::record_batch::RecordBatch;
use crossbeam_channel::Sender;
use orcapod::function::{panic_message, PushPreparer};
use orcapod::Error;

use crate::messages::Prepared;

/// The preparing thread of one function node, and how many of its batches are being
/// prepared.
pub(crate) struct Preparer {
    batches: Option<Sender<RecordBatch>>,
    thread: Option<std::thread::JoinHandle<()>>,
    in_flight: usize,
}

impl Preparer {
    /// Starts the thread of node `name`; answers go to `node`.
    pub(crate) fn start(
        preparer: PushPreparer,
        node: Recipient<Prepared>,
        name: &str,
    ) -> std::io::Result<Self> {
        let (tx, rx) = crossbeam_channel::unbounded::<RecordBatch>();
        let thread = std::thread::Builder::new()
            .name(format!("orcapod-prep-{name}"))
            .spawn(move || {
                while let Ok(batch) = rx.recv() {
                    let result = catch_unwind(AssertUnwindSafe(|| preparer.prepare(batch)))
                        .unwrap_or_else(|panic| {
                            Err(Error::internal(format!(
                                "preparing a push panicked: {}",
                                panic_message(&*panic)
                            )))
                        });
                    if !node.connected() {
                        return;
                    }
                    node.do_send(Prepared { result });
                }
            })?;
        Ok(Preparer {
            batches: Some(tx),
            thread: Some(thread),
            in_flight: 0,
        })
    }

    /// Hands a batch to the thread; false if the thread is gone.
    pub(crate) fn send(&mut self, batch: RecordBatch) -> bool {
        let sent = self
            .batches
            .as_ref()
            .is_some_and(|tx| tx.send(batch).is_ok());
        if sent {
            self.in_flight += 1;
        }
        sent
    }

    /// One batch's answer was taken.
    pub(crate) fn done(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// Whether no batch is being prepared.
    pub(crate) fn idle(&self) -> bool {
        self.in_flight == 0
    }

    /// Ends the thread: at once when idle (it has nothing left to do), else it ends
    /// by itself after its current batch, its answer going nowhere.
    pub(crate) fn close(mut self) {
        self.batches = None;
        if let (true, Some(thread)) = (self.idle(), self.thread.take()) {
            let _ = thread.join();
        }
    }
}
