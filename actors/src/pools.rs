//! [`Pool`]: what computes a function node's packets — local worker threads
//! ([`WorkerPool`]) or Slurm job arrays ([`SlurmPool`]) — behind the one interface the
//! node actor uses: jobs in ([`Pool::dispatch`]), results back as messages, and
//! [`Pool::close`].
//!
//! It only forwards: it must never compute, submit or store anything itself.

use orcapod::function::{FunctionNode, Job};

use crate::slurm::pool::SlurmPool;
use crate::slurm::SlurmNode;
use crate::worker_pool::{PoolNode, WorkerPool};

/// The executor of one function node.
pub(crate) enum Pool {
    /// Worker threads of this process.
    Local(WorkerPool),
    /// Slurm job arrays.
    Slurm(SlurmPool),
}

impl Pool {
    /// The pool of function node `state`: on Slurm when `slurm` says so (one job per
    /// input batch: the pool cuts chunks itself), else local threads.
    pub(crate) fn start(
        state: &mut FunctionNode,
        slurm: Option<Box<SlurmNode>>,
        default_workers: usize,
        continue_on_error: bool,
        node: PoolNode,
    ) -> Result<Pool, String> {
        match slurm {
            Some(slurm) => {
                state.set_parallelism(1);
                let SlurmNode {
                    run,
                    dir,
                    command,
                    settings,
                    retries,
                    records,
                } = *slurm;
                SlurmPool::start(run, dir, command, settings, retries, records, node)
                    .map(Pool::Slurm)
            }
            None => Ok(Pool::Local(WorkerPool::for_function(
                state,
                default_workers,
                continue_on_error,
                node,
            ))),
        }
    }

    /// Hands `jobs` to the executor.
    pub(crate) fn dispatch(&mut self, jobs: Vec<Job>) {
        match self {
            Pool::Local(pool) => pool.dispatch(jobs),
            Pool::Slurm(pool) => pool.dispatch(jobs),
        }
    }

    /// No more jobs; waits for the executor's threads when the node is idle.
    pub(crate) fn close(self, idle: bool) {
        match self {
            Pool::Local(pool) => pool.close(idle),
            Pool::Slurm(pool) => pool.close(idle),
        }
    }
}
