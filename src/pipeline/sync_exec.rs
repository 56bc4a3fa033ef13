//! The synchronous, pull-based executor: the reference model for the actor runtime.
//!
//! Asking for a node's output computes (once) the outputs it depends on and nothing
//! else. Operators are driven with [`run_to_completion`], whole streams at a time;
//! function nodes compute their packets one after another on one worker (a
//! fail-fast run computes nothing after the first failure). With a store,
//! function results are looked up before computing and written (and flushed) after each
//! input batch, exactly as the actor runtime does. This executor must stay simple enough
//! to be obviously correct: the actor runtime is tested against it.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::{CacheMode, ErrorPolicy, NodeKind, Pipeline};
use crate::error::{Error, Result};
use crate::function::node::{
    apply_writes, FunctionNode, PacketBuffer, PacketCounts, PacketFailure,
};
use crate::function::{FunctionError, FunctionWorker};
use crate::model::Stream;
use crate::operator::run_to_completion;
use crate::store::ArrowStore;

/// What one node did in a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeStats {
    /// The node's name.
    pub node: String,
    /// Rows the node produced.
    pub rows_out: u64,
    /// Packet counts (function nodes only).
    pub counts: PacketCounts,
    /// Failed packets (function nodes only).
    pub failures: Vec<PacketFailure>,
}

/// Runs a pipeline in the calling thread, memoising every node's output.
pub struct SyncExecutor<'p> {
    pipeline: &'p Pipeline,
    outputs: HashMap<usize, Stream>,
    stats: HashMap<usize, NodeStats>,
    store: Option<Arc<dyn ArrowStore>>,
    policy: ErrorPolicy,
    cancel: Option<Arc<AtomicBool>>,
}

impl<'p> SyncExecutor<'p> {
    /// An executor over `pipeline` that has computed nothing yet, with no store.
    pub fn new(pipeline: &'p Pipeline) -> Self {
        SyncExecutor {
            pipeline,
            outputs: HashMap::new(),
            stats: HashMap::new(),
            store: None,
            policy: ErrorPolicy::FailFast,
            cancel: None,
        }
    }

    /// Keeps function results and records in `store`, under the pipeline's name.
    pub fn with_store(mut self, store: Arc<dyn ArrowStore>) -> Result<Self> {
        self.store = Some(store.at(&[self.pipeline.name()])?);
        Ok(self)
    }

