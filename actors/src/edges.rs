//! The credit protocol on a node's edges: [`Outputs`], the queues to its consumers with
//! their credit windows, and [`Inputs`], the credit it owes its producers.
//!
//! ```text
//!   producer ──Input::Data/End──▶ consumer
//!       ▲                            │ processed, and its own outputs drained
//!       └────────Credit (rows)◀──────┘
//! ```
//!
//! Invariants kept here:
//! - To each consumer, a node has at most `window_rows` rows in flight (sent, not yet
//!   credited back), or a single batch when the window is empty.
//! - A node sends `End` to each consumer exactly once, after all its data.
//! - Credit for an input batch is returned only when the node says so (once its own
//!   output queues have drained), so a stalled consumer stops its producers in turn.
//!
//! This module only moves batches and credit: it must never look into a batch, decide
//! when a node has drained, nor know what actor is at the other end (it holds
//! [`Recipient`]s).

use std::collections::VecDeque;

use actix::Recipient;
use arrow::record_batch::RecordBatch;

use crate::messages::{Credit, Input};

/// A connection to a consumer.
pub(crate) struct OutEdge {
    consumer: Recipient<Input>,
    port: usize,
    in_flight: usize,
    queue: VecDeque<RecordBatch>,
    end_queued: bool,
    end_sent: bool,
}

impl OutEdge {
    /// The edge to input `port` of `consumer`.
    pub(crate) fn new(consumer: Recipient<Input>, port: usize) -> Self {
        OutEdge {
            consumer,
            port,
            in_flight: 0,
            queue: VecDeque::new(),
            end_queued: false,
            end_sent: false,
        }
    }
}

/// A connection to a producer: where credit for this input goes.
pub(crate) struct InEdge {
    producer: Recipient<Credit>,
    /// The index of this connection among the producer's output edges.
    edge: usize,
    ended: bool,
}

impl InEdge {
    /// The edge from output edge `edge` of `producer`.
    pub(crate) fn new(producer: Recipient<Credit>, edge: usize) -> Self {
        InEdge {
            producer,
            edge,
            ended: false,
        }
    }
}

/// The output side of a node: one queue per consumer, sent as credit allows.
pub(crate) struct Outputs {
    edges: Vec<OutEdge>,
    window: usize,
}

impl Outputs {
    /// The outputs on `edges`, with at most `window_rows` rows in flight on each.
    pub(crate) fn new(edges: Vec<OutEdge>, window_rows: usize) -> Self {
        Outputs {
            edges,
            window: window_rows.max(1),
        }
    }

    /// Queues `batch` for every consumer.
    pub(crate) fn push(&mut self, batch: &RecordBatch) {
        for edge in &mut self.edges {
            edge.queue.push_back(batch.clone());
        }
    }

    /// Queues the end of stream for every consumer (sent after what is queued).
    pub(crate) fn end(&mut self) {
        for edge in &mut self.edges {
            edge.end_queued = true;
        }
    }

    /// Drops what is queued and queues the end of stream: consumers see a truncated
    /// stream.
    pub(crate) fn truncate(&mut self) {
        for edge in &mut self.edges {
            edge.queue.clear();
            edge.end_queued = true;
        }
    }

    /// A consumer returned `rows` of credit on edge `edge`.
    pub(crate) fn credit(&mut self, edge: usize, rows: usize) {
        if let Some(edge) = self.edges.get_mut(edge) {
            edge.in_flight = edge.in_flight.saturating_sub(rows);
        }
    }

    /// Sends what the windows allow, then the end of stream where it is due.
    pub(crate) fn pump(&mut self) {
        let window = self.window;
        for edge in &mut self.edges {
            while let Some(front) = edge.queue.front() {
                let rows = front.num_rows();
                if edge.in_flight > 0 && edge.in_flight + rows > window {
                    break;
                }
                let batch = edge.queue.pop_front().expect("front exists");
                edge.in_flight += rows;
                edge.consumer.do_send(Input::Data {
                    port: edge.port,
                    batch,
                });
            }
            if edge.queue.is_empty() && edge.end_queued && !edge.end_sent {
                edge.end_sent = true;
                edge.consumer.do_send(Input::End { port: edge.port });
            }
        }
    }

    /// True when no batch waits in a queue.
    pub(crate) fn queues_empty(&self) -> bool {
        self.edges.iter().all(|e| e.queue.is_empty())
    }

    /// True when every consumer has been sent its end of stream.
    pub(crate) fn ends_sent(&self) -> bool {
        self.edges.iter().all(|e| e.end_sent)
    }

    /// Rows emitted and not yet released by the consumers: in flight plus queued (a row
    /// sent to two consumers counts twice).
    pub(crate) fn buffered_rows(&self) -> usize {
        self.edges
            .iter()
            .map(|e| e.in_flight + e.queue.iter().map(RecordBatch::num_rows).sum::<usize>())
            .sum()
    }
}

/// The input side of a node: which inputs ended, and the credit it holds back.
pub(crate) struct Inputs {
    edges: Vec<InEdge>,
    /// Rows received per port and not yet credited back, in arrival order.
    pending_credit: Vec<(usize, usize)>,
}

impl Inputs {
    /// The inputs on `edges`, in port order.
    pub(crate) fn new(edges: Vec<InEdge>) -> Self {
        Inputs {
            edges,
            pending_credit: Vec::new(),
        }
    }

    /// A batch of `rows` arrived on `port`: its credit is owed.
    pub(crate) fn received(&mut self, port: usize, rows: usize) {
        self.pending_credit.push((port, rows));
    }

    /// Input `port` ended.
    pub(crate) fn end(&mut self, port: usize) {
        if let Some(edge) = self.edges.get_mut(port) {
            edge.ended = true;
        }
    }

    /// True when every input has ended.
    pub(crate) fn all_ended(&self) -> bool {
        self.edges.iter().all(|i| i.ended)
    }

    /// Returns every owed credit to its producer.
    pub(crate) fn return_credit(&mut self) {
        for (port, rows) in self.pending_credit.drain(..) {
            let input = &self.edges[port];
            input.producer.do_send(Credit {
                edge: input.edge,
                rows,
            });
        }
    }
}
