//! [`NodeActor`]: one actor per source, operator and output collector.
//!
//! The actor is a thin mailbox adapter around the pure state machines of the core:
//!
//! ```text
//!   upstream ──Input::Data/End──▶ inbox ──drain──▶ Operator::push/finish
//!       ▲                                              │ take_output
//!       └────────Credit (rows)◀── pending acks ◀── out queues ──Input──▶ consumers
//! ```
//!
//! Invariants (those of the credit protocol are in [`edges`](crate::edges)):
//! - Batches are split to at most `max_batch_rows` rows.
//! - A node returns credit for an input batch only once its own output queues have
//!   drained, so a stalled consumer stops its producers in turn: memory stays bounded.
//!   Likewise it holds credit back while more than [`STORE_BACKLOG_ROWS`] of the rows it
//!   handed over to be stored wait to be flushed ([`WritesStored`]), so a slow store
//!   slows the pipeline down instead of filling memory.
//! - A node always *accepts* input (operators buffer what they must, e.g. a semi-join's
//!   left side), so a diamond cannot deadlock.
//! - A node stops itself once every consumer has its `End`.
//! - Errors and panics of the state machine are caught here and reported to the
//!   supervisor; they never take the arbiter thread down.
//!
//! The actor must never block its thread (sources and collectors poll with timers),
//! compute a function's packets (its [`WorkerPool`] does) nor write to the store (it
//! hands writes to the supervisor); it knows the supervisor only through a
//! [`SupervisorLink`] and its peers only through their edges.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, ActorContext, AsyncContext, Context, Handler};
use arrow::record_batch::RecordBatch;
use orcapod::function::{panic_message, FunctionNode};
use orcapod::model::StreamSchema;
use orcapod::pipeline::OperatorLog;

use crate::edges::{InEdge, Inputs, OutEdge, Outputs};
use crate::endpoints::{forward, next_source_batch, SourceRows, SourceStep};
use crate::function_role;
use crate::jitter::Jitter;
use crate::messages::{
    Collected, Credit, Drain, Input, NodeEnded, NodeFailed, PoolFailed, SourceReady, Start, Stop,
    StoreWrites, SupervisorLink,
};
use crate::node_setup::{ActorConfig, Behavior, NodeSetup};
use crate::pools::Pool;
use crate::preparer::Preparer;
use crate::progress::Progress;
use crate::worker_pool::PoolNode;

mod function_steps;

use function_steps::STORE_BACKLOG_ROWS;

/// How long a source waits before polling an empty feed (or its file's reader) again,
/// and a collector before retrying a full subscriber channel.
const POLL_INTERVAL: Duration = Duration::from_micros(200);

/// One node of a running pipeline.
pub(crate) struct NodeActor {
    index: usize,
    behavior: Behavior,
    schema: Arc<StreamSchema>,
    input_schemas: Vec<Arc<StreamSchema>>,
    log: Option<OperatorLog>,
    inputs: Inputs,
    outputs: Outputs,
    inbox: VecDeque<Input>,
    drain_scheduled: bool,
    failed: bool,
    reported_end: bool,
    /// Set when the supervisor stopped this actor on purpose.
    stopped_by_supervisor: bool,
    /// A function node has a [`FunctionStep`] queued.
    step_scheduled: bool,
    config: Arc<ActorConfig>,
    jitter: Jitter,
    /// Rows handed over to be stored and not yet acknowledged ([`WritesStored`]).
    unstored_rows: usize,
    supervisor: SupervisorLink,
    progress: Arc<Progress>,
    live: Arc<AtomicUsize>,
}

impl NodeActor {
    pub(crate) fn new(
        setup: NodeSetup,
        inputs: Vec<InEdge>,
        outputs: Vec<OutEdge>,
        config: Arc<ActorConfig>,
        supervisor: SupervisorLink,
        progress: Arc<Progress>,
        live: Arc<AtomicUsize>,
    ) -> Self {
        NodeActor {
            index: setup.index,
            behavior: setup.behavior,
            schema: setup.schema,
            input_schemas: setup.input_schemas,
            log: setup.log,
            inputs: Inputs::new(inputs),
            outputs: Outputs::new(outputs, config.window_rows),
            inbox: VecDeque::new(),
            drain_scheduled: false,
            failed: false,
            reported_end: false,
            stopped_by_supervisor: false,
            step_scheduled: false,
            jitter: Jitter::for_node(config.jitter_seed, setup.index),
            unstored_rows: 0,
            config,
            supervisor,
            progress,
            live,
        }
    }

