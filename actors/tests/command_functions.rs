//! End-to-end tests of the command-function boundary: the built `orcapod` binary runs
//! pipeline files in temporary directories with real scripts (Python, sh, awk, jq) from
//! `tests/scripts/`, and the tests check what is stored and written, the exit codes and
//! the messages.
//!
//! Each test fails if its defect returns:
//! - an extra line on stdout (a blank line, a JSON debug line before or after the answer,
//!   an answer written twice) pairs answers with the wrong packets, stores them, and a
//!   re-run after fixing the script serves them from the cache;
//! - `protocol: jsonl-id` does not pair by id;
//! - a command that never answers (it hangs, or block-buffers its output) hangs the run
//!   instead of failing after `timeout`;
//! - NaN and infinities change on their way to or from the command;
//! - `retries` does not recover a flaky command;
//! - a huge `max_concurrency` aborts the process instead of being refused.
//!
//! Every run of the binary has a watchdog: a run still going after [`WATCHDOG`] is killed
//! and the test fails, so a hang fails the test instead of hanging the suite.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Seek};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};

/// A run of the binary still going after this long is killed and fails its test.
const WATCHDOG: Duration = Duration::from_secs(60);

/// A run that must "end within a few seconds" ends within this (generous, for a loaded
/// two-core machine).
const PROMPTLY: Duration = Duration::from_secs(30);

/// The packets of `data/xs.csv`.
const PACKETS: usize = 30;

/// The packets of `data/few.csv`.
const FEW: usize = 3;

// ---------------------------------------------------------------------------------------
// Running the binary

/// What one run of the binary did.
struct Outcome {
    args: String,
    code: Option<i32>,
    signal: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Outcome {
    /// The exit, stdout and stderr, for assertion messages.
    fn describe(&self) -> String {
        let exit = match (self.code, self.signal) {
            (Some(code), _) => format!("exit code {code}"),
            (None, Some(signal)) => format!("killed by signal {signal}"),
            (None, None) => "no exit status".into(),
        };
        format!(
            "`orcapod {}`: {exit} after {:.1}s\n--- stdout:\n{}\n--- stderr:\n{}",
            self.args,
            self.elapsed.as_secs_f64(),
            self.stdout,
            self.stderr
        )
    }

    /// Asserts the exit code (a signal is never accepted).
    fn expect_code(self, code: i32) -> Self {
        assert_eq!(
            self.code,
            Some(code),
            "expected exit code {code}: {}",
            self.describe()
        );
        self
    }

    /// Asserts the run took less than [`PROMPTLY`].
    fn expect_prompt(self) -> Self {
        assert!(
            self.elapsed < PROMPTLY,
            "expected the run to end within {PROMPTLY:?}: {}",
            self.describe()
        );
        self
    }
}

/// Runs the binary in `dir` with a watchdog. Its output goes to anonymous files, so no
/// pipe needs draining while the test waits.
fn orcapod(dir: &Path, args: &[&str]) -> Outcome {
    let mut stdout = tempfile::tempfile().unwrap();
    let mut stderr = tempfile::tempfile().unwrap();
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_orcapod"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(stdout.try_clone().unwrap())
        .stderr(stderr.try_clone().unwrap())
        .spawn()
        .expect("the orcapod binary starts");
    let (status, timed_out) = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break (status, false);
        }
        if started.elapsed() > WATCHDOG {
            let _ = child.kill();
            break (child.wait().unwrap(), true);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let read = |file: &mut std::fs::File| {
        let mut text = String::new();
        file.rewind().unwrap();
        file.read_to_string(&mut text).unwrap();
        text
    };
    let outcome = Outcome {
        args: args.join(" "),
        code: status.code(),
        signal: status.signal(),
        stdout: read(&mut stdout),
        stderr: read(&mut stderr),
        elapsed: started.elapsed(),
    };
    assert!(
        !timed_out,
        "the run hung: the watchdog killed it after {WATCHDOG:?}: {}",
        outcome.describe()
    );
    outcome
}

// ---------------------------------------------------------------------------------------
// A scratch directory with data, scripts and pipeline files

/// The directory of the test scripts.
fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts")
}

