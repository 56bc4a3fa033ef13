//! Embedding the long-running actor runtime: scores arrive one at a time on a channel,
//! are joined with the students as they come, graded by a Rust closure, and each graded
//! row is printed the moment it exists — while a second pipeline runs on the same
//! runtime. Per-node progress is watched along the way.
//!
//! Run with `cargo run --example live_runtime`.

mod shared;

use std::time::{Duration, Instant};

use arrow::util::pretty::pretty_format_batches;
use orcapod::model::{ColumnConfig, Datum, Stream};
use orcapod::operator::OperatorSpec;
use orcapod::pipeline::PipelineBuilder;
use orcapod::source::{Source, SourceOptions};
use orcapod_actors::{RunOptions, Runtime};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/school/data");
    let students = Source::from_csv(
        data.join("students.csv"),
        &SourceOptions::tags(["student_id"]),
    )?;
    let scores = Source::from_csv(
        data.join("scores.csv"),
        &SourceOptions::tags(["student_id", "course_id"]),
    )?;
    let score_rows = scores.stream()?.to_batch()?;

    let mut builder = PipelineBuilder::new("live_grades");
    builder
        .source("students", students.clone())
        .source("scores", scores)
        .operator("enrolled", OperatorSpec::Join, ["students", "scores"])
        .operator(
            "score_only",
            OperatorSpec::SelectPacketColumns {
                columns: vec!["score".into()],
                strict: true,
            },
            ["enrolled"],
        )
        .function("graded", shared::letter_grade()?, ["score_only"]);
    let pipeline = builder.build()?;

    // One runtime for the life of the program; pipelines come and go on it.
    let runtime = Runtime::new()?;

    // The scores source is fed from a channel instead of its file.
    let (scores_tx, scores_rx) = crossbeam_channel::unbounded();
    let mut options = RunOptions::default();
    options.feed("scores", scores_rx);
    let graded = options.subscribe("graded", 64);
    let handle = runtime.start(&pipeline, options)?;

    let started = Instant::now();
    let producer = std::thread::spawn(move || {
        for row in 0..score_rows.num_rows() {
            if scores_tx.send(score_rows.slice(row, 1)).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Dropping the sender ends the source.
    });

    // Meanwhile, a second pipeline on the same runtime: the students of cohort A.
    let mut other = PipelineBuilder::new("cohort_a");
    other.source("students", students).operator(
        "cohort_a",
        OperatorSpec::Filter {
            predicates: Vec::new(),
            constraints: [("cohort".to_string(), Datum::Str("A".into()))].into(),
        },
        ["students"],
    );
    let cohort = runtime.run(&other.build()?, RunOptions::default())?;
    println!(
        "[{:>5} ms] second pipeline done: {} students in cohort A",
        started.elapsed().as_millis(),
        cohort.streams["cohort_a"].num_rows()
    );

    let schema = pipeline
        .node("graded")
        .expect("declared above")
        .output_schema()
        .clone();
    let mut received = 0;
    while let Ok(batch) = graded.recv() {
        received += batch.num_rows();
        let rows = Stream::new(schema.clone(), vec![batch])?.as_table(&ColumnConfig::default())?;
        let progress: Vec<String> = handle
            .progress()
            .iter()
            .filter(|p| !p.name.ends_with("(output)"))
            .map(|p| format!("{} {}", p.name, p.rows_out))
            .collect();
        println!(
            "[{:>5} ms] graded row(s) arrived; progress: {}\n{}",
            started.elapsed().as_millis(),
            progress.join(", "),
            pretty_format_batches(&[rows])?
        );
    }
    producer.join().expect("the producer thread");
    let output = handle.wait()?;
    println!(
        "[{:>5} ms] live pipeline done: {received} graded rows streamed, {} collected; \
         {} actors still alive",
        started.elapsed().as_millis(),
        output.streams["graded"].num_rows(),
        runtime.live_actors()
    );
    Ok(())
}
