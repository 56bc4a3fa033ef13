//! File sources are read while the pipeline runs, batch by batch: a CSV source whose
//! file is a pipe delivers its first rows downstream before the rest is written, and a
//! value found wrong while reading fails the source node, naming the file and line.
//! Every wait is bounded.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{DataType, Int64Type};
use crossbeam_channel::Receiver;
use orcapod::pipeline::{Pipeline, PipelineBuilder};
use orcapod::source::{Source, SourceOptions};
use orcapod_actors::{RunError, RunOptions, Runtime};
use orcapod_testing::sources::select_packets;

/// How long any one wait may last before the test fails.
const PATIENCE: Duration = Duration::from_secs(30);

/// Rows written before the pipeline is asked to show them, and in all.
const FIRST: usize = 8;
const TOTAL: usize = 50;

/// The source's rows are read in batches of this size.
const BATCH: usize = 4;

fn row(i: usize) -> String {
    format!("{i},{},s{i}\n", i * 10)
}

/// `id, x, s`, every type declared: the file is read once, while the pipeline runs.
fn options() -> SourceOptions {
    SourceOptions::tags(["id"])
        .with_type("id", DataType::Int64, false)
        .with_type("x", DataType::Int64, false)
        .with_type("s", DataType::Utf8, false)
}

/// `rows` (the source) and `sel`, its `x` column.
fn pipeline(source: Source) -> Pipeline {
    let mut builder = PipelineBuilder::new("piped");
    builder
        .source("rows", source)
        .operator("sel", select_packets(&["x"]), ["rows"]);
    builder.build().unwrap()
}

/// The `x` values of batches received from `subscription` until at least `rows` rows
/// came, or until it closes when `rows` is `None`; fails the test after [`PATIENCE`].
fn receive(subscription: &Receiver<RecordBatch>, rows: Option<usize>, what: &str) -> Vec<i64> {
    let deadline = Instant::now() + PATIENCE;
    let mut xs = Vec::new();
    while rows.is_none_or(|n| xs.len() < n) {
        let left = deadline.saturating_duration_since(Instant::now());
        match subscription.recv_timeout(left) {
            Ok(batch) => {
                let column = batch.column_by_name("x").expect("an x column");
                xs.extend(column.as_primitive::<Int64Type>().values().iter().copied());
            }
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) if rows.is_none() => break,
            Err(e) => panic!(
                "{what}: {e} after {PATIENCE:?} with {} rows received: {xs:?}",
                xs.len()
            ),
        }
    }
    xs
}

fn mkfifo(dir: &Path) -> PathBuf {
    let path = dir.join("rows.csv");
    let status = Command::new("mkfifo")
        .arg(&path)
        .status()
        .expect("mkfifo runs");
    assert!(status.success(), "mkfifo {}: {status}", path.display());
    path
}

#[test]
fn the_first_rows_of_a_piped_csv_reach_the_output_before_the_rest_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = mkfifo(dir.path());
    let (go, wait_for_go) = mpsc::channel::<()>();
    let (written, rest_written) = mpsc::channel::<()>();
    let writer_path = fifo.clone();
    // The writer: the header and the first rows, then (only when told) the rest. Opening
    // a pipe waits for its reader, which loading the source is.
    let writer = std::thread::spawn(move || {
        let mut pipe = std::fs::OpenOptions::new()
            .write(true)
            .open(&writer_path)
            .unwrap();
        let mut first = String::from("id,x,s\n");
        (0..FIRST).for_each(|i| first.push_str(&row(i)));
        pipe.write_all(first.as_bytes()).unwrap();
        pipe.flush().unwrap();
        wait_for_go
            .recv_timeout(PATIENCE)
            .expect("the go for the rest");
        let rest: String = (FIRST..TOTAL).map(row).collect();
        pipe.write_all(rest.as_bytes()).unwrap();
        written.send(()).unwrap();
        // Dropping the pipe ends the file.
    });

    // Loading reads the header only (every type is declared).
    let source = Source::from_csv(&fifo, &options()).unwrap();
    let pipeline = pipeline(source);
    let runtime = Runtime::new().unwrap();
    let mut options = RunOptions::default().max_batch_rows(BATCH);
    let selected = options.subscribe("sel", 64);
    let handle = runtime.start(&pipeline, options).unwrap();

    // The first rows arrive while the writer still holds the rest back.
    let first = receive(&selected, Some(FIRST), "the first rows");
    let expected: Vec<i64> = (0..TOTAL as i64).map(|i| i * 10).collect();
    assert_eq!(first, expected[..FIRST], "the first rows, in order");
    assert!(
        rest_written.try_recv().is_err(),
        "the rest was not written yet"
    );
    assert!(
        handle.progress().iter().all(|p| !p.ended),
        "no node ended before the file did: {:?}",
        handle.progress()
    );

    // Then the rest, and the end of the file: every row, in file order.
    go.send(()).unwrap();
    let rest = receive(&selected, None, "the rest of the rows");
    assert_eq!([first, rest].concat(), expected);
    let output = handle
        .wait_timeout(PATIENCE)
        .expect("the run ends once the file does")
        .unwrap();
    assert!(output.streams.contains_key("sel"));
    writer.join().unwrap();
}

