//! The message protocol between the actors of a run, and the addresses they send to.
//!
//! Every message an actor of this crate receives is defined here, grouped by who sends
//! it to whom:
//!
//! - node → node: data-ordered control travels in band: a node's [`Input`] messages to
//!   one consumer port are `Data*` followed by exactly one `End`, in order (actix
//!   delivers one actor's messages in FIFO order). Flow control travels back as
//!   [`Credit`]: a consumer returns the rows of a batch once it has processed it *and*
//!   its own outputs have drained, so a producer never has more than the window's rows
//!   in flight to a consumer.
//! - supervisor → node: [`Start`] once every actor is wired, urgent [`Stop`],
//!   [`WritesStored`].
//! - worker pool → function node: [`JobDone`], [`PoolFailed`]; its preparing thread →
//!   function node: [`Prepared`].
//! - node → itself: [`Drain`], [`FunctionStep`]; a file source's reader thread → its
//!   node: [`SourceReady`].
//! - node → supervisor ([`SupervisorLink`]): [`NodeEnded`], [`NodeFailed`],
//!   [`PacketsFailed`], [`StoreWrites`], [`Collected`].
//! - store writer → supervisor: [`Flushed`]; the caller's handle → supervisor:
//!   [`Cancel`]; the runtime → supervisor: [`Wired`] (with a [`NodeLink`] per node).
//!
//! Actors know each other only through these messages: a node holds a
//! [`SupervisorLink`], the supervisor a [`NodeLink`] per node, edges and worker pools
//! [`Recipient`]s, so no actor module names another's type. This module defines data
//! only: it must never hold behaviour of an actor nor depend on another module of the
//! crate.

use std::sync::Arc;

use actix::{Actor, Addr, Context, Handler, Message, Recipient};
use arrow::record_batch::RecordBatch;
use orcapod::function::{Completed, PacketCounts, PacketFailure, PreparedPush};
use orcapod::model::StreamSchema;
use orcapod::store::{PendingRecords, StoreWrite};

// ---- node → node ----

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

// ---- supervisor → node ----

/// Sent by the supervisor once every actor is wired: sources start emitting.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Start;

/// Sent by the supervisor to stop an actor at once (failure or cancellation).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Stop;

// ---- worker pool → function node ----

/// A worker computed the next packets of a job (all of them, or those done so far).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct JobDone {
    pub id: u64,
    pub completed: orcapod::Result<Completed>,
}

/// The pool could not start any thread: the node fails.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct PoolFailed {
    pub message: String,
}

// ---- node → itself ----

/// Self-message: process the inbox.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Drain;

/// From a file source's reader thread: a batch was read (or the reading ended).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct SourceReady;

/// Self-message: hand out what the function node completed since the last step.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct FunctionStep;

// ---- node → supervisor ----

/// A node has delivered its end of stream to every consumer and stopped.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct NodeEnded {
    pub index: usize,
    /// Packet counts of a function node.
    pub counts: Option<PacketCounts>,
}

/// Packets failed in a function node under the continue policy.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct PacketsFailed {
    pub index: usize,
    pub failures: Vec<PacketFailure>,
}

/// Rows to store (and flush) on behalf of a node: results and records of a function
/// node, or the output rows of an operator in `CacheMode::Log`.
/// The supervisor buffers them in one such value and hands that to the store writer.
#[derive(Message, Default)]
#[rtype(result = "()")]
pub(crate) struct StoreWrites {
    pub writes: Vec<StoreWrite>,
    /// Pipeline records of a function node, built (a hash per row) on the store-writer
    /// thread and stored with the results they name.
    pub records: Vec<PendingRecords>,
    /// Whose rows these are: (node index, rows), each acknowledged with
    /// [`WritesStored`] once stored (or dropped).
    pub owners: Vec<(usize, usize)>,
}

impl StoreWrites {
    pub(crate) fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.records.is_empty()
    }

    /// The rows to store.
    pub(crate) fn rows(&self) -> usize {
        self.writes.iter().map(StoreWrite::len).sum::<usize>()
            + self.records.iter().map(PendingRecords::len).sum::<usize>()
    }

    pub(crate) fn extend(&mut self, other: StoreWrites) {
        self.writes.extend(other.writes);
        self.records.extend(other.records);
        self.owners.extend(other.owners);
    }
}

/// A function node's preparing thread hands back one pushed batch, prepared (its
/// packets hashed and their stored results read), or why it could not be.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Prepared {
    pub result: orcapod::Result<PreparedPush>,
}

/// A node failed (an error or a panic in its state machine).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct NodeFailed {
    pub index: usize,
    pub message: String,
}

/// A collector hands over the rows of the node it collected.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Collected {
    pub node: String,
    pub schema: Arc<StreamSchema>,
    pub batches: Vec<RecordBatch>,
}

// ---- store writer, caller and runtime → supervisor ----

/// The store writer applied and flushed one batch of writes.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Flushed {
    pub result: orcapod::Result<()>,
    /// Whose rows the batch held ([`StoreWrites::owners`]).
    pub owners: Vec<(usize, usize)>,
}

/// Supervisor → node: `rows` of the rows the node handed over to be stored are stored
/// (or will never be: the run is ending), so they no longer hold its credit back.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct WritesStored {
    pub rows: usize,
}

/// The caller cancels the run; `reason` (e.g. `SIGINT`) goes to the run log.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Cancel {
    pub reason: String,
}

/// The wired actors, handed over once every address exists.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Wired {
    pub nodes: Vec<NodeLink>,
}

// ---- addresses ----

/// Where a node sends what it reports to the supervisor of its run.
pub(crate) struct SupervisorLink {
    pub ended: Recipient<NodeEnded>,
    pub failed: Recipient<NodeFailed>,
    pub packets_failed: Recipient<PacketsFailed>,
    pub writes: Recipient<StoreWrites>,
    pub collected: Recipient<Collected>,
}

impl SupervisorLink {
    /// The link to `supervisor`, an actor taking every node report.
    pub(crate) fn to<A>(supervisor: &Addr<A>) -> Self
    where
        A: Actor<Context = Context<A>>
            + Handler<NodeEnded>
            + Handler<NodeFailed>
            + Handler<PacketsFailed>
            + Handler<StoreWrites>
            + Handler<Collected>,
    {
        SupervisorLink {
            ended: supervisor.clone().recipient(),
            failed: supervisor.clone().recipient(),
            packets_failed: supervisor.clone().recipient(),
            writes: supervisor.clone().recipient(),
            collected: supervisor.clone().recipient(),
        }
    }
}

/// Where the supervisor sends its control messages to one node.
pub(crate) struct NodeLink {
    pub start: Recipient<Start>,
    pub stop: Recipient<Stop>,
    pub stored: Recipient<WritesStored>,
}

impl NodeLink {
    /// The link to `node`, an actor taking the supervisor's control messages.
    pub(crate) fn to<A>(node: &Addr<A>) -> Self
    where
        A: Actor<Context = Context<A>> + Handler<Start> + Handler<Stop> + Handler<WritesStored>,
    {
        NodeLink {
            start: node.clone().recipient(),
            stop: node.clone().recipient(),
            stored: node.clone().recipient(),
        }
    }

    /// Whether the node's actor is still alive.
    pub(crate) fn connected(&self) -> bool {
        self.stop.connected()
    }
}
