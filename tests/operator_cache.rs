//! Operator cache modes (reference §8.3): `Log` stores every output row of an operator
//! node, `Replay` serves them back without computing, in both executors.

use std::sync::Arc;

use orcapod::model::Stream;
use orcapod::operator::OperatorSpec;
use orcapod::pipeline::{
    CacheMode, OperatorLog, Pipeline, PipelineBuilder, RunWarning, SyncExecutor,
};
use orcapod::store::{ArrowStore, MemoryStore};
use orcapod_actors::{RunError, RunOptions, Runtime};
use orcapod_testing::multiset;
use orcapod_testing::runs::{actor_outputs, logged_rows, sync_outputs};
use orcapod_testing::sources::keyed;

/// `left` (x) joined with `right` (y) in node `joined`, with `mode`.
fn joined(left_id: &str, n: i64, scale: i64, mode: CacheMode) -> Pipeline {
    let mut builder = PipelineBuilder::new("cache");
    builder
        .source("left", keyed(left_id, n, "x", scale))
        .source("right", keyed("right", n, "y", 10))
        .operator_with_cache("joined", OperatorSpec::Join, ["left", "right"], mode);
    builder.build().unwrap()
}

/// Node `joined` after a synchronous run on `store`.
fn sync_output(pipeline: &Pipeline, store: &Arc<dyn ArrowStore>) -> Stream {
    let [joined] = sync_outputs(pipeline, store, ["joined"]);
    joined
}

/// Node `joined` after a run on actors on `store`, in batches of 3 rows.
fn actor_output(pipeline: &Pipeline, store: &Arc<dyn ArrowStore>) -> Stream {
    let [joined] = actor_outputs(pipeline, store, ["joined"], 3);
    joined
}

#[test]
fn log_stores_every_output_row_at_the_reference_path_once() {
    let store: Arc<dyn ArrowStore> = Arc::new(MemoryStore::new());
    let pipeline = joined("left", 5, 1, CacheMode::Log);
    let computed = sync_output(&pipeline, &store);
    assert_eq!(computed.num_rows(), 5);
    assert_eq!(logged_rows(&store, &pipeline, "joined"), 5);

    let node = pipeline.node("joined").unwrap();
    let path = format!(
        "cache/Join/{}/schema:{}",
        OperatorSpec::Join.content_hash().hex(),
        node.identity().pipeline
    );
    let paths: Vec<String> = store
        .list_paths(None)
        .unwrap()
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert!(paths.contains(&path), "{paths:?} lacks {path}");
    let records = store
        .get_all(&path.parse().unwrap())
        .unwrap()
        .expect("rows are logged");
    // Record ids are the Arrow hash hex of each stored row as a one-row table, without
    // the method prefix.
    for (i, id) in records.ids.iter().enumerate() {
        let row = records.batch.slice(i, 1);
        assert_eq!(*id, orcapod::hashing::arrow::hash_batch(&row).hex());
    }
    let hashes = records.batch.column_by_name("_node_content_hash").unwrap();
    assert_eq!(hashes.len(), 5);

    // Running again (sync or actors) in Log mode stores nothing new.
    sync_output(&pipeline, &store);
    assert_eq!(logged_rows(&store, &pipeline, "joined"), 5);
    actor_output(&pipeline, &store);
    assert_eq!(logged_rows(&store, &pipeline, "joined"), 5);
}

#[test]
fn replay_serves_the_logged_rows_without_computing_them() {
    let store: Arc<dyn ArrowStore> = Arc::new(MemoryStore::new());
    let logged = sync_output(&joined("left", 4, 1, CacheMode::Log), &store);

    // Same node instance (same source ids and schemas), but the sources now hold other
    // rows: replay serves what was logged, provenance included.
    let changed = joined("left", 7, 100, CacheMode::Replay);
    let replayed = sync_output(&changed, &store);
    assert_eq!(multiset(&replayed), multiset(&logged));
    assert_eq!(
        replayed.schema(),
        changed.node("joined").unwrap().output_schema()
    );
    let mut executor = SyncExecutor::new(&changed)
        .with_store(store.clone())
        .unwrap();
    executor.output("joined").unwrap();
    let computed: Vec<String> = executor.stats().into_iter().map(|s| s.node).collect();
    assert_eq!(computed, vec!["joined".to_string()], "inputs were computed");

    assert_eq!(multiset(&actor_output(&changed, &store)), multiset(&logged));
}

