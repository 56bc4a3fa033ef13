//! Function pods in pipelines, on both executors: results, provenance, caching by input
//! packet hash, incremental re-runs on a sled store, failures and concurrency limits.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, FieldRef};
use orcapod::function::closure::ClosureFunction;
use orcapod::function::{FunctionError, FunctionPod};
use orcapod::model::Datum;
use orcapod::pipeline::{ErrorPolicy, Pipeline, PipelineBuilder, SyncExecutor};
use orcapod::source::Source;
use orcapod::store::{ArrowStore, SledStore};
use orcapod::Error;
use orcapod_actors::{RunOptions, Runtime};
use orcapod_testing::multiset as sorted_rows;
use orcapod_testing::sources::{names, scores, table};

fn field(name: &str, dt: DataType) -> FieldRef {
    Arc::new(Field::new(name, dt, false))
}

/// `letter(score) -> grade: str`, counting its calls.
fn letter_grade(calls: Arc<AtomicUsize>) -> FunctionPod {
    let function = ClosureFunction::new(
        "letter_grade",
        vec![field("score", DataType::Int64)],
        vec![field("grade", DataType::LargeUtf8)],
        move |packet| {
            calls.fetch_add(1, Ordering::SeqCst);
            let Datum::Int(score) = packet[0].1 else {
                return Err(FunctionError::new("score is not an int"));
            };
            let grade = match score {
                90.. => "A",
                80..=89 => "B",
                70..=79 => "C",
                _ => "F",
            };
            Ok(vec![Datum::Str(grade.into())])
        },
    )
    .with_version("v1.0");
    FunctionPod::new(Arc::new(function)).unwrap()
}

fn grading(source: Source, pod: FunctionPod) -> Pipeline {
    let mut builder = PipelineBuilder::new("grades");
    builder
        .source("scores", source)
        .function("graded", pod, ["scores"]);
    builder.build().unwrap()
}

#[test]
fn both_executors_compute_the_same_rows_with_function_provenance() {
    let calls = Arc::new(AtomicUsize::new(0));
    let pipeline = grading(scores(50, "scores"), letter_grade(calls.clone()));
    let sync = SyncExecutor::new(&pipeline).run_all().unwrap();
    let actors = Runtime::new()
        .unwrap()
        .run(&pipeline, RunOptions::default().max_batch_rows(7))
        .unwrap();
    assert_eq!(
        sorted_rows(&actors.streams["graded"]),
        sorted_rows(&sync["graded"])
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        100,
        "no store: each run computes every packet"
    );

    let graded = &sync["graded"];
    assert_eq!(
        graded.schema().describe(),
        "tags {student_id: str} | packets {grade: str}"
    );
    assert_eq!(
        graded.schema().system_tag_fields().len(),
        2,
        "system tags pass through"
    );
    let (_, packet) = &graded.rows().unwrap()[0];
    let Datum::Str(info) = packet.source_info("grade").unwrap() else {
        panic!("source info is a string");
    };
    let pod = letter_grade(Arc::new(AtomicUsize::new(0)));
    let prefix = format!(
        "letter_grade:{}:v1:rust.closure.v0::",
        pod.uri().output_schema_hash
    );
    assert!(info.starts_with(&prefix), "{info}");
    assert!(info.ends_with("::grade"), "{info}");
}

#[test]
fn identical_packets_are_computed_once_per_run() {
    let source = table(None, &["student_id"], 30, |i| {
        let score = if i % 2 == 0 { 95 } else { 40 };
        vec![
            ("student_id", Datum::Str(format!("s{i}"))),
            ("score", Datum::Int(score)),
        ]
    });
    let calls = Arc::new(AtomicUsize::new(0));
    let pipeline = grading(source, letter_grade(calls.clone()));
    let mut sync = SyncExecutor::new(&pipeline);
    assert_eq!(sync.output("graded").unwrap().num_rows(), 30);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let stats = sync.stats();
    assert_eq!(stats[1].counts.computed, 2);
    assert_eq!(stats[1].counts.cached, 28);
}

#[test]
fn re_runs_on_a_store_compute_only_what_is_new() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ArrowStore> = Arc::new(SledStore::open(dir.path()).unwrap());
    let calls = Arc::new(AtomicUsize::new(0));
    let runtime = Runtime::new().unwrap();

    // First run on actors: everything is computed.
    let first = grading(scores(40, "scores"), letter_grade(calls.clone()));
    let out = runtime
        .run(&first, RunOptions::default().store(store.clone()))
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 40);
    assert_eq!(out.stats[1].counts.computed, 40);

    // Same sources, synchronous executor: nothing is computed, same rows.
    let sync = SyncExecutor::new(&first)
        .with_store(store.clone())
        .unwrap()
        .run_all()
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 40);
    assert_eq!(
        sorted_rows(&sync["graded"]),
        sorted_rows(&out.streams["graded"])
    );

    // A new source with the same schema and 10 more rows: only those are computed.
    let second = grading(scores(50, "more-scores"), letter_grade(calls.clone()));
    let out = runtime
        .run(&second, RunOptions::default().store(store.clone()))
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 50);
    assert_eq!(out.stats[1].counts.computed, 10);
    assert_eq!(out.stats[1].counts.cached, 40);
    assert_eq!(out.streams["graded"].num_rows(), 50);

    // Stored results survive reopening the store.
    drop(store);
    let store: Arc<dyn ArrowStore> = Arc::new(SledStore::open(dir.path()).unwrap());
    let again = runtime
        .run(&second, RunOptions::default().store(store))
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 50);
    assert_eq!(again.stats[1].counts.cached, 50);
}