/// The Python interpreter, as a YAML string: `python3`'s own executable rather than
/// `python3` on `PATH`, which may be a slow wrapper (a pyenv shim costs a noticeable
/// fraction of a second at every start, and the tests start many processes).
fn python() -> &'static str {
    static PYTHON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PYTHON.get_or_init(|| {
        let out = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .expect("python3 is on PATH");
        assert!(out.status.success(), "python3 does not run: {out:?}");
        let path = String::from_utf8(out.stdout).unwrap().trim().to_string();
        assert!(!path.is_empty(), "python3 does not know its executable");
        serde_json::to_string(&path).unwrap()
    })
}

/// The packets of `data/xs.csv`: id → x (distinct, some negative, some multiples of 5).
fn xs() -> BTreeMap<String, i64> {
    (0..PACKETS as i64)
        .map(|i| (format!("p{i:02}"), 7 * i - 40))
        .collect()
}

/// The packets of `data/few.csv`.
fn few() -> BTreeMap<String, i64> {
    xs().into_iter().take(FEW).collect()
}

/// The right answer for a packet: every script computes `out = x * 10 + 1`.
fn answer(x: i64) -> i64 {
    x * 10 + 1
}

/// A temporary directory holding `data/xs.csv`, `data/few.csv` and `fns/`.
struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        std::fs::create_dir_all(dir.path().join("fns")).unwrap();
        let csv = |packets: BTreeMap<String, i64>| {
            let mut text = String::from("id,x\n");
            for (id, x) in packets {
                text.push_str(&format!("{id},{x}\n"));
            }
            text
        };
        let ws = Workspace { dir };
        ws.write("data/xs.csv", &csv(xs()));
        ws.write("data/few.csv", &csv(few()));
        ws
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, relative: &str, text: &str) {
        std::fs::write(self.path().join(relative), text).unwrap();
    }

    /// Copies `tests/scripts/<script>` to `fns/<name>` (overwriting it: how a user fixes
    /// a script).
    fn install(&self, script: &str, name: &str) {
        std::fs::copy(scripts().join(script), self.path().join("fns").join(name))
            .unwrap_or_else(|e| panic!("cannot copy tests/scripts/{script}: {e}"));
    }

    fn run(&self, args: &[&str]) -> Outcome {
        orcapod(self.path(), args)
    }

    /// Runs and asserts success.
    fn ok(&self, args: &[&str]) -> Outcome {
        self.run(args).expect_code(0)
    }

    /// The rows `orcapod show FILE NODE --format json` prints.
    fn shown(&self, file: &str, node: &str) -> Vec<Json> {
        let shown = self.ok(&["show", file, node, "--format", "json"]);
        rows_of(&shown.stdout, &format!("`orcapod show {file} {node}`"))
    }

    /// The rows `--out DIR --format json` wrote for `node`.
    fn written(&self, out: &str, node: &str) -> Vec<Json> {
        let path = self.path().join(out).join(format!("{node}.json"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        rows_of(&text, &path.display().to_string())
    }
}

/// A pipeline file reading `data/<csv>.csv` (tags `[id]`, packet `{x: int}`) into one
/// function node `g` that runs `command` and answers `{out: int}`. `top` holds extra
/// top-level lines (e.g. `on_error: continue\n`), `node` extra lines of `g` (indented
/// four spaces).
fn pipeline(csv: &str, top: &str, command: &str, node: &str) -> String {
    format!(
        "pipeline: fx\n{top}sources:\n  s: {{csv: data/{csv}.csv, tags: [id]}}\nnodes:\n  \
         g:\n    op: function\n    input: s\n    command: {command}\n    \
         output_keys: [out]\n    output_types: {{out: int}}\n{node}"
    )
}

// ---------------------------------------------------------------------------------------
// Checking results and reports

/// The `rows` of a JSON document as `--out` and `show --format json` write it.
fn rows_of(text: &str, what: &str) -> Vec<Json> {
    let doc: Json =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{what}: not JSON ({e}):\n{text}"));
    doc["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: no `rows`:\n{text}"))
        .clone()
}

