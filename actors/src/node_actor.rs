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
//! Invariants:
//! - To each consumer, a node has at most `window_rows` rows in flight (sent, not yet
//!   credited back), or a single batch when the window is empty; batches are split to at
//!   most `max_batch_rows` rows.
//! - A node returns credit for an input batch only once its own output queues have
//!   drained, so a stalled consumer stops its producers in turn: memory stays bounded.
//! - A node always *accepts* input (operators buffer what they must, e.g. a semi-join's
//!   left side), so a diamond cannot deadlock.
//! - A node sends `End` to each consumer exactly once, after all its data, and stops
//!   itself once every consumer has its `End`.
//! - Errors and panics of the state machine are caught here and reported to the
//!   supervisor; they never take the arbiter thread down.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Actor, ActorContext, Addr, AsyncContext, Context, Handler};
use arrow::record_batch::RecordBatch;
use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError};
use orcapod::function::node::{Completed, FunctionNode, Job, PacketResult, StoreWrite};
use orcapod::function::panic_message;
use orcapod::function::runner::{JobEnd, JobRunner, RunnerHost};
use orcapod::model::StreamSchema;
use orcapod::operator::Operator;
use orcapod::pipeline::OperatorLog;

use crate::messages::{Credit, Input, Start, Stop};
use crate::progress::Progress;
use crate::supervisor::{Collected, NodeEnded, NodeFailed, PacketsFailed, StoreWrites, Supervisor};

/// How long a source waits before polling an empty feed again, and a collector before
/// retrying a full subscriber channel.
const POLL_INTERVAL: Duration = Duration::from_micros(200);

