//! The job runner both executors share: provisional answers are never stored before
//! they are settled, a disproved session fails (or reruns) exactly its packets, retries
//! recover flaky packets and are counted, and fail-fast stops computing.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arrow::array::{AsArray, Int64Array};
use arrow::datatypes::{DataType, Field, FieldRef, Int64Type};
use orcapod::function::{FunctionError, FunctionPod, FunctionWorker, PacketFunction};
use orcapod::model::{Datum, Stream};
use orcapod::pipeline::{ErrorPolicy, Pipeline, PipelineBuilder, SyncExecutor};
use orcapod::source::{Source, SourceOptions};
use orcapod::store::{ArrowStore, MemoryStore};
use orcapod_actors::{RunOptions, Runtime};

fn field(name: &str) -> FieldRef {
    Arc::new(Field::new(name, DataType::Int64, false))
}

/// How a session of the scripted worker ends when settled.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum SessionEnd {
    /// Proven.
    Ok,
    /// Disproved: every answer of the session is suspect.
    Disproved,
    /// Lost because of another packet: free to compute again.
    Lost,
}

/// A function `x -> x * 10 + 1` whose workers hold answers provisionally in sessions of
/// `session_len` packets; a worker's session number `k` ends as `ends(k)` says. Packet `x` fails with an error on its first `flaky(x)` calls.
struct Scripted {
    inputs: Vec<FieldRef>,
    outputs: Vec<FieldRef>,
    session_len: usize,
    ends: fn(usize) -> SessionEnd,
    flaky: fn(i64) -> usize,
    sessions: Arc<AtomicUsize>,
    calls: Arc<Mutex<BTreeMap<i64, usize>>>,
}

impl Scripted {
    fn new(session_len: usize, ends: fn(usize) -> SessionEnd, flaky: fn(i64) -> usize) -> Self {
        Scripted {
            inputs: vec![field("x")],
            outputs: vec![field("y")],
            session_len,
            ends,
            flaky,
            sessions: Arc::new(AtomicUsize::new(0)),
            calls: Arc::default(),
        }
    }
}

struct ScriptedWorker {
    session_len: usize,
    ends: fn(usize) -> SessionEnd,
    flaky: fn(i64) -> usize,
    sessions: Arc<AtomicUsize>,
    calls: Arc<Mutex<BTreeMap<i64, usize>>>,
    open: usize,
    /// This worker's sessions so far.
    own: usize,
}

impl PacketFunction for Scripted {
    fn name(&self) -> &str {
        "scripted"
    }
    fn version(&self) -> &str {
        "v1.0"
    }
    fn type_id(&self) -> &str {
        "test.scripted.v0"
    }
    fn input_schema(&self) -> &[FieldRef] {
        &self.inputs
    }
    fn output_schema(&self) -> &[FieldRef] {
        &self.outputs
    }
    fn start_worker(&self) -> Result<Box<dyn FunctionWorker>, FunctionError> {
        Ok(Box::new(ScriptedWorker {
            session_len: self.session_len,
            ends: self.ends,
            flaky: self.flaky,
            sessions: self.sessions.clone(),
            calls: self.calls.clone(),
            open: 0,
            own: 0,
        }))
    }
}

impl FunctionWorker for ScriptedWorker {
    fn call(&mut self, packet: &[(String, Datum)]) -> Result<Vec<Datum>, FunctionError> {
        let Datum::Int(x) = packet[0].1 else {
            return Err(FunctionError::new("x is not an int"));
        };
        let calls = {
            let mut calls = self.calls.lock().unwrap();
            let n = calls.entry(x).or_default();
            *n += 1;
            *n
        };
        if calls <= (self.flaky)(x) {
            return Err(FunctionError::new(format!("flaky failure {calls} of {x}")));
        }
        self.open += 1;
        Ok(vec![Datum::Int(x * 10 + 1)])
    }

    fn settle(&mut self) -> Result<(), FunctionError> {
        if self.open == 0 {
            return Ok(());
        }
        self.open = 0;
        self.sessions.fetch_add(1, Ordering::SeqCst);
        let session = self.own;
        self.own += 1;
        match (self.ends)(session) {
            SessionEnd::Ok => Ok(()),
            SessionEnd::Disproved => Err(FunctionError::new("an extra answer line")),
            SessionEnd::Lost => Err(FunctionError::new("lost with its session").for_rerun()),
        }
    }