#[test]
fn a_file_source_reads_only_a_few_batches_ahead_of_a_stalled_consumer() {
    const ROWS: usize = 60_000;
    const CHUNK: usize = 100;
    let dir = tempfile::tempdir().unwrap();
    let fifo = mkfifo(dir.path());
    let written = Arc::new(AtomicUsize::new(0));
    let (writer_path, progress) = (fifo.clone(), written.clone());
    // The writer counts the rows the pipe took: it blocks once the pipe is full.
    let writer = std::thread::spawn(move || {
        let mut pipe = std::fs::OpenOptions::new()
            .write(true)
            .open(&writer_path)
            .unwrap();
        pipe.write_all(b"id,x,s\n").unwrap();
        for start in (0..ROWS).step_by(CHUNK) {
            let chunk: String = (start..start + CHUNK).map(row).collect();
            pipe.write_all(chunk.as_bytes()).unwrap();
            progress.store(start + CHUNK, Ordering::SeqCst);
        }
    });
    let pipeline = pipeline(Source::from_csv(&fifo, &options()).unwrap());
    let runtime = Runtime::new().unwrap();
    let mut options = RunOptions::default().max_batch_rows(64).window_rows(128);
    // Nobody reads the output yet: the pipeline stalls.
    let selected = options.subscribe("sel", 1);
    let handle = runtime.start(&pipeline, options).unwrap();

    // Wait until the writer stops making progress: the source stopped reading.
    let deadline = Instant::now() + PATIENCE;
    let mut last = (usize::MAX, Instant::now());
    let stalled_at = loop {
        std::thread::sleep(Duration::from_millis(50));
        let now = written.load(Ordering::SeqCst);
        assert!(
            now < ROWS,
            "the source read the whole file while its consumer was stalled"
        );
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() > Duration::from_millis(500) {
            break now;
        }
        assert!(Instant::now() < deadline, "the writer never stalled");
    };
    // A full pipe (64 KiB, about 2,700 rows), the CSV reader's buffer and a few batches.
    assert!(
        stalled_at < 10_000,
        "read ahead of the consumer: {stalled_at} rows"
    );

    // Reading the output lets the rest through.
    let xs = receive(&selected, None, "every row");
    assert_eq!(xs.len(), ROWS);
    assert!(xs.iter().enumerate().all(|(i, &x)| x == i as i64 * 10));
    handle
        .wait_timeout(PATIENCE)
        .expect("the run ends")
        .unwrap();
    writer.join().unwrap();
}

#[test]
fn a_value_found_wrong_while_reading_fails_the_source_node_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rows.csv");
    let mut text = String::from("id,x,s\n");
    (0..10).for_each(|i| text.push_str(&row(i)));
    text.push_str("10,ten,s10\n");
    std::fs::write(&path, text).unwrap();
    let pipeline = pipeline(Source::from_csv(&path, &options()).unwrap());
    let runtime = Runtime::new().unwrap();
    let handle = runtime
        .start(&pipeline, RunOptions::default().max_batch_rows(BATCH))
        .unwrap();
    let result = handle
        .wait_timeout(PATIENCE)
        .expect("the run ends at the error");
    match result {
        Err(RunError::NodeFailed(failure)) => {
            assert_eq!(failure.node, "rows");
            assert!(
                failure
                    .message
                    .contains("rows.csv:12: column `x`: `ten` is not an integer"),
                "{}",
                failure.message
            );
        }
        other => panic!("expected the source node to fail, got {other:?}"),
    }
}
