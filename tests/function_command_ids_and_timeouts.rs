//! Command functions under `jsonl-id`, with timeouts, and with requests and answers
//! that stretch the pipes (long lines, non-finite floats), with commands written inline
//! (see `function_command_helpers`).

mod function_command_helpers;

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::datatypes::{DataType, Field};
use function_command_helpers::*;
use orcapod::function::command::{CommandWorker, Protocol};
use orcapod::function::FunctionWorker;
use orcapod::model::Datum;

#[test]
fn jsonl_id_pairs_answers_by_id_and_keeps_its_process() {
    let f = py_xy(
        "assert list(d)[0] == '$id' and isinstance(d['$id'], str)\n\
         out(json.dumps({'y': 2 * x, '$id': d['$id']}) + '\\n\\n')",
    )
    .with_protocol(Protocol::JsonlId);
    let mut worker = CommandWorker::start(&f).unwrap();
    let pid = worker.pid();
    for i in 0..5 {
        assert_eq!(y(&mut worker, i).unwrap(), 2 * i);
        assert!(worker.wants_settle());
        assert_eq!(worker.settle(), Ok(()));
    }
    assert_eq!(worker.pid(), pid, "the process lives on");
}

#[test]
fn jsonl_id_fails_a_packet_with_a_wrong_or_missing_id_and_restarts() {
    let f = py_xy(
        "i = str(int(d['$id']) + 1) if x == 2 else d['$id']\n\
         out(json.dumps({'y': 2 * x, '$id': i}) + '\\n')\n\
         if x == 4:\n    out(json.dumps({'y': 0}) + '\\n')",
    )
    .with_protocol(Protocol::JsonlId);
    let mut worker = CommandWorker::start(&f).unwrap();
    let pid = worker.pid();
    assert_eq!(y(&mut worker, 1).unwrap(), 2);
    let err = y(&mut worker, 2).unwrap_err();
    assert!(
        err.message
            .contains("`$id` is \"3\" where \"2\" was expected"),
        "{}",
        err.message
    );
    assert_ne!(worker.pid(), pid, "restarted");
    assert_eq!(y(&mut worker, 3).unwrap(), 6);
    // A stray line after an answer: that answer is certain, the next packet reads
    // the stray line and fails.
    assert_eq!(y(&mut worker, 4).unwrap(), 8);
    let err = y(&mut worker, 5).unwrap_err();
    assert!(err.message.contains("has no `$id`"), "{}", err.message);
    assert_eq!(y(&mut worker, 6).unwrap(), 12);
    assert_eq!(worker.settle(), Ok(()));
}

#[test]
fn a_packet_cannot_carry_the_id_key_under_jsonl_id() {
    let f = command(&["cat"], ints(&["$id"]), ints(&["y"])).with_protocol(Protocol::JsonlId);
    let mut worker = CommandWorker::start(&f).unwrap();
    let err = worker.call(&[("$id".into(), Datum::Int(1))]).unwrap_err();
    assert!(err.message.contains("column `$id`"), "{}", err.message);
}

#[test]
fn a_hanging_command_times_out_is_killed_and_replaced() {
    // A background child shares the command's process group: it goes too.
    let f = py_xy(
        "if x == 0:\n    import subprocess\n    \
         c = subprocess.Popen(['sleep', '60'])\n    \
         out(json.dumps({'y': c.pid}) + '\\n')\nelif x == 1:\n    time.sleep(60)\n\
         else:\n    out(json.dumps({'y': 2 * x}) + '\\n')",
    )
    .with_timeout(Some(Duration::from_secs(2)));
    let mut worker = CommandWorker::start(&f).unwrap();
    let pid = worker.pid().unwrap();
    let grandchild = y(&mut worker, 0).unwrap() as u32;
    let started = Instant::now();
    let err = y(&mut worker, 1).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        err.message
            .contains("within 2s (timeout: 2s); the command was killed"),
        "{}",
        err.message
    );
    // It had answered before: no buffering hint.
    assert!(!err.message.contains("--unbuffered"), "{}", err.message);
    assert!(dead(pid), "the command");
    assert!(
        wait_until_dead(grandchild, Duration::from_secs(2)),
        "its child"
    );
    // The next call has a new process.
    assert_eq!(y(&mut worker, 2).unwrap(), 4);
    assert_ne!(worker.pid(), Some(pid));
    // The answer of packet 0 could not be confirmed: free to compute again.
    assert!(worker.wants_settle());
    let err = worker.settle().unwrap_err();
    assert!(err.rerun, "{err:?}");
    assert!(err.message.contains("timed out"), "{}", err.message);
}

#[test]
fn a_command_that_answers_nothing_gets_the_buffering_hint() {
    // A shell script (quick to start, so that the fresh process of the last call
    // answers within the timeout even on a loaded machine) that hangs on packet 1.
    let f = command(
        &[
            "sh",
            "-c",
            r#"while read -r line; do
                 case "$line" in
                   *'"x":1}'*) sleep 60 ;;
                   *) echo '{"y": 4}' ;;
                 esac
               done"#,
        ],
        ints(&["x"]),
        ints(&["y"]),
    )
    .with_timeout(Some(Duration::from_millis(500)));
    let mut worker = CommandWorker::start(&f).unwrap();
    let started = Instant::now();
    let err = y(&mut worker, 1).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    for part in [
        "timeout: 500ms",
        "written nothing at all to stdout",
        "`jq --unbuffered`",
        "`stdbuf -oL CMD`",
        "`python3 -u`",
        "`print(..., flush=True)`",
    ] {
        assert!(err.message.contains(part), "{part}: {}", err.message);
    }
    // Nothing was provisional.
    assert_eq!(worker.settle(), Ok(()));
    // The next call has a fresh process.
    assert_eq!(y(&mut worker, 2).unwrap(), 4);
    assert_eq!(worker.settle(), Ok(()));
}

