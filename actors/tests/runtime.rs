//! The actor runtime: equivalence with the synchronous executor, streaming, bounded
//! buffering, supervision, cancellation and the long-running mode.

use std::time::Duration;

use orcapod::operator::OperatorSpec;
use orcapod::pipeline::{Pipeline, PipelineBuilder};
use orcapod_actors::{ErrorPolicy, RunError, RunOptions, Runtime};
use orcapod_testing::runs::{assert_actors_match_sync, rows_until_closed};
use orcapod_testing::sources::{numbers, rename};

fn chain(n: usize) -> Pipeline {
    let mut b = PipelineBuilder::new("chain");
    b.source("s", numbers("s", n, 7, "v"))
        .operator("renamed", rename("v", "w"), ["s"])
        .operator(
            "picked",
            OperatorSpec::SelectTagColumns {
                columns: vec!["id".into()],
                strict: true,
            },
            ["renamed"],
        );
    b.build().unwrap()
}

#[test]
fn a_chain_gives_the_same_rows_as_the_sync_executor() {
    let runtime = Runtime::new().unwrap();
    let pipeline = chain(500);
    assert_actors_match_sync(&runtime, &pipeline, RunOptions::default());
    for seed in 1..4 {
        assert_actors_match_sync(
            &runtime,
            &pipeline,
            RunOptions::default()
                .max_batch_rows(7)
                .window_rows(20)
                .jitter(seed),
        );
    }
    assert_eq!(
        runtime.live_actors(),
        0,
        "every actor stopped after its run"
    );
}

#[test]
fn cancellation_stops_every_actor() {
    let runtime = Runtime::new().unwrap();
    let pipeline = chain(10);
    let (tx, rx) = crossbeam_channel::unbounded();
    let mut options = RunOptions::default();
    options.feed("s", rx);
    let handle = runtime.start(&pipeline, options).unwrap();
    // The feed never ends: the run can only end by cancellation.
    assert!(handle.wait_timeout(Duration::from_millis(50)).is_none());
    handle.cancel();
    assert!(matches!(handle.wait(), Err(RunError::Cancelled)));
    wait_for_no_actors(&runtime);
    drop(tx);
}

#[test]
fn a_failing_node_stops_the_run_and_is_named_and_the_next_run_works() {
    let runtime = Runtime::new().unwrap();
    let pipeline = chain(10);
    let wrong = numbers("other", 3, 3, "not_v").stream().unwrap().batches()[0].clone();
    let (tx, rx) = crossbeam_channel::unbounded();
    tx.send(wrong).unwrap();
    let mut options = RunOptions::default();
    options.feed("s", rx);
    let err = runtime.run(&pipeline, options).unwrap_err();
    match &err {
        RunError::NodeFailed(failure) => assert_eq!(failure.node, "s"),
        other => panic!("expected a node failure, got {other:?}"),
    }
    assert!(err.to_string().contains("node `s` failed"), "{err}");
    wait_for_no_actors(&runtime);
    drop(tx);

    // The runtime is still usable.
    let output = runtime.run(&chain(5), RunOptions::default()).unwrap();
    assert_eq!(output.streams["picked"].num_rows(), 5);
}

#[test]
fn under_continue_a_failure_is_recorded_and_the_run_ends() {
    let runtime = Runtime::new().unwrap();
    let pipeline = chain(10);
    let good = numbers("s", 4, 2, "v").stream().unwrap().batches()[0].clone();
    let wrong = numbers("other", 3, 3, "not_v").stream().unwrap().batches()[0].clone();
    let (tx, rx) = crossbeam_channel::unbounded();
    tx.send(good).unwrap();
    tx.send(wrong).unwrap();
    drop(tx);
    let mut options = RunOptions::default().on_error(ErrorPolicy::Continue);
    options.feed("s", rx);
    let output = runtime.run(&pipeline, options).unwrap();
    assert_eq!(output.failures.len(), 1);
    assert_eq!(output.failures[0].node, "s");
    assert_eq!(
        output.streams["picked"].num_rows(),
        4,
        "rows before the failure arrive"
    );
}

