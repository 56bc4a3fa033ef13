//! [`JobRunner`]: computes the packets of [`Job`]s on one [`FunctionWorker`] — the one
//! worker loop both executors use.
//!
//! A runner owns one worker (started on the first packet, and started again after a
//! failed start) and computes a job's packets in order. It is where three rules of the
//! function boundary live, so that the actor runtime and the synchronous executor cannot
//! differ on them:
//!
//! - **Nothing provisional leaves.** An answer is handed to the driver only after the
//!   worker's [`settle`](FunctionWorker::settle) that follows it returned `Ok`. A failed
//!   settle fails every packet it covered: none of their answers is handed out, so none
//!   can be stored.
//! - **Retries.** A failed packet is computed again up to the pod's `retries` times, after
//!   a backoff of [`retry_backoff`] (1 s, doubling, at most 60 s) for its retry number.
//!   A failure marked [`FunctionError::rerun`] (its answer was lost because of another
//!   packet) is computed again at once and costs no retry, at most [`MAX_RERUNS`] times.
//! - **In order.** Results are handed out as contiguous runs from the job's first packet,
//!   which is what [`Job::build`] and [`FunctionNode`](super::node::FunctionNode) expect.
//!
//! What the runner must never do: sleep, read the clock or spawn — the driver's
//! [`RunnerHost`] waits for backoffs, says when to hand out partial results and whether
//! the run was cancelled.

use std::time::Duration;

use super::node::{Completed, Job, PacketBuffer, PacketResult};
use super::{catching_panics, retry_backoff, FunctionError, FunctionWorker, PacketFunction};
use crate::error::Result;

/// A packet whose answers are lost because of other packets is computed again at once at
/// most this many times before its failure stands.
pub const MAX_RERUNS: u32 = 3;

/// What the driver of a [`JobRunner`] provides.
pub trait RunnerHost {
    /// Whether the run was stopped: no packet is started after this returns true.
    fn cancelled(&self) -> bool;

    /// Waits `wait` before a retry; false if the run was cancelled meanwhile.
    fn backoff(&mut self, wait: Duration) -> bool;

    /// Whether to hand out the results settled so far now (e.g. enough time has passed
    /// since the last hand-out), rather than at the end of the job.
    fn hand_out_now(&mut self) -> bool;

    /// Takes the next packets' results of `job`, built into result rows
    /// ([`Job::build`], on the runner's thread). Returns false when nobody wants more
    /// (the node is gone): the runner then abandons the job.
    fn deliver(&mut self, job: &Job, completed: Result<Completed>) -> bool;

    /// Whether the job goes on after a packet failed for good (false under a fail-fast
    /// policy: the rest of the job is abandoned).
    fn continue_after_failure(&self) -> bool;

    /// Whether another job is waiting for this runner, so that a session whose answers
    /// need not be settled yet may go on with it (the job's answers are then carried,
    /// unsettled, into the next [`JobRunner::run`], or settled by
    /// [`JobRunner::flush`]). A host that says true must call `flush` before it waits
    /// for work.
    fn more_work_queued(&self) -> bool {
        false
    }
}

/// How a job's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobEnd {
    /// Every packet's result was delivered.
    Done,
    /// The job was abandoned (cancelled, the host wants no more, or fail-fast); the
    /// results delivered so far stand.
    Abandoned,
}

/// One packet being computed: its place in the job and what it has cost so far.
#[derive(Debug, Clone, Copy, Default)]
struct Attempts {
    retries: u32,
    reruns: u32,
}

/// Computes jobs' packets on one worker of `function`; see the module docs.
pub struct JobRunner {
    function: std::sync::Arc<dyn PacketFunction>,
    retries: u32,
    worker: Option<Box<dyn FunctionWorker>>,
    buffer: PacketBuffer,
    /// Jobs whose every packet was answered in the still open session, with their
    /// answers: delivered when the session is proven, computed again (in a session
    /// of their own) when it is not.
    carried: Vec<(Job, Vec<PacketResult>)>,
    /// How the last settle went, until the carried jobs are resolved by it.
    pending_outcome: Option<Result<(), FunctionError>>,
}

impl JobRunner {
    /// A runner for `function` that retries a failed packet up to `retries` times.
    pub fn new(function: std::sync::Arc<dyn PacketFunction>, retries: u32) -> Self {
        JobRunner {
            function,
            retries,
            worker: None,
            buffer: PacketBuffer::default(),
            carried: Vec::new(),
            pending_outcome: None,
        }
    }