/// Asserts that every row carries the right answer for its packet (of `packets`) and
/// that no packet has two rows; returns the number of rows.
fn assert_right_answers(rows: &[Json], packets: &BTreeMap<String, i64>, what: &str) -> usize {
    let mut seen = BTreeSet::new();
    for row in rows {
        let id = row["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: a row without an id: {row}"));
        assert!(seen.insert(id), "{what}: packet {id} has two rows");
        let x = *packets
            .get(id)
            .unwrap_or_else(|| panic!("{what}: a row for an unknown packet: {row}"));
        assert_eq!(
            row["out"],
            json!(answer(x)),
            "{what}: WRONG ANSWER for packet {id} (x = {x}, right answer {}): {row}",
            answer(x)
        );
    }
    rows.len()
}

/// The cells of `node`'s line in a table printed by the binary (the summary on stderr,
/// or `status`), keyed by the column names of the table's header line (`node kind rows
/// …`), so the tests do not depend on the order of the columns.
fn table_row(text: &str, node: &str) -> BTreeMap<String, String> {
    let mut lines = text.lines();
    let header = lines
        .by_ref()
        .find(|l| {
            l.split_whitespace().next() == Some("node") && l.split_whitespace().any(|c| c == "rows")
        })
        .unwrap_or_else(|| panic!("no table (a `node … rows …` header) in:\n{text}"));
    let line = lines
        .find(|l| l.split_whitespace().next() == Some(node))
        .unwrap_or_else(|| panic!("no line for node `{node}` in the table of:\n{text}"));
    header
        .split_whitespace()
        .zip(line.split_whitespace())
        .map(|(name, cell)| (name.to_string(), cell.to_string()))
        .collect()
}

/// A numeric cell of a [`table_row`]; `column` may be the start of the column's name
/// (`retr` finds `retried` or `retries`).
fn cell(row: &BTreeMap<String, String>, column: &str) -> u64 {
    let (_, value) = row
        .iter()
        .find(|(name, _)| name.starts_with(column))
        .unwrap_or_else(|| panic!("no column `{column}…` in {row:?}"));
    value
        .parse()
        .unwrap_or_else(|_| panic!("column `{column}…` is not a count in {row:?}"))
}

/// Asserts that a failure message says that stdout must carry only answers and that
/// debug output belongs on stderr.
fn assert_names_the_stdout_rule(text: &str, what: &str) {
    let lower = text.to_lowercase();
    assert!(
        lower.contains("stdout")
            && (lower.contains("only answers") || lower.contains("answers only"))
            && lower.contains("stderr"),
        "{what}: the message must say that stdout carries only answers (debug output going \
         to stderr):\n{text}"
    );
}

/// Asserts that a failure message names the timeout.
fn assert_names_the_timeout(text: &str, what: &str) {
    assert!(
        text.to_lowercase().contains("timeout"),
        "{what}: the message must name the timeout:\n{text}"
    );
}

/// Asserts that a failure message hints at output buffering and how to turn it off.
fn assert_hints_at_buffering(text: &str, what: &str) {
    assert!(
        text.to_lowercase().contains("buffer")
            && (text.contains("--unbuffered") || text.contains("stdbuf")),
        "{what}: the message must hint at output buffering (`jq --unbuffered`, `stdbuf -oL`, \
         …):\n{text}"
    );
}

// ---------------------------------------------------------------------------------------
// Extra lines on stdout never pair an answer with the wrong packet

