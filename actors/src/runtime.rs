//! [`Runtime`]: a long-running actor system that runs pipelines, and [`PipelineHandle`],
//! a handle to one running pipeline.
//!
//! A runtime owns one thread running an actix system. [`Runtime::start`] validates the
//! run's options, builds every operator state machine on the caller's thread, then wires
//! one [`NodeActor`](crate::node_actor) per node (plus one collector per requested
//! output) and a [`Supervisor`](crate::supervisor) on the actor thread. Several
//! pipelines may run side by side or one after another; every run's actors stop when
//! the run ends, and dropping the runtime stops its thread.
//!
//! This is the one module that knows every actor type: it wires the nodes and the
//! supervisor to each other through the addresses of [`messages`](crate::messages), so
//! that no actor module names another. It must never do a node's work itself: it
//! builds, wires and hands over.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use actix::{Addr, AsyncContext, Context};
use arrow::record_batch::RecordBatch;
use crossbeam_channel::{Receiver, Sender};
use orcapod::exec::{start_node, NodeSettings, Role};
use orcapod::function::slurm::Executor;
use orcapod::pipeline::{CacheMode, NodeKind, Pipeline, RunWarning};
use orcapod::store::ArrowStore;

use crate::edges::{InEdge, OutEdge};
use crate::endpoints::SourceRows;
use crate::messages::{Cancel, NodeLink, SupervisorLink, Wired};
use crate::node_actor::NodeActor;
use crate::node_setup::{ActorConfig, Behavior, NodeSetup};
use crate::outcome::{RunError, RunOutput};
use crate::progress::{NodeProgress, Progress};
use crate::supervisor::{RunLabel, RunStore, Supervisor};

pub use orcapod::pipeline::ErrorPolicy;

/// How one run is executed; built with chained setters from `RunOptions::default()`.
#[derive(Debug)]
pub struct RunOptions {
    max_batch_rows: usize,
    window_rows: usize,
    on_error: ErrorPolicy,
    outputs: Option<Vec<String>>,
    jitter_seed: Option<u64>,
    default_max_concurrency: Option<usize>,
    store: Option<Arc<dyn ArrowStore>>,
    feeds: HashMap<String, Receiver<RecordBatch>>,
    subscriptions: HashMap<String, Sender<RecordBatch>>,
    run_id: Option<(String, String)>,
    executor: Option<Executor>,
    slurm_work_dir: Option<PathBuf>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            max_batch_rows: 1024,
            window_rows: 4096,
            on_error: ErrorPolicy::FailFast,
            outputs: None,
            jitter_seed: None,
            default_max_concurrency: None,
            store: None,
            feeds: HashMap::new(),
            subscriptions: HashMap::new(),
            run_id: None,
            executor: None,
            slurm_work_dir: None,
        }
    }
}

impl RunOptions {
    /// Largest batch (in rows) carried by one message (default 1024).
    pub fn max_batch_rows(mut self, rows: usize) -> Self {
        self.max_batch_rows = rows;
        self
    }

    /// Largest number of rows in flight from a node to one consumer (default 4096).
    pub fn window_rows(mut self, rows: usize) -> Self {
        self.window_rows = rows;
        self
    }

    /// The error policy (default fail-fast).
    pub fn on_error(mut self, policy: ErrorPolicy) -> Self {
        self.on_error = policy;
        self
    }

    /// Nodes whose rows are collected into [`RunOutput::streams`] (default: every sink).
    pub fn outputs<S: Into<String>>(mut self, nodes: impl IntoIterator<Item = S>) -> Self {
        self.outputs = Some(nodes.into_iter().map(Into::into).collect());
        self
    }

    /// How many packets a function node computes at once when it sets no limit of its
    /// own (default: the number of CPUs).
    pub fn default_max_concurrency(mut self, workers: usize) -> Self {
        self.default_max_concurrency = Some(workers.max(1));
        self
    }

    /// Keeps function results and records in `store`, under the pipeline's name: stored
    /// results are reused, new ones stored and flushed as they are computed. Operator
    /// nodes in `CacheMode::Log` store their output rows there too (through the
    /// supervisor), `CacheMode::Replay` nodes serve the rows stored there (read when the
    /// run starts), and cached sources add their rows there and serve the union.
    pub fn store(mut self, store: Arc<dyn ArrowStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// The run's id and start time (ISO 8601) as the run log records them (default: a
    /// fresh [`run_id_and_time`](crate::run_id_and_time) when the run starts). A caller
    /// that announces the run elsewhere (a progress file) passes the same id here.
    pub fn run_id(mut self, run_id: impl Into<String>, started_at: impl Into<String>) -> Self {
        self.run_id = Some((run_id.into(), started_at.into()));
        self
    }

    /// Runs every command function node with `executor`, whatever its pod says
    /// (default: each node's own executor). Builtins and closures always run locally.
    pub fn executor(mut self, executor: Executor) -> Self {
        self.executor = Some(executor);
        self
    }

    /// Where nodes on the Slurm executor keep their chunks, answers and logs (a
    /// directory of the run is made inside it). It must exist, be writable and, on a
    /// cluster, be seen by the compute nodes. Required when a node runs on Slurm.
    pub fn slurm_work_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.slurm_work_dir = Some(dir.into());
        self
    }