fn failing_pod(panic: bool) -> FunctionPod {
    let function = ClosureFunction::new(
        "picky",
        vec![field("score", DataType::Int64)],
        vec![field("half", DataType::Int64)],
        move |packet| match packet[0].1 {
            Datum::Int(s) if s % 10 == 3 => {
                if panic {
                    panic!("cannot halve {s}");
                }
                Err(FunctionError::new(format!("cannot halve {s}")))
            }
            Datum::Int(s) => Ok(vec![Datum::Int(s / 2)]),
            _ => Err(FunctionError::new("not an int")),
        },
    );
    FunctionPod::new(Arc::new(function)).unwrap()
}

#[test]
fn a_failing_packet_stops_a_fail_fast_run_and_names_function_and_tags() {
    let pipeline = grading(scores(30, "scores"), failing_pod(false));
    let err = SyncExecutor::new(&pipeline)
        .run_all()
        .unwrap_err()
        .to_string();
    assert!(err.contains("node `graded`"), "{err}");
    assert!(err.contains("function `picky` failed"), "{err}");
    assert!(err.contains("student_id=s"), "{err}");
    assert!(err.contains("cannot halve"), "{err}");

    let err = Runtime::new()
        .unwrap()
        .run(&pipeline, RunOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("graded") && err.contains("cannot halve"),
        "{err}"
    );
}

#[test]
fn under_continue_failures_are_recorded_and_the_rest_arrives() {
    for panic in [false, true] {
        let pipeline = grading(scores(30, "scores"), failing_pod(panic));
        let failing = (0..30).filter(|i| (i * 37 % 101) % 10 == 3).count();
        assert!(failing > 0);

        let mut sync = SyncExecutor::new(&pipeline).on_error(ErrorPolicy::Continue);
        assert_eq!(sync.output("graded").unwrap().num_rows(), 30 - failing);
        let stats = sync.stats();
        assert_eq!(stats[1].failures.len(), failing);

        let out = Runtime::new()
            .unwrap()
            .run(
                &pipeline,
                RunOptions::default().on_error(ErrorPolicy::Continue),
            )
            .unwrap();
        assert_eq!(out.streams["graded"].num_rows(), 30 - failing);
        assert_eq!(out.stats[1].counts.failed as usize, failing);
        let failure = &out.stats[1].failures[0];
        assert!(
            failure.error.message.contains("cannot halve"),
            "{failure:?}"
        );
        if panic {
            assert!(failure.error.message.starts_with("panicked"), "{failure:?}");
        }
    }
}

#[test]
fn concurrency_never_exceeds_max_concurrency() {
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (r, p) = (running.clone(), peak.clone());
    let function = ClosureFunction::new(
        "slow",
        vec![field("score", DataType::Int64)],
        vec![field("same", DataType::Int64)],
        move |packet| {
            let now = r.fetch_add(1, Ordering::SeqCst) + 1;
            p.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(2));
            r.fetch_sub(1, Ordering::SeqCst);
            Ok(vec![packet[0].1.clone()])
        },
    );
    let pod = FunctionPod::new(Arc::new(function))
        .unwrap()
        .with_max_concurrency(3)
        .unwrap();
    let pipeline = grading(scores(60, "scores"), pod);
    let out = Runtime::new()
        .unwrap()
        .run(&pipeline, RunOptions::default())
        .unwrap();
    assert_eq!(out.streams["graded"].num_rows(), 60);
    let peak = peak.load(Ordering::SeqCst);
    assert!((1..=3).contains(&peak), "peak concurrency {peak}");
    let err = FunctionPod::new(Arc::new(ClosureFunction::new(
        "f",
        vec![],
        vec![field("x", DataType::Int64)],
        |_| Ok(vec![]),
    )))
    .unwrap()
    .with_max_concurrency(0)
    .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput { context, .. } if context == "function `f`"),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("max_concurrency must be at least 1"),
        "{err}"
    );
}

#[test]
fn input_schema_mismatches_are_rejected_when_the_pipeline_is_built() {
    let function = ClosureFunction::new(
        "wants_text",
        vec![field("score", DataType::LargeUtf8)],
        vec![field("out", DataType::Int64)],
        |_| Ok(vec![Datum::Int(0)]),
    );
    let pod = FunctionPod::new(Arc::new(function)).unwrap();
    let mut builder = PipelineBuilder::new("p");
    builder
        .source("scores", scores(3, "s"))
        .function("f", pod, ["scores"]);
    let err = builder.build().unwrap_err().to_string();
    assert!(err.contains("node `f`"), "{err}");
    assert!(
        err.contains("`score` is int but the function takes str"),
        "{err}"
    );
}

#[test]
fn several_inputs_are_joined_first() {
    let names = names(5, None);
    let function = ClosureFunction::new(
        "label",
        vec![
            field("name", DataType::LargeUtf8),
            field("score", DataType::Int64),
        ],
        vec![field("label", DataType::LargeUtf8)],
        |p| {
            Ok(vec![Datum::Str(format!(
                "{}:{}",
                p[0].1.python_str(),
                p[1].1.python_str()
            ))])
        },
    );
    let pod = FunctionPod::new(Arc::new(function)).unwrap();
    let mut builder = PipelineBuilder::new("p");
    builder
        .source("names", names)
        .source("scores", scores(8, "scores"))
        .function("labelled", pod, ["names", "scores"]);
    let pipeline = builder.build().unwrap();
    assert!(pipeline.node("labelled.join").is_some());
    let out = SyncExecutor::new(&pipeline).run_all().unwrap();
    assert_eq!(out["labelled"].num_rows(), 5);
}