/// A script that writes only correct answers, plus blank lines: the run succeeds and
/// every packet has its right answer, in `--out` and in `show`.
fn blank_lines_are_ignored(command: &str, script: &str) {
    for mode in ["actors", "sync"] {
        let ws = Workspace::new();
        ws.install(script, script);
        ws.write("p.yaml", &pipeline("xs", "", command, ""));
        let run = ws.ok(&[
            "run", "p.yaml", "--mode", mode, "--out", "out", "--format", "json",
        ]);
        let what = format!("{script} in {mode} mode");
        let summary = table_row(&run.stderr, "g");
        assert_eq!(cell(&summary, "failed"), 0, "{what}: {}", run.describe());
        assert_eq!(cell(&summary, "computed"), PACKETS as u64, "{what}");
        let rows = ws.written("out", "g");
        assert_eq!(assert_right_answers(&rows, &xs(), &what), PACKETS, "{what}");
        let rows = ws.shown("p.yaml", "g");
        assert_eq!(assert_right_answers(&rows, &xs(), &what), PACKETS, "{what}");
    }
}

#[test]
fn a_blank_line_after_each_answer_is_ignored_python() {
    blank_lines_are_ignored(
        &format!("[{}, fns/blank_line.py]", python()),
        "blank_line.py",
    );
}

#[test]
fn a_blank_line_after_each_answer_is_ignored_sh() {
    blank_lines_are_ignored("[sh, fns/blank_line.sh]", "blank_line.sh");
}

/// A script that writes lines besides its answers (`tests/scripts/<script>` run with
/// `args`), in each of `modes`, under `on_error: continue` and `on_error: fail`:
/// - no wrong answer is ever stored (`show`) or written (`--out`);
/// - the failures are reported (exit 0 and counted under continue, exit 1 under fail)
///   with a message saying that stdout must carry only answers;
/// - once the script is fixed (overwritten with a correct one), a re-run gives every
///   packet its right answer: no wrong answer was cached.
fn extra_lines_never_store_a_wrong_answer(script: &str, args: &str, modes: &[&str]) {
    let command = format!("[{}, fns/f.py{args}]", python());
    for &mode in modes {
        for policy in ["continue", "fail"] {
            let what = format!("{script}{args} in {mode} mode under on_error: {policy}");
            let ws = Workspace::new();
            ws.install(script, "f.py");
            let top = format!("on_error: {policy}\n");
            ws.write("p.yaml", &pipeline("xs", &top, &command, ""));
            let run = ws.run(&["run", "p.yaml", "--mode", mode, "--out", "out"]);
            if policy == "continue" {
                let run = run.expect_code(0);
                let summary = table_row(&run.stderr, "g");
                let (rows, failed) = (cell(&summary, "rows"), cell(&summary, "failed"));
                assert!(
                    failed > 0,
                    "{what}: no failure reported: {}",
                    run.describe()
                );
                assert_eq!(
                    rows + failed,
                    PACKETS as u64,
                    "{what}: every packet either has an answer or failed: {}",
                    run.describe()
                );
                let written = ws.written("out", "g");
                assert_eq!(
                    assert_right_answers(&written, &xs(), &format!("{what}: --out")) as u64,
                    rows,
                    "{what}"
                );
                let status = ws.ok(&["status", "p.yaml"]);
                assert_names_the_stdout_rule(&status.stdout, &format!("{what}: status"));
            } else {
                let run = run.expect_code(1);
                assert!(
                    run.stderr.contains("p.yaml") && run.stderr.contains("`g`"),
                    "{what}: the message names the file and the node: {}",
                    run.describe()
                );
                assert_names_the_stdout_rule(&run.stderr, &what);
            }
            let stored = ws.shown("p.yaml", "g");
            assert_right_answers(&stored, &xs(), &format!("{what}: show"));

            // Fixed: every packet gets its right answer, none from a wrong cache.
            ws.install("answer.py", "f.py");
            let run = ws.ok(&["run", "p.yaml", "--mode", mode, "--out", "fixed"]);
            let summary = table_row(&run.stderr, "g");
            assert_eq!(cell(&summary, "failed"), 0, "{what}: {}", run.describe());
            let what = format!("{what}, then fixed");
            let written = ws.written("fixed", "g");
            assert_eq!(
                assert_right_answers(&written, &xs(), &format!("{what}: --out")),
                PACKETS,
                "{what}"
            );
            let stored = ws.shown("p.yaml", "g");
            assert_eq!(
                assert_right_answers(&stored, &xs(), &format!("{what}: show")),
                PACKETS,
                "{what}"
            );
        }
    }
}

