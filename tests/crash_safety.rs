//! Crash safety of incremental runs, with a real child process killed by SIGKILL in the
//! middle of a run of a slow function: afterwards every result is stored exactly once,
//! nothing stored before the kill is computed again, and the only packets that run twice
//! are those that were in flight at the kill (computing, or computed but not yet
//! flushed — results are flushed in batches every 50 ms).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::datatypes::{DataType, Field};
use orcapod::function::closure::ClosureFunction;
use orcapod::function::FunctionPod;
use orcapod::model::Datum;
use orcapod::pipeline::{Pipeline, PipelineBuilder};
use orcapod::source::{Source, SourceOptions};
use orcapod::store::FunctionPaths;
use orcapod::store::{ArrowStore, SledStore};
use orcapod_actors::{RunOptions, Runtime};

const PACKETS: usize = 60;
const WORKERS: usize = 2;
const CHILD_ENV: &str = "ORCAPOD_CRASH_TEST_DIR";

/// The pipeline the child runs: each packet takes 25 ms and logs its call to a file.
fn slow_pipeline(dir: &Path) -> Pipeline {
    let calls = dir.join("calls.log");
    let rows: Vec<Vec<(String, Datum)>> = (0..PACKETS)
        .map(|i| {
            vec![
                ("id".to_string(), Datum::Str(format!("p{i:03}"))),
                ("x".to_string(), Datum::Int(i as i64)),
            ]
        })
        .collect();
    let source = Source::from_rows(
        &rows,
        &SourceOptions::tags(["id"]).with_source_id("numbers"),
    )
    .unwrap();
    let function = ClosureFunction::new(
        "slow_square",
        vec![Arc::new(Field::new("x", DataType::Int64, false))],
        vec![Arc::new(Field::new("y", DataType::Int64, false))],
        move |packet| {
            let Datum::Int(x) = packet[0].1 else {
                unreachable!("x is an int")
            };
            std::thread::sleep(Duration::from_millis(25));
            let mut log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&calls)
                .unwrap();
            // One write call per line, so lines of concurrent workers never interleave.
            log.write_all(format!("{x}\n").as_bytes()).unwrap();
            Ok(vec![Datum::Int(x * x)])
        },
    );
    let pod = FunctionPod::new(Arc::new(function))
        .unwrap()
        .with_max_concurrency(WORKERS)
        .unwrap();
    let mut builder = PipelineBuilder::new("crash");
    builder
        .source("numbers", source)
        .function("squared", pod, ["numbers"]);
    builder.build().unwrap()
}

/// The child's side: a no-op unless started by the test below.
#[test]
fn crash_child_entry() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let dir = Path::new(&dir);
    let store: Arc<dyn ArrowStore> = Arc::new(SledStore::open(dir.join("db")).unwrap());
    let pipeline = slow_pipeline(dir);
    let out = Runtime::new()
        .unwrap()
        .run(&pipeline, RunOptions::default().store(store))
        .unwrap();
    assert_eq!(out.streams["squared"].num_rows(), PACKETS);
}

