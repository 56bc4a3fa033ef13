//! How a run ended, as the caller sees it ([`RunOutput`], [`RunError`], [`NodeFailure`])
//! and as the run log records it ([`logged_outcome`]).
//!
//! These are plain values: this module must never talk to an actor, touch the store or
//! read the clock. Message texts here are part of the output (the command line prints
//! them, the run log keeps them): never change them.

use std::collections::HashMap;

use orcapod::model::Stream;
use orcapod::pipeline::{NodeStats, RunOutcome, RunWarning};

/// The node named by a failure to store.
pub(crate) const STORE_NODE: &str = "store";

/// A node that failed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFailure {
    /// The node's name.
    pub node: String,
    /// The error message.
    pub message: String,
}

/// What a finished run produced.
#[derive(Debug)]
pub struct RunOutput {
    /// The collected rows of each requested output node.
    pub streams: HashMap<String, Stream>,
    /// Node failures recorded under [`ErrorPolicy::Continue`](crate::ErrorPolicy).
    pub failures: Vec<NodeFailure>,
    /// What each node did: packet counts and failed packets of function nodes.
    pub stats: Vec<NodeStats>,
    /// What the run found worth telling (see
    /// [`PipelineHandle::warnings`](crate::PipelineHandle::warnings)).
    pub warnings: Vec<RunWarning>,
}

impl RunOutput {
    /// The output of a run with no node.
    pub(crate) fn empty() -> Self {
        RunOutput {
            streams: HashMap::new(),
            failures: Vec::new(),
            stats: Vec::new(),
            warnings: Vec::new(),
        }
    }
}

/// Why a run did not complete.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The run's options do not fit the pipeline.
    #[error("invalid run: {0}")]
    Invalid(String),
    /// A node failed under the fail-fast policy.
    #[error("node `{}` failed: {}", .0.node, .0.message)]
    NodeFailed(NodeFailure),
    /// The caller cancelled the run.
    #[error("the run was cancelled")]
    Cancelled,
    /// The pipeline could not be built.
    #[error(transparent)]
    Build(#[from] orcapod::Error),
    /// The runtime stopped before the run ended.
    #[error("the actor runtime stopped before the run ended")]
    RuntimeStopped,
}

impl RunError {
    /// A failure to store: the run fails, naming the store as the failed node.
    pub(crate) fn store_failed(message: String) -> Self {
        RunError::NodeFailed(NodeFailure {
            node: STORE_NODE.to_string(),
            message,
        })
    }

    /// Whether a node (not the store) failed.
    pub(crate) fn is_node_failure(&self) -> bool {
        matches!(self, RunError::NodeFailed(f) if f.node != STORE_NODE)
    }
}

/// How the run log records `outcome`; `cancel_reason` is why the run was cancelled, if
/// it was.
pub(crate) fn logged_outcome(
    outcome: &Result<RunOutput, RunError>,
    cancel_reason: Option<&str>,
) -> RunOutcome {
    match outcome {
        Ok(_) => RunOutcome::Completed,
        Err(RunError::Cancelled) => RunOutcome::Interrupted {
            reason: cancel_reason.unwrap_or("cancelled").to_string(),
        },
        Err(RunError::NodeFailed(failure)) => RunOutcome::Failed {
            node: failure.node.clone(),
            reason: failure.message.clone(),
        },
        Err(other) => RunOutcome::Failed {
            node: String::new(),
            reason: other.to_string(),
        },
    }
}