// Where the worker pairs answers is the same in both modes; what is stored after a
// failure is the driver's business, which differs between the modes: two of the cases
// run in both, the others on actors only, to keep the file fast.

#[test]
fn a_json_debug_line_before_the_answer_never_stores_a_wrong_answer() {
    extra_lines_never_store_a_wrong_answer("debug_line.py", ", before", &["actors"]);
}

#[test]
fn a_json_debug_line_after_the_answer_never_stores_a_wrong_answer() {
    extra_lines_never_store_a_wrong_answer("debug_line.py", ", after", &["actors", "sync"]);
}

#[test]
fn two_answers_per_packet_never_store_a_wrong_answer() {
    extra_lines_never_store_a_wrong_answer("twice.py", ", two-writes", &["actors", "sync"]);
}

#[test]
fn two_answers_per_packet_in_one_write_never_store_a_wrong_answer() {
    extra_lines_never_store_a_wrong_answer("twice.py", ", one-write", &["actors"]);
}

#[test]
fn two_answers_per_packet_with_a_pause_never_store_a_wrong_answer() {
    extra_lines_never_store_a_wrong_answer("twice.py", ", sleep", &["actors"]);
}

// ---------------------------------------------------------------------------------------
// protocol: jsonl-id

#[test]
fn jsonl_id_pairs_answers_by_their_id_and_fails_a_wrong_id() {
    let command = &format!("[{}, fns/id.py, wrong-id-when-x-mod-5]", python());
    let wrong: BTreeSet<String> = xs()
        .into_iter()
        .filter(|(_, x)| x.rem_euclid(5) == 0)
        .map(|(id, _)| id)
        .collect();
    assert!(!wrong.is_empty() && wrong.len() < PACKETS);
    for mode in ["actors", "sync"] {
        // A script that echoes `$id`: every answer right.
        let ws = Workspace::new();
        ws.install("echo_id.py", "id.py");
        ws.write(
            "right.yaml",
            &pipeline(
                "xs",
                "",
                &format!("[{}, fns/id.py]", python()),
                "    protocol: jsonl-id\n",
            ),
        );
        let run = ws.ok(&["run", "right.yaml", "--mode", mode, "--out", "out"]);
        let what = format!("jsonl-id in {mode} mode");
        assert_eq!(cell(&table_row(&run.stderr, "g"), "failed"), 0, "{what}");
        let rows = ws.written("out", "g");
        assert_eq!(assert_right_answers(&rows, &xs(), &what), PACKETS, "{what}");
        let rows = ws.shown("right.yaml", "g");
        assert_eq!(assert_right_answers(&rows, &xs(), &what), PACKETS, "{what}");

        // A wrong id fails exactly the packets it answers.
        let what = format!("jsonl-id with wrong ids in {mode} mode");
        let ws = Workspace::new();
        ws.install("echo_id.py", "id.py");
        let node = "    protocol: jsonl-id\n";
        ws.write(
            "continue.yaml",
            &pipeline("xs", "on_error: continue\n", command, node),
        );
        let run = ws
            .run(&["run", "continue.yaml", "--mode", mode, "--out", "out"])
            .expect_code(0);
        let summary = table_row(&run.stderr, "g");
        assert_eq!(
            (cell(&summary, "rows"), cell(&summary, "failed")),
            ((PACKETS - wrong.len()) as u64, wrong.len() as u64),
            "{what}: {}",
            run.describe()
        );
        let rows = ws.written("out", "g");
        assert_right_answers(&rows, &xs(), &what);
        let answered: BTreeSet<String> = rows
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect();
        assert!(answered.is_disjoint(&wrong), "{what}: {answered:?}");
        let status = ws.ok(&["status", "continue.yaml"]);
        assert!(
            status.stdout.contains("$id"),
            "{what}: the failures name `$id`:\n{}",
            status.stdout
        );
        let rows = ws.shown("continue.yaml", "g");
        assert_right_answers(&rows, &xs(), &what);

        ws.write("fail.yaml", &pipeline("xs", "", command, node));
        let run = ws
            .run(&["run", "fail.yaml", "--mode", mode, "--db", "db-fail"])
            .expect_code(1);
        assert!(
            run.stderr.contains("$id") && run.stderr.contains("`g`"),
            "{what}: {}",
            run.describe()
        );
    }
}