/// A worker returns the results of a job in one message, or, when the packets are slow,
/// whatever it has every this often (so slow results are stored as they come).
const PARTIAL_RESULTS_INTERVAL: Duration = Duration::from_millis(1);

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
    /// Emits fixed batches, or batches from a live feed, then ends.
    Source {
        batches: VecDeque<RecordBatch>,
        feed: Option<Receiver<RecordBatch>>,
        exhausted: bool,
    },
    /// Runs an operator state machine.
    Operator(Box<dyn Operator>),
    /// Runs a function node: cache lookups here, computations on a worker pool.
    Function {
        state: Box<FunctionNode>,
        pool: Option<WorkerPool>,
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

/// A connection to a consumer.
pub(crate) struct OutEdge {
    pub consumer: Addr<NodeActor>,
    pub port: usize,
    in_flight: usize,
    queue: VecDeque<RecordBatch>,
    end_queued: bool,
    end_sent: bool,
}

impl OutEdge {
    pub(crate) fn new(consumer: Addr<NodeActor>, port: usize) -> Self {
        OutEdge {
            consumer,
            port,
            in_flight: 0,
            queue: VecDeque::new(),
            end_queued: false,
            end_sent: false,
        }
    }
}

/// A connection to a producer: where credit for this input goes.
pub(crate) struct InEdge {
    pub producer: Addr<NodeActor>,
    /// The index of this connection among the producer's output edges.
    pub edge: usize,
    ended: bool,
}

impl InEdge {
    pub(crate) fn new(producer: Addr<NodeActor>, edge: usize) -> Self {
        InEdge {
            producer,
            edge,
            ended: false,
        }
    }
}

/// One node of a running pipeline.
pub(crate) struct NodeActor {
    index: usize,
    behavior: Behavior,
    schema: Arc<StreamSchema>,
    input_schemas: Vec<Arc<StreamSchema>>,
    log: Option<OperatorLog>,
    inputs: Vec<InEdge>,
    outputs: Vec<OutEdge>,
    inbox: VecDeque<Input>,
    drain_scheduled: bool,
    pending_credit: Vec<(usize, usize)>,
    failed: bool,
    reported_end: bool,
    /// Set when the supervisor stopped this actor on purpose.
    stopped_by_supervisor: bool,
    /// A function node has a [`FunctionStep`] queued.
    step_scheduled: bool,
    config: Arc<ActorConfig>,
    rng: Option<XorShift>,
    supervisor: Addr<Supervisor>,
    progress: Arc<Progress>,
    live: Arc<AtomicUsize>,
}

/// Everything needed to build a [`NodeActor`] except its edges.
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

impl NodeActor {
    pub(crate) fn new(
        setup: NodeSetup,
        inputs: Vec<InEdge>,
        outputs: Vec<OutEdge>,
        config: Arc<ActorConfig>,
        supervisor: Addr<Supervisor>,
        progress: Arc<Progress>,
        live: Arc<AtomicUsize>,
    ) -> Self {
        let rng = config
            .jitter_seed
            .map(|seed| XorShift::new(seed ^ (setup.index as u64 + 1).wrapping_mul(0x9E37_79B9)));
        NodeActor {
            index: setup.index,
            behavior: setup.behavior,
            schema: setup.schema,
            input_schemas: setup.input_schemas,
            log: setup.log,
            inputs,
            outputs,
            inbox: VecDeque::new(),
            drain_scheduled: false,
            pending_credit: Vec::new(),
            failed: false,
            reported_end: false,
            stopped_by_supervisor: false,
            step_scheduled: false,
            config,
            rng,
            supervisor,
            progress,
            live,
        }
    }

    /// Processes queued inputs; with jitter, a random number of them after a random
    /// pause (order is always kept).
    fn drain(&mut self, ctx: &mut Context<Self>) {
        self.drain_scheduled = false;
        let budget = match &mut self.rng {
            Some(rng) => 1 + rng.below(3) as usize,
            None => usize::MAX,
        };
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
        let pause = match &mut self.rng {
            Some(rng) => (rng.below(3) == 0).then(|| Duration::from_micros(rng.below(300))),
            None => None,
        };
        match pause {
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
                self.pending_credit.push((port, rows));
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
                if let Some(edge) = self.inputs.get_mut(port) {
                    edge.ended = true;
                }
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
            Behavior::Function { state, pool } => {
                let pushed = state.push(batch);
                match pushed {
                    Ok(jobs) => {
                        if let Some(pool) = pool {
                            pool.dispatch(jobs);
                        }
                        self.after_function_step(ctx);
                    }
                    Err(e) => self.fail(e.to_string(), ctx),
                }
            }
            Behavior::Source { .. } => {}
        }
    }

    /// Hands out what a function node step produced: outputs downstream, writes and
    /// failures to the supervisor.
    fn after_function_step(&mut self, ctx: &mut Context<Self>) {
        let Behavior::Function { state, .. } = &mut self.behavior else {
            return;
        };
        let taken = state
            .take_output()
            .and_then(|outputs| Ok((outputs, state.take_writes_deferred()?)));
        let failures = state.take_failures();
        let function = state.pod().uri().name.clone();
        let (outputs, (writes, records)) = match taken {
            Ok(taken) => taken,
            Err(e) => {
                self.fail(e.to_string(), ctx);
                return;
            }
        };
        // Results and the records naming them go to the store together; the records
        // are keyed (a hash per row) on the store-writer thread.
        if !(writes.is_empty() && records.is_empty()) {
            self.supervisor.do_send(StoreWrites { writes, records });
        }
        self.emit(outputs);
        if let Some(first) = failures.first() {
            if self.config.continue_on_error {
                self.supervisor.do_send(PacketsFailed {
                    index: self.index,
                    failures,
                });
            } else {
                let message = first.to_error(&function).to_string();
                self.fail(message, ctx);
            }
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
                if let Some(log) = &self.log {
                    let write = log.write(&batches);
                    if !self.hand_over(write, ctx) {
                        return;
                    }
                }
                self.emit(batches)
            }
            Ok(Err(error)) => self.fail(error.to_string(), ctx),
            Err(panic) => self.fail(format!("panicked: {}", panic_message(&*panic)), ctx),
        }
    }

    /// Hands a store write, if any, to the supervisor; an error fails the node (false).
    fn hand_over(
        &mut self,
        write: orcapod::Result<Option<StoreWrite>>,
        ctx: &mut Context<Self>,
    ) -> bool {
        match write {
            Ok(Some(write)) => self.supervisor.do_send(StoreWrites {
                writes: vec![write],
                records: Vec::new(),
            }),
            Ok(None) => {}
            Err(e) => {
                self.fail(e.to_string(), ctx);
                return false;
            }
        }
        true
    }

    fn fail(&mut self, message: String, _ctx: &mut Context<Self>) {
        self.failed = true;
        self.supervisor.do_send(NodeFailed {
            index: self.index,
            message,
        });
        // Under the continue policy, downstream nodes see a (truncated) end of stream.
        if self.config.continue_on_error {
            for edge in &mut self.outputs {
                edge.queue.clear();
                edge.end_queued = true;
            }
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
                for edge in &mut self.outputs {
                    edge.queue.push_back(piece.clone());
                }
                offset += len;
            }
        }
        if let Behavior::Function { state, .. } = &self.behavior {
            self.progress.packets(self.index, state.counts());
        }
    }

    fn max_rows(&mut self) -> usize {
        let max = self.config.max_batch_rows.max(1);
        match &mut self.rng {
            Some(rng) => 1 + rng.below(max as u64) as usize,
            None => max,
        }
    }

    /// Sends what credit allows, returns credit upstream once drained, pulls more from
    /// a source while it can, and ends the node when everything has been delivered.
    fn after_progress(&mut self, ctx: &mut Context<Self>) {
        loop {
            self.pump();
            if !self.drained() {
                break;
            }
            for (port, rows) in self.pending_credit.drain(..) {
                let input = &self.inputs[port];
                input.producer.do_send(Credit {
                    edge: input.edge,
                    rows,
                });
            }
            let is_source = matches!(self.behavior, Behavior::Source { .. });
            if !is_source || self.failed || !self.pull_source(ctx) {
                break;
            }
        }
        let buffered: usize = self
            .outputs
            .iter()
            .map(|e| e.in_flight + e.queue.iter().map(RecordBatch::num_rows).sum::<usize>())
            .sum();
        self.progress.buffered(self.index, buffered);
        self.maybe_end(ctx);
    }

    /// True when nothing this node produced is waiting to be delivered.
    fn drained(&self) -> bool {
        let settled = match &self.behavior {
            Behavior::Collector { blocked, .. } => blocked.is_empty(),
            // Credit for input rows waits until their packets are computed.
            Behavior::Function { state, .. } => state.jobs_in_flight() == 0,
            _ => true,
        };
        settled && self.outputs.iter().all(|e| e.queue.is_empty())
    }

    fn pump(&mut self) {
        let window = self.config.window_rows.max(1);
        for edge in &mut self.outputs {
            while let Some(front) = edge.queue.front() {
                let rows = front.num_rows();
                if edge.in_flight > 0 && edge.in_flight + rows > window {
                    break;
                }
                let batch = edge.queue.pop_front().expect("front exists");
                edge.in_flight += rows;
                edge.consumer.do_send(Input::Data {
                    port: edge.port,
                    batch,
                });
            }
            if edge.queue.is_empty() && edge.end_queued && !edge.end_sent {
                edge.end_sent = true;
                edge.consumer.do_send(Input::End { port: edge.port });
            }
        }
    }

    /// Moves the next source batch (or feed batch) into the output queues, or marks the
    /// source exhausted; false when there was nothing to do (or the feed is empty).
    fn pull_source(&mut self, ctx: &mut Context<Self>) -> bool {
        let Behavior::Source {
            batches,
            feed,
            exhausted,
        } = &mut self.behavior
        else {
            return false;
        };
        if *exhausted {
            return false;
        }
        let max = self.config.max_batch_rows.max(1);
        let next = if let Some(batch) = batches.pop_front() {
            // One slice at a time: the rest stays in the source until credit allows.
            if batch.num_rows() > max {
                batches.push_front(batch.slice(max, batch.num_rows() - max));
                Some(batch.slice(0, max))
            } else {
                Some(batch)
            }
        } else if let Some(rx) = feed {
            match rx.try_recv() {
                Ok(batch) => Some(batch),
                Err(TryRecvError::Empty) => {
                    ctx.run_later(POLL_INTERVAL, |actor, ctx| actor.after_progress(ctx));
                    return false;
                }
                Err(TryRecvError::Disconnected) => None,
            }
        } else {
            None
        };
        match next {
            Some(batch) => {
                if batch.schema().fields() != self.schema.arrow().fields() {
                    self.fail(
                        "a fed batch does not have the source's schema".to_string(),
                        ctx,
                    );
                    return false;
                }
                self.emit(vec![batch]);
            }
            None => {
                *exhausted = true;
                for edge in &mut self.outputs {
                    edge.end_queued = true;
                }
            }
        }
        true
    }

    fn forward_to_subscriber(&mut self, ctx: &mut Context<Self>) {
        let Behavior::Collector {
            subscriber,
            blocked,
            ..
        } = &mut self.behavior
        else {
            return;
        };
        let Some(tx) = subscriber.clone() else {
            return;
        };
        while let Some(batch) = blocked.pop_front() {
            match tx.try_send(batch) {
                Ok(()) => {}
                Err(TrySendError::Full(batch)) => {
                    blocked.push_front(batch);
                    ctx.run_later(POLL_INTERVAL, |actor, ctx| {
                        actor.forward_to_subscriber(ctx);
                        actor.after_progress(ctx);
                    });
                    return;
                }
                // Nobody listens any more: drop the rest, keep running.
                Err(TrySendError::Disconnected(_)) => {
                    blocked.clear();
                    *subscriber = None;
                }
            }
        }
    }

    /// Ends the node once all inputs ended and everything has been delivered.
    fn maybe_end(&mut self, ctx: &mut Context<Self>) {
        if self.reported_end {
            return;
        }
        let inputs_done = match &self.behavior {
            Behavior::Source { exhausted, .. } => *exhausted || self.failed,
            // Completed packets wait for a queued step: end only after it.
            Behavior::Function { state, .. } => {
                self.inputs.iter().all(|i| i.ended)
                    && (self.failed || (state.jobs_in_flight() == 0 && !self.step_scheduled))
            }
            _ => self.inputs.iter().all(|i| i.ended),
        };
        if !inputs_done {
            return;
        }
        if !self.failed || self.config.continue_on_error {
            for edge in &mut self.outputs {
                edge.end_queued = true;
            }
            self.pump();
        }
        let delivered = self.outputs.iter().all(|e| e.end_sent);
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
            self.supervisor.do_send(Collected {
                node: node.clone(),
                schema: self.schema.clone(),
                batches: std::mem::take(collected),
            });
        }
        let counts = match &self.behavior {
            Behavior::Function { state, .. } => Some(state.counts().clone()),
            _ => None,
        };
        self.supervisor.do_send(NodeEnded {
            index: self.index,
            counts,
        });
        ctx.stop();
    }
}

