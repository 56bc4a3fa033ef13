//! A join lists its columns in the order its inputs are listed. What reads a join's
//! rows must not depend on that order: a function gets its parameters by name, and
//! node rows stored by a build that ordered the columns otherwise are read and extended
//! by column name, in both executors.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, FieldRef};
use orcapod::function::closure::ClosureFunction;
use orcapod::function::{FunctionError, FunctionPod};
use orcapod::model::Datum;
use orcapod::operator::OperatorSpec;
use orcapod::pipeline::{stored_source, CacheMode, Pipeline, PipelineBuilder, SyncExecutor};
use orcapod::store::{ArrowStore, MemoryStore};
use orcapod_actors::{RunOptions, Runtime};
use orcapod_testing::multiset;
use orcapod_testing::runs::{actor_outputs, logged_rows, sync_outputs};
use orcapod_testing::sources::{keyed, names, scores};

fn field(name: &str, dt: DataType) -> FieldRef {
    Arc::new(Field::new(name, dt, false))
}

/// `x + y`, from the parameters in their declared order (x, y), checked by name.
fn sum(p: &[(String, Datum)]) -> Result<Vec<Datum>, FunctionError> {
    match p {
        [(x, Datum::Int(a)), (y, Datum::Int(b))] if x == "x" && y == "y" => {
            Ok(vec![Datum::Int(a + b)])
        }
        _ => Err(FunctionError::new(format!("unexpected packet {p:?}"))),
    }
}

/// `left` (x) and `right` (y) joined in node `joined`, which logs in `mode`, and
/// `sum(x, y) -> z` on it in node `summed`.
fn joined_then_summed(left_id: &str, n: i64, mode: CacheMode) -> Pipeline {
    let int = |name: &str| field(name, DataType::Int64);
    let function = ClosureFunction::new("sum", vec![int("x"), int("y")], vec![int("z")], sum);
    let mut builder = PipelineBuilder::new("cache");
    builder
        .source("left", keyed(left_id, n, "x", 1))
        .source("right", keyed("right", n, "y", 10))
        .operator_with_cache("joined", OperatorSpec::Join, ["left", "right"], mode)
        .function(
            "summed",
            FunctionPod::new(Arc::new(function)).unwrap(),
            ["joined"],
        );
    builder.build().unwrap()
}

/// A copy of every table of `from` into a new store; the tables of node rows (an
/// operator's log, a function's pipeline records: those with `_node_content_hash`) get
/// their columns in reverse order, as a build that ordered a join's columns otherwise
/// would have written them.
fn with_node_tables_reordered(from: &Arc<dyn ArrowStore>) -> Arc<dyn ArrowStore> {
    let to: Arc<dyn ArrowStore> = Arc::new(MemoryStore::new());
    let mut reordered = 0;
    for path in from.list_paths(None).unwrap() {
        let records = from.get_all(&path).unwrap().unwrap();
        let mut batch = records.batch;
        if batch.column_by_name("_node_content_hash").is_some() {
            let reverse: Vec<usize> = (0..batch.num_columns()).rev().collect();
            batch = batch.project(&reverse).unwrap();
            reordered += 1;
        }
        to.add_records(&path, &records.ids, &batch, true).unwrap();
    }
    assert_eq!(reordered, 2, "the join's log and the function's records");
    to
}

#[test]
fn node_rows_stored_in_another_column_order_are_read_and_extended_by_name() {
    let first = joined_then_summed("left", 4, CacheMode::Log);
    let scratch: Arc<dyn ArrowStore> = Arc::new(MemoryStore::new());
    SyncExecutor::new(&first)
        .with_store(scratch.clone())
        .unwrap()
        .run_all()
        .unwrap();

    // More rows since: the log and the records gain rows, written by column name into
    // the tables as they are stored; replaying reads them by name.
    let more = joined_then_summed("left", 6, CacheMode::Log);
    let expected = SyncExecutor::new(&more).run_all().unwrap();
    for actors in [false, true] {
        let store = with_node_tables_reordered(&scratch);
        let [joined, summed] = if actors {
            actor_outputs(&more, &store, ["joined", "summed"], 4)
        } else {
            sync_outputs(&more, &store, ["joined", "summed"])
        };
        assert_eq!(multiset(&joined), multiset(&expected["joined"]));
        assert_eq!(multiset(&summed), multiset(&expected["summed"]));
        assert_eq!(logged_rows(&store, &more, "joined"), 6, "actors: {actors}");

        let replay = joined_then_summed("left", 1, CacheMode::Replay);
        let [replayed] = sync_outputs(&replay, &store, ["joined"]);
        assert_eq!(
            replayed.schema(),
            replay.node("joined").unwrap().output_schema()
        );
        assert_eq!(multiset(&replayed), multiset(&expected["joined"]));
        assert_eq!(
            multiset(&actor_outputs(&replay, &store, ["joined"], 3)[0]),
            multiset(&expected["joined"])
        );
        for node in ["joined", "summed"] {
            let stored = stored_source(store.as_ref(), &more, node).unwrap();
            assert_eq!(
                stored.schema(),
                more.node(node).unwrap().output_schema(),
                "{node}"
            );
            assert_eq!(
                multiset(&stored.stream().unwrap()),
                multiset(&expected[node]),
                "{node}"
            );
        }
    }
}

