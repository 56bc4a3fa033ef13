//! Command functions: a long-lived `python3` script per worker, spoken to in JSON Lines.
//!
//! The scripts live in `tests/fixtures/commands/`.

use std::path::PathBuf;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, FieldRef};
use orcapod::function::command::{CommandFunction, CommandWorker};
use orcapod::function::{FunctionError, FunctionPod, FunctionWorker, PacketFunction};
use orcapod::model::Datum;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/commands")
}

fn script(name: &str) -> Vec<String> {
    vec![
        "python3".into(),
        fixtures().join(name).to_string_lossy().into_owned(),
    ]
}

fn field(name: &str, data_type: DataType, nullable: bool) -> FieldRef {
    Arc::new(Field::new(name, data_type, nullable))
}

fn int_list() -> DataType {
    DataType::LargeList(Arc::new(Field::new("item", DataType::Int64, true)))
}

fn packet(pairs: &[(&str, Datum)]) -> Vec<(String, Datum)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// The fixture script `{name}.py` as a function called `name`, run in the fixtures
/// directory.
fn fixture(name: &str, input: Vec<FieldRef>, output: Vec<FieldRef>) -> CommandFunction {
    CommandFunction::new(
        name,
        script(&format!("{name}.py")),
        fixtures(),
        input,
        output,
    )
    .unwrap()
}

/// The misbehaving script: `{"mode": str}` to `{"value": int}`.
fn misbehave() -> CommandFunction {
    let input = vec![field("mode", DataType::Utf8, false)];
    fixture(
        "misbehave",
        input,
        vec![field("value", DataType::Int64, false)],
    )
}

fn mode(worker: &mut dyn FunctionWorker, mode: &str) -> Result<Vec<Datum>, FunctionError> {
    worker.call(&packet(&[("mode", Datum::Str(mode.into()))]))
}

/// Which process answers the packet after a failure.
#[derive(Clone, Copy, Debug)]
enum Next {
    SameProcess,
    FreshProcess,
}

/// Sends mode `failing`, which must fail with a message containing `expected`, then
/// mode `ok`, which must be answered (1) by the process `next` says. Returns the
/// failure.
fn fails_then_recovers(
    worker: &mut CommandWorker,
    failing: &str,
    expected: &str,
    next: Next,
) -> FunctionError {
    let pid = worker.pid();
    let err = mode(worker, failing).unwrap_err();
    assert!(err.message.contains(expected), "{failing}: {}", err.message);
    assert_eq!(
        mode(worker, "ok").unwrap(),
        vec![Datum::Int(1)],
        "{failing}"
    );
    match next {
        Next::SameProcess => assert_eq!(worker.pid(), pid, "{failing}"),
        Next::FreshProcess => assert_ne!(worker.pid(), pid, "{failing}"),
    }
    err
}

/// A function called `name` running `command` in `dir`, from no input to
/// `{"value": int}`.
fn no_input(name: &str, command: Vec<String>, dir: PathBuf) -> CommandFunction {
    let output = vec![field("value", DataType::Int64, false)];
    CommandFunction::new(name, command, dir, vec![], output).unwrap()
}

/// The grading script: `{"score": int}` to `{"grade": str}`.
fn grade() -> CommandFunction {
    let input = vec![field("score", DataType::Int64, false)];
    fixture("grade", input, vec![field("grade", DataType::Utf8, false)])
}

/// Whether a process exists (a zombie counts: it must have been reaped too).
#[cfg(target_os = "linux")]
fn process_exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn grades_scores_through_a_script() {
    let f = grade().with_version("v1.2");
    assert_eq!(f.name(), "grade");
    assert_eq!(f.version(), "v1.2");
    assert_eq!(f.type_id(), "command.jsonl.v0");
    assert_eq!(f.input_schema().len(), 1);
    assert_eq!(f.output_schema()[0].name(), "grade");

    let mut worker = f.start_worker().unwrap();
    for (score, grade) in [(95, "A"), (85, "B"), (72, "C"), (61, "D"), (10, "F")] {
        let out = worker
            .call(&packet(&[("score", Datum::Int(score))]))
            .unwrap();
        assert_eq!(out, vec![Datum::Str(grade.into())], "score {score}");
    }
}