impl Actor for NodeActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.live.fetch_add(1, Ordering::SeqCst);
        let default = self.config.default_max_concurrency;
        if let Behavior::Function { state, pool } = &mut self.behavior {
            let workers = state.pod().max_concurrency().unwrap_or(default).max(1);
            state.set_parallelism(workers);
            *pool = Some(WorkerPool::start(
                state.pod().function().clone(),
                state.pod().retries(),
                workers,
                self.config.continue_on_error,
                ctx.address(),
            ));
        }
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        if let Behavior::Function { pool, state } = &mut self.behavior {
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
        if let Some(edge) = self.outputs.get_mut(credit.edge) {
            edge.in_flight = edge.in_flight.saturating_sub(credit.rows);
        }
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
            self.supervisor.do_send(NodeFailed {
                index: self.index,
                message:
                    "the node's actor stopped unexpectedly (a bug in orcapod, please report it)"
                        .to_string(),
            });
        }
    }
}

/// A worker computed the next packets of a job (all of them, or those done so far).
#[derive(actix::Message)]
#[rtype(result = "()")]
pub(crate) struct JobDone {
    id: u64,
    completed: orcapod::Result<Completed>,
}

impl Handler<JobDone> for NodeActor {
    type Result = ();

    fn handle(&mut self, done: JobDone, ctx: &mut Context<Self>) {
        if self.failed && !self.config.continue_on_error {
            return;
        }
        if let Behavior::Function { state, .. } = &mut self.behavior {
            if let Err(e) = done
                .completed
                .and_then(|completed| state.complete_built(done.id, completed))
            {
                self.fail(e.to_string(), ctx);
                return;
            }
        }
        // Results that arrive together are emitted and stored together: the step runs
        // after the completions already in the mailbox.
        if !self.step_scheduled {
            self.step_scheduled = true;
            ctx.notify(FunctionStep);
        }
    }
}