    /// Settles the open session and hands out the answers of the jobs carried in it
    /// (see [`RunnerHost::more_work_queued`]).
    pub fn flush(&mut self, host: &mut dyn RunnerHost) {
        if self.carried.is_empty() {
            return;
        }
        let outcome = self.settle_worker();
        self.resolve_carried(outcome, host);
    }

    /// Settles the worker, catching a panic.
    fn settle_worker(&mut self) -> Result<(), FunctionError> {
        match self.worker.as_mut() {
            Some(worker) => catching_panics("panicked while settling", || worker.settle()),
            None => Ok(()),
        }
    }

    /// The carried jobs after their session settled with `outcome`: proven, their
    /// answers are delivered; disproved, each is computed again in sessions of its own.
    fn resolve_carried(&mut self, outcome: Result<(), FunctionError>, host: &mut dyn RunnerHost) {
        for (job, results) in std::mem::take(&mut self.carried) {
            if outcome.is_ok() {
                host.deliver(&job, job.build(0, results, 0));
            } else {
                self.run_alone(&job, host);
            }
        }
    }

    /// Resolves the carried jobs by the settle that just happened, if any.
    fn resolve_pending(&mut self, host: &mut dyn RunnerHost) {
        if let Some(outcome) = self.pending_outcome.take() {
            if !self.carried.is_empty() {
                self.resolve_carried(outcome, host);
            }
        }
    }

    /// Runs `job` without carrying it into a later session.
    fn run_alone(&mut self, job: &Job, host: &mut dyn RunnerHost) -> JobEnd {
        self.run_job(job, host, false)
    }

    /// Computes every packet of `job`, handing results to `host` as they are settled.
    pub fn run(&mut self, job: &Job, host: &mut dyn RunnerHost) -> JobEnd {
        self.run_job(job, host, true)
    }

    fn run_job(&mut self, job: &Job, host: &mut dyn RunnerHost, may_carry: bool) -> JobEnd {
        let n = job.len();
        // Settled results not yet delivered, from packet `sent` on.
        let mut settled: Vec<Option<PacketResult>> = Vec::new();
        let mut sent = 0;
        let mut retried = 0u64;
        let mut attempts = vec![Attempts::default(); n];
        let mut next = 0;
        // The packets of the current session (reused: a closure settles every packet).
        let mut round: Vec<(usize, PacketResult)> = Vec::new();
        while next < n {
            // One session: packets computed until the worker wants to settle.
            loop {
                if host.cancelled() {
                    self.settle_round(&mut round, &mut attempts);
                    self.resolve_pending(host);
                    let round = std::mem::take(&mut round);
                    return self.finish_cancelled(job, host, settled, sent, round, retried);
                }
                let result = self.call(job, next);
                // Under fail-fast nothing more is computed once a packet failed (unless a
                // retry saves it, which the settle below decides).
                let stop = result.is_err() && !host.continue_after_failure();
                round.push((next, result));
                next += 1;
                if stop || next == n || self.worker.as_ref().is_none_or(|w| w.wants_settle()) {
                    break;
                }
            }
            // The whole job answered in a session that may stay open: carry it on.
            let carry = may_carry
                && next == n
                && sent == 0
                && settled.is_empty()
                && round.len() == n
                && round.iter().all(|(_, r)| r.is_ok())
                && self.worker.as_ref().is_some_and(|w| !w.wants_settle())
                && host.more_work_queued();
            if carry {
                let results = round.drain(..).map(|(_, r)| r).collect();
                self.carried.push((job.clone(), results));
                return JobEnd::Done;
            }
            // Settle, then retry what may be retried, until nothing is left to retry.
            let mut failed_for_good = false;
            loop {
                let again = self.settle_round(&mut round, &mut attempts);
                self.resolve_pending(host);
                for (i, result) in round.drain(..) {
                    failed_for_good |= result.is_err() && !again.iter().any(|&(j, _)| j == i);
                    place(&mut settled, sent, i, result);
                }
                if again.is_empty() {
                    break;
                }
                let wait = again
                    .iter()
                    .filter(|r| !r.1)
                    .map(|&(i, _)| retry_backoff(attempts[i].retries))
                    .max();
                retried += again.iter().filter(|r| !r.1).count() as u64;
                if let Some(wait) = wait {
                    if !host.backoff(wait) {
                        return self.abandon(job, host, settled, sent, retried);
                    }
                }
                if host.cancelled() {
                    return self.abandon(job, host, settled, sent, retried);
                }
                for (i, _) in again {
                    // The failed result placed above is replaced by the new attempt's.
                    take_placed(&mut settled, sent, i);
                    round.push((i, self.call(job, i)));
                }
            }
            if failed_for_good && !host.continue_after_failure() {
                return self.abandon(job, host, settled, sent, retried);
            }
            if next < n
                && host.hand_out_now()
                && !self.deliver_ready(job, host, &mut settled, &mut sent, &mut retried)
            {
                return JobEnd::Abandoned;
            }
        }
        if self.deliver_ready(job, host, &mut settled, &mut sent, &mut retried) {
            JobEnd::Done
        } else {
            JobEnd::Abandoned
        }
    }

