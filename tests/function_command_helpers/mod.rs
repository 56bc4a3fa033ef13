//! Helpers of the command-function tests (`tests/function_command_*.rs`): small
//! commands written inline (Python loops, shell scripts), packets of one integer, and
//! checks that a process is gone.

#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::datatypes::{DataType, Field, FieldRef};
use orcapod::function::command::{CommandFunction, CommandWorker};
use orcapod::function::{FunctionError, FunctionWorker};
use orcapod::model::Datum;

pub fn field(name: &str, data_type: DataType) -> FieldRef {
    Arc::new(Field::new(name, data_type, false))
}

pub fn ints(names: &[&str]) -> Vec<FieldRef> {
    names.iter().map(|n| field(n, DataType::Int64)).collect()
}

/// A command function running `argv` in the temporary directory.
pub fn command<S: AsRef<str>>(
    argv: &[S],
    input: Vec<FieldRef>,
    output: Vec<FieldRef>,
) -> CommandFunction {
    CommandFunction::new(
        "test",
        argv.iter().map(|a| a.as_ref().to_string()).collect(),
        std::env::temp_dir(),
        input,
        output,
    )
    .unwrap()
}

/// `text` with each line indented by four spaces (a block of Python).
pub fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A Python loop over request lines: `body` computes `answer` from `d` and `x`
/// (= `d["x"]`) and may write with `out` (write and flush).
pub fn python(body: &str) -> Vec<String> {
    let script = format!(
        "import json, os, sys, time\n\
         def out(text):\n    sys.stdout.write(text)\n    sys.stdout.flush()\n\
         while True:\n    line = sys.stdin.readline()\n    if not line:\n        break\n    \
         d = json.loads(line)\n    x = d.get('x')\n{}\n",
        indent(body)
    );
    vec!["python3".into(), "-c".into(), script]
}

/// `{x: int} -> {y: int}` computed by a Python loop (see [`python`]).
pub fn py_xy(body: &str) -> CommandFunction {
    command(&python(body), ints(&["x"]), ints(&["y"]))
}

/// `{x: int} -> {y: int}` answering `2 * x`, except for packet 2, where it runs
/// `writes` (Python, with `out`).
pub fn py_xy_except_two(writes: &str) -> CommandFunction {
    py_xy(&format!(
        "if x == 2:\n{}\nelse:\n    out(json.dumps({{'y': 2 * x}}) + '\\n')",
        indent(writes)
    ))
}

/// `{x: int} -> {y: int}` computed by the shell script `script`.
pub fn sh_xy(script: &str) -> CommandFunction {
    command(&["sh", "-c", script], ints(&["x"]), ints(&["y"]))
}

pub fn x(value: i64) -> Vec<(String, Datum)> {
    vec![("x".to_string(), Datum::Int(value))]
}

pub fn y(worker: &mut CommandWorker, value: i64) -> Result<i64, FunctionError> {
    worker.call(&x(value)).map(|out| match out[..] {
        [Datum::Int(y)] => y,
        ref other => panic!("{other:?}"),
    })
}

/// Whether a process is gone (a zombie counts as gone: it is dead, and this test
/// process may not be the one to reap it).
pub fn dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

pub fn wait_until_dead(pid: u32, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if dead(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    dead(pid)
}

/// The environment variable that tells a test it runs alone in a child process.
const MODE: &str = "ORCAPOD_COMMAND_TEST_MODE";

/// Runs the test `name` alone in a child process of this test binary, with `mode`
/// in the environment; returns the child (its stdout piped).
pub fn run_alone(name: &str, mode: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--test-threads=1", "--nocapture"])
        .env(MODE, mode)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The mode [`run_alone`] gave this process, if any.
pub fn mode() -> Option<String> {
    std::env::var(MODE).ok()
}