/// Self-message: hand out what the function node completed since the last step.
#[derive(actix::Message)]
#[rtype(result = "()")]
struct FunctionStep;

impl Handler<FunctionStep> for NodeActor {
    type Result = ();

    fn handle(&mut self, _: FunctionStep, ctx: &mut Context<Self>) {
        self.step_scheduled = false;
        self.after_function_step(ctx);
        self.after_progress(ctx);
    }
}

/// The threads computing a function node's packets, off the actor threads.
///
/// Each thread owns one [`JobRunner`] (so one worker, started on its first packet) and
/// takes jobs — batches of packets — from a shared channel; the runner settles answers,
/// retries failed packets and hands results to the node actor as [`JobDone`] messages
/// (built into result rows on the thread), one per job, or one per
/// [`PARTIAL_RESULTS_INTERVAL`] for slow packets. Threads are started as jobs arrive, so
/// there are never more threads than jobs (hence than packets to compute), nor more than
/// the node's concurrency. Closing the channel ends the threads once their current job
/// is done; a thread whose node has stopped abandons its job (and its worker, which kills
/// its command).
pub(crate) struct WorkerPool {
    jobs: Option<Sender<Job>>,
    receiver: Receiver<Job>,
    threads: Vec<std::thread::JoinHandle<()>>,
    function: Arc<dyn orcapod::function::PacketFunction>,
    retries: u32,
    max_threads: usize,
    continue_on_error: bool,
    node: Addr<NodeActor>,
    /// Jobs dispatched so far.
    dispatched: usize,
}

