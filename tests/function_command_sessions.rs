//! Command functions under plain `jsonl`: sessions whose answers a settle proves, and
//! every way a command can break one (stray lines, two answers for one packet, a crash),
//! with commands written inline (see `function_command_helpers`).

mod function_command_helpers;

use std::time::{Duration, Instant};

use function_command_helpers::*;
use orcapod::function::command::{
    CommandFunction, CommandWorker, Protocol, DEFAULT_MAX_LINE_BYTES, SESSION_LENGTH, SETTLE_GRACE,
};
use orcapod::function::{FunctionWorker, PacketFunction};

#[test]
fn builders_copy_on_write() {
    let f = CommandFunction::new("f", vec!["true".into()], ".", vec![], vec![]).unwrap();
    let g = f
        .clone()
        .with_version("v2.1")
        .with_max_line_bytes(10)
        .with_protocol(Protocol::JsonlId)
        .with_timeout(Some(Duration::from_secs(3)));
    assert_eq!(f.version(), "v0.0");
    assert_eq!(g.version(), "v2.1");
    assert_eq!(g.max_line_bytes(), 10);
    assert_eq!(f.max_line_bytes(), DEFAULT_MAX_LINE_BYTES);
    assert_eq!((f.protocol(), f.timeout()), (Protocol::Jsonl, None));
    assert_eq!(
        (g.protocol(), g.timeout()),
        (Protocol::JsonlId, Some(Duration::from_secs(3)))
    );
}

#[test]
fn blank_lines_after_answers_are_ignored_and_settle_proves_the_answers() {
    // The common idiom: print(json.dumps(answer) + "\n") writes a blank line after
    // each answer. Whitespace-only lines are blank too.
    let f = py_xy("print(json.dumps({'y': 2 * x}) + '\\n' + ' \\t\\r\\n', flush=True)");
    let mut worker = CommandWorker::start(&f).unwrap();
    let first = worker.pid();
    for i in 0..6 {
        assert_eq!(y(&mut worker, i).unwrap(), 2 * i, "packet {i}");
    }
    assert!(!worker.wants_settle());
    assert_eq!(worker.settle(), Ok(()));
    // The session is over: the next call has a fresh process, and answers again.
    assert_eq!(y(&mut worker, 10).unwrap(), 20);
    assert_ne!(worker.pid(), first);
    assert_eq!(worker.settle(), Ok(()));
    // A settle without answers since the previous one keeps the fresh process.
    worker.settle().unwrap();
    let fresh = worker.call(&x(1)).map(|_| worker.pid()).unwrap();
    worker.settle().unwrap();
    assert_eq!(worker.settle(), Ok(()));
    assert!(fresh.is_some());
}

#[test]
fn a_stray_json_line_before_an_answer_fails_the_packet_and_the_session() {
    let f = py_xy(
        "if x == 2:\n    out(json.dumps({'debug': 'about to answer'}) + '\\n')\n\
         out(json.dumps({'y': 2 * x}) + '\\n')",
    );
    let mut worker = CommandWorker::start(&f).unwrap();
    assert_eq!(y(&mut worker, 1).unwrap(), 2);
    let err = y(&mut worker, 2).unwrap_err();
    for part in [
        r#"{"debug": "about to answer"}"#,
        "not an answer",
        "stdout must carry only answers, one line per packet",
        "debug output to stderr",
        "jsonl-id",
    ] {
        assert!(err.message.contains(part), "{part}: {}", err.message);
    }
    assert!(!err.rerun);
    assert!(worker.wants_settle());
    // A driver that goes on without settling gets a right answer from a fresh
    // process, but the settle fails every answer since the previous settle.
    assert_eq!(y(&mut worker, 3).unwrap(), 6);
    let err = worker.settle().unwrap_err();
    assert!(err.message.contains("withdrawn"), "{}", err.message);
    assert!(err.message.contains("about to answer"), "{}", err.message);
    assert!(!err.rerun);
    assert!(!worker.wants_settle());
    // The next session is clean.
    assert_eq!(y(&mut worker, 4).unwrap(), 8);
    assert_eq!(worker.settle(), Ok(()));
}