    fn wants_settle(&self) -> bool {
        self.open >= self.session_len
    }
}

fn pipeline(n: i64, function: Scripted, retries: u32) -> Pipeline {
    let rows: Vec<Vec<(String, Datum)>> = (0..n)
        .map(|x| {
            vec![
                ("id".to_string(), Datum::Int(x)),
                ("x".to_string(), Datum::Int(x)),
            ]
        })
        .collect();
    let source =
        Source::from_rows(&rows, &SourceOptions::tags(["id"]).with_source_id("xs")).unwrap();
    let pod = FunctionPod::new(Arc::new(function))
        .unwrap()
        .with_retries(retries);
    let mut builder = PipelineBuilder::new("runner");
    builder.source("xs", source).function("f", pod, ["xs"]);
    builder.build().unwrap()
}

/// (id, y) of every row of `stream`.
fn answers(stream: &Stream) -> BTreeMap<i64, i64> {
    let mut out = BTreeMap::new();
    for batch in stream.batches() {
        let schema = batch.schema();
        let id = batch
            .column(schema.index_of("id").unwrap())
            .as_primitive::<Int64Type>();
        let y = batch
            .column(schema.index_of("y").unwrap())
            .as_primitive::<Int64Type>();
        for (id, y) in id.iter().zip(y.iter()) {
            out.insert(id.unwrap(), y.unwrap());
        }
    }
    out
}

/// The stored results of node `f`: every `y` ever stored.
fn stored_ys(store: &Arc<dyn ArrowStore>, pipeline: &Pipeline) -> Vec<i64> {
    let stream = orcapod::pipeline::stored_source(store.as_ref(), pipeline, "f")
        .map(|s| s.stream().unwrap());
    let Ok(stream) = stream else {
        return Vec::new();
    };
    let mut ys: Vec<i64> = stream
        .batches()
        .iter()
        .flat_map(|b| {
            let y: &Int64Array = b.column(b.schema().index_of("y").unwrap()).as_primitive();
            y.iter().map(Option::unwrap).collect::<Vec<_>>()
        })
        .collect();
    ys.sort();
    ys
}

enum Executor {
    Sync,
    Actors,
}

struct Outcome {
    answers: BTreeMap<i64, i64>,
    computed: u64,
    failed: u64,
    retried: u64,
    stored: Vec<i64>,
}

fn run(executor: Executor, pipeline: &Pipeline, policy: ErrorPolicy) -> Result<Outcome, String> {
    let store: Arc<dyn ArrowStore> = Arc::new(MemoryStore::new());
    run_on(executor, pipeline, policy, &store)
}

fn run_on(
    executor: Executor,
    pipeline: &Pipeline,
    policy: ErrorPolicy,
    store: &Arc<dyn ArrowStore>,
) -> Result<Outcome, String> {
    let (stream, counts) = match executor {
        Executor::Sync => {
            let mut sync = SyncExecutor::new(pipeline)
                .with_store(store.clone())
                .unwrap()
                .on_error(policy);
            let stream = sync.output("f").map_err(|e| e.to_string())?.clone();
            (stream, sync.stats()[1].counts.clone())
        }
        Executor::Actors => {
            let out = Runtime::new()
                .unwrap()
                .run(
                    pipeline,
                    RunOptions::default()
                        .on_error(policy)
                        .store(store.clone())
                        .max_batch_rows(16)
                        .default_max_concurrency(2),
                )
                .map_err(|e| e.to_string())?;
            (out.streams["f"].clone(), out.stats[1].counts.clone())
        }
    };
    Ok(Outcome {
        answers: answers(&stream),
        computed: counts.computed,
        failed: counts.failed,
        retried: counts.retried,
        stored: stored_ys(store, pipeline),
    })
}

/// (packets failed, retries, answers) of `out`.
fn counts(out: &Outcome) -> (u64, u64, usize) {
    (out.failed, out.retried, out.answers.len())
}

/// Every answer in `out` is the right one (`x * 10 + 1`).
fn assert_right(out: &Outcome) {
    for (x, y) in &out.answers {
        assert_eq!(*y, x * 10 + 1);
    }
}

/// `end` for session `k` when `k % every == at`, [`SessionEnd::Ok`] otherwise.
fn one_in(k: usize, every: usize, at: usize, end: SessionEnd) -> SessionEnd {
    if k % every == at {
        end
    } else {
        SessionEnd::Ok
    }
}