    /// Processes queued inputs; with jitter, a random number of them after a random
    /// pause (order is always kept).
    fn drain(&mut self, ctx: &mut Context<Self>) {
        self.drain_scheduled = false;
        let budget = self.jitter.drain_budget();
        for _ in 0..budget {
            let Some(message) = self.inbox.pop_front() else {
                break;
            };
            self.handle_input(message, ctx);
        }
        self.after_progress(ctx);
        if !self.inbox.is_empty() {
            self.schedule_drain(ctx);
        }
    }

    fn schedule_drain(&mut self, ctx: &mut Context<Self>) {
        if self.drain_scheduled {
            return;
        }
        self.drain_scheduled = true;
        match self.jitter.pause() {
            Some(pause) => {
                ctx.run_later(pause, |actor, ctx| actor.drain(ctx));
            }
            None => ctx.notify(Drain),
        }
    }

    fn handle_input(&mut self, message: Input, ctx: &mut Context<Self>) {
        match message {
            Input::Data { port, batch } => {
                let rows = batch.num_rows();
                self.inputs.received(port, rows);
                if self.failed {
                    return;
                }
                let expected = self.input_schemas.get(port).map(|s| s.arrow().fields());
                if expected != Some(batch.schema().fields()) {
                    self.fail(
                        format!("input {port} received a batch whose schema differs from its declared schema"),
                        ctx,
                    );
                    return;
                }
                self.consume(port, batch, ctx);
            }
            Input::End { port } => {
                self.inputs.end(port);
                if self.failed {
                    return;
                }
                self.finish_port(port, ctx);
            }
        }
    }

    fn consume(&mut self, port: usize, batch: RecordBatch, ctx: &mut Context<Self>) {
        match &mut self.behavior {
            Behavior::Operator(op) => {
                let outcome = catch_unwind(AssertUnwindSafe(|| {
                    op.push(port, batch)?;
                    Ok(op.take_output())
                }));
                self.absorb(outcome, ctx);
            }
            Behavior::Collector {
                keep,
                collected,
                subscriber,
                blocked,
                ..
            } => {
                if subscriber.is_some() {
                    blocked.push_back(batch.clone());
                }
                if *keep {
                    collected.push(batch);
                }
                self.forward_to_subscriber(ctx);
            }
            Behavior::Function {
                preparer: Some(preparer),
                ..
            } => {
                // Prepared off this thread; the node takes it back as `Prepared`.
                if !preparer.send(batch) {
                    self.fail("the function node's preparing thread stopped".into(), ctx);
                }
            }
            Behavior::Function { state, pool, .. } => {
                match function_role::push(state, pool.as_mut(), batch) {
                    Ok(()) => self.after_function_step(ctx),
                    Err(e) => self.fail(e.to_string(), ctx),
                }
            }
            Behavior::Source { .. } => {}
        }
    }