#[test]
fn a_command_function_is_a_pod_with_its_own_type_id() {
    let f = grade().with_version("v3.1");
    let pod = FunctionPod::new(Arc::new(f)).unwrap();
    assert_eq!(pod.uri().name, "grade");
    assert_eq!(pod.uri().major, 3);
    assert_eq!(pod.uri().type_id, "command.jsonl.v0");
}

#[test]
fn answers_of_every_type_are_converted_against_the_output_schema() {
    let f = fixture(
        "types",
        vec![field("n", DataType::Int64, false)],
        vec![
            field("text", DataType::LargeUtf8, false),
            field("twice", DataType::Int64, false),
            field("half", DataType::Float64, false),
            field("even", DataType::Boolean, false),
            field("upto", int_list(), false),
            field("raw", DataType::LargeBinary, false),
            field("nothing", DataType::Int64, true),
        ],
    );
    let mut worker = f.start_worker().unwrap();
    let out = worker.call(&packet(&[("n", Datum::Int(3))])).unwrap();
    assert_eq!(
        out,
        vec![
            Datum::Str("n=3".into()),
            Datum::Int(6),
            Datum::Float(1.5),
            Datum::Bool(false),
            Datum::List(vec![Datum::Int(0), Datum::Int(1), Datum::Int(2)]),
            Datum::Bytes(vec![3, 255]),
            Datum::Null,
        ]
    );
}

#[test]
fn packets_are_sent_as_json_objects_keyed_by_column_in_the_working_dir() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = script("echo_args.py");
    command.extend(["first arg".to_string(), "--flag".to_string()]);
    let f = CommandFunction::new(
        "echo",
        command,
        dir.path(),
        vec![],
        vec![
            field(
                "args",
                DataType::LargeList(Arc::new(Field::new("item", DataType::Utf8, true))),
                false,
            ),
            field("cwd", DataType::Utf8, false),
            field("received", DataType::Utf8, false),
        ],
    )
    .unwrap();
    let mut worker = f.start_worker().unwrap();
    let out = worker
        .call(&packet(&[
            ("s", Datum::Str("line\nbreak \"quoted\"".into())),
            ("b", Datum::Bytes(vec![0, 255])),
            ("l", Datum::List(vec![Datum::Int(1), Datum::Null])),
            ("f", Datum::Float(0.25)),
            ("t", Datum::Bool(true)),
            ("n", Datum::Null),
        ]))
        .unwrap();
    assert_eq!(
        out[0],
        Datum::List(vec![
            Datum::Str("first arg".into()),
            Datum::Str("--flag".into())
        ])
    );
    let cwd = match &out[1] {
        Datum::Str(s) => PathBuf::from(s),
        other => panic!("cwd: {other:?}"),
    };
    assert_eq!(
        cwd.canonicalize().unwrap(),
        dir.path().canonicalize().unwrap()
    );
    assert_eq!(
        out[2],
        Datum::Str(
            r#"{"b": {"$bytes": "00ff"}, "f": 0.25, "l": [1, null], "n": null, "s": "line\nbreak \"quoted\"", "t": true}"#
                .into()
        )
    );
}

#[test]
fn a_worker_keeps_one_process_for_many_packets() {
    let input = vec![field("x", DataType::Int64, false)];
    let f = fixture(
        "counter",
        input,
        vec![field("count", DataType::Int64, false)],
    );
    let mut worker = f.start_worker().unwrap();
    let counts: Vec<Datum> = (0..3)
        .map(|i| worker.call(&packet(&[("x", Datum::Int(i))])).unwrap()[0].clone())
        .collect();
    assert_eq!(counts, vec![Datum::Int(1), Datum::Int(2), Datum::Int(3)]);

    // Each worker has its own process.
    let mut other = f.start_worker().unwrap();
    assert_eq!(
        other.call(&packet(&[("x", Datum::Int(0))])).unwrap(),
        vec![Datum::Int(1)]
    );
}

