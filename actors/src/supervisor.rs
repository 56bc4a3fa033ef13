//! [`Supervisor`]: one per run; knows when the run is complete, applies the error
//! policy, and collects the requested outputs.
//!
//! The run is complete exactly when every node actor (collectors included) has sent
//! [`NodeEnded`]. Under the fail-fast policy the first [`NodeFailed`] stops every actor
//! and ends the run with that node's error; under the continue policy failures are
//! recorded and the run goes on (the failed node's consumers see a truncated stream).
//! A [`Cancel`] stops every actor. The supervisor sends the result exactly once and then
//! stops itself, so a finished run leaves no actor behind.
//!
//! A run that stops early (a fail-fast failure or a cancel) keeps everything it has
//! received: the supervisor stops every node, waits (at most [`STOP_GRACE`]) until every
//! node actor has stopped, so that the writes they sent before stopping are in its
//! mailbox, then hands every buffered write to the store writer, waits for the flush,
//! and only then writes the run log and reports. Every outcome is logged
//! ([`write_run_log`]): completed, failed (the node and the reason) or interrupted (the
//! reason given to [`Cancel`]), with each node's counts as they stood when it stopped
//! (taken from the live progress counters for nodes that had not ended).
//!
//! Store writes of function nodes and logging operators come here ([`StoreWrites`]) and are buffered: they are
//! applied and flushed together every [`FLUSH_INTERVAL`], when [`FLUSH_ROWS`] rows are
//! waiting, and before the run reports success. So results become durable in batches
//! (never one flush per packet), and a crash loses at most the results of the last
//! interval — which a re-run computes again. Applying and flushing happen on the run's
//! store-writer thread ([`StoreWriter`]), in order, so the actors go on meanwhile; the
//! supervisor reports the run's outcome only once every write it handed over is
//! flushed ([`Flushed`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Actor, ActorContext, Addr, AsyncContext, Context, Handler, Message};
use arrow::record_batch::RecordBatch;
use crossbeam_channel::Sender;
use orcapod::function::node::{
    apply_writes, PacketCounts, PacketFailure, PendingRecords, StoreWrite,
};
use orcapod::model::{Stream, StreamSchema};
use orcapod::pipeline::{write_run_log, NodeStats, RunInfo, RunOutcome};
use orcapod::store::ArrowStore;

use crate::messages::{Start, Stop};
use crate::node_actor::NodeActor;
use crate::progress::Progress;
use crate::runtime::{NodeFailure, RunError, RunOutput};

/// How long computed results may wait in memory before they are flushed to the store.
pub(crate) const FLUSH_INTERVAL: std::time::Duration = std::time::Duration::from_millis(50);
/// How many buffered result rows trigger a flush at once.
pub(crate) const FLUSH_ROWS: usize = 8192;
/// How long a run that stops early waits for its node actors to stop (and so for the
/// writes they sent before stopping) before it flushes and reports.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(2);
/// The node named by a failure to store.
const STORE_NODE: &str = "store";
/// How often the supervisor looks whether the stopped node actors are gone.
const STOP_POLL: Duration = Duration::from_millis(2);

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
}

impl StoreWrites {
    fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.records.is_empty()
    }

    /// The rows to store.
    fn rows(&self) -> usize {
        self.writes.iter().map(StoreWrite::len).sum::<usize>()
            + self.records.iter().map(PendingRecords::len).sum::<usize>()
    }

    fn extend(&mut self, other: StoreWrites) {
        self.writes.extend(other.writes);
        self.records.extend(other.records);
    }
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

/// The store writer applied and flushed one batch of writes.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Flushed {
    pub result: orcapod::Result<()>,
}

