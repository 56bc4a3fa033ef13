//! [`RunningNode`]: what a plan node becomes when a run starts, decided in one place
//! ([`start_node`]) for both executors, and driven through one interface.
//!
//! | plan node | running node |
//! |---|---|
//! | source | its rows ([`Role::Rows`]), a file read batch by batch as the driver asks |
//! | cached source (with a store) | the rows stored so far and the current ones, after storing them ([`Pipeline::cached_source`]); lookup-only: without storing ([`Pipeline::cached_source_lookup`]) |
//! | operator in `CacheMode::Replay` | its stored rows, with a warning when there are none ([`Pipeline::replay_or_warn`]) |
//! | operator | the operator state machine, with its log in `CacheMode::Log` ([`Role::Operator`]) |
//! | function | the [`FunctionNode`] state machine, lookup-only when asked ([`Role::Function`]) |
//!
//! The interface: [`push`](RunningNode::push) a batch on a port (a function node hands
//! out [`Job`]s, whose results come back through [`complete`](RunningNode::complete)),
//! [`finish`](RunningNode::finish) a port, and take what the node has for its driver:
//! [`take_output`](RunningNode::take_output), [`take_writes`](RunningNode::take_writes),
//! [`take_failures`](RunningNode::take_failures),
//! [`take_warnings`](RunningNode::take_warnings). The synchronous executor drives
//! running nodes through it; the actor runtime takes their [`Role`] apart and schedules
//! each part in its actors.
//!
//! Starting a node may read the store (stored rows of a replaying operator or a cached
//! source) and, for a cached source in a run, write and flush it: that is the one store
//! access outside the nodes' explicit reads and writes. This module never spawns,
//! sleeps or decides an error policy.

use std::sync::Arc;

use arrow::array::RecordBatch;

use crate::error::{Error, Result};
use crate::function::node::{Completed, FunctionNode, Job, PacketCounts, PacketFailure};
use crate::model::StreamSchema;
use crate::operator::Operator;
use crate::pipeline::{CacheMode, NodeKind, OperatorLog, Pipeline, RunWarning};
use crate::source::SourceReader;
use crate::store::{ArrowStore, StoreWrite};

/// How the nodes of a run are started.
#[derive(Debug, Clone, Default)]
pub struct NodeSettings {
    /// The store, already scoped to the pipeline (`store.at(&[pipeline name])`).
    pub store: Option<Arc<dyn ArrowStore>>,
    /// Lookup-only: nothing is computed or written (see the synchronous executor's
    /// `lookup_only`).
    pub lookup_only: bool,
}

/// What a running node is, for a driver that schedules its parts itself.
pub enum Role {
    /// Rows to emit: a source's (a file's read batch by batch, as the driver asks:
    /// reading may block on a pipe, see [`SourceReader::reads_file`]), a cached
    /// source's or a replaying operator's (in memory).
    Rows(SourceReader),
    /// An operator state machine and, in `CacheMode::Log` with a store, its log.
    Operator {
        /// The state machine.
        operator: Box<dyn Operator>,
        /// Where its output rows are logged.
        log: Option<OperatorLog>,
    },
    /// A function node's state machine.
    Function(Box<FunctionNode>),
}

/// One node of a run, started.
pub struct RunningNode {
    name: String,
    schema: Arc<StreamSchema>,
    role: Role,
    /// Output taken from an operator, not yet handed out.
    ready: Vec<RecordBatch>,
    /// Output handed out by a logging operator, not yet logged.
    to_log: Vec<RecordBatch>,
    warnings: Vec<RunWarning>,
    /// A lookup-only function node reported its missing results.
    missing_reported: bool,
}

/// Starts node `index` of `pipeline`: the one place where a plan node becomes a
/// running node (see the module docs). Errors name the node.
pub fn start_node(
    pipeline: &Pipeline,
    index: usize,
    settings: &NodeSettings,
) -> Result<RunningNode> {
    let node = &pipeline.nodes()[index];
    let store = settings.store.as_deref();
    let mut warnings = Vec::new();
    let role = match node.kind() {
        NodeKind::Source(source) => Role::Rows(match (store, node.is_cached_source()) {
            (Some(store), true) if settings.lookup_only => SourceReader::from_batches(
                pipeline
                    .cached_source_lookup(index, store)?
                    .batches()
                    .to_vec(),
            ),
            (Some(store), true) => {
                SourceReader::from_batches(pipeline.cached_source(index, store)?.batches().to_vec())
            }
            _ => source.reader(),
        }),
        NodeKind::Operator(_) if node.cache_mode() == CacheMode::Replay => {
            let (stream, warning) = pipeline.replay_or_warn(index, store)?;
            warnings.extend(warning);
            Role::Rows(SourceReader::from_batches(stream.batches().to_vec()))
        }
        NodeKind::Operator(_) => Role::Operator {
            operator: pipeline
                .instantiate(index)?
                .ok_or_else(|| Error::internal("an operator node built no operator"))?,
            log: pipeline.operator_log(index, store.is_some() && !settings.lookup_only)?,
        },
        NodeKind::Function(_) => {
            let mut state = pipeline.function_state(index, settings.store.clone())?;
            if settings.lookup_only {
                state.set_lookup_only();
            }
            Role::Function(Box::new(state))
        }
    };
    Ok(RunningNode {
        name: node.name().to_string(),
        schema: node.output_schema().clone(),
        role,
        ready: Vec::new(),
        to_log: Vec::new(),
        warnings,
        missing_reported: false,
    })
}