#[test]
fn an_error_line_fails_the_packet_with_its_message_and_the_process_goes_on() {
    let mut worker = CommandWorker::start(&misbehave()).unwrap();
    let err = fails_then_recovers(
        &mut worker,
        "error",
        "cannot handle mode error",
        Next::SameProcess,
    );
    assert_eq!(err.message, "cannot handle mode error");
    assert_eq!(err.stderr, None);
}

#[test]
fn malformed_answers_fail_the_packet() {
    let mut worker = CommandWorker::start(&misbehave()).unwrap();
    // Lines that cannot be told from stray output: the packet fails and, since the
    // conversation may be out of step, the process is replaced.
    let stray = [
        ("malformed", "not valid JSON"),
        ("not_object", "not a JSON object"),
        ("non_utf8", "not valid UTF-8"),
        ("missing", "lacks the output key(s) `value`"),
        ("extra", "unexpected key(s) `other`"),
    ];
    for (m, expected) in stray {
        fails_then_recovers(&mut worker, m, expected, Next::FreshProcess);
    }
    // The output keys with a wrong value: the line is the packet's answer, the
    // conversation is still in step, and the same process answers the next packet.
    let wrong = [
        ("wrong_type", "output `value`: expected int"),
        (
            "null",
            "output `value` is null but the field is not nullable",
        ),
    ];
    for (m, expected) in wrong {
        fails_then_recovers(&mut worker, m, expected, Next::SameProcess);
    }
}

#[test]
fn a_crash_fails_the_packet_and_the_next_call_gets_a_fresh_process() {
    let mut worker = CommandWorker::start(&misbehave()).unwrap();
    let first = mode(&mut worker, "pid").unwrap();
    assert_eq!(first, vec![Datum::Int(worker.pid().unwrap().into())]);

    let err = mode(&mut worker, "raise").unwrap_err();
    assert!(err.message.contains("exit status: 1"), "{}", err.message);
    assert!(err.message.contains("misbehave.py"), "{}", err.message);
    let stderr = err.stderr.expect("the traceback");
    assert!(
        stderr.contains("RuntimeError: exploded on purpose"),
        "{stderr}"
    );

    let second = mode(&mut worker, "pid").unwrap();
    assert_ne!(first, second, "a new process answers");
    assert_eq!(second, vec![Datum::Int(worker.pid().unwrap().into())]);
}

#[test]
fn a_non_zero_exit_reports_its_status_and_stderr() {
    let mut worker = CommandWorker::start(&misbehave()).unwrap();
    let err = fails_then_recovers(&mut worker, "exit3", "exit status: 3", Next::FreshProcess);
    assert_eq!(err.stderr.as_deref(), Some("exiting with status 3\n"));
}

#[cfg(unix)]
#[test]
fn a_killed_command_reports_the_signal() {
    let mut worker = CommandWorker::start(&misbehave()).unwrap();
    fails_then_recovers(&mut worker, "abort", "signal: 9", Next::FreshProcess);
}

#[test]
fn a_command_that_closes_its_output_without_exiting_is_killed() {
    let mut worker = CommandWorker::start(&misbehave()).unwrap();
    fails_then_recovers(&mut worker, "close_stdout", "killed", Next::FreshProcess);
}

#[test]
fn stderr_since_the_previous_call_is_kept_in_the_error() {
    let mut worker = CommandWorker::start(&misbehave()).unwrap();
    assert_eq!(mode(&mut worker, "noisy_ok").unwrap(), vec![Datum::Int(2)]);
    let err = mode(&mut worker, "stderr_error").unwrap_err();
    assert_eq!(err.message, "see stderr");
    assert_eq!(
        err.stderr.as_deref(),
        Some("something went wrong in the script\n"),
        "only what was written since the previous call"
    );
}

#[test]
fn stderr_in_an_error_is_truncated_to_its_tail() {
    let mut worker = CommandWorker::start(&misbehave()).unwrap();
    let err = mode(&mut worker, "stderr_flood").unwrap_err();
    let stderr = err.stderr.unwrap();
    assert!(stderr.len() <= 4096 + 8, "{} bytes", stderr.len());
    assert!(stderr.starts_with("[…]"), "{stderr}");
    assert!(stderr.ends_with("END-OF-STDERR\n"), "{stderr}");
    assert!(stderr.contains("flood line 1999"), "{stderr}");
    assert!(!stderr.contains("flood line 0000"), "{stderr}");
}