/// A function with several inputs reads a join whose columns follow the listed inputs;
/// it still gets its parameters in its own declared order, by name, on both executors,
/// whatever order the inputs are listed in.
#[test]
fn a_function_gets_its_parameters_in_its_own_order_whatever_the_listed_inputs() {
    let names = names(4, Some("names"));
    // Declared (score, name): the order of neither listing below.
    let function = ClosureFunction::new(
        "label",
        vec![
            field("score", DataType::Int64),
            field("name", DataType::LargeUtf8),
        ],
        vec![field("label", DataType::LargeUtf8)],
        |p| {
            let shown: Vec<String> = p
                .iter()
                .map(|(column, value)| format!("{column}={}", value.python_str()))
                .collect();
            Ok(vec![Datum::Str(shown.join(","))])
        },
    );
    let pod = FunctionPod::new(Arc::new(function)).unwrap();
    let expected: Vec<String> = (0..4)
        .map(|i| format!("score={},name=n{i}", i * 37 % 101))
        .collect();
    for listed in [["names", "scores"], ["scores", "names"]] {
        let mut builder = PipelineBuilder::new("p");
        builder
            .source("names", names.clone())
            .source("scores", scores(4, "scores"))
            .function("labelled", pod.clone(), listed);
        let pipeline = builder.build().unwrap();
        let sync = SyncExecutor::new(&pipeline).run_all().unwrap();
        let actors = Runtime::new()
            .unwrap()
            .run(&pipeline, RunOptions::default().max_batch_rows(3))
            .unwrap();
        for stream in [&sync["labelled"], &actors.streams["labelled"]] {
            let batch = stream.to_batch().unwrap();
            let labels = batch.column_by_name("label").unwrap();
            let mut got: Vec<String> = (0..batch.num_rows())
                .map(|r| Datum::from_array(labels.as_ref(), r).unwrap().python_str())
                .collect();
            got.sort();
            let mut want = expected.clone();
            want.sort();
            assert_eq!(got, want, "inputs listed as {listed:?}");
        }
    }
}

/// `join [left, right]` and `join [right, left]`: one node instance for the store (same
/// hashes, so one log path and the same row ids), two column orders.
fn both_listed_orders(mode: CacheMode) -> Pipeline {
    let mut builder = PipelineBuilder::new("cache");
    builder
        .source("left", keyed("left", 5, "x", 1))
        .source("right", keyed("right", 5, "y", 10))
        .operator_with_cache("joined", OperatorSpec::Join, ["left", "right"], mode)
        .operator_with_cache("swapped", OperatorSpec::Join, ["right", "left"], mode);
    builder.build().unwrap()
}

#[test]
fn joins_listing_their_inputs_in_other_orders_share_their_logged_rows() {
    let pipeline = both_listed_orders(CacheMode::Log);
    let columns = |node: &str| -> Vec<String> {
        let schema = pipeline.node(node).unwrap().output_schema().clone();
        let packets = schema.packet_fields().iter().map(|f| f.name().clone());
        schema
            .tag_fields()
            .iter()
            .map(|f| f.name().clone())
            .chain(packets)
            .collect()
    };
    assert_eq!(columns("joined"), ["id", "x", "y"]);
    assert_eq!(columns("swapped"), ["id", "y", "x"]);
    let expected = SyncExecutor::new(&pipeline).run_all().unwrap();
    for actors in [false, true] {
        let store: Arc<dyn ArrowStore> = Arc::new(MemoryStore::new());
        if actors {
            actor_outputs(&pipeline, &store, ["joined", "swapped"], 2);
        } else {
            SyncExecutor::new(&pipeline)
                .with_store(store.clone())
                .unwrap()
                .run_all()
                .unwrap();
        }
        // The same rows (by name), so the same ids: stored once.
        assert_eq!(
            logged_rows(&store, &pipeline, "joined"),
            5,
            "actors: {actors}"
        );
        let replay = both_listed_orders(CacheMode::Replay);
        let nodes = ["joined", "swapped"];
        for (node, replayed) in nodes.into_iter().zip(sync_outputs(&replay, &store, nodes)) {
            assert_eq!(
                replayed.schema(),
                replay.node(node).unwrap().output_schema()
            );
            assert_eq!(multiset(&replayed), multiset(&expected[node]), "{node}");
        }
    }
}