    /// Test hook: random pauses and random batch sizes in every actor, from this seed.
    pub fn jitter(mut self, seed: u64) -> Self {
        self.jitter_seed = Some(seed);
        self
    }

    /// Replaces the rows of source node `source` by the batches received on `feed`
    /// (each with the source's schema); the source ends when every sender is dropped.
    pub fn feed(&mut self, source: impl Into<String>, feed: Receiver<RecordBatch>) -> &mut Self {
        self.feeds.insert(source.into(), feed);
        self
    }

    /// Streams the output of `node` as it is produced, through a channel holding at most
    /// `capacity` batches: a slow reader slows the pipeline down instead of buffering.
    pub fn subscribe(&mut self, node: impl Into<String>, capacity: usize) -> Receiver<RecordBatch> {
        let (tx, rx) = crossbeam_channel::bounded(capacity.max(1));
        self.subscriptions.insert(node.into(), tx);
        rx
    }
}

/// A long-running actor system.
pub struct Runtime {
    system: actix::System,
    arbiter: actix_rt::ArbiterHandle,
    thread: Option<JoinHandle<()>>,
    live: Arc<AtomicUsize>,
}

impl Runtime {
    /// Starts the actor thread.
    pub fn new() -> Result<Runtime, RunError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("orcapod-actors".into())
            .spawn(move || {
                let system = actix::System::new();
                // The receiver waits for exactly this message.
                let _ = tx.send((actix::System::current(), actix::Arbiter::current()));
                // An I/O error here means the system could not run; `new` then fails below.
                let _ = system.run();
            })
            .map_err(|e| RunError::Invalid(format!("cannot start the actor thread: {e}")))?;
        let (system, arbiter) = rx.recv().map_err(|_| RunError::RuntimeStopped)?;
        Ok(Runtime {
            system,
            arbiter,
            thread: Some(thread),
            live: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Number of actors alive in this runtime (0 when no run is in progress).
    pub fn live_actors(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    /// Runs `pipeline` to completion.
    pub fn run(&self, pipeline: &Pipeline, options: RunOptions) -> Result<RunOutput, RunError> {
        self.start(pipeline, options)?.wait()
    }

    /// Starts `pipeline` and returns at once with a handle to the running pipeline.
    pub fn start(
        &self,
        pipeline: &Pipeline,
        mut options: RunOptions,
    ) -> Result<PipelineHandle, RunError> {
        let outputs: Vec<String> = match options.outputs.take() {
            Some(names) => names,
            None => pipeline
                .sinks()
                .iter()
                .map(|n| n.name().to_string())
                .collect(),
        };
        for name in outputs.iter().chain(options.subscriptions.keys()) {
            if pipeline.node(name).is_none() {
                return Err(RunError::Invalid(format!(
                    "there is no node `{name}` to output"
                )));
            }
        }
        for name in options.feeds.keys() {
            match pipeline
                .node(name)
                .map(|n| (n.kind(), n.is_cached_source()))
            {
                Some((NodeKind::Source(_), true)) => {
                    return Err(RunError::Invalid(format!(
                        "`{name}` is a cached source and cannot be fed"
                    )))
                }
                Some((NodeKind::Source(_), false)) => {}
                _ => {
                    return Err(RunError::Invalid(format!(
                        "`{name}` is not a source node and cannot be fed"
                    )))
                }
            }
        }
        let (run_id, started_at) = options
            .run_id
            .take()
            .unwrap_or_else(crate::clock::run_id_and_time);
        let mut slurm_run = None;
        let config = ActorConfig {
            max_batch_rows: options.max_batch_rows.max(1),
            window_rows: options.window_rows.max(1),
            continue_on_error: options.on_error == ErrorPolicy::Continue,
            jitter_seed: options.jitter_seed,
            default_max_concurrency: options
                .default_max_concurrency
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        };
        let store = match &options.store {
            Some(store) => Some(store.at(&[pipeline.name()])?),
            None => None,
        };
        let supervisor_store = match (&options.store, &store) {
            (Some(root), Some(scoped)) => Some(RunStore {
                root: root.clone(),
                scoped: scoped.clone(),
                pipeline: pipeline.name().to_string(),
            }),
            _ => None,
        };

        // Node setups and edges, built here so build errors reach the caller directly.
        let mut setups = Vec::new();
        let mut names = Vec::new();
        let mut warnings = Vec::new();
        let settings = NodeSettings {
            store: store.clone(),
            lookup_only: false,
        };
        for (index, node) in pipeline.nodes().iter().enumerate() {
            let replay = node.cache_mode() == CacheMode::Replay;
            let mut running = start_node(pipeline, index, &settings)?;
            warnings.extend(running.take_warnings());
            let (behavior, log) = match running.into_role() {
                // A fed source emits what it is fed; a replaying operator is a source of
                // its stored rows, cut off from its inputs (see the edges below).
                Role::Rows(rows) => {
                    let feed = options.feeds.remove(node.name());
                    let rows = SourceRows::new(rows, feed);
                    let exhausted = false;
                    (Behavior::Source { rows, exhausted }, None)
                }
                Role::Operator { operator, log } => (Behavior::Operator(operator), log),
                Role::Function(state) => {
                    let slurm = crate::slurm::plan_node(
                        &mut slurm_run,
                        store.as_ref(),
                        options.slurm_work_dir.as_deref(),
                        options.executor,
                        &run_id,
                        (index, node.name()),
                        &state,
                    )
                    .map_err(RunError::Invalid)?
                    .map(Box::new);
                    (
                        Behavior::Function {
                            state,
                            pool: None,
                            slurm,
                            preparer: None,
                        },
                        None,
                    )
                }
            };
            names.push(node.name().to_string());
            setups.push(NodeSetup {
                index,
                behavior,
                schema: node.output_schema().clone(),
                input_schemas: match replay {
                    true => Vec::new(),
                    false => node
                        .inputs()
                        .iter()
                        .map(|&i| pipeline.nodes()[i].output_schema().clone())
                        .collect(),
                },
                log,
            });
        }
        // edges[(producer, consumer, port)]
        let mut edges: Vec<(usize, usize, usize)> = Vec::new();
        for (consumer, node) in pipeline.nodes().iter().enumerate() {
            if node.cache_mode() == CacheMode::Replay {
                continue;
            }
            for (port, &producer) in node.inputs().iter().enumerate() {
                edges.push((producer, consumer, port));
            }
        }
        let mut collector_targets: Vec<String> = outputs.clone();
        for name in options.subscriptions.keys() {
            if !collector_targets.contains(name) {
                collector_targets.push(name.clone());
            }
        }
        for target in collector_targets {
            let producer = pipeline.index_of(&target).expect("checked above");
            let index = setups.len();
            let schema = pipeline.nodes()[producer].output_schema().clone();
            names.push(format!("{target} (output)"));
            setups.push(NodeSetup {
                index,
                behavior: Behavior::Collector {
                    node: target.clone(),
                    keep: outputs.contains(&target),
                    collected: Vec::new(),
                    subscriber: options.subscriptions.remove(&target),
                    blocked: VecDeque::new(),
                },
                schema: schema.clone(),
                input_schemas: vec![schema],
                log: None,
            });
            edges.push((producer, index, 0));
        }

        let pipeline_nodes = pipeline.nodes().len();
        let config = Arc::new(config);
        let label = RunLabel {
            run_id: run_id.clone(),
            started_at: started_at.clone(),
        };
        let stopping = Arc::new(AtomicBool::new(false));
        let supervisor_stopping = stopping.clone();
        let progress = Arc::new(Progress::new(names.clone()));
        let (result_tx, result_rx) = crossbeam_channel::bounded(1);
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let live = self.live.clone();
        let spawn_progress = progress.clone();
        let spawned = self.arbiter.spawn(async move {
            let supervisor_ctx: Context<Supervisor> = Context::new();
            let supervisor = supervisor_ctx.address();
            let contexts: Vec<Context<NodeActor>> = setups.iter().map(|_| Context::new()).collect();
            let addrs: Vec<Addr<NodeActor>> = contexts.iter().map(|c| c.address()).collect();
            let mut outs: Vec<Vec<OutEdge>> = setups.iter().map(|_| Vec::new()).collect();
            let mut ins: Vec<Vec<(usize, InEdge)>> = setups.iter().map(|_| Vec::new()).collect();
            for &(producer, consumer, port) in &edges {
                let edge = outs[producer].len();
                outs[producer].push(OutEdge::new(addrs[consumer].clone().recipient(), port));
                ins[consumer].push((port, InEdge::new(addrs[producer].clone().recipient(), edge)));
            }
            supervisor_ctx.run(Supervisor::new(
                names,
                pipeline_nodes,
                spawn_progress.clone(),
                config.continue_on_error,
                supervisor_store,
                result_tx,
                live.clone(),
                label,
                supervisor_stopping,
            ));
            for (((setup, ctx), out), mut inp) in
                setups.into_iter().zip(contexts).zip(outs).zip(ins)
            {
                inp.sort_by_key(|(port, _)| *port);
                let inputs = inp.into_iter().map(|(_, e)| e).collect();
                ctx.run(NodeActor::new(
                    setup,
                    inputs,
                    out,
                    config.clone(),
                    SupervisorLink::to(&supervisor),
                    spawn_progress.clone(),
                    live.clone(),
                ));
            }
            supervisor.do_send(Wired {
                nodes: addrs.iter().map(NodeLink::to).collect(),
            });
            let _ = addr_tx.send(supervisor);
        });
        if !spawned {
            return Err(RunError::RuntimeStopped);
        }
        let supervisor = addr_rx.recv().map_err(|_| RunError::RuntimeStopped)?;
        Ok(PipelineHandle {
            supervisor,
            result: result_rx,
            progress,
            stopping,
            run_id,
            started_at,
            warnings,
        })
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.system.stop();
        if let Some(thread) = self.thread.take() {
            // A panic on the actor thread has already been reported by the panic hook.
            let _ = thread.join();
        }
    }
}

/// A handle to a running pipeline.
pub struct PipelineHandle {
    supervisor: Addr<Supervisor>,
    result: Receiver<Result<RunOutput, RunError>>,
    progress: Arc<Progress>,
    stopping: Arc<AtomicBool>,
    run_id: String,
    started_at: String,
    warnings: Vec<RunWarning>,
}

impl PipelineHandle {
    /// Waits for the run to end.
    pub fn wait(self) -> Result<RunOutput, RunError> {
        let outcome = self.result.recv().unwrap_or(Err(RunError::RuntimeStopped));
        outcome.map(|mut output| {
            output.warnings = self.warnings;
            output
        })
    }

    /// Waits at most `timeout`; `None` if the run is still going.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<Result<RunOutput, RunError>> {
        match self.result.recv_timeout(timeout) {
            Ok(outcome) => Some(outcome.map(|mut output| {
                output.warnings = self.warnings.clone();
                output
            })),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => None,
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                Some(Err(RunError::RuntimeStopped))
            }
        }
    }

    /// Asks the run to stop: every actor stops and the run ends with
    /// [`RunError::Cancelled`] (unless it had already ended). What the run had received
    /// is stored and flushed first, and the run log records the run as interrupted.
    pub fn cancel(&self) {
        self.interrupt("cancelled");
    }

    /// [`cancel`](Self::cancel), recording `reason` (e.g. `SIGINT`) as what interrupted
    /// the run in the run log.
    pub fn interrupt(&self, reason: impl Into<String>) {
        self.supervisor.do_send(Cancel {
            reason: reason.into(),
        });
    }

    /// A handle that can interrupt this run from any thread (e.g. a signal watcher),
    /// as [`interrupt`](Self::interrupt) does.
    pub fn interrupter(&self) -> Interrupter {
        Interrupter {
            supervisor: self.supervisor.clone(),
        }
    }

    /// Whether every node has been told to stop (after [`cancel`](Self::cancel) or a
    /// fail-fast failure) or the run is over. From then on no node starts new work or
    /// takes new results, so a caller that kills the run's external commands (to stop
    /// them sooner) no longer turns their packets into counted failures.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// The run's id, as the run log records it.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// When the run started (ISO 8601 UTC), as the run log records it.
    pub fn started_at(&self) -> &str {
        &self.started_at
    }

    /// What the run found worth telling when it started: the replaying operator nodes
    /// that found nothing stored (they yield no row). Also in [`RunOutput::warnings`].
    pub fn warnings(&self) -> &[RunWarning] {
        &self.warnings
    }

    /// Rows and batches emitted so far by each node (and each output collector).
    pub fn progress(&self) -> Vec<NodeProgress> {
        self.progress.snapshot()
    }
}

/// Interrupts one run from any thread ([`PipelineHandle::interrupter`]).
#[derive(Clone)]
pub struct Interrupter {
    supervisor: Addr<Supervisor>,
}

impl Interrupter {
    /// [`PipelineHandle::interrupt`]: stops the run, recording `reason` in the run log.
    pub fn interrupt(&self, reason: impl Into<String>) {
        self.supervisor.do_send(Cancel {
            reason: reason.into(),
        });
    }
}

/// Runs `pipeline` once on a temporary runtime with default options.
pub fn run(pipeline: &Pipeline) -> Result<RunOutput, RunError> {
    Runtime::new()?.run(pipeline, RunOptions::default())
}
