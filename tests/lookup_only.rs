//! The synchronous executor's lookup-only mode: a pipeline's current result from the
//! current sources and the stored function results, calling no function and writing
//! nothing; missing results drop their rows and are counted.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, SchemaRef};
use orcapod::function::closure::ClosureFunction;
use orcapod::function::{FunctionError, FunctionPod};
use orcapod::model::{Datum, Stream};
use orcapod::operator::OperatorSpec;
use orcapod::pipeline::{
    CacheMode, ErrorPolicy, Pipeline, PipelineBuilder, RunWarning, SyncExecutor,
};
use orcapod::source::{Source, SourceOptions};
use orcapod::store::{ArrowStore, Lookup, MemoryStore, RecordPath, Records};
use orcapod_testing::multiset;

/// A view of a store that reads and refuses every write (a test fails on the first).
#[derive(Debug)]
struct ReadOnly(Arc<dyn ArrowStore>);

impl ArrowStore for ReadOnly {
    fn base_path(&self) -> &[String] {
        self.0.base_path()
    }
    fn add_records(
        &self,
        path: &RecordPath,
        _: &[String],
        _: &RecordBatch,
        _: bool,
    ) -> orcapod::Result<usize> {
        panic!("a lookup-only executor wrote to {path}")
    }
    fn get_records(&self, path: &RecordPath, ids: &[String]) -> orcapod::Result<Lookup> {
        self.0.get_records(path, ids)
    }
    fn get_all(&self, path: &RecordPath) -> orcapod::Result<Option<Records>> {
        self.0.get_all(path)
    }
    fn contains_many(&self, path: &RecordPath, ids: &[String]) -> orcapod::Result<Vec<bool>> {
        self.0.contains_many(path, ids)
    }
    fn ids(&self, path: &RecordPath) -> orcapod::Result<Vec<String>> {
        self.0.ids(path)
    }
    fn schema(&self, path: &RecordPath) -> orcapod::Result<Option<SchemaRef>> {
        self.0.schema(path)
    }
    fn list_paths(&self, prefix: Option<&RecordPath>) -> orcapod::Result<Vec<RecordPath>> {
        self.0.list_paths(prefix)
    }
    fn flush(&self) -> orcapod::Result<()> {
        panic!("a lookup-only executor flushed the store")
    }
    fn at(&self, components: &[&str]) -> orcapod::Result<Arc<dyn ArrowStore>> {
        Ok(Arc::new(ReadOnly(self.0.at(components)?)))
    }
}

/// A source of rows `{id: "r{i}", x: value}`.
fn numbers(values: &[(i64, i64)], cached: bool) -> (Source, bool) {
    let rows: Vec<Vec<(String, Datum)>> = values
        .iter()
        .map(|(i, x)| {
            vec![
                ("id".to_string(), Datum::Str(format!("r{i}"))),
                ("x".to_string(), Datum::Int(*x)),
            ]
        })
        .collect();
    let source = Source::from_rows(
        &rows,
        &SourceOptions::tags(["id"]).with_source_id("numbers"),
    )
    .unwrap();
    (source, cached)
}

/// `numbers` → `doubled` (a closure counting its calls, failing on x = 13) → `big`
/// (y > 4, logged) and `kept` (a replay of `big`'s log).
fn pipeline(source: (Source, bool), calls: &Arc<AtomicUsize>) -> Pipeline {
    let calls = calls.clone();
    let function = ClosureFunction::new(
        "double",
        vec![Arc::new(Field::new("x", DataType::Int64, false))],
        vec![Arc::new(Field::new("y", DataType::Int64, false))],
        move |p| {
            calls.fetch_add(1, Ordering::SeqCst);
            match p[0].1 {
                Datum::Int(13) => Err(FunctionError::new("unlucky")),
                Datum::Int(x) => Ok(vec![Datum::Int(2 * x)]),
                _ => Err(FunctionError::new("not an int")),
            }
        },
    );
    let mut builder = PipelineBuilder::new("lookup");
    match source {
        (source, true) => builder.cached_source("numbers", source),
        (source, false) => builder.source("numbers", source),
    };
    let big = OperatorSpec::MapPackets {
        name_map: BTreeMap::from([("y".to_string(), "z".to_string())]),
        drop_unmapped: false,
    };
    builder
        .function(
            "doubled",
            FunctionPod::new(Arc::new(function)).unwrap(),
            ["numbers"],
        )
        .operator_with_cache("renamed", big.clone(), ["doubled"], CacheMode::Log)
        .operator_with_cache("replayed", big, ["doubled"], CacheMode::Replay);
    builder.build().unwrap()
}

fn run(pipeline: &Pipeline, store: &Arc<dyn ArrowStore>) -> (Stream, Stream) {
    let mut executor = SyncExecutor::new(pipeline)
        .with_store(store.clone())
        .unwrap()
        .on_error(ErrorPolicy::Continue);
    let doubled = executor.output("doubled").unwrap().clone();
    let renamed = executor.output("renamed").unwrap().clone();
    (doubled, renamed)
}

/// The lookup-only outputs of `doubled` and `renamed`, and the warnings.
fn look(pipeline: &Pipeline, store: &Arc<dyn ArrowStore>) -> (Stream, Stream, Vec<RunWarning>) {
    let read_only: Arc<dyn ArrowStore> = Arc::new(ReadOnly(store.clone()));
    let mut executor = SyncExecutor::new(pipeline)
        .with_store(read_only)
        .unwrap()
        .lookup_only();
    let doubled = executor.output("doubled").unwrap().clone();
    let renamed = executor.output("renamed").unwrap().clone();
    (doubled, renamed, executor.warnings().to_vec())
}