#[test]
fn a_stray_line_after_an_answer_fails_the_session() {
    // Written with the answer (so already there when the answer is read) or a
    // moment later (so only seen before the next request or at settle).
    for writes in [
        "out(json.dumps({'y': 2 * x}) + '\\n' + json.dumps({'debug': x}) + '\\n')",
        "out(json.dumps({'y': 2 * x}) + '\\n')\ntime.sleep(0.1)\n\
         out(json.dumps({'debug': x}) + '\\n')",
    ] {
        let f = py_xy_except_two(writes);
        let mut worker = CommandWorker::start(&f).unwrap();
        let answers: Vec<_> = (1..=3).map(|i| (i, y(&mut worker, i))).collect();
        for (i, answer) in &answers {
            if let Ok(value) = answer {
                assert_eq!(*value, 2 * i, "{writes}");
            }
        }
        assert!(
            answers.iter().any(|(_, a)| a.is_err()),
            "{writes}: {answers:?}"
        );
        let err = worker.settle().unwrap_err();
        assert!(err.message.contains(r#"{"debug": 2}"#), "{}", err.message);
        assert!(!err.rerun);
    }
    // At the end of a session, seen only by settle.
    let f = py_xy(
        "out(json.dumps({'y': 2 * x}) + '\\n')\nif x == 2:\n    time.sleep(0.1)\n    \
         out('debug: done\\n')",
    );
    let mut worker = CommandWorker::start(&f).unwrap();
    assert_eq!(y(&mut worker, 1).unwrap(), 2);
    assert_eq!(y(&mut worker, 2).unwrap(), 4);
    let err = worker.settle().unwrap_err();
    assert!(
        err.message.contains("after its last answer: `debug: done`"),
        "{}",
        err.message
    );
}

#[test]
fn two_answers_for_one_packet_never_settle_whatever_the_timing() {
    // Packet 2 is answered twice: in one write, or in two writes apart, so that the
    // second may be read as the answer to packet 3 (and so on): settle must fail.
    for writes in [
        "out(json.dumps({'y': 2 * x}) + '\\n' + json.dumps({'y': 2 * x}) + '\\n')",
        "out(json.dumps({'y': 2 * x}) + '\\n')\ntime.sleep(0.2)\n\
         out(json.dumps({'y': 2 * x}) + '\\n')",
    ] {
        let f = py_xy_except_two(writes);
        for pause in [Duration::ZERO, Duration::from_millis(300)] {
            let mut worker = CommandWorker::start(&f).unwrap();
            let mut wrong = 0;
            for i in 1..=5 {
                if let Ok(value) = y(&mut worker, i) {
                    wrong += usize::from(value != 2 * i);
                }
                if i == 2 {
                    std::thread::sleep(pause);
                }
            }
            let err = worker.settle().unwrap_err();
            assert!(
                err.message.contains("withdrawn") && err.message.contains("{\"y\": "),
                "{writes}, {pause:?} ({wrong} wrong): {}",
                err.message
            );
        }
    }
}

#[test]
fn a_value_of_the_wrong_type_fails_only_its_packet() {
    let f = py_xy("out(json.dumps({'y': 'two' if x == 2 else 2 * x}) + '\\n')");
    let mut worker = CommandWorker::start(&f).unwrap();
    let pid = worker.pid();
    assert_eq!(y(&mut worker, 1).unwrap(), 2);
    let err = y(&mut worker, 2).unwrap_err();
    assert!(
        err.message.contains("output `y`: expected int"),
        "{}",
        err.message
    );
    assert_eq!(y(&mut worker, 3).unwrap(), 6);
    assert_eq!(worker.pid(), pid);
    assert_eq!(worker.settle(), Ok(()));
}

#[test]
fn a_crash_fails_its_packet_and_its_stdout_proves_the_earlier_answers() {
    let f = py_xy(
        "if x == 2:\n    sys.stderr.write('giving up\\n')\n    sys.exit(3)\n\
         out(json.dumps({'y': 2 * x}) + '\\n')",
    );
    let mut worker = CommandWorker::start(&f).unwrap();
    assert_eq!(y(&mut worker, 1).unwrap(), 2);
    let err = y(&mut worker, 2).unwrap_err();
    assert!(err.message.contains("exit status: 3"), "{}", err.message);
    assert_eq!(err.stderr.as_deref(), Some("giving up\n"));
    assert_eq!(y(&mut worker, 3).unwrap(), 6);
    // The crashed process's stdout ended after one line per request: proven.
    assert_eq!(worker.settle(), Ok(()));
}

#[test]
fn a_command_may_exit_with_a_failure_after_answering() {
    let f = sh_xy("read line; echo '{\"y\": 7}'; exit 4");
    let mut worker = CommandWorker::start(&f).unwrap();
    assert_eq!(y(&mut worker, 1).unwrap(), 7);
    assert_eq!(worker.settle(), Ok(()));
}

#[test]
fn settle_kills_a_command_that_ignores_the_end_of_its_input() {
    let f = sh_xy("read line; echo '{\"y\": 7}'; exec sleep 60");
    let mut worker = CommandWorker::start(&f).unwrap();
    let pid = worker.pid().unwrap();
    assert_eq!(y(&mut worker, 1).unwrap(), 7);
    let started = Instant::now();
    assert_eq!(worker.settle(), Ok(()));
    let waited = started.elapsed();
    assert!(waited >= SETTLE_GRACE && waited < SETTLE_GRACE + Duration::from_secs(3));
    assert!(dead(pid));
}

#[test]
fn a_session_asks_to_be_settled_after_a_while() {
    let f = py_xy("out(json.dumps({'y': 2 * x}) + '\\n')");
    let mut worker = CommandWorker::start(&f).unwrap();
    assert!(!worker.wants_settle(), "nothing to settle");
    assert_eq!(y(&mut worker, 1).unwrap(), 2);
    assert!(!worker.wants_settle());
    std::thread::sleep(SESSION_LENGTH + Duration::from_millis(50));
    assert!(worker.wants_settle());
    assert_eq!(worker.settle(), Ok(()));
    assert!(!worker.wants_settle());
}
