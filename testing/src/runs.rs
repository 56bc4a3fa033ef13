//! Running a pipeline with either executor: taking some outputs, comparing the two,
//! reading a subscription to its end.

use std::sync::Arc;

use arrow::array::RecordBatch;
use crossbeam_channel::Receiver;
use orcapod::model::Stream;
use orcapod::pipeline::{OperatorLog, Pipeline, SyncExecutor};
use orcapod::store::ArrowStore;
use orcapod_actors::{RunOptions, Runtime};

use crate::multiset;

/// The outputs `nodes` of a synchronous run of `pipeline` on `store`, computed in the
/// order given.
pub fn sync_outputs<const N: usize>(
    pipeline: &Pipeline,
    store: &Arc<dyn ArrowStore>,
    nodes: [&str; N],
) -> [Stream; N] {
    let mut executor = SyncExecutor::new(pipeline)
        .with_store(store.clone())
        .unwrap();
    nodes.map(|node| executor.output(node).unwrap().clone())
}

/// The outputs `nodes` of a run of `pipeline` on `store` on a new actor runtime, in
/// batches of at most `max_batch_rows` rows.
pub fn actor_outputs<const N: usize>(
    pipeline: &Pipeline,
    store: &Arc<dyn ArrowStore>,
    nodes: [&str; N],
    max_batch_rows: usize,
) -> [Stream; N] {
    let runtime = Runtime::new().unwrap();
    let mut output = runtime
        .run(
            pipeline,
            RunOptions::default()
                .store(store.clone())
                .outputs(nodes)
                .max_batch_rows(max_batch_rows),
        )
        .unwrap();
    nodes.map(|node| output.streams.remove(node).unwrap())
}

/// Rows stored under the log path of operator node `node` (all node instances).
pub fn logged_rows(store: &Arc<dyn ArrowStore>, pipeline: &Pipeline, node: &str) -> usize {
    let index = pipeline.index_of(node).unwrap();
    let log = OperatorLog::for_node(pipeline, index).unwrap().unwrap();
    store
        .at(&[pipeline.name()])
        .unwrap()
        .get_all(log.path())
        .unwrap()
        .map_or(0, |r| r.len())
}

/// Runs every node of `pipeline` on `runtime` with `options` and synchronously, and
/// asserts that each node has the same schema and the same rows (provenance included)
/// in both.
pub fn assert_actors_match_sync(runtime: &Runtime, pipeline: &Pipeline, options: RunOptions) {
    let names: Vec<String> = pipeline
        .nodes()
        .iter()
        .map(|n| n.name().to_string())
        .collect();
    let actors = runtime
        .run(pipeline, options.outputs(names.clone()))
        .unwrap();
    let sync = SyncExecutor::new(pipeline).run_all().unwrap();
    for name in &names {
        assert_eq!(
            actors.streams[name].schema(),
            sync[name].schema(),
            "schema of {name}"
        );
        assert_eq!(
            multiset(&actors.streams[name]),
            multiset(&sync[name]),
            "rows of {name}"
        );
    }
}

/// Reads a subscription until the run closes it: the number of rows received.
pub fn rows_until_closed(subscription: &Receiver<RecordBatch>) -> usize {
    let mut received = 0;
    while let Ok(batch) = subscription.recv() {
        received += batch.num_rows();
    }
    received
}