fn ids(stream: &Stream) -> Vec<String> {
    let mut ids: Vec<String> = stream
        .batches()
        .iter()
        .flat_map(|b| {
            let column = b.column_by_name("id").unwrap();
            (0..b.num_rows())
                .map(|i| Datum::from_array(column.as_ref(), i).unwrap().python_str())
                .collect::<Vec<_>>()
        })
        .collect();
    ids.sort();
    ids
}

#[test]
fn lookup_only_gives_the_current_rows_from_stored_results_without_computing() {
    let store: Arc<dyn ArrowStore> = Arc::new(MemoryStore::new());
    let calls = Arc::new(AtomicUsize::new(0));
    let first = pipeline(numbers(&[(0, 1), (1, 2), (2, 3)], false), &calls);
    run(&first, &store);
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    // r1 edited, r2 deleted, r3 added twice over (two rows, one new packet), r4 fails.
    let now = pipeline(
        numbers(&[(0, 1), (1, 20), (3, 7), (5, 7), (4, 13)], false),
        &calls,
    );
    let (doubled, renamed, warnings) = look(&now, &store);
    assert_eq!(calls.load(Ordering::SeqCst), 3, "lookup-only calls nothing");
    assert_eq!(ids(&doubled), ["r0"]);
    assert_eq!(ids(&renamed), ["r0"]);
    assert_eq!(
        warnings,
        [RunWarning::ResultsMissing {
            node: "doubled".into(),
            packets: 3,
            rows: 4,
        }]
    );

    // A run computes what is missing (r4 fails again); then lookup-only gives its rows.
    let (ran_doubled, ran_renamed) = run(&now, &store);
    assert_eq!(calls.load(Ordering::SeqCst), 6);
    let (doubled, renamed, warnings) = look(&now, &store);
    assert_eq!(calls.load(Ordering::SeqCst), 6);
    assert_eq!(multiset(&doubled), multiset(&ran_doubled));
    assert_eq!(multiset(&renamed), multiset(&ran_renamed));
    assert_eq!(doubled.schema(), ran_doubled.schema());
    assert_eq!(ids(&doubled), ["r0", "r1", "r3", "r5"]);
    // The failed packet stays missing: it has no stored result.
    assert_eq!(
        warnings,
        [RunWarning::ResultsMissing {
            node: "doubled".into(),
            packets: 1,
            rows: 1,
        }]
    );
}

#[test]
fn lookup_only_without_a_store_misses_every_packet() {
    let calls = Arc::new(AtomicUsize::new(0));
    let p = pipeline(numbers(&[(0, 1), (1, 1), (2, 3)], false), &calls);
    let mut executor = SyncExecutor::new(&p).lookup_only();
    assert_eq!(executor.output("renamed").unwrap().num_rows(), 0);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(
        executor.warnings(),
        [RunWarning::ResultsMissing {
            node: "doubled".into(),
            packets: 2,
            rows: 3,
        }]
    );
}

#[test]
fn lookup_only_serves_a_cached_source_as_a_run_would_without_storing_its_rows() {
    let store: Arc<dyn ArrowStore> = Arc::new(MemoryStore::new());
    let calls = Arc::new(AtomicUsize::new(0));
    run(&pipeline(numbers(&[(0, 1), (1, 2)], true), &calls), &store);
    // r1 changed and r2 added twice: the cached source serves r0 once, the old and the
    // new r1, and both r2 rows (two records of the source).
    let now = pipeline(numbers(&[(0, 1), (1, 5), (2, 3), (2, 3)], true), &calls);
    let read_only: Arc<dyn ArrowStore> = Arc::new(ReadOnly(store.clone()));
    let mut executor = SyncExecutor::new(&now)
        .with_store(read_only)
        .unwrap()
        .lookup_only();
    let looked = executor.output("numbers").unwrap().clone();
    let mut running = SyncExecutor::new(&now).with_store(store.clone()).unwrap();
    let ran = running.output("numbers").unwrap().clone();
    assert_eq!(ran.num_rows(), 5);
    assert_eq!(multiset(&looked), multiset(&ran));
}

#[test]
fn a_replay_with_nothing_stored_warns_and_not_once_logged() {
    let store: Arc<dyn ArrowStore> = Arc::new(MemoryStore::new());
    let calls = Arc::new(AtomicUsize::new(0));
    // `replayed` replays the rows `renamed` logs (the same operator on the same input).
    let p = pipeline(numbers(&[(0, 1)], false), &calls);
    let mut lookup = SyncExecutor::new(&p)
        .with_store(Arc::new(ReadOnly(store.clone())))
        .unwrap()
        .lookup_only();
    assert_eq!(lookup.output("replayed").unwrap().num_rows(), 0);
    assert!(
        matches!(lookup.warnings(), [RunWarning::NothingToReplay { node, .. }] if node == "replayed"),
        "{:?}",
        lookup.warnings()
    );
    let mut executor = SyncExecutor::new(&p).with_store(store.clone()).unwrap();
    assert_eq!(executor.output("replayed").unwrap().num_rows(), 0);
    let warnings = executor.warnings().to_vec();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let RunWarning::NothingToReplay { node, path } = &warnings[0] else {
        panic!("{warnings:?}")
    };
    assert_eq!(node, "replayed");
    assert!(path.starts_with("MapPackets/"), "{path}");
    assert!(
        warnings[0]
            .to_string()
            .contains("node `replayed`: replay found nothing stored at MapPackets/"),
        "{}",
        warnings[0]
    );
    // Once logged, the replay serves the rows and says nothing.
    assert_eq!(executor.output("renamed").unwrap().num_rows(), 1);
    let mut again = SyncExecutor::new(&p).with_store(store.clone()).unwrap();
    assert_eq!(again.output("replayed").unwrap().num_rows(), 1);
    assert!(again.warnings().is_empty(), "{:?}", again.warnings());
}
