//! [`Preparer`]: a function node's preparing threads. The half of each push that needs
//! none of the node's state ([`PushPreparer::prepare`]: hashing the packets by content,
//! which may read files, and reading their stored results) runs here, off the actor
//! thread: one thread per CPU (at most [`THREADS`]) takes the batches as they come,
//! so that consecutive batches are prepared at once, and the answers go back to the
//! node actor as [`Prepared`] in arrival order ([`InOrder`]), the order the node takes
//! them in.
//!
//! The channel to the threads is unbounded, but what waits in it is not: a node returns
//! no credit upstream while a batch of its is being prepared. The threads only prepare:
//! they must never drive the node's state machine nor write results.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use actix::Recipient;
use arrow::record_batch::RecordBatch;
use crossbeam_channel::Sender;
use orcapod::function::{panic_message, PreparedPush, PushPreparer};
use orcapod::Error;

use crate::messages::Prepared;

/// At most this many threads prepare the batches of one function node.
const THREADS: usize = 2;

/// What one batch's preparing gives.
type Answer = orcapod::Result<PreparedPush>;

/// Answers numbered in arrival order, let out in that order: an answer waits until
/// every earlier one is out.
#[derive(Debug)]
pub(crate) struct InOrder<T> {
    next: u64,
    waiting: BTreeMap<u64, T>,
}

impl<T> InOrder<T> {
    pub(crate) fn new() -> Self {
        InOrder {
            next: 0,
            waiting: BTreeMap::new(),
        }
    }

    /// Takes answer `number` and gives every answer now due, in order.
    pub(crate) fn take(&mut self, number: u64, answer: T) -> Vec<T> {
        self.waiting.insert(number, answer);
        let mut due = Vec::new();
        while let Some(answer) = self.waiting.remove(&self.next) {
            due.push(answer);
            self.next += 1;
        }
        due
    }
}

/// The preparing threads of one function node, and how many of its batches are being
/// prepared.
pub(crate) struct Preparer {
    batches: Option<Sender<(u64, RecordBatch)>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    /// The number the next batch gets (arrival order).
    next: u64,
    in_flight: usize,
}

impl Preparer {
    /// Starts the threads of node `name`; answers go to `node`.
    pub(crate) fn start(
        preparer: PushPreparer,
        node: Recipient<Prepared>,
        name: &str,
    ) -> std::io::Result<Self> {
        let (tx, rx) = crossbeam_channel::unbounded::<(u64, RecordBatch)>();
        let in_order = Arc::new(Mutex::new(InOrder::<Answer>::new()));
        let n = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .clamp(1, THREADS);
        let mut threads = Vec::with_capacity(n);
        for i in 0..n {
            let (rx, preparer, node, in_order) =
                (rx.clone(), preparer.clone(), node.clone(), in_order.clone());
            threads.push(
                std::thread::Builder::new()
                    .name(format!("orcapod-prep-{name}-{i}"))
                    .spawn(move || {
                        while let Ok((number, batch)) = rx.recv() {
                            let answer = catch_unwind(AssertUnwindSafe(|| preparer.prepare(batch)))
                                .unwrap_or_else(|panic| {
                                    Err(Error::internal(format!(
                                        "preparing a push panicked: {}",
                                        panic_message(&*panic)
                                    )))
                                });
                            if !node.connected() {
                                return;
                            }
                            // Sent while holding the lock, so answers leave in order.
                            let Ok(mut in_order) = in_order.lock() else {
                                return;
                            };
                            for result in in_order.take(number, answer) {
                                node.do_send(Prepared { result });
                            }
                        }
                    })?,
            );
        }
        Ok(Preparer {
            batches: Some(tx),
            threads,
            next: 0,
            in_flight: 0,
        })
    }

    /// Hands a batch to the threads; false if they are gone.
    pub(crate) fn send(&mut self, batch: RecordBatch) -> bool {
        let number = self.next;
        let sent = self
            .batches
            .as_ref()
            .is_some_and(|tx| tx.send((number, batch)).is_ok());
        if sent {
            self.next += 1;
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

    /// Ends the threads: at once when idle (they have nothing left to do), else each
    /// ends by itself after its current batch, its answer going nowhere.
    pub(crate) fn close(mut self) {
        self.batches = None;
        if self.idle() {
            for thread in self.threads.drain(..) {
                let _ = thread.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::InOrder;

    #[test]
    fn answers_leave_in_arrival_order_whatever_order_they_come_in() {
        let mut in_order = InOrder::new();
        assert!(in_order.take(1, "b").is_empty(), "1 waits for 0");
        assert!(in_order.take(3, "d").is_empty(), "3 waits for 0 and 2");
        assert_eq!(in_order.take(0, "a"), ["a", "b"]);
        assert_eq!(in_order.take(2, "c"), ["c", "d"]);
        assert_eq!(in_order.take(4, "e"), ["e"]);
    }
}
