//! End-to-end pipeline benchmarks: throughput, time to first output and peak memory, on
//! the actor runtime and the synchronous executor.
//!
//! Run with `cargo run --release --example pipeline_bench -- [OPTIONS]`; `--help` lists
//! the options. Every (case, mode, size) is run `--reps` times, each time in a fresh child
//! process (this program re-executed with `--child`), so that the peak memory read from
//! the OS (`VmHWM` in `/proc/self/status`) belongs to that case alone; the table shows
//! medians.
//!
//! Data: two sources sharing the user tag `id` (N rows each, every id on both sides, in a
//! different order on the right), generated deterministically; `--write-data DIR` writes
//! them as CSV for `bench/compare_reference.py`. Cases:
//!
//! - `a`: `left ⋈ right`;
//! - `b`: `left ⋈ right` → `map_packets {x: value}` → `select_packet_columns [value, y]`;
//! - `c`: a function pod (`x → x + 1`, a Rust closure) over `left`, with a sled store in a
//!   temporary directory: the first run (`c-first`, every packet computed and stored) and
//!   a re-run on the same store (`c-cached`, every packet recalled);
//! - `d`: the whole pipeline with persistence: the join (its rows logged to the store) →
//!   `map_packets` → `select_packet_columns` → a function pod, on a sled store;
//! - `e`: a streaming chain `select_packet_columns` → `map_packets` → `filter` over one
//!   source; on actors the rows are fed through a bounded channel (generated as they are
//!   needed) and the output is read from a subscription, so nothing holds the stream;
//! - `latency`: a join fed one row at a time; the time from sending the row that completes
//!   a matching pair to receiving the joined row (actors only).
//!
//! Rows per second count *input* rows (both sides of a join); for `c` they are packets.
//! "First output" is the time from the start of the run to the first output row (the
//! synchronous executor produces everything at once, so there it is the whole run).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{
    ArrayRef, Float64Array, Int64Array, LargeStringArray, LargeStringBuilder, RecordBatch,
};
use arrow::datatypes::{DataType, Field, Schema};
use crossbeam_channel::Receiver;
use orcapod::function::closure::ClosureFunction;
use orcapod::function::FunctionPod;
use orcapod::model::{Datum, StreamSchema};
use orcapod::operator::{FilterOp, OperatorSpec, Predicate};
use orcapod::pipeline::{CacheMode, Pipeline, PipelineBuilder, SyncExecutor};
use orcapod::source::{Source, SourceOptions};
use orcapod::store::{ArrowStore, SledStore};
use orcapod_actors::{RunOptions, Runtime};
use serde_json::{json, Value};

type BoxError = Box<dyn std::error::Error>;

const USAGE: &str = "\
usage: pipeline_bench [OPTIONS]
  --cases LIST         cases to run, of a,b,c,d,e,latency (default: all)
  --sizes LIST         rows per source for a-d (default: 10000,100000,1000000)
  --function-sizes LIST rows for c and d (default: 10000,100000,1000000)
  --stream-sizes LIST  rows for e (default: 1000000,10000000)
  --modes LIST         actors,sync (default: both; e above 1M rows and latency: actors only)
  --reps N             runs per configuration, each in its own process (default: 3)
  --json PATH          also write the results as JSON
  --markdown PATH      also write the table as Markdown
  --write-data DIR     write the generated sources of each --sizes entry as CSV under
                       DIR/N/{left,right,numbers}.csv and exit
Sizes accept k and M suffixes (10k, 1M).";

// ---------------------------------------------------------------------------------------
// Data

/// The id on the right side at row `i`: each block of 1000 ids reversed, so both sides
/// hold every id once, in different orders, with matches spread through the stream.
fn right_id(i: usize, n: usize) -> i64 {
    const BLOCK: usize = 1000;
    let start = i / BLOCK * BLOCK;
    let len = BLOCK.min(n - start);
    (start + (len - 1 - (i - start))) as i64
}

