//! What each node actor is built from: its role ([`Behavior`]) with the state machine
//! it drives, its schemas and operator log ([`NodeSetup`]), and the settings shared by
//! every actor of a run ([`ActorConfig`]).
//!
//! [`Runtime::start`](crate::Runtime::start) builds these on the caller's thread, so
//! that build errors reach the caller directly. This module holds data only: it must
//! never drive a state machine, talk to an actor nor start a thread.

use std::collections::VecDeque;
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use crossbeam_channel::Sender;
use orcapod::function::FunctionNode;
use orcapod::model::StreamSchema;
use orcapod::operator::Operator;
use orcapod::pipeline::OperatorLog;

use crate::endpoints::SourceRows;
use crate::pools::Pool;
use crate::preparer::Preparer;
use crate::slurm::SlurmNode;

/// Settings shared by every actor of one run.
#[derive(Debug, Clone)]
pub(crate) struct ActorConfig {
    pub max_batch_rows: usize,
    pub window_rows: usize,
    pub continue_on_error: bool,
    pub jitter_seed: Option<u64>,
    pub default_max_concurrency: usize,
}

/// What a node does with its inputs.
pub(crate) enum Behavior {
    /// Emits its rows (in memory, read from a file, or from a live feed), then ends.
    Source { rows: SourceRows, exhausted: bool },
    /// Runs an operator state machine.
    Operator(Box<dyn Operator>),
    /// Runs a function node: cache lookups here, computations on a worker pool.
    Function {
        state: Box<FunctionNode>,
        pool: Option<Pool>,
        /// Set when the node runs on Slurm (taken when the pool starts).
        slurm: Option<Box<SlurmNode>>,
        /// Hashes pushed packets and reads their stored results off the actor thread
        /// (started with the actor).
        preparer: Option<Preparer>,
    },
    /// Collects (or forwards to a subscriber) the output of one node.
    Collector {
        node: String,
        keep: bool,
        collected: Vec<RecordBatch>,
        subscriber: Option<Sender<RecordBatch>>,
        blocked: VecDeque<RecordBatch>,
    },
}

/// Everything needed to build a node actor except its edges.
pub(crate) struct NodeSetup {
    pub index: usize,
    pub behavior: Behavior,
    /// The schema of what the node emits (for a collector: of what it collects).
    pub schema: Arc<StreamSchema>,
    /// The schema of each input port.
    pub input_schemas: Vec<Arc<StreamSchema>>,
    /// Where an operator in `CacheMode::Log` stores its output rows (with a store only).
    pub log: Option<OperatorLog>,
}