impl RunningNode {
    /// The node's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The schema of every batch the node emits.
    pub fn output_schema(&self) -> &Arc<StreamSchema> {
        &self.schema
    }

    /// The node's function state, for a function node.
    pub fn function(&self) -> Option<&FunctionNode> {
        match &self.role {
            Role::Function(state) => Some(state),
            _ => None,
        }
    }

    /// Packet counts so far (function nodes only).
    pub fn counts(&self) -> Option<&PacketCounts> {
        self.function().map(FunctionNode::counts)
    }

    /// Takes a batch on input `port`. A function node hands out the jobs to compute
    /// (none in lookup-only mode); a node of rows takes no input.
    pub fn push(&mut self, port: usize, batch: RecordBatch) -> Result<Vec<Job>> {
        match &mut self.role {
            Role::Rows(_) => Err(Error::internal(format!(
                "node `{}` emits stored or source rows and takes no input",
                self.name
            ))),
            Role::Operator { operator, .. } => {
                operator.push(port, batch)?;
                self.ready.extend(operator.take_output());
                Ok(Vec::new())
            }
            Role::Function(state) => state.push(batch),
        }
    }

    /// Input `port` has ended.
    pub fn finish(&mut self, port: usize) -> Result<()> {
        if let Role::Operator { operator, .. } = &mut self.role {
            operator.finish(port)?;
            self.ready.extend(operator.take_output());
        }
        Ok(())
    }

    /// Takes the next results of job `id` of a function node, as built by
    /// [`Job::build`].
    pub fn complete(&mut self, id: u64, completed: Completed) -> Result<()> {
        match &mut self.role {
            Role::Function(state) => state.complete(id, completed),
            _ => Err(Error::internal(format!(
                "node `{}` is not a function node and has no job",
                self.name
            ))),
        }
    }

    /// Output batches ready so far (a node of rows reads and hands out all its rows at
    /// once; an error reading them is the node's).
    pub fn take_output(&mut self) -> Result<Vec<RecordBatch>> {
        match &mut self.role {
            Role::Rows(rows) => {
                let mut all = Vec::new();
                while let Some(batch) = rows.next_batch(usize::MAX)? {
                    all.push(batch);
                }
                Ok(all)
            }
            Role::Operator { log, .. } => {
                let ready = std::mem::take(&mut self.ready);
                if log.is_some() {
                    self.to_log.extend(ready.iter().cloned());
                }
                Ok(ready)
            }
            Role::Function(state) => state.take_output(),
        }
    }

    /// Store writes ready so far: a function node's results and records, a logging
    /// operator's rows handed out since the last call (as one write).
    pub fn take_writes(&mut self) -> Result<Vec<StoreWrite>> {
        match &mut self.role {
            Role::Rows(_) => Ok(Vec::new()),
            Role::Operator { log: None, .. } => Ok(Vec::new()),
            Role::Operator { log: Some(log), .. } => {
                let logged = std::mem::take(&mut self.to_log);
                Ok(log.write(&logged)?.into_iter().collect())
            }
            Role::Function(state) => state.take_writes(),
        }
    }

    /// Failed packets so far (function nodes only).
    pub fn take_failures(&mut self) -> Vec<PacketFailure> {
        match &mut self.role {
            Role::Function(state) => state.take_failures(),
            _ => Vec::new(),
        }
    }

    /// What the node found worth telling: a replay that found nothing stored (known at
    /// start) and, once its input has ended, a lookup-only function node's missing
    /// results (told once).
    pub fn take_warnings(&mut self) -> Vec<RunWarning> {
        let mut warnings = std::mem::take(&mut self.warnings);
        if let (Role::Function(state), false) = (&self.role, self.missing_reported) {
            let missing = state.missing();
            if missing.packets > 0 {
                self.missing_reported = true;
                warnings.push(RunWarning::ResultsMissing {
                    node: self.name.clone(),
                    packets: missing.packets,
                    rows: missing.rows,
                });
            }
        }
        warnings
    }

    /// The node's parts, for a driver that schedules them itself (the actor runtime).
    /// Warnings known at start are taken first ([`RunningNode::take_warnings`]).
    pub fn into_role(self) -> Role {
        self.role
    }
}
