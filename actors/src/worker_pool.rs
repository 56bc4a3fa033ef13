//! [`WorkerPool`]: the threads computing a function node's packets, off the actor
//! threads.
//!
//! Each thread owns one [`JobRunner`] (so one worker, started on its first packet) and
//! takes jobs — batches of packets — from a shared channel; the runner settles answers,
//! retries failed packets and hands results to the node actor as [`JobDone`] messages
//! (built into result rows on the thread), one per job, or one per
//! [`PARTIAL_RESULTS_INTERVAL`] for slow packets. Threads are started as jobs arrive, so
//! there are never more threads than jobs (hence than packets to compute), nor more than
//! the node's concurrency. Closing the channel ends the threads once their current job
//! is done; a thread whose node has stopped abandons its job (and its worker, which kills
//! its command).
//!
//! The pool only computes: it must never drive the function node's state machine (it
//! only tells it its parallelism when it starts), touch the store, nor talk to another
//! actor than its own node (which it knows only as [`Recipient`]s).

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::Recipient;
use crossbeam_channel::{Receiver, Sender};
use orcapod::function::node::FunctionNode;
use orcapod::function::runner::{JobEnd, JobRunner, RunnerHost};
use orcapod::function::PacketFunction;
use orcapod::function::{Completed, Job};

use crate::messages::{JobDone, PoolFailed};

/// A worker returns the results of a job in one message, or, when the packets are slow,
/// whatever it has every this often (so slow results are stored as they come).
const PARTIAL_RESULTS_INTERVAL: Duration = Duration::from_millis(1);

/// Where a pool's results go: the node actor that owns it.
#[derive(Clone)]
pub(crate) struct PoolNode {
    /// Results of jobs.
    pub done: Recipient<JobDone>,
    /// No thread could be started.
    pub failed: Recipient<PoolFailed>,
}

impl PoolNode {
    /// Whether the node's actor is still alive.
    pub(crate) fn connected(&self) -> bool {
        self.done.connected()
    }
}

/// The threads computing one function node's packets.
pub(crate) struct WorkerPool {
    jobs: Option<Sender<Job>>,
    receiver: Receiver<Job>,
    threads: Vec<std::thread::JoinHandle<()>>,
    function: Arc<dyn PacketFunction>,
    retries: u32,
    max_threads: usize,
    continue_on_error: bool,
    node: PoolNode,
    /// Jobs dispatched so far.
    dispatched: usize,
}

impl WorkerPool {
    /// A pool of at most `max_threads` threads computing `function` (with `retries`)
    /// for `node`; no thread starts before the first job.
    fn start(
        function: Arc<dyn PacketFunction>,
        retries: u32,
        max_threads: usize,
        continue_on_error: bool,
        node: PoolNode,
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

    /// The pool of function node `state`: at most its own concurrency limit of threads,
    /// else `default_workers`; the node is told how many packets run at once.
    pub(crate) fn for_function(
        state: &mut FunctionNode,
        default_workers: usize,
        continue_on_error: bool,
        node: PoolNode,
    ) -> Self {
        let pod = state.pod();
        let workers = pod.max_concurrency().unwrap_or(default_workers).max(1);
        let (function, retries) = (pod.function().clone(), pod.retries());
        state.set_parallelism(workers);
        WorkerPool::start(function, retries, workers, continue_on_error, node)
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
                    self.node.failed.do_send(PoolFailed {
                        message: format!("cannot start a worker thread: {e}"),
                    });
                    break;
                }
            }
        }
    }

    /// Hands `jobs` to the threads, starting threads as needed.
    pub(crate) fn dispatch(&mut self, jobs: Vec<Job>) {
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
    pub(crate) fn close(mut self, idle: bool) {
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
    node: &'a PoolNode,
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

    fn deliver(&mut self, job: &Job, completed: orcapod::Result<Completed>) -> bool {
        self.node.done.do_send(JobDone {
            id: job.id,
            completed,
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
