//! End-to-end tests of the Slurm executor against a real single-node Slurm, started by
//! `scripts/slurm-local.sh start` (as root; it installs Slurm if missing). If Slurm
//! cannot be started, every test here FAILS with the script's reason: a skipped test is
//! not a pass.
//!
//! Each test fails if its defect returns:
//! - results on Slurm differ from the local executor's (`--out` files compared byte for
//!   byte), or packets are not cut into chunks submitted as arrays;
//! - the run asks `squeue` once per job (or faster than once a second) instead of once
//!   per interval for the whole run (a logging `squeue` wrapper counts the calls);
//! - a failing task does not fail its packets with the command's stderr, or `retries`
//!   resubmits packets that succeeded;
//! - a task Slurm ends for its time limit is waited for forever, or not reported as
//!   TIMEOUT;
//! - SIGINT or SIGTERM leaves the run's jobs in the queue, or loses the chunks already
//!   read back, or the next run computes a packet again;
//! - a run after the previous one was killed (SIGKILL) submits again packets whose
//!   chunks the killed run had submitted, instead of taking those chunks up;
//! - a command whose outputs hold files gets no `ORCAPOD_OUT_DIR`, or one shared by the
//!   packets of a task, or its files are not kept by content in the database as a local
//!   worker keeps them (also from a work directory on another file system), or a file
//!   answered that is missing does not fail its packet with the path.
//!
//! Slurm costs about 1.25 s per array task here, so the tests stay small.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use orcapod_testing::cli::{expect_exit, expect_success, text};

const BIN: &str = env!("CARGO_BIN_EXE_orcapod");

/// Starts the single-node Slurm once for the whole file; panics with the reason when it
/// cannot.
fn slurm() {
    static STARTED: OnceLock<Result<(), String>> = OnceLock::new();
    let started = STARTED.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/slurm-local.sh");
        let out = Command::new(&script)
            .arg("start")
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "`{} start` failed ({}): {}{}",
                script.display(),
                out.status,
                text(&out.stdout),
                text(&out.stderr)
            ))
        }
    });
    if let Err(reason) = started {
        panic!("Slurm could not be started, so the Slurm executor cannot be tested: {reason}");
    }
}

/// A scratch directory holding `xs.csv` (`n` rows `k,x` with x = k) and `files`.
fn workspace(n: usize, files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("k,x\n");
    for k in 0..n {
        csv.push_str(&format!("{k},{k}\n"));
    }
    std::fs::write(dir.path().join("xs.csv"), csv).unwrap();
    for (name, contents) in files {
        std::fs::write(dir.path().join(name), contents).unwrap();
    }
    dir
}

/// A pipeline over `xs.csv`: function node `f` runs `command` with `settings` (YAML lines
/// of the node, indented 4), output `y: int`.
fn pipeline(command: &str, settings: &str) -> String {
    format!(
        "pipeline: p\nsources:\n  xs: {{csv: xs.csv, tags: [k]}}\nnodes:\n  f:\n    op: function\n    \
         input: xs\n    command: [python3, {command}]\n    output_keys: [y]\n    \
         output_types: {{y: int}}\n{settings}\noutputs: [f]\n"
    )
}

/// Runs the binary in `dir` with a watchdog of `limit`.
fn run(dir: &Path, args: &[&str], limit: Duration) -> Output {
    run_with_path(dir, args, limit, None)
}

fn run_with_path(dir: &Path, args: &[&str], limit: Duration, path: Option<&Path>) -> Output {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(path) = path {
        let old = std::env::var("PATH").unwrap_or_default();
        command.env("PATH", format!("{}:{old}", path.display()));
    }
    let child = command.spawn().expect("the orcapod binary runs");
    let pid = child.id();
    let started = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.expect("the run's output"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!(
                "orcapod {args:?} still ran after {:.0}s",
                started.elapsed().as_secs_f64()
            );
        }
    }
}

/// The files of a directory whose names end with `suffix`, recursively.
fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_ending(&path, suffix));
        } else if path.to_string_lossy().ends_with(suffix) {
            found.push(path);
        }
    }
    found.sort();
    found
}

/// The job name of the (only) run whose Slurm files are under `work`.
fn job_name(work: &Path) -> String {
    let run = std::fs::read_dir(work)
        .unwrap()
        .flatten()
        .find(|e| e.path().is_dir())
        .expect("a run directory in the work directory");
    format!("orcapod-{}", run.file_name().to_string_lossy())
}