#[test]
fn block_buffered_tools_time_out_with_the_hint() {
    // awk and jq buffer their output when it is a pipe: the answer never comes.
    for argv in [
        &["awk", "{ print \"{\\\"y\\\": 1}\" }"][..],
        &["jq", "-c", "{y: .x}"][..],
    ] {
        let f = command(argv, ints(&["x"]), ints(&["y"]))
            .with_timeout(Some(Duration::from_millis(500)));
        let mut worker = CommandWorker::start(&f).unwrap();
        let started = Instant::now();
        let err = y(&mut worker, 1).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(3), "{argv:?}");
        assert!(
            err.message.contains("--unbuffered"),
            "{argv:?}: {}",
            err.message
        );
    }
    // Unbuffered, jq answers, and exits at the end of its input: settle proves it.
    let f = command(
        &["jq", "--unbuffered", "-c", "{y: (.x * 2)}"],
        ints(&["x"]),
        ints(&["y"]),
    )
    .with_timeout(Some(Duration::from_secs(5)));
    let mut worker = CommandWorker::start(&f).unwrap();
    for i in 0..3 {
        assert_eq!(y(&mut worker, i).unwrap(), 2 * i);
    }
    assert_eq!(worker.settle(), Ok(()));
}

#[test]
fn a_command_that_never_reads_its_input_cannot_block_the_worker() {
    // A request far larger than a pipe holds, to a command that never reads it.
    let f = command(
        &["sleep", "60"],
        vec![field("s", DataType::Utf8)],
        ints(&["y"]),
    )
    .with_timeout(Some(Duration::from_millis(500)));
    let mut worker = CommandWorker::start(&f).unwrap();
    let started = Instant::now();
    let err = worker
        .call(&[("s".into(), Datum::Str("x".repeat(4 << 20)))])
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(err.message.contains("timeout: 500ms"), "{}", err.message);
}

#[test]
fn long_requests_and_answers_cross_in_pieces() {
    let argv = python("out(json.dumps({'n': len(d['s']), 'echo': d['s']}) + '\\n')");
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let f = command(
        &argv,
        vec![field("s", DataType::Utf8)],
        vec![field("n", DataType::Int64), field("echo", DataType::Utf8)],
    )
    .with_timeout(Some(Duration::from_secs(20)));
    let mut worker = CommandWorker::start(&f).unwrap();
    let text: String = (0..3_000_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let out = worker
        .call(&[("s".into(), Datum::Str(text.clone()))])
        .unwrap();
    assert_eq!(out, vec![Datum::Int(3_000_000), Datum::Str(text)]);
    assert_eq!(worker.settle(), Ok(()));
}

#[test]
fn non_finite_floats_round_trip_through_python() {
    let float_list = DataType::LargeList(Arc::new(Field::new("item", DataType::Float64, true)));
    let argv = python(
        "out(json.dumps({'y': d['f'], 'r': repr(d['f']), 'ys': d['fs'], \
         'rs': [repr(v) for v in d['fs']]}) + '\\n')",
    );
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let f = command(
        &argv,
        vec![
            field("f", DataType::Float64),
            field("fs", float_list.clone()),
        ],
        vec![
            field("y", DataType::Float64),
            field("r", DataType::Utf8),
            field("ys", float_list),
            field(
                "rs",
                DataType::LargeList(Arc::new(Field::new("item", DataType::Utf8, true))),
            ),
        ],
    );
    let mut worker = CommandWorker::start(&f).unwrap();
    let specials = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        0.1,
        -0.0,
        12345.5,
    ];
    for v in specials {
        let list = Datum::List(specials.iter().map(|&s| Datum::Float(s)).collect());
        let out = worker
            .call(&[("f".into(), Datum::Float(v)), ("fs".into(), list)])
            .unwrap();
        let same = |a: &Datum, b: f64| match a {
            Datum::Float(a) => a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
            _ => false,
        };
        assert!(same(&out[0], v), "{v}: {:?}", out[0]);
        let python_repr = |v: f64| match v {
            v if v.is_nan() => "nan".to_string(),
            f64::INFINITY => "inf".into(),
            f64::NEG_INFINITY => "-inf".into(),
            v if v == 0.0 && v.is_sign_negative() => "-0.0".into(),
            v => format!("{v:?}"),
        };
        assert_eq!(
            out[1],
            Datum::Str(python_repr(v)),
            "Python read {v} as a float"
        );
        let Datum::List(ys) = &out[2] else { panic!() };
        assert!(ys.iter().zip(specials).all(|(a, b)| same(a, b)), "{ys:?}");
        let Datum::List(rs) = &out[3] else { panic!() };
        let expected: Vec<Datum> = specials
            .iter()
            .map(|&s| Datum::Str(python_repr(s)))
            .collect();
        assert_eq!(rs, &expected);
    }
    assert_eq!(worker.settle(), Ok(()));
}
