//! How fast a function pod with a trivial Rust closure computes, stores and recalls
//! results, with the embedded sled store, on both executors; and a whole pipeline (two
//! sources, a join, a function pod) with persistence.
//!
//! Run with `cargo run --release --example function_throughput -- [ROWS] [WHAT] [RUN]`:
//! ROWS defaults to 100000; WHAT is `all` (default), `actors`, `sync` or `join`. Prints
//! rows per second for a run without a store (compute only), a first run (every packet
//! computed and stored) and a re-run (every packet recalled), each the median of 3 runs
//! on fresh stores. RUN (`memory`, `first` or `again`) measures only that kind of run
//! (for profiling).

use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Int64Array, LargeStringArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use orcapod::function::closure::ClosureFunction;
use orcapod::function::FunctionPod;
use orcapod::model::Datum;
use orcapod::operator::OperatorSpec;
use orcapod::pipeline::{Pipeline, PipelineBuilder, SyncExecutor};
use orcapod::source::{Source, SourceOptions};
use orcapod::store::{ArrowStore, SledStore};
use orcapod_actors::{RunOptions, Runtime};

/// A source of `rows` rows: tag `id` = `k{i}`, packet column `column` = i.
fn source(rows: usize, column: &str, source_id: &str) -> Source {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::LargeUtf8, false),
        Field::new(column, DataType::Int64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(LargeStringArray::from_iter_values(
                (0..rows).map(|i| format!("k{i}")),
            )),
            Arc::new(Int64Array::from_iter_values(0..rows as i64)),
        ],
    )
    .expect("valid batch");
    Source::from_record_batch(
        batch,
        &SourceOptions::tags(["id"]).with_source_id(source_id),
    )
    .expect("valid source")
}

/// The sum of the packet's integers plus one.
fn plus_one(inputs: &[&str]) -> FunctionPod {
    let function = ClosureFunction::new(
        "plus_one",
        inputs
            .iter()
            .map(|c| Arc::new(Field::new(*c, DataType::Int64, false)))
            .collect(),
        vec![Arc::new(Field::new("y", DataType::Int64, false))],
        |p| {
            let sum = p
                .iter()
                .map(|(_, v)| match v {
                    Datum::Int(x) => *x,
                    _ => 0,
                })
                .sum::<i64>();
            Ok(vec![Datum::Int(sum + 1)])
        },
    );
    FunctionPod::new(Arc::new(function)).expect("valid pod")
}

/// One source, one function pod.
fn function_pipeline(rows: usize) -> Pipeline {
    let mut builder = PipelineBuilder::new("bench");
    builder
        .source("numbers", source(rows, "x", "bench"))
        .function("plus_one", plus_one(&["x"]), ["numbers"]);
    builder.build().expect("valid pipeline")
}

/// Two sources, their join, a function pod on the joined packets.
fn join_pipeline(rows: usize) -> Pipeline {
    let mut builder = PipelineBuilder::new("bench_join");
    builder
        .source("left", source(rows, "x", "left"))
        .source("right", source(rows, "w", "right"))
        .operator("joined", OperatorSpec::Join, ["left", "right"])
        .function("plus_one", plus_one(&["x", "w"]), ["joined"]);
    builder.build().expect("valid pipeline")
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// How a run is executed; returns (computed, cached) of the function node.
type Execute<'a> = dyn Fn(&Pipeline, Option<Arc<dyn ArrowStore>>) -> (u64, u64) + 'a;

fn measure(label: &str, rows: usize, pipeline: &Pipeline, execute: &Execute<'_>) {
    let only = std::env::args().nth(3);
    let wanted = |run: &str| only.as_deref().is_none_or(|o| o == run);
    let (mut first, mut again, mut memory) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..3 {
        if wanted("memory") {
            let t = Instant::now();
            execute(pipeline, None);
            memory.push(rows as f64 / t.elapsed().as_secs_f64());
        }
        if !wanted("first") && !wanted("again") {
            continue;
        }
        let dir = tempfile::tempdir().expect("temporary directory");
        let store: Arc<dyn ArrowStore> =
            Arc::new(SledStore::open(dir.path()).expect("store opens"));
        let t = Instant::now();
        let (computed, _) = execute(pipeline, Some(store.clone()));
        first.push(rows as f64 / t.elapsed().as_secs_f64());
        assert_eq!(computed as usize, rows);
        let t = Instant::now();
        let (_, cached) = execute(pipeline, Some(store));
        again.push(rows as f64 / t.elapsed().as_secs_f64());
        assert_eq!(cached as usize, rows);
    }
    for (what, values) in [
        ("no store (compute only):    ", memory),
        ("first run (compute + store):", first),
        ("re-run (all recalled):      ", again),
    ] {
        if !values.is_empty() {
            println!(
                "{label:<7} {what} {:>10.0} rows/s (median of 3)",
                median(values)
            );
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rows: usize = std::env::args().nth(1).map_or(Ok(100_000), |s| s.parse())?;
    let what = std::env::args().nth(2).unwrap_or_else(|| "all".to_string());
    let runtime = Runtime::new()?;
    let actors = |pipeline: &Pipeline, store: Option<Arc<dyn ArrowStore>>| {
        let options = match store {
            Some(store) => RunOptions::default().store(store),
            None => RunOptions::default(),
        };
        let out = runtime.run(pipeline, options).expect("run succeeds");
        let counts = &out.stats.last().expect("stats").counts;
        (counts.computed, counts.cached)
    };
    let sync = |pipeline: &Pipeline, store: Option<Arc<dyn ArrowStore>>| {
        let mut executor = SyncExecutor::new(pipeline);
        if let Some(store) = store {
            executor = executor.with_store(store).expect("store view");
        }
        executor.run_all().expect("run succeeds");
        let stats = executor.stats();
        let counts = &stats.last().expect("stats").counts;
        (counts.computed, counts.cached)
    };
    println!("rows: {rows}");
    if what == "all" || what == "actors" {
        measure("actors", rows, &function_pipeline(rows), &actors);
    }
    if what == "all" || what == "sync" {
        measure("sync", rows, &function_pipeline(rows), &sync);
    }
    if what == "all" || what == "join" {
        let pipeline = join_pipeline(rows);
        measure("join/a", rows, &pipeline, &actors);
        measure("join/s", rows, &pipeline, &sync);
    }
    Ok(())
}