#[test]
fn a_stalled_consumer_bounds_the_rows_buffered_in_the_graph() {
    let runtime = Runtime::new().unwrap();
    let pipeline = chain(20_000);
    let mut options = RunOptions::default()
        .max_batch_rows(100)
        .window_rows(300)
        .outputs(Vec::<String>::new());
    let rx = options.subscribe("picked", 1);
    let handle = runtime.start(&pipeline, options).unwrap();
    // Nobody reads: the pipeline must stall with a bounded number of rows emitted.
    std::thread::sleep(Duration::from_millis(200));
    // Per edge: the window in flight, plus the node's queue, which holds at most the
    // output of one window received while it was draining, plus one batch.
    let edges = 3; // s→renamed→picked→collector
    let bound = edges * (2 * 300 + 100);
    let buffered: u64 = handle.progress().iter().map(|p| p.rows_buffered).sum();
    assert!(
        buffered as usize <= bound,
        "{buffered} rows buffered: {:?}",
        handle.progress()
    );
    assert!(buffered > 0);
    let source_rows = handle.progress()[0].rows_out;
    assert!(
        source_rows < 20_000,
        "the source must be held back, emitted {source_rows}"
    );
    // Reading everything lets the run finish.
    assert_eq!(rows_until_closed(&rx), 20_000);
    handle.wait().unwrap();
}

#[test]
fn several_pipelines_run_side_by_side_on_one_runtime() {
    let runtime = Runtime::new().unwrap();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            runtime
                .start(&chain(100 + i), RunOptions::default())
                .unwrap()
        })
        .collect();
    for (i, handle) in handles.into_iter().enumerate() {
        let output = handle.wait().unwrap();
        assert_eq!(output.streams["picked"].num_rows(), 100 + i);
    }
    wait_for_no_actors(&runtime);
}

fn wait_for_no_actors(runtime: &Runtime) {
    for _ in 0..200 {
        if runtime.live_actors() == 0 {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("{} actors still alive", runtime.live_actors());
}

#[test]
fn a_cached_source_cannot_be_fed() {
    let mut builder = PipelineBuilder::new("fed");
    builder
        .cached_source("s", numbers("s", 4, 2, "x"))
        .operator("r", rename("x", "y"), ["s"]);
    let pipeline = builder.build().unwrap();
    let runtime = Runtime::new().unwrap();
    let (_tx, rx) = crossbeam_channel::unbounded();
    let mut options = RunOptions::default();
    options.feed("s", rx);
    let error = runtime
        .run(&pipeline, options)
        .expect_err("a cached source is not fed");
    assert!(
        matches!(error, RunError::Invalid(ref m) if m.contains("`s`") && m.contains("cached")),
        "{error}"
    );
    assert_eq!(runtime.live_actors(), 0);
}

#[test]
fn progress_counts_the_packets_of_function_nodes() {
    use std::sync::Arc;

    use arrow::datatypes::{DataType, Field};
    use orcapod::function::closure::ClosureFunction;
    use orcapod::function::{FunctionError, FunctionPod};
    use orcapod::model::Datum;

    let field = |n: &str| Arc::new(Field::new(n, DataType::Int64, false));
    let half = ClosureFunction::new("half", vec![field("v")], vec![field("h")], |p| {
        match p[0].1 {
            Datum::Int(x) if x % 5 == 3 => Err(FunctionError::new("refused")),
            Datum::Int(x) => Ok(vec![Datum::Int(x / 2)]),
            _ => Err(FunctionError::new("not an int")),
        }
    });
    let mut b = PipelineBuilder::new("counted");
    b.source("s", numbers("s", 40, 40, "v")).function(
        "f",
        FunctionPod::new(Arc::new(half)).unwrap(),
        ["s"],
    );
    let pipeline = b.build().unwrap();
    let runtime = Runtime::new().unwrap();
    let handle = runtime
        .start(
            &pipeline,
            RunOptions::default().on_error(ErrorPolicy::Continue),
        )
        .unwrap();
    let output = loop {
        if let Some(outcome) = handle.wait_timeout(Duration::from_millis(10)) {
            break outcome.unwrap();
        }
    };
    let stats = output.stats.iter().find(|s| s.node == "f").unwrap();
    let progress = handle.progress();
    let f = progress.iter().find(|p| p.name == "f").unwrap();
    assert_eq!(
        (f.computed, f.cached, f.failed),
        (
            stats.counts.computed,
            stats.counts.cached,
            stats.counts.failed
        )
    );
    assert!(f.failed > 0 && f.computed > 0, "{f:?}");
    let s = progress.iter().find(|p| p.name == "s").unwrap();
    assert_eq!((s.computed, s.cached, s.failed), (0, 0, 0));
}