    /// Sets the error policy for failed packets (default fail-fast).
    pub fn on_error(mut self, policy: ErrorPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Stops the run when `cancel` becomes true: no packet is started after that, what
    /// was computed is stored, and the run ends with [`Error::Cancelled`].
    pub fn with_cancel(mut self, cancel: Arc<AtomicBool>) -> Self {
        self.cancel = Some(cancel);
        self
    }

    fn cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|c| c.load(std::sync::atomic::Ordering::SeqCst))
    }

    /// The output of the node called `name`, computing what it needs.
    pub fn output(&mut self, name: &str) -> Result<&Stream> {
        let index = self.pipeline.index_of(name).ok_or_else(|| Error::Plan {
            pipeline: self.pipeline.name().to_string(),
            message: format!("there is no node `{name}`"),
        })?;
        self.compute(index)?;
        Ok(&self.outputs[&index])
    }

    /// Computes every node and returns all outputs by node name.
    pub fn run_all(&mut self) -> Result<HashMap<String, Stream>> {
        for index in 0..self.pipeline.nodes().len() {
            self.compute(index)?;
        }
        Ok(self
            .outputs
            .iter()
            .map(|(i, s)| (self.pipeline.nodes()[*i].name().to_string(), s.clone()))
            .collect())
    }

    /// What each computed node did, in pipeline order.
    pub fn stats(&self) -> Vec<NodeStats> {
        let mut indices: Vec<&usize> = self.stats.keys().collect();
        indices.sort();
        indices.into_iter().map(|i| self.stats[i].clone()).collect()
    }

    fn compute(&mut self, index: usize) -> Result<()> {
        if self.outputs.contains_key(&index) {
            return Ok(());
        }
        let node = &self.pipeline.nodes()[index];
        let replay = node.cache_mode() == CacheMode::Replay;
        // Inputs come before their readers, so this recursion is bounded by the depth.
        // A replaying node serves stored rows and needs none of its inputs.
        if !replay {
            for &input in node.inputs() {
                self.compute(input)?;
            }
        }
        let mut stats = NodeStats {
            node: node.name().to_string(),
            ..NodeStats::default()
        };
        let stream = match node.kind() {
            NodeKind::Source(source) => match (&self.store, node.is_cached_source()) {
                (Some(store), true) => self.pipeline.cached_source(index, store.as_ref())?,
                _ => source.stream().clone(),
            },
            NodeKind::Operator(_) if replay => {
                self.pipeline.replay(index, self.store.as_deref())?
            }
            NodeKind::Operator(_) => {
                let mut operator = self
                    .pipeline
                    .instantiate(index)?
                    .ok_or_else(|| Error::internal("an operator node built no operator"))?;
                let inputs: Vec<&Stream> = node.inputs().iter().map(|i| &self.outputs[i]).collect();
                let stream = run_to_completion(operator.as_mut(), &inputs)
                    .map_err(|e| e.at_node(node.name()))?;
                let log = self.pipeline.operator_log(index, self.store.is_some())?;
                if let (Some(log), Some(store)) = (log, &self.store) {
                    if let Some(write) = log.write(stream.batches())? {
                        apply_writes(store.as_ref(), vec![write])
                            .and_then(|()| store.flush())
                            .map_err(|e| e.at_node(node.name()))?;
                    }
                }
                stream
            }
            NodeKind::Function(_) => {
                let state = self.pipeline.function_state(index, self.store.clone())?;
                let input = &self.outputs[&node.inputs()[0]];
                self.run_function(state, input, &mut stats)
                    .map_err(|e| e.at_node(node.name()))?
            }
        };
        stats.rows_out = stream.num_rows() as u64;
        self.stats.insert(index, stats);
        self.outputs.insert(index, stream);
        Ok(())
    }

    fn run_function(
        &self,
        mut state: FunctionNode,
        input: &Stream,
        stats: &mut NodeStats,
    ) -> Result<Stream> {
        let mut worker: Option<std::result::Result<Box<dyn FunctionWorker>, FunctionError>> = None;
        let mut buffer = PacketBuffer::default();
        let mut out = Vec::new();
        for batch in input.batches() {
            if self.cancelled() {
                self.save(&mut state)?;
                return Err(Error::Cancelled);
            }
            for job in state.push(batch.clone())? {
                let worker = worker.get_or_insert_with(|| state.pod().function().start_worker());
                let mut results = Vec::with_capacity(job.len());
                for i in 0..job.len() {
                    let result = match worker {
                        Ok(w) => buffer.call(&job, w.as_mut(), i),
                        Err(e) => Err(e.clone()),
                    };
                    let failed = result.is_err();
                    results.push(result);
                    // Fail-fast: nothing is computed after the first failure.
                    if failed && self.policy == ErrorPolicy::FailFast {
                        break;
                    }
                }
                state.complete(job.id, results)?;
                let failures = state.take_failures();
                if let (ErrorPolicy::FailFast, Some(f)) = (self.policy, failures.first()) {
                    self.save(&mut state)?;
                    return Err(packet_failed(state.pod().uri().name.as_str(), f));
                }
                stats.failures.extend(failures);
            }
            out.extend(state.take_output()?);
            self.save(&mut state)?;
        }
        stats.counts = state.counts().clone();
        Stream::new(state.output_schema().clone(), out)
    }

    /// Writes and flushes what the function node has to store.
    fn save(&self, state: &mut FunctionNode) -> Result<()> {
        let writes = state.take_writes()?;
        if let (Some(store), false) = (&self.store, writes.is_empty()) {
            apply_writes(store.as_ref(), writes)?;
            store.flush()?;
        }
        Ok(())
    }
}

/// The error for a failed packet under fail-fast.
pub(crate) fn packet_failed(function: &str, failure: &PacketFailure) -> Error {
    let tag = if failure.tag.is_empty() {
        String::new()
    } else {
        let parts: Vec<String> = failure
            .tag
            .iter()
            .map(|(k, v)| format!("{k}={}", v.python_str()))
            .collect();
        format!(" ({})", parts.join(", "))
    };
    let stderr = match &failure.error.stderr {
        Some(s) if !s.trim().is_empty() => format!("\nstderr:\n{}", s.trim_end()),
        _ => String::new(),
    };
    Error::PacketFailed {
        function: function.to_string(),
        tag,
        message: failure.error.message.clone(),
        stderr,
    }
}