fn start_child(dir: &Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "crash_child_entry",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The pipeline's view of the child's store, and where the function node keeps its
/// results and records.
fn open_store(dir: &Path) -> (Arc<dyn ArrowStore>, FunctionPaths) {
    let store = SledStore::open(dir.join("db")).unwrap();
    let scoped = store.at(&["crash"]).unwrap();
    let pipeline = slow_pipeline(dir);
    let node = pipeline.node("squared").unwrap();
    let orcapod::pipeline::NodeKind::Function(pod) = node.kind() else {
        unreachable!("a function node")
    };
    (
        scoped,
        FunctionPaths::new(pod, &node.identity().pipeline).unwrap(),
    )
}

/// The inputs `x` whose results the store holds (results are `y = x * x`).
fn stored_inputs(dir: &Path) -> Vec<i64> {
    let (scoped, paths) = open_store(dir);
    let Some(results) = scoped.get_all(&paths.results).unwrap() else {
        return Vec::new();
    };
    let y = results
        .batch
        .column(0)
        .as_any()
        .downcast_ref::<arrow::array::Int64Array>()
        .unwrap();
    let mut xs: Vec<i64> = y
        .iter()
        .map(|v| (v.unwrap() as f64).sqrt().round() as i64)
        .collect();
    xs.sort();
    xs
}

fn calls(dir: &Path) -> Vec<i64> {
    std::fs::read_to_string(dir.join("calls.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.parse().ok())
        .collect()
}

#[test]
fn a_run_killed_with_sigkill_resumes_without_recomputing_stored_results() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();

    // First run: kill it once about a third of the packets are computed.
    let mut child = start_child(dir);
    let deadline = Instant::now() + Duration::from_secs(60);
    while calls(dir).len() < PACKETS / 3 {
        assert!(Instant::now() < deadline, "the child made no progress");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the child ended before it was killed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let first = calls(dir);
    assert!(first.len() < PACKETS, "killed mid-run");

    // What the store holds after the kill (the child's lock died with it).
    let stored_before: Vec<i64> = stored_inputs(dir);
    assert!(
        !stored_before.is_empty(),
        "results were flushed before the kill"
    );
    for x in &stored_before {
        assert!(
            first.contains(x),
            "a stored result was computed by the first run"
        );
    }

    // Second run, to completion.
    let status = start_child(dir).wait().unwrap();
    assert!(status.success(), "the second run failed");
    let all = calls(dir);
    let second: Vec<i64> = all[first.len()..].to_vec();

    // Nothing stored before the kill ran again; everything else ran exactly once more.
    let mut expected: Vec<i64> = (0..PACKETS as i64)
        .filter(|x| !stored_before.contains(x))
        .collect();
    let mut second_sorted = second.clone();
    second_sorted.sort();
    expected.sort();
    assert_eq!(
        second_sorted, expected,
        "the second run computes exactly what was not stored"
    );
    // The packets that ran twice were all in flight at the kill: computed (or
    // computing) by the first run but not yet flushed.
    for x in second.iter().filter(|x| first.contains(x)) {
        assert!(!stored_before.contains(x));
    }

    // Every result is stored exactly once.
    let (scoped, paths) = open_store(dir);
    let results = scoped.get_all(&paths.results).unwrap().unwrap();
    assert_eq!(results.len(), PACKETS);
    let mut ids = results.ids.clone();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), PACKETS, "one result per input packet");
    let records = scoped.get_all(&paths.records).unwrap().unwrap();
    assert_eq!(records.len(), PACKETS, "one pipeline record per row");

    let mut distinct = all.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), PACKETS, "every packet ran at least once");
}

// ---------------------------------------------------------------------------------------
// The store alone: a writer killed with SIGKILL at many moments (mid-file, between a
// batch file and its catalog entry, mid-flush, mid-compaction), each time checked
// against a model.

const STORE_WRITER_ENV: &str = "ORCAPOD_CRASH_TEST_STORE_WRITER";
const ROWS: usize = 40;

/// The writer's calls, in order: (ids, values, skip_duplicates). Round `r` adds its rows,
/// replaces three quarters (every third round: all) of round `r - 1`'s, and re-adds its own with
/// `skip_duplicates` (a no-op).
fn store_calls(rounds: usize) -> Vec<(Vec<String>, Vec<i64>, bool)> {
    let id = |r: usize, i: usize| format!("arrow_v0.1:{:064x}{r:03x}{i:03x}", r * 7919 + i);
    let mut calls = Vec::new();
    for r in 0..rounds {
        let ids: Vec<String> = (0..ROWS).map(|i| id(r, i)).collect();
        let xs: Vec<i64> = (0..ROWS).map(|i| (r * 1000 + i) as i64).collect();
        calls.push((ids.clone(), xs.clone(), false));
        if r > 0 {
            let n = if r % 3 == 0 { ROWS } else { ROWS * 3 / 4 };
            let again: Vec<String> = (0..n).map(|i| id(r - 1, i)).collect();
            let xs: Vec<i64> = (0..n)
                .map(|i| (1_000_000 + (r - 1) * 1000 + i) as i64)
                .collect();
            calls.push((again, xs, false));
        }
        calls.push((ids, xs, true));
    }
    calls
}