#[test]
fn replay_keeps_node_instances_apart() {
    let store: Arc<dyn ArrowStore> = Arc::new(MemoryStore::new());
    let a = sync_output(&joined("a", 3, 1, CacheMode::Log), &store);
    let b = sync_output(&joined("b", 5, 2, CacheMode::Log), &store);
    // Both instances share one table (same operator, same pipeline hash).
    assert_eq!(
        logged_rows(&store, &joined("a", 3, 1, CacheMode::Off), "joined"),
        8
    );
    let replay_a = sync_output(&joined("a", 1, 7, CacheMode::Replay), &store);
    let replay_b = actor_output(&joined("b", 1, 7, CacheMode::Replay), &store);
    assert_eq!(multiset(&replay_a), multiset(&a));
    assert_eq!(multiset(&replay_b), multiset(&b));
}

#[test]
fn replay_with_nothing_stored_is_an_empty_stream_of_the_node_schema() {
    let store: Arc<dyn ArrowStore> = Arc::new(MemoryStore::new());
    let pipeline = joined("left", 3, 1, CacheMode::Replay);
    let schema = pipeline.node("joined").unwrap().output_schema().clone();
    let sync = sync_output(&pipeline, &store);
    assert_eq!(sync.num_rows(), 0);
    assert_eq!(sync.schema(), &schema);
    let actors = actor_output(&pipeline, &store);
    assert_eq!(actors.num_rows(), 0);
    assert_eq!(actors.schema(), &schema);
    // Both executors say so, naming the node and the path.
    let path = OperatorLog::for_node(&pipeline, pipeline.index_of("joined").unwrap())
        .unwrap()
        .unwrap()
        .path()
        .to_string();
    let expected = [RunWarning::NothingToReplay {
        node: "joined".into(),
        path,
    }];
    let mut executor = SyncExecutor::new(&pipeline)
        .with_store(store.clone())
        .unwrap();
    executor.output("joined").unwrap();
    assert_eq!(executor.warnings(), expected);
    let runtime = Runtime::new().unwrap();
    let handle = runtime
        .start(&pipeline, RunOptions::default().store(store.clone()))
        .unwrap();
    assert_eq!(handle.warnings(), expected);
    assert_eq!(handle.wait().unwrap().warnings, expected);
    // Once rows are logged, replaying them warns of nothing.
    sync_output(&joined("left", 3, 1, CacheMode::Log), &store);
    let mut executor = SyncExecutor::new(&pipeline)
        .with_store(store.clone())
        .unwrap();
    assert_eq!(executor.output("joined").unwrap().num_rows(), 3);
    assert!(executor.warnings().is_empty());
    let handle = runtime
        .start(&pipeline, RunOptions::default().store(store.clone()))
        .unwrap();
    assert!(handle.warnings().is_empty());
    assert_eq!(handle.wait().unwrap().streams["joined"].num_rows(), 3);
}

#[test]
fn without_a_store_log_is_off_and_replay_is_an_error_naming_the_node() {
    let logging = joined("left", 3, 1, CacheMode::Log);
    let mut executor = SyncExecutor::new(&logging);
    assert_eq!(executor.output("joined").unwrap().num_rows(), 3);
    let runtime = Runtime::new().unwrap();
    let output = runtime.run(&logging, RunOptions::default()).unwrap();
    assert_eq!(output.streams["joined"].num_rows(), 3);

    let replaying = joined("left", 3, 1, CacheMode::Replay);
    let error = SyncExecutor::new(&replaying)
        .output("joined")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("joined") && error.contains("replay needs a store"),
        "{error}"
    );
    let error = runtime
        .run(&replaying, RunOptions::default())
        .expect_err("replay without a store fails");
    assert!(matches!(error, RunError::Build(_)));
    let error = error.to_string();
    assert!(
        error.contains("joined") && error.contains("replay needs a store"),
        "{error}"
    );
}

#[test]
fn sync_and_actors_log_the_same_rows() {
    let pipeline = joined("left", 20, 3, CacheMode::Log);
    let sync_store: Arc<dyn ArrowStore> = Arc::new(MemoryStore::new());
    let actor_store: Arc<dyn ArrowStore> = Arc::new(MemoryStore::new());
    let sync = sync_output(&pipeline, &sync_store);
    let actors = actor_output(&pipeline, &actor_store);
    assert_eq!(multiset(&sync), multiset(&actors));
    let index = pipeline.index_of("joined").unwrap();
    let path = OperatorLog::for_node(&pipeline, index).unwrap().unwrap();
    let ids = |store: &Arc<dyn ArrowStore>| store.at(&["cache"]).unwrap().ids(path.path()).unwrap();
    assert_eq!(ids(&sync_store).len(), 20);
    assert_eq!(ids(&sync_store), ids(&actor_store));
    let replay = joined("left", 20, 3, CacheMode::Replay);
    assert_eq!(
        multiset(&sync_output(&replay, &actor_store)),
        multiset(&actor_output(&replay, &sync_store))
    );
}
