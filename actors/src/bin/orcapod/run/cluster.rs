//! Which nodes of a run go to Slurm, and where their files live: `--executor`,
//! `--work-dir` and each node's `executor:` ([`plan`]); and cancelling the run's Slurm
//! jobs when it stops ([`cancel_jobs`]).
//!
//! It checks and creates directories only: it never submits nor polls (the runtime
//! does).

use std::path::{Path, PathBuf};

use orcapod::function::slurm::Executor;
use orcapod::pipeline::NodeKind;
use orcapod::pipeline_file::PipelineFile;

use crate::args::{ExecutorArg, Mode, RunArgs};
use crate::failure::Failure;

/// How the run's command function nodes are executed.
pub struct Cluster {
    /// `--executor`, over every node's own.
    pub executor: Option<Executor>,
    /// The work directory, when a node runs on Slurm.
    pub work_dir: Option<PathBuf>,
}

/// The nodes that run on Slurm: command function nodes whose executor (or
/// `--executor`) is `slurm`.
fn slurm_nodes(file: &PipelineFile, executor: Option<Executor>) -> Vec<String> {
    file.pipeline()
        .nodes()
        .iter()
        .filter_map(|node| match node.kind() {
            NodeKind::Function(pod)
                if pod.function().as_command().is_some()
                    && executor.unwrap_or(pod.executor()) == Executor::Slurm =>
            {
                Some(node.name().to_string())
            }
            _ => None,
        })
        .collect()
}

/// The run's executors, checked before anything is submitted: Slurm needs the actor
/// runtime, and a work directory that exists and is writable (the default, `slurm/` in
/// the database `db`, is created).
pub fn plan(args: &RunArgs, file: &PipelineFile, db: &Path) -> Result<Cluster, Failure> {
    let executor = args.executor.map(|e| match e {
        ExecutorArg::Local => Executor::Local,
        ExecutorArg::Slurm => Executor::Slurm,
    });
    let nodes = slurm_nodes(file, executor);
    if nodes.is_empty() {
        return Ok(Cluster {
            executor,
            work_dir: None,
        });
    }
    let listed = nodes
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if args.mode == Mode::Sync {
        return Err(Failure::Invalid(format!(
            "{}: node(s) {listed} run on Slurm, which needs the actor runtime; leave out \
             `--mode sync` (or pass `--executor local`)",
            file.path().display()
        )));
    }
    for program in ["sbatch", "squeue", "scancel"] {
        if !on_path(program) {
            return Err(Failure::Invalid(format!(
                "{}: node(s) {listed} run on Slurm, but `{program}` is not on PATH; run on a \
                 machine that can submit to the cluster (or pass `--executor local`)",
                file.path().display()
            )));
        }
    }
    let work_dir = match &args.work_dir {
        Some(dir) => {
            if !dir.is_dir() {
                return Err(Failure::Invalid(format!(
                    "--work-dir {}: no such directory; create it (on a cluster, on a \
                     filesystem the compute nodes see) or leave out --work-dir to use \
                     `slurm/` in the database",
                    dir.display()
                )));
            }
            dir.clone()
        }
        None => {
            let dir = db.join("slurm");
            std::fs::create_dir_all(&dir).map_err(|e| {
                Failure::Failed(format!(
                    "cannot create the work directory {}: {e}",
                    dir.display()
                ))
            })?;
            dir
        }
    };
    let probe = work_dir.join(format!(".orcapod-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(|e| {
        Failure::Invalid(format!(
            "--work-dir {}: not writable ({e}); node(s) {listed} run on Slurm and keep their \
             chunks there",
            work_dir.display()
        ))
    })?;
    let _ = std::fs::remove_file(&probe);
    let work_dir = work_dir.canonicalize().unwrap_or(work_dir);
    Ok(Cluster {
        executor,
        work_dir: Some(work_dir),
    })
}

/// Whether `program` is an executable file in a directory of `PATH`.
fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(program))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// Cancels every Slurm job of this process still running (one `scancel`), saying so
/// when it cannot.
pub fn cancel_jobs() {
    if let Err(e) = orcapod_actors::cancel_all_jobs() {
        eprintln!("warning: cannot cancel the run's Slurm jobs: {e}");
    }
}