/// The live (not ended) tasks of jobs named `name`.
fn live_tasks(name: &str) -> String {
    let out = Command::new("squeue")
        .args(["-h", "-r", "-n", name, "-o", "%i %T"])
        .output()
        .expect("squeue runs");
    text(&out.stdout)
}

/// The live tasks of jobs named `name` once those ending have ended: a task cancelled or
/// finished may show as COMPLETING for a few seconds while Slurm cleans up.
fn settled_tasks(name: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let live = live_tasks(name);
        if live.is_empty() || Instant::now() > deadline {
            return live;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn slurm_results_are_byte_identical_to_local_ones_in_arrays_polled_once_per_interval() {
    slurm();
    // Two Slurm nodes (chunks of 4 and 10) and a local node after them.
    let file = "pipeline: mixed\nsources:\n  xs: {csv: xs.csv, tags: [k]}\nnodes:\n  \
        a: {op: function, input: xs, command: [python3, double.py], output_keys: [y], \
        output_types: {y: int}, executor: slurm, slurm: {chunk: 4, max_tasks: 3}}\n  \
        ay: {op: map_packets, input: a, name_map: {y: x}}\n  \
        b: {op: function, input: ay, command: [python3, double.py], output_keys: [y], \
        output_types: {y: int}, protocol: jsonl-id}\n  \
        by: {op: map_packets, input: b, name_map: {y: x}}\n  \
        c: {op: function, input: by, command: [python3, double.py], output_keys: [y], \
        output_types: {y: int}, executor: local}\n\
        defaults:\n  executor: slurm\n  slurm: {chunk: 10, partition: debug}\n\
        outputs: [a, b, c]\n";
    let double_id = r#"import json, sys
for line in sys.stdin:
    p = json.loads(line)
    answer = {'y': p['x'] * 2}
    if '$id' in p:
        answer['$id'] = p['$id']
    print(json.dumps(answer), flush=True)
"#;
    let dir = workspace(
        22,
        &[
            ("p.yaml", file),
            ("double.py", double_id),
            (
                "squeue",
                "#!/bin/sh\necho \"$(date +%s.%N) $*\" >> \"$(dirname \"$0\")/squeue.log\"\n\
                 exec /usr/bin/squeue \"$@\"\n",
            ),
        ],
    );
    let wrapper = dir.path().join("squeue");
    Command::new("chmod")
        .arg("+x")
        .arg(&wrapper)
        .status()
        .unwrap();
    let started = Instant::now();
    let slurm_run = run_with_path(
        dir.path(),
        &["run", "p.yaml", "--out", "out-slurm", "-q"],
        Duration::from_secs(120),
        Some(dir.path()),
    );
    let elapsed = started.elapsed();
    let (_, stderr) = expect_success(&["run", "p.yaml"], &slurm_run);
    let local = run(
        dir.path(),
        &[
            "run",
            "p.yaml",
            "--db",
            "db-local",
            "--executor",
            "local",
            "--out",
            "out-local",
            "-q",
        ],
        Duration::from_secs(60),
    );
    expect_success(&["run", "--executor", "local"], &local);
    for name in [
        "a.json",
        "a.all_info.json",
        "b.json",
        "b.all_info.json",
        "c.json",
        "c.all_info.json",
    ] {
        let slurm = std::fs::read(dir.path().join("out-slurm").join(name)).unwrap();
        let local = std::fs::read(dir.path().join("out-local").join(name)).unwrap();
        assert!(
            slurm == local,
            "{name} differs between Slurm and local:\n{stderr}"
        );
        assert_eq!(text(&slurm).matches("{\"k\": ").count(), 22, "{name}");
    }
    // Node a: 22 packets in chunks of 4 (6 chunks); node b: chunks of 10 (3 chunks);
    // node c ran locally (no directory). Some submission holds several chunks.
    let work = dir.path().join(".orcapod/slurm");
    let inputs = files_ending(&work, ".in");
    let of = |node: &str| {
        inputs
            .iter()
            .filter(|p| p.to_string_lossy().contains(node))
            .count()
    };
    assert_eq!((of("-a/"), of("-c/")), (6, 0), "{inputs:?}");
    // Node b takes a's results as they come, so its chunks are cut as they arrive: at
    // most 10 packets each, 22 in all.
    let lines = |p: &PathBuf| std::fs::read_to_string(p).unwrap().lines().count();
    let b: Vec<usize> = inputs
        .iter()
        .filter(|p| p.to_string_lossy().contains("-b/"))
        .map(lines)
        .collect();
    assert!(b.len() >= 3 && b.iter().all(|&n| n <= 10), "{b:?}");
    assert_eq!(b.iter().sum::<usize>(), 22, "{b:?}");
    // Results flow on while later chunks run: node b submitted its first chunk before
    // node a's last chunk had finished.
    let modified = |p: &Path| std::fs::metadata(p).unwrap().modified().unwrap();
    let exits = files_ending(&work, ".exit");
    let a_last = exits
        .iter()
        .filter(|p| p.to_string_lossy().contains("-a/"))
        .map(|p| modified(p))
        .max()
        .unwrap();
    let b_first = inputs
        .iter()
        .filter(|p| p.to_string_lossy().contains("-b/"))
        .map(|p| modified(p))
        .min()
        .unwrap();
    assert!(b_first < a_last, "node b waited for all of node a");
    let arrays = files_ending(&work, ".sh")
        .iter()
        .map(|s| std::fs::read_to_string(s).unwrap().matches("/c0").count())
        .max()
        .unwrap();
    assert!(arrays >= 2, "no submission held several chunks");
    // One squeue per interval (at least 1 s apart) for the whole run, about the jobs of
    // this run only.
    let log = std::fs::read_to_string(dir.path().join("squeue.log")).unwrap_or_default();
    let calls: Vec<f64> = log
        .lines()
        .map(|l| l.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    assert!(!calls.is_empty(), "squeue was never asked");
    assert!(
        calls.len() as f64 <= elapsed.as_secs_f64() + 1.0,
        "{} squeue calls in {elapsed:?}:\n{log}",
        calls.len()
    );
    for pair in calls.windows(2) {
        assert!(
            pair[1] - pair[0] >= 0.95,
            "squeue called twice within a second:\n{log}"
        );
    }
    assert!(
        log.lines()
            .all(|l| l.contains(&format!("-n {}", job_name(&work)))),
        "{log}"
    );
    // A second run computes nothing and submits nothing.
    let again = run(
        dir.path(),
        &["run", "p.yaml", "-q"],
        Duration::from_secs(60),
    );
    expect_success(&["run", "again"], &again);
    assert_eq!(files_ending(&work, ".in").len(), inputs.len());
}

#[test]
fn a_failing_task_fails_its_packets_with_its_stderr_and_retries_resubmit_only_those() {
    slurm();
    // Fails (before answering) the first time it sees an odd x, as a flaky program does.
    let flaky = r#"import json, os, sys
for line in sys.stdin:
    p = json.loads(line)
    seen = 'seen-%d' % p['x']
    if p['x'] % 2 == 1 and not os.path.exists(seen):
        open(seen, 'w').close()
        print('flaky on x=%d' % p['x'], file=sys.stderr)
        sys.exit(3)
    print(json.dumps({'y': p['x'] * 2}), flush=True)
"#;
    let dir = workspace(
        6,
        &[
            ("flaky.py", flaky),
            (
                "p.yaml",
                &pipeline(
                    "flaky.py",
                    "    executor: slurm\n    retries: 3\n    slurm: {chunk: 3}",
                ),
            ),
            (
                "once.yaml",
                &pipeline("flaky.py", "    executor: slurm\n    slurm: {chunk: 6}")
                    .replace("pipeline: p", "pipeline: once"),
            ),
        ],
    );
    // Without retries: x=0 is answered, x=1 fails with the exit status and stderr, and
    // the packets after it (never answered) fail too.
    std::fs::create_dir(dir.path().join("wd")).unwrap();
    let once = run(
        dir.path(),
        &["run", "once.yaml", "--work-dir", "wd", "-q"],
        Duration::from_secs(60),
    );
    let stderr = expect_exit(&["run", "once.yaml"], &once, 1);
    assert!(stderr.contains("exit status 3"), "{stderr}");
    assert!(stderr.contains("flaky on x=1"), "{stderr}");
    assert!(!files_ending(&dir.path().join("wd"), ".in").is_empty());
    for seen in std::fs::read_dir(dir.path()).unwrap().flatten() {
        if seen.file_name().to_string_lossy().starts_with("seen-") {
            std::fs::remove_file(seen.path()).unwrap();
        }
    }
    // With retries: every packet ends computed, and the resubmitted chunks hold failed
    // packets only (never x=0, answered in the first chunk).
    let out = run(
        dir.path(),
        &["run", "p.yaml", "--db", "db2", "--out", "out", "-q"],
        Duration::from_secs(90),
    );
    let (_, stderr) = expect_success(&["run", "p.yaml"], &out);
    let rows = std::fs::read_to_string(dir.path().join("out/f.json")).unwrap();
    for k in 0..6 {
        assert!(
            rows.contains(&format!("{{\"k\": {k}, \"y\": {}}}", k * 2)),
            "{rows}"
        );
    }
    let summary = stderr.lines().find(|l| l.starts_with("f ")).unwrap();
    let counts: Vec<&str> = summary.split_whitespace().collect();
    assert_eq!(counts[2..6], ["6", "6", "0", "0"], "{stderr}");
    assert!(counts[6].parse::<u32>().unwrap() >= 2, "{stderr}");
    let inputs = files_ending(&dir.path().join("db2/slurm"), ".in");
    assert!(inputs.len() >= 3, "{inputs:?}");
    for retry in &inputs[2..] {
        let requests = std::fs::read_to_string(retry).unwrap();
        assert!(!requests.contains("\"x\":0}"), "{requests}");
    }
}

#[test]
fn a_task_past_its_time_limit_fails_with_timeout() {
    slurm();
    let dir = workspace(
        2,
        &[
            (
                "sleepy.py",
                "import sys, time\nsys.stdin.read()\nprint('sleeping', file=sys.stderr, \
                 flush=True)\ntime.sleep(600)\n",
            ),
            (
                "p.yaml",
                &pipeline(
                    "sleepy.py",
                    "    executor: slurm\n    slurm: {time: 1, chunk: 2}",
                ),
            ),
        ],
    );
    let out = run(
        dir.path(),
        &["run", "p.yaml", "-q"],
        Duration::from_secs(170),
    );
    let stderr = expect_exit(&["run", "p.yaml"], &out, 1);
    assert!(stderr.contains("ended TIMEOUT"), "{stderr}");
    assert!(stderr.contains("sleeping"), "{stderr}");
    assert_eq!(
        live_tasks(&job_name(&dir.path().join(".orcapod/slurm"))),
        ""
    );
}

#[test]
fn sigint_cancels_the_runs_jobs_and_keeps_the_chunks_read_back() {
    interrupt_then_run_again("INT", 130);
}

#[test]
fn sigterm_cancels_the_runs_jobs_and_keeps_the_chunks_read_back() {
    interrupt_then_run_again("TERM", 143);
}

/// A run with a chunk answered and a chunk still running gets `SIG{signal}`: it exits
/// with `code`, keeps the answered chunk and cancels the other's job; the next run
/// computes only what is missing, so every packet is computed exactly once.
fn interrupt_then_run_again(signal: &str, code: i32) {
    slurm();
    // x < 3: answered at once; the others take ten minutes while the file `slow`
    // exists. Every answer is logged, to count how often each packet was computed.
    let slow = r#"import json, os, sys, time
for line in sys.stdin:
    p = json.loads(line)
    if p['x'] >= 3 and os.path.exists('slow'):
        time.sleep(600)
    with open('computed.log', 'a') as log:
        log.write(f"{p['x']}\n")
    print(json.dumps({'y': p['x'] * 2}), flush=True)
"#;
    let dir = workspace(
        6,
        &[
            ("slow", ""),
            ("slow.py", slow),
            (
                "p.yaml",
                &pipeline("slow.py", "    executor: slurm\n    slurm: {chunk: 3}"),
            ),
        ],
    );
    let child = Command::new(BIN)
        .args(["run", "p.yaml", "-q"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let work = dir.path().join(".orcapod/slurm");
    // Wait until the fast chunk's marker exists and the run has polled since.
    let deadline = Instant::now() + Duration::from_secs(60);
    while files_ending(&work, ".exit").is_empty() {
        assert!(Instant::now() < deadline, "the fast chunk never finished");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(3));
    let name = job_name(&work);
    assert_ne!(live_tasks(&name), "", "the slow chunk should still run");
    Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the run stops within 30 s of the signal")
        .unwrap();
    let stderr = expect_exit(&["run", "p.yaml", signal], &out, code);
    assert!(stderr.contains("3 results stored"), "{stderr}");
    assert_eq!(
        settled_tasks(&name),
        "",
        "jobs left running after SIG{signal}"
    );
    // `status` shows the run as interrupted.
    let status = Command::new(BIN)
        .args(["status", "p.yaml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let status = text(&status.stdout) + &text(&status.stderr);
    assert!(status.contains("interrupted"), "{status}");

    // Run again: the packets computed before Ctrl-C come from the store, the others are
    // computed now, and every packet was computed exactly once.
    std::fs::remove_file(dir.path().join("slow")).unwrap();
    let again = run(
        dir.path(),
        &["run", "p.yaml", "--out", "out", "-q"],
        Duration::from_secs(90),
    );
    let (_, stderr) = expect_success(&["run", "p.yaml", "(after the signal)"], &again);
    let rows = std::fs::read_to_string(dir.path().join("out/f.json")).unwrap();
    for k in 0..6 {
        assert!(
            rows.contains(&format!("{{\"k\": {k}, \"y\": {}}}", k * 2)),
            "{rows}"
        );
    }
    let log = std::fs::read_to_string(dir.path().join("computed.log")).unwrap();
    let mut computed: Vec<u32> = log.lines().map(|l| l.parse().unwrap()).collect();
    computed.sort_unstable();
    assert_eq!(computed, [0, 1, 2, 3, 4, 5], "{stderr}");
    assert_eq!(settled_tasks(&name), "");
}

#[test]
fn a_run_after_sigkill_takes_up_the_killed_runs_jobs_and_submits_nothing_again() {
    slurm();
    // x < 3: answered at once; the others take 3 s each.
    let slow = r#"import json, sys, time
for line in sys.stdin:
    p = json.loads(line)
    if p['x'] >= 3:
        time.sleep(3)
    print(json.dumps({'y': p['x'] * 2}), flush=True)
"#;
    let dir = workspace(
        6,
        &[
            ("slow.py", slow),
            (
                "p.yaml",
                // On Slurm by the command line's `--executor slurm`.
                &pipeline("slow.py", "    slurm: {chunk: 3}"),
            ),
        ],
    );
    let mut child = Command::new(BIN)
        .args(["run", "p.yaml", "--executor", "slurm", "-q"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let work = dir.path().join(".orcapod/slurm");
    let deadline = Instant::now() + Duration::from_secs(60);
    while files_ending(&work, ".in").len() < 2 {
        assert!(Instant::now() < deadline, "the chunks were never submitted");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Both chunks are submitted (and recorded): kill the run outright.
    std::thread::sleep(Duration::from_millis(500));
    child.kill().unwrap();
    child.wait().unwrap();
    let killed = job_name(&work);
    let submitted = files_ending(&work, ".in");
    assert_eq!(submitted.len(), 2, "{submitted:?}");
    assert_ne!(
        live_tasks(&killed),
        "",
        "the killed run's jobs should still run"
    );

    let again = run(
        dir.path(),
        &["run", "p.yaml", "--executor", "slurm", "--out", "out", "-q"],
        Duration::from_secs(90),
    );
    let (_, stderr) = expect_success(&["run", "p.yaml", "(after SIGKILL)"], &again);
    // Nothing was submitted again: the killed run's two chunks are all there is.
    assert_eq!(files_ending(&work, ".in"), submitted, "{stderr}");
    let rows = std::fs::read_to_string(dir.path().join("out/f.json")).unwrap();
    for k in 0..6 {
        assert!(
            rows.contains(&format!("{{\"k\": {k}, \"y\": {}}}", k * 2)),
            "{rows}"
        );
    }
    assert_eq!(settled_tasks(&killed), "");
}

#[test]
fn an_array_that_sbatch_refuses_fails_its_packets_with_sbatchs_message() {
    slurm();
    let double = r#"import json, sys
for line in sys.stdin:
    print(json.dumps({'y': json.loads(line)['x'] * 2}), flush=True)
"#;
    let dir = workspace(
        3,
        &[
            ("double.py", double),
            (
                "p.yaml",
                &pipeline(
                    "double.py",
                    "    executor: slurm\n    retries: 1\n    slurm: {partition: nosuchpartition}",
                ),
            ),
        ],
    );
    let out = run(
        dir.path(),
        &["run", "p.yaml", "-q"],
        Duration::from_secs(60),
    );
    let stderr = expect_exit(&["run", "p.yaml"], &out, 1);
    assert!(stderr.contains("sbatch refused the array"), "{stderr}");
    assert!(stderr.contains("partition"), "{stderr}");
}

#[test]
fn packets_after_the_one_a_task_crashed_on_are_computed_again_at_no_retrys_cost() {
    slurm();
    // Crashes on x = 1, every time.
    let crash = r#"import json, sys
for line in sys.stdin:
    p = json.loads(line)
    if p['x'] == 1:
        print('cannot do x=1', file=sys.stderr)
        sys.exit(5)
    print(json.dumps({'y': p['x'] * 2}), flush=True)
"#;
    let dir = workspace(
        5,
        &[
            ("crash.py", crash),
            (
                "p.yaml",
                &format!(
                    "on_error: continue\n{}",
                    pipeline("crash.py", "    executor: slurm\n    slurm: {chunk: 5}")
                ),
            ),
        ],
    );
    let out = run(
        dir.path(),
        &["run", "p.yaml", "-q"],
        Duration::from_secs(60),
    );
    let (_, stderr) = expect_success(&["run", "p.yaml"], &out);
    // x = 1 fails (no retries); x = 2, 3, 4, never reached in the first task, are
    // computed in a second one: only one packet failed, and none was retried.
    let summary = stderr.lines().find(|l| l.starts_with("f ")).unwrap();
    let counts: Vec<&str> = summary.split_whitespace().collect();
    assert_eq!(counts[2..], ["4", "4", "0", "1", "0"], "{stderr}");
    let status = Command::new(BIN)
        .args(["status", "p.yaml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let status = text(&status.stdout);
    assert!(status.contains("exit status 5"), "{status}");
    assert!(status.contains("cannot do x=1"), "{status}");
    assert!(!status.contains("not computed"), "{status}");
}

/// Writes `out.txt` (the same name for every packet) under `ORCAPOD_OUT_DIR`, holding
/// `x % 3`, beside a stray file, and answers it; fails a packet whose directory is not
/// fresh and empty. Logs each packet it computes to `answered.txt`.
const WRITE_FILE: &str = r#"import json, os, sys
out = os.environ['ORCAPOD_OUT_DIR']
for line in sys.stdin:
    p = json.loads(line)
    if not os.path.isdir(out) or os.listdir(out):
        print(json.dumps({'$error': 'ORCAPOD_OUT_DIR is not fresh and empty'}), flush=True)
        continue
    with open('answered.txt', 'a') as log:
        log.write('%d\n' % p['x'])
    path = os.path.join(out, 'out.txt')
    with open(path, 'w') as f:
        f.write('x mod 3 = %d\n' % (p['x'] % 3))
    with open(os.path.join(out, 'stray.tmp'), 'w') as f:
        f.write('not answered')
    if p['x'] == 11:
        path = os.path.join(out, 'never-written.txt')
    if p['x'] == 12:
        path = '/nonexistent-orcapod-dir/out.txt'
    print(json.dumps({'f': path}), flush=True)
"#;

/// A pipeline over `xs.csv` whose node `f` runs `write.py` on Slurm in chunks of 2,
/// answering `f: file`.
const FILES_PIPELINE: &str = "pipeline: files\nsources:\n  xs: {csv: xs.csv, tags: [k]}\n\
    nodes:\n  f:\n    op: function\n    input: xs\n    command: [python3, write.py]\n    \
    output_keys: [f]\n    output_types: {f: file}\n    executor: slurm\n    \
    slurm: {chunk: 2}\noutputs: [f]\n";

#[test]
fn a_command_on_slurm_writes_files_in_a_fresh_directory_per_packet_kept_by_content() {
    slurm();
    let dir = workspace(5, &[("p.yaml", FILES_PIPELINE), ("write.py", WRITE_FILE)]);
    let args = ["run", "p.yaml", "--out", "out", "-q"];
    let first = run(dir.path(), &args, Duration::from_secs(90));
    expect_success(&args, &first);
    let answered = || {
        std::fs::read_to_string(dir.path().join("answered.txt"))
            .unwrap_or_default()
            .lines()
            .count()
    };
    assert_eq!(answered(), 5);
    // Three chunks of two packets (or fewer), each packet in a fresh directory: every
    // row names its own content, though every packet wrote `out.txt`.
    let work = dir.path().join(".orcapod/slurm");
    assert_eq!(files_ending(&work, ".in").len(), 3);
    let rows = std::fs::read_to_string(dir.path().join("out/f.json")).unwrap();
    let rows: serde_json::Value = serde_json::from_str(&rows).unwrap();
    let rows = rows["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    for row in rows {
        let k = row["k"].as_i64().unwrap();
        let copy = dir.path().join("out").join(row["f"].as_str().unwrap());
        assert_eq!(
            std::fs::read_to_string(&copy).unwrap(),
            format!("x mod 3 = {}\n", k % 3),
            "row {row}"
        );
    }
    // Stored by content in the database: three distinct contents, read-only; neither
    // the stray files nor the chunks' directories are left.
    let area = dir.path().join(".orcapod/files");
    let stored = files_ending(&area, ".txt");
    assert_eq!(stored.len(), 3, "{stored:?}");
    for file in &stored {
        let bytes = std::fs::read(file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let hex = file
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            + &name[..62];
        assert_eq!(
            hex,
            sha256_hex(&bytes),
            "{} is named by its content",
            file.display()
        );
        assert!(std::fs::metadata(file).unwrap().permissions().readonly());
    }
    assert!(files_ending(&area, ".tmp").is_empty());
    assert!(files_ending(&work, ".tmp").is_empty());
    let dirs_left: Vec<_> = walk_dirs(&work)
        .into_iter()
        .filter(|d| d.to_string_lossy().ends_with(".files"))
        .collect();
    assert!(dirs_left.is_empty(), "{dirs_left:?}");
    // A second run computes nothing and submits nothing.
    let again = run(dir.path(), &args, Duration::from_secs(60));
    expect_success(&args, &again);
    assert_eq!(answered(), 5);
    assert_eq!(files_ending(&work, ".in").len(), 3);
}

#[test]
fn files_answered_on_slurm_that_are_missing_fail_their_packets_naming_the_path() {
    slurm();
    // x = 10 writes its file; x = 11 names one under ORCAPOD_OUT_DIR it never wrote;
    // x = 12 one outside that does not exist. The work directory is on another file
    // system than the database (tmpfs), so the kept file is copied in.
    let dir = workspace(0, &[("p.yaml", FILES_PIPELINE), ("write.py", WRITE_FILE)]);
    let work = tempfile::tempdir_in("/dev/shm").expect("a tmpfs at /dev/shm");
    let device = |p: &Path| std::os::unix::fs::MetadataExt::dev(&std::fs::metadata(p).unwrap());
    assert_ne!(
        device(work.path()),
        device(dir.path()),
        "not another file system"
    );
    let work_dir = work.path().display().to_string();
    let args = ["run", "p.yaml", "--work-dir", &work_dir, "-q"];
    let run_on = |x: u32| {
        std::fs::write(dir.path().join("xs.csv"), format!("k,x\n0,{x}\n")).unwrap();
        run(dir.path(), &args, Duration::from_secs(60))
    };
    expect_success(&args, &run_on(10));
    let stored = files_ending(&dir.path().join(".orcapod/files"), ".txt");
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(
        std::fs::read_to_string(&stored[0]).unwrap(),
        "x mod 3 = 1\n"
    );
    let stderr = expect_exit(&args, &run_on(11), 1);
    assert!(
        stderr.contains(
            "packet (k=0): cannot keep the files the command wrote for packet 1 of \
             Slurm array task"
        ),
        "{stderr}"
    );
    assert!(
        stderr
            .contains("/cur/never-written.txt was answered under ORCAPOD_OUT_DIR but is not there"),
        "{stderr}"
    );
    let stderr = expect_exit(&args, &run_on(12), 1);
    assert!(
        stderr
            .contains("/nonexistent-orcapod-dir/out.txt is outside ORCAPOD_OUT_DIR and not found"),
        "{stderr}"
    );
}

/// Every directory under `dir`, recursively.
fn walk_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk_dirs(&path));
            found.push(path);
        }
    }
    found
}

/// The SHA-256 of `bytes`, in hex.
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