    /// Computes packet `i` of `job`, starting the worker first if needed.
    fn call(&mut self, job: &Job, i: usize) -> PacketResult {
        if self.worker.is_none() {
            match self.function.start_worker() {
                Ok(worker) => self.worker = Some(worker),
                Err(e) => return Err(e),
            }
        }
        let worker = self.worker.as_mut().expect("started above");
        self.buffer.call(job, worker.as_mut(), i)
    }

    /// Settles the round's answers; returns the packets to compute again, each with
    /// whether it is a free rerun (true) or costs a retry (false). Their failed results
    /// stay in `round` (they are replaced when computed again).
    fn settle_round(
        &mut self,
        round: &mut [(usize, PacketResult)],
        attempts: &mut [Attempts],
    ) -> Vec<(usize, bool)> {
        let has_answers = round.iter().any(|(_, r)| r.is_ok());
        if has_answers || !self.carried.is_empty() {
            let outcome = self.settle_worker();
            if let Err(error) = &outcome {
                for (_, result) in round.iter_mut() {
                    if result.is_ok() {
                        *result = Err(error.clone());
                    }
                }
            }
            self.pending_outcome = Some(outcome);
        }
        let mut again = Vec::new();
        for (i, result) in round.iter() {
            let Err(error) = result else { continue };
            let a = &mut attempts[*i];
            if error.rerun && a.reruns < MAX_RERUNS {
                a.reruns += 1;
                again.push((*i, true));
            } else if a.retries < self.retries {
                a.retries += 1;
                again.push((*i, false));
            }
        }
        again
    }

    /// Hands out the contiguous settled results from `sent`; false if the host wants no
    /// more.
    fn deliver_ready(
        &mut self,
        job: &Job,
        host: &mut dyn RunnerHost,
        settled: &mut Vec<Option<PacketResult>>,
        sent: &mut usize,
        retried: &mut u64,
    ) -> bool {
        let ready = settled.iter().take_while(|r| r.is_some()).count();
        if ready == 0 {
            return true;
        }
        let results: Vec<PacketResult> = settled.drain(..ready).map(Option::unwrap).collect();
        let start = *sent;
        *sent += ready;
        host.deliver(job, job.build(start, results, std::mem::take(retried)))
    }

    /// Delivers what is settled and stops.
    fn abandon(
        &mut self,
        job: &Job,
        host: &mut dyn RunnerHost,
        mut settled: Vec<Option<PacketResult>>,
        mut sent: usize,
        mut retried: u64,
    ) -> JobEnd {
        // Failed results awaiting a retry are not delivered: they were never final.
        self.deliver_ready(job, host, &mut settled, &mut sent, &mut retried);
        JobEnd::Abandoned
    }

    /// On cancellation: the round was settled; its results join the settled ones (a
    /// packet whose retry will not happen keeps its failure out: it is simply not
    /// delivered, and computed again by the next run).
    fn finish_cancelled(
        &mut self,
        job: &Job,
        host: &mut dyn RunnerHost,
        mut settled: Vec<Option<PacketResult>>,
        sent: usize,
        round: Vec<(usize, PacketResult)>,
        retried: u64,
    ) -> JobEnd {
        for (i, result) in round {
            if result.is_ok() {
                place(&mut settled, sent, i, result);
            } else {
                // Stop the contiguous run here: a failure caused by the stop is no
                // failure of the packet.
                break;
            }
        }
        self.abandon(job, host, settled, sent, retried)
    }
}

/// Puts the result of packet `i` in the settled slots (which start at packet `sent`).
fn place(settled: &mut Vec<Option<PacketResult>>, sent: usize, i: usize, result: PacketResult) {
    let slot = i - sent;
    if settled.len() <= slot {
        settled.resize_with(slot + 1, || None);
    }
    settled[slot] = Some(result);
}

/// Empties the slot of packet `i` (its result is being computed again).
fn take_placed(settled: &mut [Option<PacketResult>], sent: usize, i: usize) {
    if let Some(slot) = settled.get_mut(i - sent) {
        *slot = None;
    }
}