/// The values of the string packet `s`.
const NAMES: [&str; 8] = [
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta",
];

/// Rows `start..start + len` of the left source: `id`, `x` (int) and `s` (string).
fn left_batch(start: usize, len: usize) -> RecordBatch {
    let rows = start..start + len;
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("x", DataType::Int64, false),
        Field::new("s", DataType::LargeUtf8, false),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(rows.clone().map(|i| i as i64))),
            Arc::new(Int64Array::from_iter_values(
                rows.clone().map(|i| (i as i64 * 7) % 1000),
            )),
            Arc::new(LargeStringArray::from_iter_values(
                rows.map(|i| NAMES[i % NAMES.len()]),
            )),
        ],
    )
    .expect("valid batch")
}

/// The right source of `n` rows: `id` (see [`right_id`]) and `y` (float).
fn right_batch(n: usize) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("y", DataType::Float64, false),
    ]));
    let ids: Vec<i64> = (0..n).map(|i| right_id(i, n)).collect();
    let y = Float64Array::from_iter_values(ids.iter().map(|&id| id as f64 * 0.5));
    RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(ids)), Arc::new(y)])
        .expect("valid batch")
}

/// The source of case `c`: `id` and `x` only (the function reads exactly `x`).
fn numbers_batch(n: usize) -> RecordBatch {
    let left = left_batch(0, n);
    RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            left.schema().field(0).clone(),
            left.schema().field(1).clone(),
        ])),
        vec![left.column(0).clone(), left.column(1).clone()],
    )
    .expect("valid batch")
}

fn source(name: &str, batch: RecordBatch) -> Result<Source, BoxError> {
    Ok(Source::from_record_batch(
        batch,
        &SourceOptions::tags(["id"]).with_source_id(name),
    )?)
}

/// Rows `start..start + len` of a source named `source_id` over [`left_batch`], enriched
/// exactly as `Source::from_record_batch` would enrich the whole table (system tags and
/// source info), without building the whole table: what a live feed sends.
fn enriched_left(
    schema: &StreamSchema,
    source_id: &str,
    start: usize,
    len: usize,
) -> Result<RecordBatch, BoxError> {
    use std::fmt::Write;
    let table = left_batch(start, len);
    // Strings are written into one reused buffer (this runs for every fed row).
    let strings = |f: &dyn Fn(usize, &mut String)| -> ArrayRef {
        let mut builder = LargeStringBuilder::with_capacity(len, len * 24);
        let mut buffer = String::new();
        for i in start..start + len {
            buffer.clear();
            f(i, &mut buffer);
            builder.append_value(&buffer);
        }
        Arc::new(builder.finish())
    };
    let mut columns: Vec<ArrayRef> = table.columns().to_vec();
    columns.push(strings(&|_, b| b.push_str(source_id)));
    columns.push(strings(&|i, b| {
        let _ = write!(b, "row_{i}");
    }));
    for packet in schema.packet_names() {
        columns.push(strings(&|i, b| {
            let _ = write!(b, "{source_id}::row_{i}::{packet}");
        }));
    }
    Ok(RecordBatch::try_new(schema.arrow().clone(), columns)?)
}

