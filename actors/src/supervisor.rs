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
//! ([`record_run`]): completed, failed (the node and the reason) or interrupted (the
//! reason given to [`Cancel`]), with each node's counts as they stood when it stopped
//! (taken from the live progress counters for nodes that had not ended).
//!
//! Store writes of function nodes and logging operators come here ([`StoreWrites`])
//! and are buffered: they are applied and flushed together every [`FLUSH_INTERVAL`],
//! when [`FLUSH_ROWS`] rows are waiting, and before the run reports success. So results become durable in batches
//! (never one flush per packet), and a crash loses at most the results of the last
//! interval — which a re-run computes again. Applying and flushing happen on the run's
//! store-writer thread ([`StoreWriter`]), in order, so the actors go on meanwhile; the
//! supervisor reports the run's outcome only once every write it handed over is
//! flushed ([`Flushed`]). Each node is told when its rows are flushed
//! ([`WritesStored`]); a node holds its input credit back while too many of its rows
//! wait to be stored (see `node_actor`), so the writes waiting here and in the store
//! writer's queues are bounded: a store slower than the nodes slows the sources down
//! rather than filling memory.
//!
//! The supervisor must never compute nor apply a node's writes on the actor thread (the
//! store writer does; only the run log is written here), and never names a node
//! actor's type: it reaches each node through a [`NodeLink`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Actor, ActorContext, AsyncContext, Context, Handler};
use crossbeam_channel::Sender;
use orcapod::model::Stream;
use orcapod::pipeline::NodeStats;
use orcapod::store::ArrowStore;

use crate::messages::{
    Cancel, Collected, Flushed, NodeEnded, NodeFailed, NodeLink, PacketsFailed, Start, Stop,
    StoreWrites, Wired, WritesStored,
};
use crate::outcome::{logged_outcome, NodeFailure, RunError, RunOutput};
use crate::progress::Progress;
use crate::run_log::record_run;
use crate::store_writer::StoreWriter;

/// How long computed results may wait in memory before they are flushed to the store.
const FLUSH_INTERVAL: std::time::Duration = std::time::Duration::from_millis(50);
/// How many buffered result rows trigger a flush at once.
const FLUSH_ROWS: usize = 8192;
/// How long a run that stops early waits for its node actors to stop (and so for the
/// writes they sent before stopping) before it flushes and reports.
const STOP_GRACE: Duration = Duration::from_secs(2);
/// How often the supervisor looks whether the stopped node actors are gone.
const STOP_POLL: Duration = Duration::from_millis(2);

/// The run's id and start time, for the run log.
#[derive(Debug, Clone)]
pub(crate) struct RunLabel {
    pub run_id: String,
    pub started_at: String,
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
    nodes: Vec<NodeLink>,
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
        let node_failed = matches!(&outcome, Err(e) if e.is_node_failure());
        if self.cancel_reason.is_some() && node_failed {
            outcome = Err(RunError::Cancelled);
        }
        if let Some(store) = &self.store {
            let stats = match &outcome {
                Ok(output) => output.stats.clone(),
                Err(_) => self.stats_so_far(),
            };
            let recorded = record_run(
                store.as_ref(),
                &self.pipeline,
                (&self.label.run_id, &self.label.started_at),
                logged_outcome(&outcome, self.cancel_reason.as_deref()),
                &stats,
            );
            if let Err(e) = recorded {
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
                match StoreWriter::start(store.clone(), ctx.address().recipient()) {
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
        self.finish(Err(RunError::store_failed(message)), ctx);
    }

    /// Tells each node that its rows of a batch are stored (or dropped), releasing the
    /// credit they held back (see [`WritesStored`]).
    fn acknowledge(&self, owners: &[(usize, usize)]) {
        for &(index, rows) in owners {
            if let Some(node) = self.nodes.get(index) {
                node.stored.do_send(WritesStored { rows });
            }
        }
    }

    fn stop_all(&self) {
        for (node, ended) in self.nodes.iter().zip(&self.ended) {
            if !ended {
                node.stop.do_send(Stop);
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
        self.acknowledge(&message.owners);
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
            self.finish(Ok(RunOutput::empty()), ctx);
            return;
        }
        for node in &self.nodes {
            node.start.do_send(Start);
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
            // Never stored: the rows must not hold the node's credit back.
            self.acknowledge(&message.owners);
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
