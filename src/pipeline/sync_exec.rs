//! The synchronous, pull-based executor: the reference model for the actor runtime.
//!
//! Asking for a node's output computes (once) the outputs it depends on and nothing
//! else. Operators are driven with [`run_to_completion`], whole streams at a time;
//! function nodes compute their packets one after another on one worker (a
//! fail-fast run computes nothing after the first failure). With a store,
//! function results are looked up before computing and written (and flushed) after each
//! input batch, exactly as the actor runtime does. This executor must stay simple enough
//! to be obviously correct: the actor runtime is tested against it.
//!
//! In lookup-only mode ([`SyncExecutor::lookup_only`]) it gives the pipeline's result as
//! a run would give it now, from the current sources and the function results stored so
//! far, without calling any function and without writing to the store: a packet with no
//! stored result drops its rows, and [`SyncExecutor::warnings`] says how many.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use super::{CacheMode, ErrorPolicy, NodeKind, Pipeline, RunWarning};
use crate::error::{Error, Result};
use crate::function::node::{
    apply_writes, FunctionNode, Job, PacketCounts, PacketFailure, PacketResult,
};
use crate::function::runner::{JobRunner, RunnerHost};
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
    backoff: Option<BackoffWaiter>,
    lookup_only: bool,
    warnings: Vec<RunWarning>,
}