    fn finish_port(&mut self, port: usize, ctx: &mut Context<Self>) {
        if let Behavior::Operator(op) = &mut self.behavior {
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                op.finish(port)?;
                Ok(op.take_output())
            }));
            self.absorb(outcome, ctx);
        }
    }

    /// Takes the result of a state-machine step: outputs are queued, an error or a panic
    /// fails the node.
    fn absorb(
        &mut self,
        outcome: std::thread::Result<orcapod::Result<Vec<RecordBatch>>>,
        ctx: &mut Context<Self>,
    ) {
        match outcome {
            Ok(Ok(batches)) => {
                // A logging operator hands its output rows to the supervisor to store.
                match self.log.as_ref().map(|log| log.write(&batches)) {
                    Some(Ok(Some(write))) => self.send_writes(StoreWrites {
                        writes: vec![write],
                        ..StoreWrites::default()
                    }),
                    Some(Err(e)) => return self.fail(e.to_string(), ctx),
                    Some(Ok(None)) | None => {}
                }
                self.emit(batches)
            }
            Ok(Err(error)) => self.fail(error.to_string(), ctx),
            Err(panic) => self.fail(format!("panicked: {}", panic_message(&*panic)), ctx),
        }
    }

    fn fail(&mut self, message: String, _ctx: &mut Context<Self>) {
        self.failed = true;
        self.supervisor.failed.do_send(NodeFailed {
            index: self.index,
            message,
        });
        // Under the continue policy, downstream nodes see a (truncated) end of stream.
        if self.config.continue_on_error {
            self.outputs.truncate();
        }
    }

    /// Queues output batches (split to the maximum size) for every consumer.
    fn emit(&mut self, batches: Vec<RecordBatch>) {
        let max = self.max_rows();
        for batch in batches {
            let mut offset = 0;
            while offset < batch.num_rows() {
                let len = max.min(batch.num_rows() - offset);
                let piece = batch.slice(offset, len);
                self.progress.emitted(self.index, len);
                self.outputs.push(&piece);
                offset += len;
            }
        }
        if let Behavior::Function { state, .. } = &self.behavior {
            self.progress.packets(self.index, state.counts());
        }
    }

    fn max_rows(&mut self) -> usize {
        self.jitter.batch_rows(self.config.max_batch_rows.max(1))
    }

    /// Sends what credit allows, returns credit upstream once drained, pulls more from
    /// a source while it can, and ends the node when everything has been delivered.
    fn after_progress(&mut self, ctx: &mut Context<Self>) {
        loop {
            self.outputs.pump();
            if !self.drained() || self.unstored_rows > STORE_BACKLOG_ROWS {
                break;
            }
            self.inputs.return_credit();
            let is_source = matches!(self.behavior, Behavior::Source { .. });
            if !is_source || self.failed || !self.pull_source(ctx) {
                break;
            }
        }
        self.progress
            .buffered(self.index, self.outputs.buffered_rows());
        self.maybe_end(ctx);
    }

    /// True when nothing this node produced is waiting to be delivered.
    fn drained(&self) -> bool {
        let settled = match &self.behavior {
            Behavior::Collector { blocked, .. } => blocked.is_empty(),
            // Credit for input rows waits until their packets are computed.
            Behavior::Function {
                state, preparer, ..
            } => function_idle(state, preparer),
            _ => true,
        };
        settled && self.outputs.queues_empty()
    }

    /// Moves the next source batch (in memory, read from its file, or fed) into the
    /// output queues, or marks the source exhausted, or fails the node with the read's
    /// error; false when there was nothing to do (or the next batch is not there yet).
    fn pull_source(&mut self, ctx: &mut Context<Self>) -> bool {
        let Behavior::Source { rows, exhausted } = &mut self.behavior else {
            return false;
        };
        if *exhausted {
            return false;
        }
        let max = self.config.max_batch_rows.max(1);
        let polled = matches!(rows, SourceRows::Fed(_));
        // Asked for once, when a file source's reader thread starts.
        let wake = || -> Box<dyn Fn() + Send> {
            let address = ctx.address();
            Box::new(move || address.do_send(SourceReady))
        };
        match next_source_batch(rows, max, wake) {
            SourceStep::Batch(batch) => {
                if batch.schema().fields() != self.schema.arrow().fields() {
                    self.fail(
                        "a fed batch does not have the source's schema".to_string(),
                        ctx,
                    );
                    return false;
                }
                self.emit(vec![batch]);
            }
            // A feed is polled; a file's reader thread sends `SourceReady`.
            SourceStep::Wait => {
                if polled {
                    ctx.run_later(POLL_INTERVAL, |actor, ctx| actor.after_progress(ctx));
                }
                return false;
            }
            SourceStep::Exhausted => {
                *exhausted = true;
                self.outputs.end();
            }
            SourceStep::Failed(message) => {
                self.fail(message, ctx);
                return false;
            }
        }
        true
    }

    /// Hands what a collector holds back to its subscriber; retries later when the
    /// subscriber's channel is full.
    fn forward_to_subscriber(&mut self, ctx: &mut Context<Self>) {
        let Behavior::Collector {
            subscriber,
            blocked,
            ..
        } = &mut self.behavior
        else {
            return;
        };
        if !forward(subscriber, blocked) {
            ctx.run_later(POLL_INTERVAL, |actor, ctx| {
                actor.forward_to_subscriber(ctx);
                actor.after_progress(ctx);
            });
        }
    }

    /// Ends the node once all inputs ended and everything has been delivered.
    fn maybe_end(&mut self, ctx: &mut Context<Self>) {
        if self.reported_end {
            return;
        }
        let inputs_done = match &self.behavior {
            Behavior::Source { exhausted, .. } => *exhausted || self.failed,
            // Batches being prepared and completed packets waiting for a queued step:
            // end only after them.
            Behavior::Function {
                state, preparer, ..
            } => {
                self.inputs.all_ended()
                    && (self.failed || (function_idle(state, preparer) && !self.step_scheduled))
            }
            _ => self.inputs.all_ended(),
        };
        if !inputs_done {
            return;
        }
        if !self.failed || self.config.continue_on_error {
            self.outputs.end();
            self.outputs.pump();
        }
        let delivered = self.outputs.ends_sent();
        if !(delivered && self.drained() && self.inbox.is_empty()) {
            return;
        }
        self.reported_end = true;
        if let Behavior::Function { state, .. } = &self.behavior {
            self.progress.packets(self.index, state.counts());
        }
        self.progress.ended(self.index);
        if let Behavior::Collector {
            node,
            collected,
            keep: true,
            ..
        } = &mut self.behavior
        {
            self.supervisor.collected.do_send(Collected {
                node: node.clone(),
                schema: self.schema.clone(),
                batches: std::mem::take(collected),
            });
        }
        let counts = match &self.behavior {
            Behavior::Function { state, .. } => Some(state.counts().clone()),
            _ => None,
        };
        self.supervisor.ended.do_send(NodeEnded {
            index: self.index,
            counts,
        });
        ctx.stop();
    }
}

