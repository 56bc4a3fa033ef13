//! The message protocol between actors.
//!
//! Data-ordered control travels in band: a node's [`Input`] messages to one consumer
//! port are `Data*` followed by exactly one `End`, in order (actix delivers one actor's
//! messages in FIFO order). Flow control travels back as [`Credit`]: a consumer returns
//! the rows of a batch once it has processed it *and* its own outputs have drained, so a
//! producer never has more than the window's rows in flight to a consumer. Urgent
//! control ([`Stop`]) comes from the supervisor.

use actix::Message;
use arrow::record_batch::RecordBatch;

/// Data or end-of-stream for one input port of a node.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) enum Input {
    /// A batch for input `port`, with the schema of that input.
    Data { port: usize, batch: RecordBatch },
    /// Input `port` has no more batches.
    End { port: usize },
}

/// A consumer returns `rows` of credit on the producer's output edge `edge`.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Credit {
    pub edge: usize,
    pub rows: usize,
}

/// Sent by the supervisor once every actor is wired: sources start emitting.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Start;

/// Sent by the supervisor to stop an actor at once (failure or cancellation).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Stop;