impl WorkerPool {
    fn start(
        function: Arc<dyn orcapod::function::PacketFunction>,
        retries: u32,
        max_threads: usize,
        continue_on_error: bool,
        node: Addr<NodeActor>,
    ) -> Self {
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        WorkerPool {
            jobs: Some(tx),
            receiver: rx,
            threads: Vec::new(),
            function,
            retries,
            max_threads: max_threads.max(1),
            continue_on_error,
            node,
            dispatched: 0,
        }
    }

    /// Starts threads until there are `wanted` of them (at most the pool's maximum).
    fn ensure_threads(&mut self, wanted: usize) {
        while self.threads.len() < wanted.min(self.max_threads) {
            let rx = self.receiver.clone();
            let node = self.node.clone();
            let function = self.function.clone();
            let retries = self.retries;
            let continue_on_error = self.continue_on_error;
            let spawned = std::thread::Builder::new()
                .name(format!(
                    "orcapod-fn-{}-{}",
                    function.name(),
                    self.threads.len()
                ))
                .spawn(move || {
                    let mut runner = JobRunner::new(function, retries);
                    loop {
                        let mut host = PoolHost {
                            node: &node,
                            jobs: &rx,
                            last_sent: Instant::now(),
                            continue_on_error,
                        };
                        let job = match rx.try_recv() {
                            Ok(job) => job,
                            Err(_) => {
                                // Idle: answers carried in an open session are settled
                                // and handed out before waiting.
                                runner.flush(&mut host);
                                match rx.recv() {
                                    Ok(job) => job,
                                    Err(_) => return,
                                }
                            }
                        };
                        if runner.run(&job, &mut host) == JobEnd::Abandoned && !node.connected() {
                            return;
                        }
                    }
                });
            match spawned {
                Ok(thread) => self.threads.push(thread),
                // Out of threads: the ones running share the work.
                Err(_) if !self.threads.is_empty() => break,
                Err(e) => {
                    self.node.do_send(PoolFailed {
                        message: format!("cannot start a worker thread: {e}"),
                    });
                    break;
                }
            }
        }
    }

