//! The one writer of a run's end in the run log, for both ways of running a pipeline:
//! the supervisor of an actor run and the command line's synchronous runs call
//! [`record_run`], which stamps the end time and writes the line of each node.
//!
//! It only writes the run log (never a result, never another path) and decides nothing
//! about the outcome: its callers say how the run ended.

use orcapod::pipeline::{write_run_log, NodeStats, RunInfo, RunOutcome};
use orcapod::store::ArrowStore;

use crate::clock::run_id_and_time;

/// Records in the run log of `pipeline` that the run `run_id`, started at `started_at`,
/// ended now with `outcome`, with each node's counts.
pub fn record_run(
    store: &dyn ArrowStore,
    pipeline: &str,
    (run_id, started_at): (&str, &str),
    outcome: RunOutcome,
    stats: &[NodeStats],
) -> orcapod::Result<()> {
    let (_, finished_at) = run_id_and_time();
    let run = RunInfo {
        run_id: run_id.to_string(),
        started_at: started_at.to_string(),
        finished_at,
        outcome,
    };
    write_run_log(store, pipeline, &run, stats)
}