// ---------------------------------------------------------------------------------------
// Bounded time

/// `tests/scripts/hang.py <how>` never answers: under a one-second timeout the run ends
/// promptly, failing (exit 1, the message naming the timeout) or, under continue,
/// skipping every packet (exit 0).
fn a_command_that_never_answers_times_out(how: &str, modes: &[&str]) {
    let command = format!("[{}, fns/hang.py, {how}]", python());
    for &mode in modes {
        let what = format!("hang.py {how} in {mode} mode");
        let ws = Workspace::new();
        ws.install("hang.py", "hang.py");
        // The node's own timeout, under the default policy (fail).
        ws.write(
            "fail.yaml",
            &pipeline("few", "", &command, "    timeout: 1\n"),
        );
        let run = ws
            .run(&["run", "fail.yaml", "--mode", mode, "--db", "db-fail"])
            .expect_prompt()
            .expect_code(1);
        assert!(
            run.stderr.contains("fail.yaml") && run.stderr.contains("`g`"),
            "{what}: the message names the file and the node: {}",
            run.describe()
        );
        assert_names_the_timeout(&run.stderr, &what);

        // The pipeline-wide default, under continue: every packet fails, the run goes on.
        let top = "on_error: continue\ndefaults: {timeout: 1, max_concurrency: 3}\n";
        ws.write("continue.yaml", &pipeline("few", top, &command, ""));
        let run = ws
            .run(&["run", "continue.yaml", "--mode", mode, "--out", "out"])
            .expect_prompt()
            .expect_code(0);
        let summary = table_row(&run.stderr, "g");
        assert_eq!(
            (cell(&summary, "rows"), cell(&summary, "failed")),
            (0, FEW as u64),
            "{what}: {}",
            run.describe()
        );
        assert!(ws.written("out", "g").is_empty(), "{what}");
        let status = ws.ok(&["status", "continue.yaml"]);
        assert_names_the_timeout(&status.stdout, &format!("{what}: status"));
    }
}

#[test]
fn a_command_that_sleeps_after_reading_a_packet_times_out() {
    a_command_that_never_answers_times_out("line", &["actors", "sync"]);
}

#[test]
fn a_command_that_reads_until_end_of_input_times_out() {
    a_command_that_never_answers_times_out("eof", &["actors"]);
}

/// A correct command whose output is block-buffered on a pipe never answers in time:
/// under `timeout: 1` the run ends promptly with a message naming the timeout and hinting
/// at the buffering.
fn a_block_buffered_command_times_out_with_a_hint(command: &str, what: &str) -> Workspace {
    let ws = Workspace::new();
    ws.install("answer.awk", "answer.awk");
    ws.write("p.yaml", &pipeline("few", "", command, "    timeout: 1\n"));
    let run = ws
        .run(&["run", "p.yaml", "--db", "db-buffered"])
        .expect_prompt()
        .expect_code(1);
    assert_names_the_timeout(&run.stderr, what);
    assert_hints_at_buffering(&run.stderr, what);
    ws
}

#[test]
fn awk_without_flushing_times_out_with_a_buffering_hint() {
    a_block_buffered_command_times_out_with_a_hint("[awk, -f, fns/answer.awk]", "awk");
}