/// The thread that applies and flushes a run's store writes, one batch after another,
/// and acknowledges each batch to the supervisor.
pub(crate) struct StoreWriter {
    batches: Option<Sender<StoreWrites>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// At most this many threads key pipeline records for the store writer.
const KEYERS: usize = 4;

impl StoreWriter {
    /// Starts the writer: keying threads (one per CPU, at most [`KEYERS`]) build the
    /// records of each batch (a hash per row), and one thread applies and flushes the
    /// built batches, so keying overlaps writing. A batch holds results with the
    /// records naming them and is applied whole; batches are independent (first write
    /// wins per id), so their order does not matter. Each is acknowledged once
    /// ([`Flushed`]).
    fn start(store: Arc<dyn ArrowStore>, supervisor: Addr<Supervisor>) -> std::io::Result<Self> {
        let (tx, rx) = crossbeam_channel::unbounded::<StoreWrites>();
        let (built_tx, built_rx) =
            crossbeam_channel::unbounded::<orcapod::Result<Vec<StoreWrite>>>();
        let keyers = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .clamp(1, KEYERS);
        let mut threads = Vec::with_capacity(keyers + 1);
        for i in 0..keyers {
            let rx = rx.clone();
            let built_tx = built_tx.clone();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("orcapod-store-keyer-{i}"))
                    .spawn(move || {
                        while let Ok(StoreWrites {
                            mut writes,
                            records,
                        }) = rx.recv()
                        {
                            let built = records
                                .into_iter()
                                .try_for_each(|r| {
                                    writes.extend(r.build()?);
                                    Ok(())
                                })
                                .map(|()| writes);
                            if built_tx.send(built).is_err() {
                                return;
                            }
                        }
                    })?,
            );
        }
        drop(built_tx);
        let writer = std::thread::Builder::new()
            .name("orcapod-store-writer".to_string())
            .spawn(move || {
                while let Ok(built) = built_rx.recv() {
                    let result = built
                        .and_then(|writes| apply_writes(store.as_ref(), writes))
                        .and_then(|()| store.flush());
                    supervisor.do_send(Flushed { result });
                }
            })?;
        threads.push(writer);
        Ok(StoreWriter {
            batches: Some(tx),
            threads,
        })
    }

    /// Hands a batch over; false if the writer is gone.
    fn send(&self, writes: StoreWrites) -> bool {
        self.batches
            .as_ref()
            .is_some_and(|tx| tx.send(writes).is_ok())
    }

    /// Ends the threads once their queues are done.
    fn close(&mut self) {
        self.batches = None;
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// The caller cancels the run; `reason` (e.g. `SIGINT`) goes to the run log.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Cancel {
    pub reason: String,
}

/// The run's id and start time, for the run log.
#[derive(Debug, Clone)]
pub(crate) struct RunLabel {
    pub run_id: String,
    pub started_at: String,
}

/// The wired actors, handed over once every address exists.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Wired {
    pub nodes: Vec<Addr<NodeActor>>,
}

/// The store of a run: its root (for the run log), the view scoped to the pipeline
/// (where function nodes write), and the pipeline's name.
pub(crate) struct RunStore {
    pub root: Arc<dyn ArrowStore>,
    pub scoped: Arc<dyn ArrowStore>,
    pub pipeline: String,
}

/// The per-run supervisor.
pub(crate) struct Supervisor {
    names: Vec<String>,
    nodes: Vec<Addr<NodeActor>>,
    ended: Vec<bool>,
    continue_on_error: bool,
    failures: Vec<NodeFailure>,
    outputs: HashMap<String, Stream>,
    stats: Vec<NodeStats>,
    /// How many of the nodes are pipeline nodes (the rest are output collectors).
    pipeline_nodes: usize,
    progress: Arc<Progress>,
    /// The run's store (its root) and the pipeline's name, for the run log.
    store: Option<Arc<dyn ArrowStore>>,
    pipeline: String,
    /// The store scoped to the pipeline, where function nodes write.
    scoped_store: Option<Arc<dyn ArrowStore>>,
    /// Writes buffered until the next flush, and their rows.
    pending: StoreWrites,
    pending_rows: usize,
    flush_scheduled: bool,
    /// Applies and flushes writes off the actor thread (started with the supervisor).
    writer: Option<StoreWriter>,
    /// Batches handed to the writer and not yet acknowledged.
    flushes_in_flight: usize,
    /// The outcome to report once the writer has flushed everything.
    finishing: Option<Result<RunOutput, RunError>>,
    result: Option<Sender<Result<RunOutput, RunError>>>,
    live: Arc<AtomicUsize>,
    /// The run's id and start, for the run log.
    label: RunLabel,
    /// Why the run was cancelled, once it was.
    cancel_reason: Option<String>,
    /// Set once every node has been told to stop (or the run is over): from then on no
    /// node takes new work, so the caller may kill the commands.
    stopping: Arc<AtomicBool>,
    /// The run is stopping early: waiting for the node actors to stop before flushing.
    draining: bool,
}

