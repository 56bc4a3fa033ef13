//! Cached sources (reference §4.4): each run adds the source's current rows to the store
//! and the node serves every row stored so far, in both executors.

use std::path::Path;
use std::sync::Arc;

use orcapod::pipeline::{cached_source_path, Pipeline, PipelineBuilder, SyncExecutor};
use orcapod::source::{Source, SourceOptions};
use orcapod::store::{ArrowStore, MemoryStore, SledStore};
use orcapod_actors::{RunOptions, Runtime};
use orcapod_testing::multiset;
use orcapod_testing::runs::{actor_outputs, sync_outputs};
use orcapod_testing::sources::rename;

fn write_csv(path: &Path, rows: &[(&str, i64)]) {
    let mut text = String::from("id,x\n");
    for (id, x) in rows {
        text.push_str(&format!("{id},{x}\n"));
    }
    std::fs::write(path, text).unwrap();
}

fn csv_source(path: &Path) -> Source {
    Source::from_csv(path, &SourceOptions::tags(["id"])).unwrap()
}

/// `scores` (cached) renamed into `renamed`.
fn pipeline(path: &Path) -> Pipeline {
    let mut builder = PipelineBuilder::new("cached");
    builder.cached_source("scores", csv_source(path)).operator(
        "renamed",
        rename("x", "y"),
        ["scores"],
    );
    builder.build().unwrap()
}

#[test]
fn a_cached_source_serves_the_union_of_its_runs_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("scores.csv");
    let store: Arc<dyn ArrowStore> = Arc::new(MemoryStore::new());

    write_csv(&csv, &[("a", 1), ("b", 2)]);
    let first = pipeline(&csv);
    let [scores, _] = sync_outputs(&first, &store, ["scores", "renamed"]);
    assert_eq!(
        multiset(&scores),
        multiset(&csv_source(&csv).stream().unwrap())
    );

    // The file gains a row: the node serves the three rows, each once, with the
    // provenance the plain source gives them.
    write_csv(&csv, &[("a", 1), ("b", 2), ("c", 3)]);
    let second = pipeline(&csv);
    let [scores, renamed] = sync_outputs(&second, &store, ["scores", "renamed"]);
    assert_eq!(scores.num_rows(), 3);
    assert_eq!(
        multiset(&scores),
        multiset(&csv_source(&csv).stream().unwrap())
    );
    assert_eq!(renamed.num_rows(), 3);
    let node = second.node("scores").unwrap();
    assert_eq!(scores.schema(), node.output_schema());
    assert_eq!(node.identity(), csv_source(&csv).identity());

    // Rows seen before stay served (cumulative), and re-running adds nothing.
    write_csv(&csv, &[("a", 1)]);
    let [scores, _] = sync_outputs(&pipeline(&csv), &store, ["scores", "renamed"]);
    assert_eq!(scores.num_rows(), 3);
    let path = cached_source_path(node.identity()).unwrap();
    assert_eq!(
        path.to_string(),
        format!("source/node:{}", node.identity().content)
    );
    let stored = store.at(&["cached"]).unwrap().ids(&path).unwrap();
    assert_eq!(stored.len(), 3);
    assert!(stored.iter().all(|id| id.starts_with("000001")));
}

#[test]
fn sync_and_actors_agree_on_a_cached_source_across_runs() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("scores.csv");
    let sync_store: Arc<dyn ArrowStore> = Arc::new(MemoryStore::new());
    let actor_store: Arc<dyn ArrowStore> =
        Arc::new(SledStore::open(dir.path().join("db")).unwrap());
    for rows in [
        vec![("a", 1), ("b", 2)],
        vec![("a", 1), ("b", 2), ("c", 3), ("d", 4), ("e", 5)],
        vec![("a", 1)],
    ] {
        write_csv(&csv, &rows);
        let p = pipeline(&csv);
        let [sync_scores, sync_renamed] = sync_outputs(&p, &sync_store, ["scores", "renamed"]);
        let [actor_scores, actor_renamed] =
            actor_outputs(&p, &actor_store, ["scores", "renamed"], 2);
        assert_eq!(multiset(&sync_scores), multiset(&actor_scores));
        assert_eq!(multiset(&sync_renamed), multiset(&actor_renamed));
    }
    let [scores, _] = sync_outputs(&pipeline(&csv), &sync_store, ["scores", "renamed"]);
    assert_eq!(scores.num_rows(), 5);
}

#[test]
fn without_a_store_a_cached_source_is_a_plain_source() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("scores.csv");
    write_csv(&csv, &[("a", 1), ("b", 2)]);
    let p = pipeline(&csv);
    let mut executor = SyncExecutor::new(&p);
    assert_eq!(
        multiset(executor.output("scores").unwrap()),
        multiset(&csv_source(&csv).stream().unwrap())
    );
    let runtime = Runtime::new().unwrap();
    let output = runtime
        .run(&p, RunOptions::default().outputs(["scores"]))
        .unwrap();
    assert_eq!(output.streams["scores"].num_rows(), 2);
}