#[test]
fn a_disproved_session_fails_its_packets_and_stores_none_of_their_answers() {
    for executor in [Executor::Sync, Executor::Actors] {
        // Sessions of 4 packets; every third session is disproved.
        let function = Scripted::new(4, |k| one_in(k, 3, 1, SessionEnd::Disproved), |_| 0);
        let sessions = function.sessions.clone();
        let pipeline = pipeline(40, function, 0);
        let out = run(executor, &pipeline, ErrorPolicy::Continue).unwrap();
        assert!(sessions.load(Ordering::SeqCst) >= 10);
        assert!(out.failed > 0, "some sessions were disproved");
        assert_eq!(out.answers.len() as u64 + out.failed, 40);
        assert_right(&out);
        // Only the proven answers were stored.
        let expected: Vec<i64> = out.answers.values().copied().collect();
        assert_eq!(out.stored, expected);
        assert_eq!(out.computed as usize, out.answers.len());
    }
}

#[test]
fn answers_lost_with_a_session_are_computed_again_without_costing_a_retry() {
    for executor in [Executor::Sync, Executor::Actors] {
        let function = Scripted::new(3, |k| one_in(k, 2, 0, SessionEnd::Lost), |_| 0);
        let pipeline = pipeline(30, function, 0);
        let out = run(executor, &pipeline, ErrorPolicy::Continue).unwrap();
        assert_eq!(counts(&out), (0, 0, 30));
        assert_right(&out);
        assert_eq!(out.stored.len(), 30);
    }
}

#[test]
fn retries_recover_flaky_packets_and_are_counted() {
    for executor in [Executor::Sync, Executor::Actors] {
        // Odd packets fail their first call.
        let function = Scripted::new(1, |_| SessionEnd::Ok, |x| (x % 2) as usize);
        let calls = function.calls.clone();
        let pipeline = pipeline(10, function, 2);
        let out = run(executor, &pipeline, ErrorPolicy::FailFast).unwrap();
        assert_eq!(counts(&out), (0, 5, 10));
        assert_right(&out);
        let calls = calls.lock().unwrap();
        assert_eq!(calls.values().sum::<usize>(), 15);
    }
}

#[test]
fn retries_run_out_and_the_failure_stands() {
    for executor in [Executor::Sync, Executor::Actors] {
        // Packet 3 always fails; 2 retries.
        let function = Scripted::new(
            1,
            |_| SessionEnd::Ok,
            |x| if x == 3 { usize::MAX } else { 0 },
        );
        let calls = function.calls.clone();
        let pipeline = pipeline(6, function, 2);
        let out = run(executor, &pipeline, ErrorPolicy::Continue).unwrap();
        assert_eq!(counts(&out), (1, 2, 5));
        assert_eq!(calls.lock().unwrap()[&3], 3);
    }
}

#[test]
fn fail_fast_stores_no_disproved_answer_and_names_the_reason() {
    for executor in [Executor::Sync, Executor::Actors] {
        let function = Scripted::new(4, |_| SessionEnd::Disproved, |_| 0);
        let pipeline = pipeline(12, function, 0);
        let store: Arc<dyn ArrowStore> = Arc::new(MemoryStore::new());
        let err = match run_on(executor, &pipeline, ErrorPolicy::FailFast, &store) {
            Ok(_) => panic!("a disproved session must fail a fail-fast run"),
            Err(e) => e,
        };
        assert!(err.contains("an extra answer line"), "{err}");
        assert_eq!(stored_ys(&store, &pipeline), Vec::<i64>::new());
    }
}

#[test]
fn answers_carried_from_job_to_job_are_stored_only_once_their_session_is_proven() {
    // Sessions never ask to be settled, so a worker with more jobs queued carries each
    // job's answers into the next job's session; every other session is disproved.
    let function = Scripted::new(
        usize::MAX,
        |k| one_in(k, 2, 0, SessionEnd::Disproved),
        |_| 0,
    );
    let sessions = function.sessions.clone();
    let pipeline = pipeline(300, function, 0);
    let out = run(Executor::Actors, &pipeline, ErrorPolicy::Continue).unwrap();
    assert!(sessions.load(Ordering::SeqCst) >= 2);
    assert_eq!(out.answers.len() as u64 + out.failed, 300);
    assert_right(&out);
    let expected: Vec<i64> = out.answers.values().copied().collect();
    assert_eq!(out.stored, expected);
}