impl Supervisor {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        names: Vec<String>,
        pipeline_nodes: usize,
        progress: Arc<Progress>,
        continue_on_error: bool,
        store: Option<RunStore>,
        result: Sender<Result<RunOutput, RunError>>,
        live: Arc<AtomicUsize>,
        label: RunLabel,
        stopping: Arc<AtomicBool>,
    ) -> Self {
        let ended = vec![false; names.len()];
        let stats = names
            .iter()
            .map(|n| NodeStats {
                node: n.clone(),
                ..NodeStats::default()
            })
            .collect();
        Supervisor {
            stats,
            pipeline_nodes,
            progress,
            pipeline: store
                .as_ref()
                .map(|s| s.pipeline.clone())
                .unwrap_or_default(),
            scoped_store: store.as_ref().map(|s| s.scoped.clone()),
            store: store.map(|s| s.root),
            pending: StoreWrites::default(),
            pending_rows: 0,
            flush_scheduled: false,
            writer: None,
            flushes_in_flight: 0,
            finishing: None,
            names,
            nodes: Vec::new(),
            ended,
            continue_on_error,
            failures: Vec::new(),
            outputs: HashMap::new(),
            result: Some(result),
            live,
            label,
            cancel_reason: None,
            stopping,
            draining: false,
        }
    }

    fn finish(&mut self, mut outcome: Result<RunOutput, RunError>, ctx: &mut Context<Self>) {
        if self.result.is_none() {
            return;
        }
        self.stopping.store(true, Ordering::SeqCst);
        // Once cancelled, a run whose node failed meanwhile (e.g. its command died of the
        // same Ctrl-C) is interrupted; a failure to store is still reported as such.
        let node_failed = matches!(&outcome, Err(RunError::NodeFailed(f)) if f.node != STORE_NODE);
        if self.cancel_reason.is_some() && node_failed {
            outcome = Err(RunError::Cancelled);
        }
        if let Some(store) = &self.store {
            let stats = match &outcome {
                Ok(output) => output.stats.clone(),
                Err(_) => self.stats_so_far(),
            };
            let (_, finished_at) = crate::clock::run_id_and_time();
            let run = RunInfo {
                run_id: self.label.run_id.clone(),
                started_at: self.label.started_at.clone(),
                finished_at,
                outcome: match &outcome {
                    Ok(_) => RunOutcome::Completed,
                    Err(RunError::Cancelled) => RunOutcome::Interrupted {
                        reason: self
                            .cancel_reason
                            .clone()
                            .unwrap_or_else(|| "cancelled".to_string()),
                    },
                    Err(RunError::NodeFailed(failure)) => RunOutcome::Failed {
                        node: failure.node.clone(),
                        reason: failure.message.clone(),
                    },
                    Err(other) => RunOutcome::Failed {
                        node: String::new(),
                        reason: other.to_string(),
                    },
                },
            };
            if let Err(e) = write_run_log(store.as_ref(), &self.pipeline, &run, &stats) {
                if outcome.is_ok() {
                    outcome = Err(RunError::Build(e));
                }
            }
        }
        if let Some(tx) = self.result.take() {
            // The caller may have dropped its handle; the run ends all the same.
            let _ = tx.send(outcome);
        }
        ctx.stop();
    }

    /// Per-node stats of the pipeline nodes as they stand: a node that has not ended
    /// reports the packet counts of its live progress counters.
    fn stats_so_far(&self) -> Vec<NodeStats> {
        let mut stats = self.stats.clone();
        stats.truncate(self.pipeline_nodes);
        for (i, (s, p)) in stats.iter_mut().zip(self.progress.snapshot()).enumerate() {
            s.rows_out = p.rows_out;
            if !self.ended[i] {
                s.counts = self.progress.counts(i);
            }
        }
        stats
    }

    /// Stops the run early with `outcome`: every node is told to stop; once every node
    /// actor has stopped (or after [`STOP_GRACE`]) what they handed over is flushed, then
    /// the outcome is reported.
    fn stop_early(&mut self, outcome: Result<RunOutput, RunError>, ctx: &mut Context<Self>) {
        if self.result.is_none() || self.finishing.is_some() || self.draining {
            return;
        }
        self.stop_all();
        self.stopping.store(true, Ordering::SeqCst);
        self.draining = true;
        self.drain_then_finish(outcome, Instant::now() + STOP_GRACE, ctx);
    }

    fn drain_then_finish(
        &mut self,
        outcome: Result<RunOutput, RunError>,
        deadline: Instant,
        ctx: &mut Context<Self>,
    ) {
        if self.result.is_none() {
            return;
        }
        let stopped = self.nodes.iter().all(|n| !n.connected());
        if stopped || Instant::now() >= deadline {
            self.finish_after_flush(outcome, ctx);
        } else {
            ctx.run_later(STOP_POLL, move |supervisor, ctx| {
                supervisor.drain_then_finish(outcome, deadline, ctx)
            });
        }
    }

    /// Hands the buffered writes to the store writer (which applies and flushes them).
    fn flush_writes(&mut self, ctx: &mut Context<Self>) {
        if self.scoped_store.is_none() || self.pending.is_empty() {
            return;
        }
        let writes = std::mem::take(&mut self.pending);
        self.pending_rows = 0;
        if self.writer.is_none() {
            if let Some(store) = &self.scoped_store {
                match StoreWriter::start(store.clone(), ctx.address()) {
                    Ok(writer) => self.writer = Some(writer),
                    Err(e) => {
                        self.store_failed(format!("cannot start the store writer: {e}"), ctx);
                        return;
                    }
                }
            }
        }
        if self.writer.as_ref().is_some_and(|w| w.send(writes)) {
            self.flushes_in_flight += 1;
        } else {
            self.store_failed("the store writer stopped".to_string(), ctx);
        }
    }

    /// Flushes what is buffered, then reports `outcome` once every write is flushed.
    fn finish_after_flush(
        &mut self,
        outcome: Result<RunOutput, RunError>,
        ctx: &mut Context<Self>,
    ) {
        self.flush_writes(ctx);
        if self.result.is_none() {
            return;
        }
        if self.flushes_in_flight == 0 {
            self.finish(outcome, ctx);
        } else {
            self.finishing = Some(outcome);
        }
    }

    /// A store write failed: the run fails.
    fn store_failed(&mut self, message: String, ctx: &mut Context<Self>) {
        self.stop_all();
        self.finishing = None;
        let failure = NodeFailure {
            node: STORE_NODE.to_string(),
            message,
        };
        self.finish(Err(RunError::NodeFailed(failure)), ctx);
    }

    fn stop_all(&self) {
        for (node, ended) in self.nodes.iter().zip(&self.ended) {
            if !ended {
                node.do_send(Stop);
            }
        }
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, _ctx: &mut Context<Self>) {
        self.live.fetch_add(1, Ordering::SeqCst);
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        if let Some(mut writer) = self.writer.take() {
            writer.close();
        }
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Handler<Flushed> for Supervisor {
    type Result = ();

    fn handle(&mut self, message: Flushed, ctx: &mut Context<Self>) {
        self.flushes_in_flight = self.flushes_in_flight.saturating_sub(1);
        if self.result.is_none() {
            return;
        }
        if let Err(e) = message.result {
            self.store_failed(e.to_string(), ctx);
            return;
        }
        if self.finishing.is_some() && !self.pending.is_empty() {
            // Writes that arrived while the last flush ran go before the report.
            self.flush_writes(ctx);
        }
        if self.flushes_in_flight == 0 {
            if let Some(outcome) = self.finishing.take() {
                self.finish(outcome, ctx);
            }
        }
    }
}

impl Handler<Wired> for Supervisor {
    type Result = ();

    fn handle(&mut self, wired: Wired, ctx: &mut Context<Self>) {
        self.nodes = wired.nodes;
        if self.nodes.is_empty() {
            self.finish(
                Ok(RunOutput {
                    streams: HashMap::new(),
                    failures: Vec::new(),
                    stats: Vec::new(),
                    warnings: Vec::new(),
                }),
                ctx,
            );
            return;
        }
        for node in &self.nodes {
            node.do_send(Start);
        }
    }
}

impl Handler<NodeEnded> for Supervisor {
    type Result = ();

    fn handle(&mut self, message: NodeEnded, ctx: &mut Context<Self>) {
        self.ended[message.index] = true;
        if let Some(counts) = message.counts {
            self.stats[message.index].counts = counts;
        }
        // A run stopping early keeps the outcome it stops with.
        if self.ended.iter().all(|e| *e) && self.finishing.is_none() && !self.draining {
            let stats = self.stats_so_far();
            let outcome = Ok(RunOutput {
                streams: std::mem::take(&mut self.outputs),
                failures: std::mem::take(&mut self.failures),
                stats,
                warnings: Vec::new(),
            });
            self.finish_after_flush(outcome, ctx);
        }
    }
}

impl Handler<PacketsFailed> for Supervisor {
    type Result = ();

    fn handle(&mut self, message: PacketsFailed, _ctx: &mut Context<Self>) {
        self.stats[message.index].failures.extend(message.failures);
    }
}

impl Handler<StoreWrites> for Supervisor {
    type Result = ();

    /// Buffers a node's writes; they are flushed soon (see the module docs).
    fn handle(&mut self, message: StoreWrites, ctx: &mut Context<Self>) {
        if self.store.is_none() || self.result.is_none() {
            return;
        }
        self.pending_rows += message.rows();
        self.pending.extend(message);
        if self.pending_rows >= FLUSH_ROWS {
            self.flush_writes(ctx);
        } else if !self.flush_scheduled {
            self.flush_scheduled = true;
            ctx.run_later(FLUSH_INTERVAL, |supervisor, ctx| {
                supervisor.flush_scheduled = false;
                if supervisor.result.is_some() {
                    supervisor.flush_writes(ctx);
                }
            });
        }
    }
}

impl Handler<NodeFailed> for Supervisor {
    type Result = ();

    fn handle(&mut self, message: NodeFailed, ctx: &mut Context<Self>) {
        if self.result.is_none() {
            return;
        }
        let failure = NodeFailure {
            node: self.names[message.index].clone(),
            message: message.message,
        };
        if self.continue_on_error {
            self.failures.push(failure);
        } else {
            // Results computed before the failure are valid: keep them. (A failure
            // while the run already stops early changes nothing.)
            self.stop_early(Err(RunError::NodeFailed(failure)), ctx);
        }
    }
}

impl Handler<Collected> for Supervisor {
    type Result = ();

    fn handle(&mut self, message: Collected, _ctx: &mut Context<Self>) {
        match Stream::new(message.schema, message.batches) {
            Ok(stream) => {
                self.outputs.insert(message.node, stream);
            }
            Err(e) => self.failures.push(NodeFailure {
                node: message.node,
                message: e.to_string(),
            }),
        }
    }
}

impl Handler<Cancel> for Supervisor {
    type Result = ();

    fn handle(&mut self, cancel: Cancel, ctx: &mut Context<Self>) {
        if self.result.is_none() {
            return;
        }
        if self.cancel_reason.is_none() {
            self.cancel_reason = Some(cancel.reason);
        }
        // A run already stopping at a failure ends as interrupted all the same (see
        // `finish`); a run already completing completes.
        self.stop_early(Err(RunError::Cancelled), ctx);
    }
}