    fn dispatch(&mut self, jobs: Vec<Job>) {
        for job in jobs {
            self.dispatched += 1;
            self.ensure_threads(self.dispatched);
            // The receivers live as long as the pool; a send cannot fail before close.
            if let Some(tx) = &self.jobs {
                let _ = tx.send(job);
            }
        }
    }

    /// Closes the job channel; joins the threads when they are idle (a thread still in a
    /// job finishes it and exits on its own).
    fn close(mut self, idle: bool) {
        self.jobs = None;
        if idle {
            for thread in self.threads.drain(..) {
                let _ = thread.join();
            }
        }
    }
}

/// A worker thread as the host of a [`JobRunner`]: results go to the node actor.
struct PoolHost<'a> {
    node: &'a Addr<NodeActor>,
    jobs: &'a Receiver<Job>,
    last_sent: Instant,
    continue_on_error: bool,
}

impl RunnerHost for PoolHost<'_> {
    fn cancelled(&self) -> bool {
        !self.node.connected()
    }

    fn backoff(&mut self, wait: Duration) -> bool {
        crate::clock::wait_unless(wait, || !self.node.connected())
    }

    fn hand_out_now(&mut self) -> bool {
        self.last_sent.elapsed() >= PARTIAL_RESULTS_INTERVAL
    }

    fn deliver(
        &mut self,
        job: &Job,
        start: usize,
        results: Vec<PacketResult>,
        retried: u64,
    ) -> bool {
        self.node.do_send(JobDone {
            id: job.id,
            completed: job.build(start, results, retried),
        });
        self.last_sent = Instant::now();
        self.node.connected()
    }

    fn continue_after_failure(&self) -> bool {
        self.continue_on_error
    }

    fn more_work_queued(&self) -> bool {
        !self.jobs.is_empty()
    }
}

/// The pool could not start any thread: the node fails.
#[derive(actix::Message)]
#[rtype(result = "()")]
pub(crate) struct PoolFailed {
    message: String,
}

impl Handler<PoolFailed> for NodeActor {
    type Result = ();

    fn handle(&mut self, failed: PoolFailed, ctx: &mut Context<Self>) {
        self.fail(failed.message, ctx);
    }
}

/// Self-message: process the inbox.
#[derive(actix::Message)]
#[rtype(result = "()")]
struct Drain;

impl Handler<Drain> for NodeActor {
    type Result = ();

    fn handle(&mut self, _: Drain, ctx: &mut Context<Self>) {
        self.drain(ctx);
    }
}

/// A tiny deterministic generator for test jitter (no dependency needed).
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        XorShift(seed.max(1))
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        if n == 0 {
            0
        } else {
            self.0 % n
        }
    }
}