/// Waits the given time before a retry; returns false if the run was cancelled meanwhile.
pub type BackoffWaiter = Arc<dyn Fn(Duration) -> bool + Send + Sync>;

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
            backoff: None,
            lookup_only: false,
            warnings: Vec::new(),
        }
    }

    /// Lookup-only mode: computes what a run would give now, from the current sources
    /// and the function results already in the store, but calls no function (no command,
    /// no closure) and writes nothing to the store (no result, no pipeline record, no
    /// operator log, no cached-source row). A row whose packet has no stored result is
    /// absent from the function node's output, and so from what is computed from it;
    /// each such node gets a [`RunWarning::ResultsMissing`]. Once a run has computed
    /// every packet, the outputs are the run's rows. Replaying operators read their
    /// stored rows as in a run; cached sources serve their stored rows and their current
    /// ones ([`Pipeline::cached_source_lookup`]). Without a store every packet is missing.
    pub fn lookup_only(mut self) -> Self {
        self.lookup_only = true;
        self
    }

    /// What the nodes computed so far found worth telling (in the order found): replays
    /// that found nothing stored and, in lookup-only mode, missing function results.
    pub fn warnings(&self) -> &[RunWarning] {
        &self.warnings
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

    /// Waits with `waiter` before retrying a failed packet (the backoff of
    /// [`retry_backoff`](crate::function::retry_backoff)). Without one, retries happen
    /// at once: the core never sleeps, so the caller supplies the waiting.
    pub fn with_backoff(mut self, waiter: BackoffWaiter) -> Self {
        self.backoff = Some(waiter);
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
                (Some(store), true) if self.lookup_only => {
                    self.pipeline.cached_source_lookup(index, store.as_ref())?
                }
                (Some(store), true) => self.pipeline.cached_source(index, store.as_ref())?,
                _ => source.stream().clone(),
            },
            NodeKind::Operator(_) if replay => {
                let (stream, warning) =
                    self.pipeline.replay_or_warn(index, self.store.as_deref())?;
                self.warnings.extend(warning);
                stream
            }
            NodeKind::Operator(_) => {
                let mut operator = self
                    .pipeline
                    .instantiate(index)?
                    .ok_or_else(|| Error::internal("an operator node built no operator"))?;
                let inputs: Vec<&Stream> = node.inputs().iter().map(|i| &self.outputs[i]).collect();
                let stream = run_to_completion(operator.as_mut(), &inputs)
                    .map_err(|e| e.at_node(node.name()))?;
                let log = self
                    .pipeline
                    .operator_log(index, self.store.is_some() && !self.lookup_only)?;
                if let (Some(log), Some(store)) = (log, &self.store) {
                    if let Some(write) = log.write(stream.batches())? {
                        apply_writes(store.as_ref(), vec![write])
                            .and_then(|()| store.flush())
                            .map_err(|e| e.at_node(node.name()))?;
                    }
                }
                stream
            }
            NodeKind::Function(_) if self.lookup_only => {
                let mut state = self.pipeline.function_state(index, self.store.clone())?;
                state.set_lookup_only();
                let input = &self.outputs[&node.inputs()[0]];
                let stream =
                    lookup_function(&mut state, input).map_err(|e| e.at_node(node.name()))?;
                stats.counts = state.counts().clone();
                let missing = state.missing();
                if missing.packets > 0 {
                    self.warnings.push(RunWarning::ResultsMissing {
                        node: node.name().to_string(),
                        packets: missing.packets,
                        rows: missing.rows,
                    });
                }
                stream
            }
            NodeKind::Function(_) => {
                let state = self.pipeline.function_state(index, self.store.clone())?;
                let input = &self.outputs[&node.inputs()[0]];
                match self.run_function(state, input, &mut stats) {
                    Ok(stream) => stream,
                    Err(e) => {
                        // A failed or cancelled node still tells what it did.
                        self.stats.insert(index, stats);
                        return Err(match e {
                            Error::Cancelled => e,
                            e => e.at_node(node.name()),
                        });
                    }
                }
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
        let mut runner = JobRunner::new(state.pod().function().clone(), state.pod().retries());
        let mut out = Vec::new();
        let outcome = (|| {
            for batch in input.batches() {
                if self.cancelled() {
                    return Err(Error::Cancelled);
                }
                for job in state.push(batch.clone())? {
                    let mut host = SyncHost {
                        executor: self,
                        state: &mut state,
                        error: None,
                    };
                    runner.run(&job, &mut host);
                    if let Some(e) = host.error {
                        return Err(e);
                    }
                    let failures = state.take_failures();
                    if let (ErrorPolicy::FailFast, Some(f)) = (self.policy, failures.first()) {
                        let error = packet_failed(state.pod().uri().name.as_str(), f);
                        stats.failures.extend(failures);
                        return Err(error);
                    }
                    stats.failures.extend(failures);
                    if self.cancelled() {
                        return Err(Error::Cancelled);
                    }
                }
                out.extend(state.take_output()?);
                self.save(&mut state)?;
            }
            Ok(())
        })();
        // What was computed is stored, whatever ended the node.
        let saved = self.save(&mut state);
        stats.counts = state.counts().clone();
        outcome?;
        saved?;
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

/// The output of a lookup-only function node `state` over `input`: only rows whose
/// result is stored.
fn lookup_function(state: &mut FunctionNode, input: &Stream) -> Result<Stream> {
    let mut out = Vec::new();
    for batch in input.batches() {
        let jobs = state.push(batch.clone())?;
        if !jobs.is_empty() {
            return Err(Error::internal(
                "a lookup-only function node handed out a job",
            ));
        }
        out.extend(state.take_output()?);
    }
    Stream::new(state.output_schema().clone(), out)
}

/// The synchronous executor as the host of a [`JobRunner`]: results go straight into
/// the function node; backoffs wait with the executor's waiter.
struct SyncHost<'a, 'p> {
    executor: &'a SyncExecutor<'p>,
    state: &'a mut FunctionNode,
    /// The first error the node returned (the job is then abandoned).
    error: Option<Error>,
}

impl RunnerHost for SyncHost<'_, '_> {
    fn cancelled(&self) -> bool {
        self.executor.cancelled()
    }

    fn backoff(&mut self, wait: Duration) -> bool {
        match &self.executor.backoff {
            Some(waiter) => waiter(wait),
            // Without a waiter the core does not wait (it never sleeps): retry at once.
            None => !self.executor.cancelled(),
        }
    }

    fn hand_out_now(&mut self) -> bool {
        false
    }

    fn deliver(
        &mut self,
        job: &Job,
        start: usize,
        results: Vec<PacketResult>,
        retried: u64,
    ) -> bool {
        let completed = job
            .build(start, results, retried)
            .and_then(|c| self.state.complete_built(job.id, c));
        match completed {
            Ok(()) => true,
            Err(e) => {
                self.error.get_or_insert(e);
                false
            }
        }
    }

    fn continue_after_failure(&self) -> bool {
        self.executor.policy == ErrorPolicy::Continue
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