#[test]
fn an_over_long_line_fails_the_packet_and_restarts_the_command() {
    let f = misbehave().with_max_line_bytes(1024);
    let mut worker = CommandWorker::start(&f).unwrap();
    fails_then_recovers(
        &mut worker,
        "huge",
        "longer than 1024 bytes",
        Next::FreshProcess,
    );
}

#[test]
fn extra_lines_fail_the_packet_and_restart_the_command() {
    let mut worker = CommandWorker::start(&misbehave()).unwrap();
    fails_then_recovers(
        &mut worker,
        "two_lines",
        "more than one line",
        Next::FreshProcess,
    );
}

#[test]
fn a_missing_program_fails_to_start_naming_the_command_and_the_os_error() {
    let f = no_input(
        "ghost",
        vec!["orcapod-no-such-program-xyz".into(), "arg".into()],
        fixtures(),
    );
    let err = f.start_worker().err().expect("cannot start");
    assert!(
        err.message.contains("orcapod-no-such-program-xyz arg"),
        "{}",
        err.message
    );
    assert!(err.message.contains("ghost"), "{}", err.message);
    assert!(err.message.contains("os error"), "{}", err.message);
}

#[test]
fn a_missing_working_dir_fails_to_start() {
    let f = no_input(
        "nowhere",
        script("grade.py"),
        fixtures().join("no-such-dir"),
    );
    let err = f.start_worker().err().expect("cannot start");
    assert!(err.message.contains("no-such-dir"), "{}", err.message);
}

#[test]
fn an_empty_command_is_rejected_at_construction() {
    let err = CommandFunction::new("blank", vec![], fixtures(), vec![], vec![]).unwrap_err();
    assert!(err.to_string().contains("blank"), "{err}");
    let err = CommandFunction::new("f", vec![], ".", vec![], vec![]).unwrap_err();
    assert!(err.to_string().contains("`f`"), "{err}");
}

#[cfg(target_os = "linux")]
#[test]
fn dropping_a_worker_kills_and_reaps_its_process() {
    // After some work.
    let mut worker = CommandWorker::start(&misbehave()).unwrap();
    mode(&mut worker, "ok").unwrap();
    let pid = worker.pid().unwrap();
    assert!(process_exists(pid));
    drop(worker);
    assert!(!process_exists(pid), "process {pid} still exists");

    // Before any call, through the boxed trait object the runtime holds.
    let f = misbehave();
    let worker = CommandWorker::start(&f).unwrap();
    let pid = worker.pid().unwrap();
    let boxed: Box<dyn FunctionWorker> = Box::new(worker);
    drop(boxed);
    assert!(!process_exists(pid), "process {pid} still exists");
}

#[cfg(target_os = "linux")]
#[test]
fn dropping_a_worker_kills_a_hung_command() {
    // A call to a hung command blocks its worker, so the hang is a command that never
    // reads its input nor answers; dropping the worker must still end it.
    let f = no_input("sleeper", vec!["sleep".into(), "60".into()], fixtures());
    let worker = CommandWorker::start(&f).unwrap();
    let pid = worker.pid().unwrap();
    assert!(process_exists(pid));
    drop(worker);
    assert!(!process_exists(pid), "process {pid} still exists");
}

#[test]
fn a_command_that_exits_between_packets_is_restarted() {
    // The command exits at once: the first packet fails (it exited before answering), and
    // each later call starts it again and fails the same way, without hanging.
    let f = no_input(
        "quitter",
        vec!["python3".into(), "-c".into(), "pass".into()],
        fixtures(),
    );
    let mut worker = f.start_worker().unwrap();
    for _ in 0..3 {
        let err = worker.call(&[]).unwrap_err();
        assert!(
            err.message.contains("exit status: 0") || err.message.contains("stopped reading"),
            "{}",
            err.message
        );
    }
}
