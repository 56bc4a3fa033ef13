//! What the command line writes to the run log: the end of a synchronous run (the actor
//! runtime records its own runs), and a killed run found when the next one starts.

use std::path::Path;

use anyhow::Context;
use orcapod::pipeline::{write_run_log, NodeStats, RunInfo, RunOutcome};
use orcapod::store::ArrowStore;
use orcapod_actors::record_run;

use crate::failure::Failure;
use crate::live::{self, NodeLine};
use crate::remote;
use crate::signals::Interrupt;

/// A run of the pipeline on `db` that was killed (its progress file says running, its
/// process is gone) goes into the run log as interrupted, with its last known counts,
/// before this run overwrites the progress file.
pub fn record_killed_run(db: &Path, store: &dyn ArrowStore) {
    let Some(live::Liveness::Killed(killed)) = live::liveness(db) else {
        return;
    };
    if let Some(socket) = &killed.socket {
        remote::remove_stale_socket(socket);
    }
    // A watching process killed between rounds: its last round recorded its end.
    if killed.watch.as_ref().is_some_and(|w| w.between_rounds) {
        return;
    }
    let run = RunInfo {
        run_id: killed.run_id.clone(),
        started_at: killed.started_at.clone(),
        finished_at: killed.updated_at.clone(),
        outcome: RunOutcome::Interrupted {
            reason: killed_reason(killed.pid),
        },
    };
    let stats: Vec<NodeStats> = killed.nodes.iter().map(NodeLine::stats).collect();
    if let Err(e) = write_run_log(store, &killed.pipeline, &run, &stats) {
        eprintln!(
            "warning: cannot record the killed run {} in the run log: {e}",
            killed.run_id
        );
    }
}

/// The reason recorded for a run whose process was killed.
pub fn killed_reason(pid: u32) -> String {
    format!(
        "killed: process {pid} ended without recording its end; counts as it last published them"
    )
}

/// Writes the end of a synchronous run to the run log: completed, failed at a node, or
/// interrupted by a signal (which wins over the failure it caused).
pub fn record_sync_run(
    store: &dyn ArrowStore,
    pipeline: &str,
    (run_id, started_at): (&str, &str),
    failure: Option<&(String, String)>,
    interrupted: Option<Interrupt>,
    stats: &[NodeStats],
) -> Result<(), Failure> {
    let outcome = match (failure, interrupted) {
        (_, Some(signal)) => RunOutcome::Interrupted {
            reason: signal.name().to_string(),
        },
        (Some((node, reason)), None) => RunOutcome::Failed {
            node: node.clone(),
            reason: reason.clone(),
        },
        (None, None) => RunOutcome::Completed,
    };
    record_run(store, pipeline, (run_id, started_at), outcome, stats)
        .context("cannot write the run log")?;
    Ok(())
}
