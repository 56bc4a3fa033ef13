//! Running command function nodes on Slurm: the driver of the pure parts in
//! [`orcapod::function::slurm`].
//!
//! A run whose pipeline has a node on the Slurm executor gets one [`SlurmRun`]: its work
//! directory (`WORK_DIR/<run id>/`), the job name every submission of the run carries
//! (`orcapod-<run id>`), and its one status [`poller`](poller::Poller). Each such node
//! gets a [`SlurmPool`](pool::SlurmPool) in place of its local worker pool, with its
//! files in a directory of its own (`<index>-<node name>/`).
//!
//! - `poller.rs`: one `squeue` per interval for the whole run;
//! - `pool.rs`: one node's chunks: written, submitted, waited for, read back;
//! - `readback.rs`: a submitted chunk read back, by its exit marker or its task's state;
//! - `ledger.rs`: one node's packets, from their job to their delivered result;
//! - `registry.rs`: the jobs this process submitted, for [`cancel_all_jobs`].
//!
//! This is the only code that runs `sbatch`, `squeue` or `scancel`; it never opens the
//! store (results go to the node actor, which stores them as it stores local ones).

mod ledger;
mod poller;
pub(crate) mod pool;
mod readback;
mod registry;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use orcapod::function::command::CommandFunction;
use orcapod::function::slurm::{Executor, SlurmSettings};
use orcapod::function::FunctionNode;
use orcapod::store::layout::slurm_submissions_path;
use orcapod::store::{ArrowStore, RecordPath};

pub use registry::cancel_all_jobs;

/// What the Slurm pools of one run share.
pub(crate) struct SlurmRun {
    /// This run's directory inside the work directory.
    pub dir: PathBuf,
    /// The name of every job the run submits (what the poller asks `squeue` about).
    pub job_name: String,
    pub(crate) poller: poller::Poller,
}

impl std::fmt::Debug for SlurmRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlurmRun")
            .field("dir", &self.dir)
            .field("job_name", &self.job_name)
            .finish()
    }
}

impl SlurmRun {
    /// The Slurm context of run `run_id`, its files under `work_dir` (which must exist
    /// and be writable: checked here by creating the run's directory).
    pub(crate) fn start(work_dir: &Path, run_id: &str) -> Result<SlurmRun, String> {
        let token: String = run_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if !work_dir.is_dir() {
            return Err(format!(
                "the Slurm work directory {} does not exist (create it, on a filesystem the \
                 compute nodes see)",
                work_dir.display()
            ));
        }
        let dir = work_dir.join(&token);
        std::fs::create_dir_all(&dir).map_err(|e| {
            format!(
                "the Slurm work directory {} is not writable: {e}",
                work_dir.display()
            )
        })?;
        let job_name = format!("orcapod-{token}");
        let poller = poller::Poller::start(&job_name)
            .map_err(|e| format!("cannot start the Slurm status thread: {e}"))?;
        Ok(SlurmRun {
            dir,
            job_name,
            poller,
        })
    }

    /// The directory of node `index` called `name`.
    pub(crate) fn node_dir(&self, index: usize, name: &str) -> PathBuf {
        let name: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.dir.join(format!("{index:03}-{name}"))
    }
}

/// How one function node runs on Slurm, decided when the run starts.
pub(crate) struct SlurmNode {
    pub run: Arc<SlurmRun>,
    pub dir: PathBuf,
    pub command: CommandFunction,
    pub settings: SlurmSettings,
    pub retries: u32,
    /// Where the node's submissions are recorded, when the run has a store.
    pub records: Option<(Arc<dyn ArrowStore>, RecordPath)>,
}

/// Whether function node `state` (node `index`, called `name`) runs on Slurm: its
/// pod's executor, or `executor` for every command function when given. The run's
/// [`SlurmRun`] is started (in `run`) by the first node that does, in `work_dir` for
/// run `run_id`. With a `store` (the pipeline's scope), the node records its
/// submissions there and takes up those of earlier runs.
pub(crate) fn plan_node(
    run: &mut Option<Arc<SlurmRun>>,
    store: Option<&Arc<dyn ArrowStore>>,
    work_dir: Option<&Path>,
    executor: Option<Executor>,
    run_id: &str,
    (index, name): (usize, &str),
    state: &FunctionNode,
) -> Result<Option<SlurmNode>, String> {
    let pod = state.pod();
    let Some(command) = pod.function().as_command() else {
        return Ok(None);
    };
    if executor.unwrap_or(pod.executor()) != Executor::Slurm {
        return Ok(None);
    }
    let shared = match run {
        Some(shared) => shared.clone(),
        None => {
            let work_dir = work_dir.ok_or_else(|| {
                format!(
                    "node `{name}` runs on Slurm, but the run has no work directory \
                     (RunOptions::slurm_work_dir, `--work-dir`)"
                )
            })?;
            let started = Arc::new(SlurmRun::start(work_dir, run_id)?);
            *run = Some(started.clone());
            started
        }
    };
    let records = match store {
        Some(store) => Some((
            store.clone(),
            slurm_submissions_path(pod.uri()).map_err(|e| e.to_string())?,
        )),
        None => None,
    };
    Ok(Some(SlurmNode {
        records,
        dir: shared.node_dir(index, name),
        run: shared,
        command: command.clone(),
        settings: pod.slurm().clone(),
        retries: pod.retries(),
    }))
}
