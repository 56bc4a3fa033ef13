//! The synchronous, pull-based executor: the reference model for the actor runtime.
//!
//! Asking for a node's output computes (once) the outputs it depends on and nothing
//! else. Every node is started by [`start_node`] and driven through the
//! [`RunningNode`] interface. Operators are driven whole streams at a time
//! ([`run_to_completion`]);
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

use arrow::array::RecordBatch;

use super::node::{start_node, NodeSettings, RunningNode};
use crate::error::{Error, Result};
use crate::function::node::{Completed, Job};
use crate::function::packet_failed;
use crate::function::runner::{JobRunner, RunnerHost};
use crate::model::{Stream, StreamSchema};
use crate::operator::{run_to_completion, Operator};
use crate::pipeline::{CacheMode, ErrorPolicy, NodeKind, NodeStats, Pipeline, RunWarning};
use crate::store::{apply_writes, ArrowStore};

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
        let settings = NodeSettings {
            store: self.store.clone(),
            lookup_only: self.lookup_only,
        };
        let mut running = start_node(self.pipeline, index, &settings)?;
        self.warnings.extend(running.take_warnings());
        let inputs: Vec<&Stream> = match replay {
            true => Vec::new(),
            false => node.inputs().iter().map(|i| &self.outputs[i]).collect(),
        };
        let stream = match node.kind() {
            NodeKind::Function(_) if self.lookup_only => {
                let stream =
                    lookup_function(&mut running, inputs[0]).map_err(|e| e.at_node(node.name()))?;
                stats.counts = running.counts().cloned().unwrap_or_default();
                self.warnings.extend(running.take_warnings());
                stream
            }
            NodeKind::Function(_) => match self.run_function(running, inputs[0], &mut stats) {
                Ok(stream) => stream,
                Err(e) => {
                    // A failed or cancelled node still tells what it did.
                    self.stats.insert(index, stats);
                    return Err(match e {
                        Error::Cancelled => e,
                        e => e.at_node(node.name()),
                    });
                }
            },
            _ => {
                let stream =
                    run_whole(&mut running, &inputs).map_err(|e| e.at_node(node.name()))?;
                self.save(&mut running)
                    .map_err(|e| e.at_node(node.name()))?;
                stream
            }
        };
        stats.rows_out = stream.num_rows() as u64;
        self.stats.insert(index, stats);
        self.outputs.insert(index, stream);
        Ok(())
    }

    fn run_function(
        &self,
        mut state: RunningNode,
        input: &Stream,
        stats: &mut NodeStats,
    ) -> Result<Stream> {
        let pod = state
            .function()
            .ok_or_else(|| Error::internal("a function node started as something else"))?
            .pod()
            .clone();
        let mut runner = JobRunner::new(pod.function().clone(), pod.retries());
        let mut out = Vec::new();
        let outcome = (|| {
            for batch in input.batches() {
                if self.cancelled() {
                    return Err(Error::Cancelled);
                }
                for job in state.push(0, batch.clone())? {
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
                        let error = packet_failed(pod.uri().name.as_str(), f);
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
        stats.counts = state.counts().cloned().unwrap_or_default();
        outcome?;
        saved?;
        Stream::new(state.output_schema().clone(), out)
    }

    /// Writes and flushes what the node has to store.
    fn save(&self, state: &mut RunningNode) -> Result<()> {
        let writes = state.take_writes()?;
        if let (Some(store), false) = (&self.store, writes.is_empty()) {
            apply_writes(store.as_ref(), writes)?;
            store.flush()?;
        }
        Ok(())
    }
}

/// The output of a node of rows (no input: its rows) or of an operator over `inputs`,
/// whole streams at a time ([`run_to_completion`]).
fn run_whole(node: &mut RunningNode, inputs: &[&Stream]) -> Result<Stream> {
    if inputs.is_empty() {
        let rows = node.take_output()?;
        return Stream::new(node.output_schema().clone(), rows);
    }
    let mut whole = Whole { node, error: None };
    let stream = run_to_completion(&mut whole, inputs)?;
    match whole.error {
        Some(e) => Err(e),
        None => Ok(stream),
    }
}

/// A running operator node driven as an [`Operator`], by [`run_to_completion`].
struct Whole<'a> {
    node: &'a mut RunningNode,
    /// The first error of [`RunningNode::take_output`] (none for an operator).
    error: Option<Error>,
}

impl Operator for Whole<'_> {
    fn output_schema(&self) -> &Arc<StreamSchema> {
        self.node.output_schema()
    }

    fn push(&mut self, port: usize, batch: RecordBatch) -> Result<()> {
        self.node.push(port, batch).map(drop)
    }

    fn finish(&mut self, port: usize) -> Result<()> {
        self.node.finish(port)
    }

    fn take_output(&mut self) -> Vec<RecordBatch> {
        self.node.take_output().unwrap_or_else(|e| {
            self.error.get_or_insert(e);
            Vec::new()
        })
    }
}

/// The output of a lookup-only function node `state` over `input`: only rows whose
/// result is stored.
fn lookup_function(state: &mut RunningNode, input: &Stream) -> Result<Stream> {
    let mut out = Vec::new();
    for batch in input.batches() {
        let jobs = state.push(0, batch.clone())?;
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
    state: &'a mut RunningNode,
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

    fn deliver(&mut self, job: &Job, completed: Result<Completed>) -> bool {
        let completed = completed.and_then(|c| self.state.complete(job.id, c));
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
