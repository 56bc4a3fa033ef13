//! How fast a function pod with a trivial Rust closure stores and recalls results, on
//! the actor runtime with the embedded sled store.
//!
//! Run with `cargo run --release --example function_throughput -- [ROWS]` (default
//! 100000). Prints packets per second for a first run (every packet computed and stored)
//! and a re-run (every packet recalled), each the median of 3 runs on fresh stores.

use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Int64Array, LargeStringArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use orcapod::function::closure::ClosureFunction;
use orcapod::function::FunctionPod;
use orcapod::model::Datum;
use orcapod::pipeline::{Pipeline, PipelineBuilder};
use orcapod::source::{Source, SourceOptions};
use orcapod::store::{ArrowStore, SledStore};
use orcapod_actors::{RunOptions, Runtime};

fn pipeline(rows: usize) -> Pipeline {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::LargeUtf8, false),
        Field::new("x", DataType::Int64, false),
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
    let source =
        Source::from_record_batch(batch, &SourceOptions::tags(["id"]).with_source_id("bench"))
            .expect("valid source");
    let function = ClosureFunction::new(
        "plus_one",
        vec![Arc::new(Field::new("x", DataType::Int64, false))],
        vec![Arc::new(Field::new("y", DataType::Int64, false))],
        |p| match p[0].1 {
            Datum::Int(x) => Ok(vec![Datum::Int(x + 1)]),
            _ => Ok(vec![Datum::Int(0)]),
        },
    );
    let mut builder = PipelineBuilder::new("bench");
    builder.source("numbers", source).function(
        "plus_one",
        FunctionPod::new(Arc::new(function)).expect("valid pod"),
        ["numbers"],
    );
    builder.build().expect("valid pipeline")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rows: usize = std::env::args().nth(1).map_or(Ok(100_000), |s| s.parse())?;
    let pipeline = pipeline(rows);
    let runtime = Runtime::new()?;
    let (mut first, mut again, mut memory) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..3 {
        let t = Instant::now();
        runtime.run(&pipeline, RunOptions::default())?;
        memory.push(rows as f64 / t.elapsed().as_secs_f64());
        let dir = tempfile::tempdir()?;
        let store: Arc<dyn ArrowStore> = Arc::new(SledStore::open(dir.path())?);
        let t = Instant::now();
        let out = runtime.run(&pipeline, RunOptions::default().store(store.clone()))?;
        first.push(rows as f64 / t.elapsed().as_secs_f64());
        assert_eq!(out.stats[1].counts.computed as usize, rows);
        let t = Instant::now();
        let out = runtime.run(&pipeline, RunOptions::default().store(store))?;
        again.push(rows as f64 / t.elapsed().as_secs_f64());
        assert_eq!(out.stats[1].counts.cached as usize, rows);
    }
    println!("rows: {rows}");
    println!(
        "no store (compute only):     {:>10.0} packets/s (median of 3)",
        median(memory)
    );
    println!(
        "first run (compute + store): {:>10.0} packets/s (median of 3)",
        median(first)
    );
    println!(
        "re-run (all recalled):       {:>10.0} packets/s (median of 3)",
        median(again)
    );
    Ok(())
}