fn write_data(dir: &Path, sizes: &[usize]) -> Result<(), BoxError> {
    for &n in sizes {
        let sub = dir.join(n.to_string());
        std::fs::create_dir_all(&sub)?;
        for (name, batch) in [
            ("left", left_batch(0, n)),
            ("right", right_batch(n)),
            ("numbers", numbers_batch(n)),
        ] {
            let file = std::fs::File::create(sub.join(format!("{name}.csv")))?;
            let mut writer = arrow::csv::Writer::new(file);
            writer.write(&batch)?;
        }
        eprintln!("wrote {}", sub.display());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Pipelines

fn rename(from: &str, to: &str) -> OperatorSpec {
    OperatorSpec::MapPackets {
        name_map: BTreeMap::from([(from.to_string(), to.to_string())]),
        drop_unmapped: false,
    }
}

fn select(columns: &[&str]) -> OperatorSpec {
    OperatorSpec::SelectPacketColumns {
        columns: columns.iter().map(|c| c.to_string()).collect(),
        strict: true,
    }
}

/// A pod adding one to the integer packet column `input`, giving `output`.
fn plus_one(input: &str, output: &str) -> Result<FunctionPod, BoxError> {
    let function = ClosureFunction::new(
        "plus_one",
        vec![Arc::new(Field::new(input, DataType::Int64, false))],
        vec![Arc::new(Field::new(output, DataType::Int64, false))],
        |p| match p[0].1 {
            Datum::Int(x) => Ok(vec![Datum::Int(x + 1)]),
            _ => Ok(vec![Datum::Int(0)]),
        },
    );
    Ok(FunctionPod::new(Arc::new(function))?)
}

/// A built pipeline, the node whose output is measured, and the input rows.
struct Workload {
    pipeline: Pipeline,
    output: &'static str,
    input_rows: usize,
}

fn workload(case: &str, n: usize) -> Result<Workload, BoxError> {
    let mut b = PipelineBuilder::new("bench");
    let output = match case {
        "a" | "b" | "d" => {
            b.source("left", source("left", left_batch(0, n))?)
                .source("right", source("right", right_batch(n))?);
            if case == "d" {
                b.operator_with_cache(
                    "joined",
                    OperatorSpec::Join,
                    ["left", "right"],
                    CacheMode::Log,
                );
            } else {
                b.operator("joined", OperatorSpec::Join, ["left", "right"]);
            }
            if case == "a" {
                "joined"
            } else {
                b.operator("mapped", rename("x", "value"), ["joined"]);
                if case == "b" {
                    b.operator("selected", select(&["value", "y"]), ["mapped"]);
                    "selected"
                } else {
                    b.operator("selected", select(&["value"]), ["mapped"])
                        .function("plus_one", plus_one("value", "result")?, ["selected"]);
                    "plus_one"
                }
            }
        }
        "c" => {
            b.source("numbers", source("numbers", numbers_batch(n))?)
                .function("plus_one", plus_one("x", "y")?, ["numbers"]);
            "plus_one"
        }
        "e" => {
            b.source("stream", source("stream", left_batch(0, n))?);
            stream_chain(&mut b);
            "filtered"
        }
        other => return Err(format!("unknown case `{other}`").into()),
    };
    let input_rows = if matches!(case, "a" | "b" | "d") {
        2 * n
    } else {
        n
    };
    Ok(Workload {
        pipeline: b.build()?,
        output,
        input_rows,
    })
}

/// `stream` → select [x, s] → map {x: value} → filter value < 500 (keeps half the rows).
fn stream_chain(b: &mut PipelineBuilder) {
    b.operator("selected", select(&["x", "s"]), ["stream"])
        .operator("mapped", rename("x", "value"), ["selected"])
        .operator(
            "filtered",
            OperatorSpec::Filter {
                predicates: vec![Predicate {
                    col: "value".into(),
                    op: FilterOp::Lt,
                    value: Datum::Int(500),
                }],
                constraints: BTreeMap::new(),
            },
            ["mapped"],
        );
}

// ---------------------------------------------------------------------------------------
// Measurements (in the child process)

/// One measured run.
struct Measure {
    label: String,
    secs: f64,
    first_output_secs: f64,
    rows_in: usize,
    rows_out: usize,
}

/// Reads the subscription until the run ends: (rows, time of the first row).
fn drain(rx: &Receiver<RecordBatch>, start: Instant) -> (usize, Option<f64>) {
    let mut rows = 0;
    let mut first = None;
    while let Ok(batch) = rx.recv() {
        if first.is_none() && batch.num_rows() > 0 {
            first = Some(start.elapsed().as_secs_f64());
        }
        rows += batch.num_rows();
    }
    (rows, first)
}

fn run_actors(
    runtime: &Runtime,
    w: &Workload,
    store: Option<Arc<dyn ArrowStore>>,
    label: &str,
) -> Result<Measure, BoxError> {
    let mut options = RunOptions::default().outputs(Vec::<String>::new());
    if let Some(store) = store {
        options = options.store(store);
    }
    let rx = options.subscribe(w.output, 64);
    let start = Instant::now();
    let handle = runtime.start(&w.pipeline, options)?;
    let (rows_out, first) = drain(&rx, start);
    handle.wait()?;
    let secs = start.elapsed().as_secs_f64();
    Ok(Measure {
        label: label.into(),
        secs,
        first_output_secs: first.unwrap_or(secs),
        rows_in: w.input_rows,
        rows_out,
    })
}

fn run_sync(
    w: &Workload,
    store: Option<Arc<dyn ArrowStore>>,
    label: &str,
) -> Result<Measure, BoxError> {
    let start = Instant::now();
    let mut exec = SyncExecutor::new(&w.pipeline);
    if let Some(store) = store {
        exec = exec.with_store(store)?;
    }
    let rows_out = exec.output(w.output)?.num_rows();
    let secs = start.elapsed().as_secs_f64();
    Ok(Measure {
        label: label.into(),
        secs,
        first_output_secs: secs,
        rows_in: w.input_rows,
        rows_out,
    })
}

fn run_case(
    case: &str,
    mode: &str,
    n: usize,
    w: &Workload,
    runtime: &Runtime,
) -> Result<Vec<Measure>, BoxError> {
    let run = |store: Option<Arc<dyn ArrowStore>>, label: &str| match mode {
        "actors" => run_actors(runtime, w, store, label),
        _ => run_sync(w, store, label),
    };
    match case {
        "a" | "b" | "e" => Ok(vec![run(None, case)?]),
        "c" | "d" => {
            let dir = tempfile::tempdir()?;
            let store: Arc<dyn ArrowStore> = Arc::new(SledStore::open(dir.path())?);
            let first = run(Some(store.clone()), &format!("{case}-first"))?;
            let cached = run(Some(store), &format!("{case}-cached"))?;
            if first.rows_out != n || cached.rows_out != n {
                return Err(format!("{case}: expected {n} output rows").into());
            }
            Ok(vec![first, cached])
        }
        other => Err(format!("unknown case `{other}`").into()),
    }
}

/// Case `e` on actors: the source is fed from a generator thread through a bounded
/// channel, and the output read from a subscription: the stream is never held.
fn run_streaming(runtime: &Runtime, n: usize) -> Result<Measure, BoxError> {
    // The feed's schema is the source's; check the generated rows against a real source.
    let template = source("stream", left_batch(0, 10))?;
    let schema = template.schema().clone();
    if enriched_left(&schema, "stream", 0, 10)? != template.stream().unwrap().batches()[0] {
        return Err("generated feed rows differ from the source's own rows".into());
    }
    let mut b = PipelineBuilder::new("bench");
    b.source("stream", template);
    stream_chain(&mut b);
    let pipeline = b.build()?;

    let (tx, feed) = crossbeam_channel::bounded::<RecordBatch>(4);
    let mut options = RunOptions::default().outputs(Vec::<String>::new());
    options.feed("stream", feed);
    let rx = options.subscribe("filtered", 64);
    let start = Instant::now();
    let generator = std::thread::spawn(move || -> Result<(), String> {
        const CHUNK: usize = 8192;
        let mut at = 0;
        while at < n {
            let len = CHUNK.min(n - at);
            let batch = enriched_left(&schema, "stream", at, len).map_err(|e| e.to_string())?;
            if tx.send(batch).is_err() {
                return Err("the run stopped reading its feed".into());
            }
            at += len;
        }
        Ok(())
    });
    let handle = runtime.start(&pipeline, options)?;
    let (rows_out, first) = drain(&rx, start);
    handle.wait()?;
    generator.join().map_err(|_| "generator panicked")??;
    let secs = start.elapsed().as_secs_f64();
    Ok(Measure {
        label: "e".into(),
        secs,
        first_output_secs: first.unwrap_or(secs),
        rows_in: n,
        rows_out,
    })
}

/// The trickling-source case: a join fed one row at a time. For each of `pairs` ids, the
/// left row is sent, then (once it has had time to arrive) the right row completing the
/// pair; the latency is from that send to the joined row's arrival.
fn run_latency(runtime: &Runtime, pairs: usize) -> Result<Vec<Measure>, BoxError> {
    let left = source("left", left_batch(0, pairs))?;
    let right = source("right", right_batch(pairs))?;
    let (left_rows, right_rows) = (
        left.stream().unwrap().batches()[0].clone(),
        right.stream().unwrap().batches()[0].clone(),
    );
    let mut b = PipelineBuilder::new("bench");
    b.source("left", left).source("right", right).operator(
        "joined",
        OperatorSpec::Join,
        ["left", "right"],
    );
    let pipeline = b.build()?;
    let (left_tx, left_rx) = crossbeam_channel::unbounded();
    let (right_tx, right_rx) = crossbeam_channel::unbounded();
    let mut options = RunOptions::default().outputs(Vec::<String>::new());
    options.feed("left", left_rx).feed("right", right_rx);
    let out = options.subscribe("joined", 1024);
    let start = Instant::now();
    let handle = runtime.start(&pipeline, options)?;
    // Right row r holds id right_id(r); find the row of each id.
    let mut right_row_of = vec![0; pairs];
    for r in 0..pairs {
        right_row_of[right_id(r, pairs) as usize] = r;
    }
    let mut latencies = Vec::with_capacity(pairs);
    for (id, &right_row) in right_row_of.iter().enumerate() {
        left_tx.send(left_rows.slice(id, 1))?;
        std::thread::sleep(Duration::from_millis(2));
        let sent = Instant::now();
        right_tx.send(right_rows.slice(right_row, 1))?;
        let batch = out.recv_timeout(Duration::from_secs(10))?;
        latencies.push(sent.elapsed().as_secs_f64());
        if batch.num_rows() != 1 {
            return Err("expected one joined row per pair".into());
        }
    }
    drop((left_tx, right_tx));
    handle.wait()?;
    let secs = start.elapsed().as_secs_f64();
    let first = latencies[0];
    let typical = median(latencies.clone());
    let worst = latencies.iter().copied().fold(0.0, f64::max);
    Ok(vec![
        Measure {
            label: "latency-first-pair".into(),
            secs,
            first_output_secs: first,
            rows_in: 2 * pairs,
            rows_out: pairs,
        },
        Measure {
            label: "latency-median-pair".into(),
            secs,
            first_output_secs: typical,
            rows_in: 2 * pairs,
            rows_out: pairs,
        },
        Measure {
            label: "latency-worst-pair".into(),
            secs,
            first_output_secs: worst,
            rows_in: 2 * pairs,
            rows_out: pairs,
        },
    ])
}

/// CPU seconds used so far by the actor runtime's thread (`orcapod-actors`), from
/// `/proc/self/task/*/stat`: compared with the wall time, it tells whether the single
/// actor thread was saturated or waiting.
fn actor_thread_cpu() -> Option<f64> {
    let ticks_per_sec = 100.0; // USER_HZ on Linux
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let dir = task.ok()?.path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim() != "orcapod-actors" {
            continue;
        }
        let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
        // Fields after the parenthesised name: state is field 3, utime 14, stime 15.
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let utime: f64 = fields.get(11)?.parse().ok()?;
        let stime: f64 = fields.get(12)?.parse().ok()?;
        return Some((utime + stime) / ticks_per_sec);
    }
    None
}

/// Peak resident memory of this process so far, in bytes (`VmHWM`).
fn peak_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn child(case: &str, mode: &str, n: usize) -> Result<(), BoxError> {
    let runtime = Runtime::new()?;
    let setup = Instant::now();
    let measures = match (case, mode) {
        ("latency", _) => run_latency(&runtime, n)?,
        ("e", "actors") => vec![run_streaming(&runtime, n)?],
        _ => {
            let w = workload(case, n)?;
            let setup_secs = setup.elapsed().as_secs_f64();
            eprintln!("  (sources built in {setup_secs:.2}s)");
            run_case(case, mode, n, &w, &runtime)?
        }
    };
    let peak = peak_memory();
    let actor_cpu = actor_thread_cpu();
    for m in measures {
        let line = json!({
            "label": m.label, "secs": m.secs, "first_output_secs": m.first_output_secs,
            "rows_in": m.rows_in, "rows_out": m.rows_out, "peak_bytes": peak,
            "actor_thread_cpu_secs": actor_cpu,
        });
        println!("RESULT {line}");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The parent: plan, run children, aggregate

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn parse_size(s: &str) -> Result<usize, BoxError> {
    let s = s.trim();
    let (digits, scale) = match s.chars().last() {
        Some('k' | 'K') => (&s[..s.len() - 1], 1_000),
        Some('M' | 'm') => (&s[..s.len() - 1], 1_000_000),
        _ => (s, 1),
    };
    Ok(digits.parse::<usize>()? * scale)
}

fn list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(String::from)
        .collect()
}

fn sizes(s: &str) -> Result<Vec<usize>, BoxError> {
    list(s).iter().map(|x| parse_size(x)).collect()
}

struct Options {
    cases: Vec<String>,
    sizes: Vec<usize>,
    stream_sizes: Vec<usize>,
    function_sizes: Vec<usize>,
    modes: Vec<String>,
    reps: usize,
    json: Option<PathBuf>,
    markdown: Option<PathBuf>,
    latency_pairs: usize,
}

fn human(n: usize) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        let [_, case, mode, n] = args.as_slice() else {
            return Err("--child CASE MODE ROWS".into());
        };
        return child(case, mode, n.parse()?);
    }
    let mut o = Options {
        cases: list("a,b,c,d,e,latency"),
        sizes: vec![10_000, 100_000, 1_000_000],
        stream_sizes: vec![1_000_000, 10_000_000],
        function_sizes: vec![10_000, 100_000, 1_000_000],
        modes: list("actors,sync"),
        reps: 3,
        json: None,
        markdown: None,
        latency_pairs: 50,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--cases" => o.cases = list(value()?),
            "--sizes" => o.sizes = sizes(value()?)?,
            "--stream-sizes" => o.stream_sizes = sizes(value()?)?,
            "--function-sizes" => o.function_sizes = sizes(value()?)?,
            "--modes" => o.modes = list(value()?),
            "--reps" => o.reps = value()?.parse::<usize>()?.max(1),
            "--json" => o.json = Some(PathBuf::from(value()?)),
            "--markdown" => o.markdown = Some(PathBuf::from(value()?)),
            "--latency-pairs" => o.latency_pairs = value()?.parse::<usize>()?.max(1),
            "--write-data" => {
                let dir = PathBuf::from(value()?);
                return write_data(&dir, &o.sizes);
            }
            "--help" | "-h" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument `{other}`\n{USAGE}").into()),
        }
    }

    // The plan: (case, mode, rows).
    let mut plan: Vec<(String, String, usize)> = Vec::new();
    for case in &o.cases {
        let (sizes, modes): (Vec<usize>, Vec<&String>) = match case.as_str() {
            "latency" => (vec![o.latency_pairs], vec![&o.modes[0]]),
            "e" => (o.stream_sizes.clone(), o.modes.iter().collect()),
            "c" | "d" => (o.function_sizes.clone(), o.modes.iter().collect()),
            _ => (o.sizes.clone(), o.modes.iter().collect()),
        };
        for mode in modes {
            for &n in &sizes {
                if case == "e" && mode == "sync" && n > 1_000_000 {
                    eprintln!(
                        "skipping e/sync at {n} rows: the synchronous executor holds whole streams"
                    );
                    continue;
                }
                let mode = if case == "latency" {
                    "actors"
                } else {
                    mode.as_str()
                };
                plan.push((case.clone(), mode.to_string(), n));
            }
        }
    }

    let exe = std::env::current_exe()?;
    // label, mode, rows → runs
    let mut results: BTreeMap<(usize, String, String, usize), Vec<Value>> = BTreeMap::new();
    for (order, (case, mode, n)) in plan.iter().enumerate() {
        for rep in 0..o.reps {
            eprintln!("{case} {mode} {} (run {}/{})", human(*n), rep + 1, o.reps);
            let out = Command::new(&exe)
                .args(["--child", case, mode, &n.to_string()])
                .stderr(std::process::Stdio::inherit())
                .output()?;
            if !out.status.success() {
                return Err(format!("{case} {mode} {n}: child failed ({})", out.status).into());
            }
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                if let Some(j) = line.strip_prefix("RESULT ") {
                    let v: Value = serde_json::from_str(j)?;
                    let label = v["label"].as_str().unwrap_or(case).to_string();
                    results
                        .entry((order, label, mode.clone(), *n))
                        .or_default()
                        .push(v);
                }
            }
        }
    }

    let mut rows_json = Vec::new();
    let mut markdown = format!(
        "Medians of {} runs per row, each in its own process. Rows/s count input rows (both \
         sides of a join; packets for c). Actor CPU: CPU seconds of the actor thread.\n\n\
         | case | mode | rows | rows/s | time s | first output ms | peak MB | actor CPU s |\n\
         |---|---|---:|---:|---:|---:|---:|---:|\n",
        o.reps
    );
    println!(
        "{:<20} {:<7} {:>6} {:>13} {:>10} {:>14} {:>10}",
        "case", "mode", "rows", "rows/s", "time s", "first out ms", "peak MB"
    );
    for ((_, label, mode, n), runs) in &results {
        let f = |k: &str| median(runs.iter().filter_map(|r| r[k].as_f64()).collect());
        let secs = f("secs");
        let first = f("first_output_secs");
        let rows_in = runs[0]["rows_in"].as_u64().unwrap_or(0) as f64;
        let peak_mb = f("peak_bytes") / (1024.0 * 1024.0);
        let rate = rows_in / secs;
        let is_latency = label.starts_with("latency");
        println!(
            "{:<20} {:<7} {:>6} {:>13} {:>10} {:>14.2} {:>10.0}",
            label,
            mode,
            human(*n),
            if is_latency {
                "-".to_string()
            } else {
                format!("{rate:.0}")
            },
            if is_latency {
                "-".to_string()
            } else {
                format!("{secs:.3}")
            },
            first * 1000.0,
            peak_mb
        );
        let cpu = f("actor_thread_cpu_secs");
        let dash = |show: bool, text: String| if show { text } else { "–".to_string() };
        markdown.push_str(&format!(
            "| {label} | {mode} | {} | {} | {} | {:.2} | {peak_mb:.0} | {} |\n",
            human(*n),
            dash(!is_latency, format!("{rate:.0}")),
            dash(!is_latency, format!("{secs:.3}")),
            first * 1000.0,
            dash(mode == "actors" && cpu.is_finite(), format!("{cpu:.2}")),
        ));
        rows_json.push(json!({
            "case": label, "mode": mode, "rows": n, "input_rows": rows_in,
            "reps": runs.len(),
            "median_secs": secs, "median_rows_per_sec": rate,
            "median_first_output_ms": first * 1000.0,
            "median_peak_mb": peak_mb,
            "median_actor_thread_cpu_secs": cpu,
            "output_rows": runs[0]["rows_out"],
            "runs": runs,
        }));
    }
    if let Some(path) = &o.markdown {
        std::fs::write(path, markdown)?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(path) = &o.json {
        let machine = json!({
            "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
            "cpu_model": std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|c| c
                .lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())),
        });
        let doc = json!({ "machine": machine, "results": rows_json });
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