/// A function node has no batch being prepared and no job in flight.
fn function_idle(state: &FunctionNode, preparer: &Option<Preparer>) -> bool {
    state.jobs_in_flight() == 0 && preparer.as_ref().is_none_or(Preparer::idle)
}

impl Actor for NodeActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.live.fetch_add(1, Ordering::SeqCst);
        if let Behavior::Function {
            state,
            pool,
            slurm,
            preparer,
        } = &mut self.behavior
        {
            match Preparer::start(
                state.preparer(),
                ctx.address().recipient(),
                state.pod().uri().name.as_str(),
            ) {
                Ok(started) => *preparer = Some(started),
                // Without the thread, pushes are prepared on this one.
                Err(_) => *preparer = None,
            }
            let node = PoolNode {
                done: ctx.address().recipient(),
                failed: ctx.address().recipient(),
            };
            let config = &self.config;
            match Pool::start(
                state,
                slurm.take(),
                config.default_max_concurrency,
                config.continue_on_error,
                node,
            ) {
                Ok(started) => *pool = Some(started),
                Err(message) => ctx.notify(PoolFailed { message }),
            }
        }
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        if let Behavior::Function {
            pool,
            state,
            preparer,
            ..
        } = &mut self.behavior
        {
            if let Some(preparer) = preparer.take() {
                preparer.close();
            }
            if let Some(pool) = pool.take() {
                pool.close(state.jobs_in_flight() == 0);
            }
        }
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Handler<Input> for NodeActor {
    type Result = ();

    fn handle(&mut self, message: Input, ctx: &mut Context<Self>) {
        self.inbox.push_back(message);
        self.schedule_drain(ctx);
    }
}

impl Handler<Credit> for NodeActor {
    type Result = ();

    fn handle(&mut self, credit: Credit, ctx: &mut Context<Self>) {
        self.outputs.credit(credit.edge, credit.rows);
        self.after_progress(ctx);
    }
}

impl Handler<Start> for NodeActor {
    type Result = ();

    fn handle(&mut self, _: Start, ctx: &mut Context<Self>) {
        self.after_progress(ctx);
    }
}

impl Handler<Stop> for NodeActor {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
        // Results already settled are handed over (stored) before the node stops: a
        // queued step would not run once the actor is stopping.
        if !self.failed && matches!(self.behavior, Behavior::Function { .. }) {
            self.after_function_step(ctx);
        }
        self.stopped_by_supervisor = true;
        ctx.stop();
    }
}

impl Drop for NodeActor {
    /// An actor dropped without having ended or been stopped died of a panic in its own
    /// (orcapod's) code: tokio dropped its task. Tell the supervisor, so the run fails
    /// instead of waiting forever.
    fn drop(&mut self) {
        if !self.reported_end && !self.stopped_by_supervisor {
            self.supervisor.failed.do_send(NodeFailed {
                index: self.index,
                message:
                    "the node's actor stopped unexpectedly (a bug in orcapod, please report it)"
                        .to_string(),
            });
        }
    }
}

impl Handler<Drain> for NodeActor {
    type Result = ();

    fn handle(&mut self, _: Drain, ctx: &mut Context<Self>) {
        self.drain(ctx);
    }
}

impl Handler<SourceReady> for NodeActor {
    type Result = ();

    fn handle(&mut self, _: SourceReady, ctx: &mut Context<Self>) {
        self.after_progress(ctx);
    }
}