#[test]
fn jq_without_unbuffered_times_out_with_a_buffering_hint() {
    if which("jq").is_none() {
        // No jq here: the same defect through awk, which block-buffers on a pipe too.
        eprintln!("jq is not installed: testing block-buffered output with awk instead");
        a_block_buffered_command_times_out_with_a_hint(
            "[awk, -f, fns/answer.awk]",
            "awk (jq is not installed)",
        );
        return;
    }
    let ws = a_block_buffered_command_times_out_with_a_hint(
        r#"[jq, -c, "{out: (.x * 10 + 1)}"]"#,
        "jq -c",
    );
    // The hint works: with `--unbuffered` the same filter answers every packet.
    ws.write(
        "p.yaml",
        &pipeline(
            "few",
            "",
            r#"[jq, --unbuffered, -c, "{out: (.x * 10 + 1)}"]"#,
            "    timeout: 1\n",
        ),
    );
    ws.ok(&["run", "p.yaml", "--out", "out"]);
    let rows = ws.written("out", "g");
    assert_eq!(assert_right_answers(&rows, &few(), "jq --unbuffered"), FEW);
}

/// The path of `program` on `PATH`.
fn which(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

// ---------------------------------------------------------------------------------------
// Faithful values

#[test]
fn nan_and_infinities_cross_the_boundary_both_ways() {
    // The CSV reader reads `inf` and `-inf` as floats (and `nan` as null, as pyarrow
    // does), so the NaN comes from the first function.
    let ws = Workspace::new();
    ws.install("nonfinite.py", "nonfinite.py");
    ws.write(
        "data/v.csv",
        "id,k,v\na,0,inf\nb,1,-inf\nc,2,2.5\nd,3,-0.5\n",
    );
    let python = python();
    ws.write(
        "p.yaml",
        &format!(
            "pipeline: nonfinite\nsources:\n  s: {{csv: data/v.csv, tags: [id]}}\nnodes:\n  \
             make:\n    op: function\n    input: s\n    \
             command: [{python}, fns/nonfinite.py, make]\n    \
             output_keys: [kk, w]\n    output_types: {{kk: int, w: float}}\n  \
             check:\n    op: function\n    input: make\n    \
             command: [{python}, fns/nonfinite.py, check]\n    \
             output_keys: [back]\n    output_types: {{back: float}}\noutputs: [make, check]\n"
        ),
    );
    let expected = [
        ("a", json!("inf")),
        ("b", json!("-inf")),
        ("c", json!("NaN")),
        ("d", json!(-0.5)),
    ];
    let assert_values = |rows: &[Json], column: &str, what: &str| {
        let values: Vec<(&str, Json)> = rows
            .iter()
            .map(|r| (r["id"].as_str().unwrap(), r[column].clone()))
            .collect();
        assert_eq!(values, expected, "{what}: `{column}`");
    };
    for mode in ["actors", "sync"] {
        let db = format!("db-{mode}");
        let out = format!("out-{mode}");
        let run = ws.ok(&["run", "p.yaml", "--mode", mode, "--db", &db, "--out", &out]);
        for node in ["make", "check"] {
            let summary = table_row(&run.stderr, node);
            assert_eq!(
                (cell(&summary, "rows"), cell(&summary, "failed")),
                (4, 0),
                "{node} in {mode} mode: {}",
                run.describe()
            );
        }
        assert_values(
            &ws.written(&out, "make"),
            "w",
            &format!("{mode}: --out make"),
        );
        assert_values(
            &ws.written(&out, "check"),
            "back",
            &format!("{mode}: --out check"),
        );
        let shown = ws.ok(&["show", "p.yaml", "check", "--db", &db, "--format", "json"]);
        assert_values(
            &rows_of(&shown.stdout, "show check"),
            "back",
            &format!("{mode}: show check"),
        );
    }
}

// ---------------------------------------------------------------------------------------
// Retries

#[test]
fn retries_recover_a_flaky_command() {
    let python = python();
    let node = |name: &str, how: &str, extra: &str| {
        format!(
            "  {name}:\n    op: function\n    input: s\n    \
             command: [{python}, fns/flaky.py, {how}, {name}]\n    output_keys: [out]\n    \
             output_types: {{out: int}}\n    max_concurrency: 3\n{extra}"
        )
    };
    let ws = Workspace::new();
    ws.install("flaky.py", "flaky.py");
    // Writes `name`: `top`, the source, and one node per (name, how, extra).
    let write = |name: &str, top: &str, nodes: [(&str, &str, &str); 2]| {
        let [a, b] = nodes.map(|(name, how, extra)| node(name, how, extra));
        let text = format!(
            "pipeline: flaky\n{top}sources:\n  s: {{csv: data/few.csv, tags: [id]}}\n\
             nodes:\n{a}{b}"
        );
        ws.write(name, &text);
    };

    // Without retries the script does fail (so the test below tests something).
    write(
        "once.yaml",
        "on_error: continue\n",
        [("errs_once", "error", ""), ("exits_once", "exit", "")],
    );
    let run = ws
        .run(&["run", "once.yaml", "--db", "db-once"])
        .expect_code(0);
    for name in ["errs_once", "exits_once"] {
        let summary = table_row(&run.stderr, name);
        assert_eq!(cell(&summary, "failed"), FEW as u64, "{}", run.describe());
    }

    // With retries: `retries` on one node, the pipeline-wide default on the other.
    write(
        "p.yaml",
        "defaults: {retries: 3}\n",
        [("errs", "error", "    retries: 3\n"), ("exits", "exit", "")],
    );
    let run = ws
        .run(&["run", "p.yaml", "--out", "out"])
        .expect_prompt()
        .expect_code(0);
    let status = ws.ok(&["status", "p.yaml"]);
    for name in ["errs", "exits"] {
        let summary = table_row(&run.stderr, name);
        assert_eq!(
            (cell(&summary, "rows"), cell(&summary, "failed")),
            (FEW as u64, 0),
            "{name}: {}",
            run.describe()
        );
        assert!(
            cell(&summary, "retr") > 0,
            "{name}: the summary shows the retries: {}",
            run.describe()
        );
        let rows = ws.written("out", name);
        assert_eq!(assert_right_answers(&rows, &few(), name), FEW);
        let rows = ws.shown("p.yaml", name);
        assert_eq!(assert_right_answers(&rows, &few(), name), FEW);
        let logged = table_row(&status.stdout, name);
        assert!(
            cell(&logged, "retr") > 0,
            "{name}: status shows the retries:\n{}",
            status.stdout
        );
    }
}

// ---------------------------------------------------------------------------------------
// max_concurrency

#[test]
fn a_huge_max_concurrency_is_refused_and_a_large_one_runs() {
    let ws = Workspace::new();
    ws.install("answer.py", "answer.py");
    let command = &format!("[{}, fns/answer.py]", python());
    for (file, text) in [
        (
            "node.yaml",
            pipeline("few", "", command, "    max_concurrency: 20000\n"),
        ),
        (
            "defaults.yaml",
            pipeline("few", "defaults: {max_concurrency: 20000}\n", command, ""),
        ),
    ] {
        ws.write(file, &text);
        for verb in ["validate", "run"] {
            let run = ws.run(&[verb, file]).expect_code(2);
            assert!(
                run.stderr.contains(file)
                    && run.stderr.contains("max_concurrency")
                    && run.stderr.contains("20000")
                    && run.stderr.contains("1024"),
                "the message names the file, the key, the value and the bound: {}",
                run.describe()
            );
        }
        assert!(
            !ws.path().join(".orcapod").exists(),
            "{file}: an invalid file writes nothing"
        );
    }

    ws.write(
        "p.yaml",
        &pipeline("few", "", command, "    max_concurrency: 64\n"),
    );
    for mode in ["actors", "sync"] {
        let db = format!("db-{mode}");
        let out = format!("out-{mode}");
        ws.run(&["run", "p.yaml", "--mode", mode, "--db", &db, "--out", &out])
            .expect_prompt()
            .expect_code(0);
        let rows = ws.written(&out, "g");
        assert_eq!(assert_right_answers(&rows, &few(), mode), FEW);
    }
}