/// The store's contents after the first `n` calls: id → value.
fn store_model(calls: &[(Vec<String>, Vec<i64>, bool)]) -> std::collections::BTreeMap<String, i64> {
    let mut model = std::collections::BTreeMap::new();
    for (ids, xs, skip) in calls {
        for (id, x) in ids.iter().zip(xs) {
            if !*skip || !model.contains_key(id) {
                model.insert(id.clone(), *x);
            }
        }
    }
    model
}

fn x_batch(xs: &[i64]) -> arrow::array::RecordBatch {
    let schema = Arc::new(arrow::datatypes::Schema::new(vec![Field::new(
        "x",
        DataType::Int64,
        false,
    )]));
    arrow::array::RecordBatch::try_new(
        schema,
        vec![Arc::new(arrow::array::Int64Array::from(xs.to_vec()))],
    )
    .unwrap()
}

/// The child's side: a no-op unless started by the test below. Prints the number of
/// calls made before each flush, once the flush has returned.
#[test]
fn store_writer_child_entry() {
    let Ok(dir) = std::env::var(STORE_WRITER_ENV) else {
        return;
    };
    let store = SledStore::open(&dir).unwrap();
    let t = orcapod::store::RecordPath::parse("results").unwrap();
    let mut out = std::io::stdout();
    let calls = store_calls(1000);
    for (k, (ids, xs, skip)) in calls.iter().enumerate() {
        store.add_records(&t, ids, &x_batch(xs), *skip).unwrap();
        if k % 4 == 3 {
            if k % 12 == 11 {
                // Compaction rewrites batches without changing what is stored.
                store.compact().unwrap();
            }
            store.flush().unwrap();
            writeln!(out, "flushed {}", k + 1).unwrap();
            out.flush().unwrap();
        }
    }
}

#[test]
fn a_store_writer_killed_at_many_moments_keeps_a_prefix_of_its_calls() {
    use std::io::BufRead;
    let calls = store_calls(1000);
    for attempt in 0..8u64 {
        let tmp = tempfile::tempdir().unwrap();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "store_writer_child_entry",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(STORE_WRITER_ENV, tmp.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill after a number of flushes that varies with the attempt.
        let wanted = 1 + (attempt * 5) % 11;
        let mut flushed_calls = 0;
        let mut seen = 0;
        let lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        for line in lines {
            let line = line.unwrap();
            if let Some(n) = line.strip_prefix("flushed ") {
                flushed_calls = n.parse::<usize>().unwrap();
                seen += 1;
                if seen == wanted {
                    break;
                }
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        assert!(flushed_calls > 0, "the writer flushed before the kill");

        let store = SledStore::open(tmp.path()).unwrap();
        let t = orcapod::store::RecordPath::parse("results").unwrap();
        let all = store.get_all(&t).unwrap().unwrap();
        let xs = all
            .batch
            .column(0)
            .as_any()
            .downcast_ref::<arrow::array::Int64Array>()
            .unwrap();
        let got: std::collections::BTreeMap<String, i64> = all
            .ids
            .iter()
            .cloned()
            .zip(xs.values().iter().copied())
            .collect();
        assert_eq!(got.len(), all.len(), "one live row per id");
        // What survives is the result of a prefix of the calls, at least every flushed one.
        let mut model = store_model(&calls[..flushed_calls]);
        let mut matched = model == got;
        for (ids, xs, skip) in &calls[flushed_calls..] {
            if matched {
                break;
            }
            for (id, x) in ids.iter().zip(xs) {
                if !*skip || !model.contains_key(id) {
                    model.insert(id.clone(), *x);
                }
            }
            matched = model == got;
        }
        assert!(
            matched,
            "attempt {attempt}: the store holds no prefix of the calls at or after the \
             {flushed_calls} flushed"
        );
        // Every batch file is named by the catalog, and superseded batches are gone.
        let files = std::fs::read_dir(tmp.path().join("batches/0"))
            .unwrap()
            .count();
        assert_eq!(files, store.stored_batches(&t).unwrap());
        // And the store works on; a flush deletes the files of batches found superseded.
        store
            .add_records(&t, &["after".to_string()], &x_batch(&[1]), false)
            .unwrap();
        store.flush().unwrap();
        let files = std::fs::read_dir(tmp.path().join("batches/0"))
            .unwrap()
            .count();
        assert_eq!(files, store.stored_batches(&t).unwrap());
    }
}
