//! End-to-end tests of `orcapod run` as a process among others: signals sent to it
//! alone (SIGINT, SIGTERM, SIGKILL), what `status` and `show` say after a failed, an
//! interrupted and a killed run and during a run (from another process), and that the
//! commands that only read never start a command.
//!
//! Every test runs the built binary on a real Python script in a temporary directory.
//! The script writes its pid to `pids.txt` when it starts and appends each packet's `x`
//! to `answered.txt` once it has answered, so the tests can tell which packets were
//! computed, in which run, and whether a command process outlived `orcapod`. With
//! `BUSY_AFTER=N` in its environment, a command process spends a minute on its packet
//! after N answers: the interrupted runs stop commands that are busy, which would
//! otherwise outlive `orcapod` by that minute. Time is only bounded generously, never
//! measured.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use orcapod_testing::cli::{expect_success, text, Orcapod};

/// The binary under test.
const ORCAPOD: Orcapod = Orcapod::new(env!("CARGO_BIN_EXE_orcapod"));

/// Seconds each packet takes.
const DELAY: f64 = 0.05;
/// Packets of the slow pipeline.
const PACKETS: usize = 200;

const SLOW_SCRIPT: &str = r#"
import json, os, sys, time
with open("pids.txt", "a") as f:
    f.write(f"{os.getpid()}\n")
with open("started.txt", "a") as f:
    f.write("started\n")
delay = float(os.environ.get("SLOW_DELAY", "DELAY"))
busy_after = int(os.environ.get("BUSY_AFTER", "-1"))
done = 0
for line in sys.stdin:
    p = json.loads(line)
    if p["x"] == int(os.environ.get("FAIL_AT", "-1")):
        print("cannot handle this packet", p["x"], file=sys.stderr, flush=True)
        sys.exit(3)
    # A long packet: the process is busy when orcapod is stopped.
    time.sleep(60 if done == busy_after else delay)
    done += 1
    answer = {"out": p["x"] * 2}
    if "$id" in p:
        answer["$id"] = p["$id"]
    print(json.dumps(answer), flush=True)
    with open("answered.txt", "a") as f:
        f.write(f"{p['x']}\n")
"#;

/// The slow pipeline. Its command speaks `jsonl-id`, whose answers are certain as they
/// arrive, so the results received before a signal are stored; under plain `jsonl` the
/// answers of a session interrupted mid-packet cannot be proven and are recomputed.
fn pipeline_yaml(name: &str) -> String {
    format!(
        "pipeline: {name}\nsources:\n  s: {{csv: data.csv, tags: [id]}}\nnodes:\n  f:\n    op: function\n    input: s\n    command: [python3, slow.py]\n    output_keys: [out]\n    output_types: {{out: int}}\n    max_concurrency: 2\n    protocol: jsonl-id\n"
    )
}

/// A directory with `data.csv` (`rows` rows `p{i},{i}`), `slow.py` and `slow.yaml`.
fn workspace(rows: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_data(dir.path(), rows);
    std::fs::write(
        dir.path().join("slow.py"),
        SLOW_SCRIPT.replace("\"DELAY\"", &format!("\"{DELAY}\"")),
    )
    .unwrap();
    std::fs::write(dir.path().join("slow.yaml"), pipeline_yaml("slow")).unwrap();
    dir
}

fn write_data(dir: &Path, rows: usize) {
    let mut csv = String::from("id,x\n");
    for i in 0..rows {
        csv.push_str(&format!("p{i},{i}\n"));
    }
    std::fs::write(dir.join("data.csv"), csv).unwrap();
}

/// Runs to the end (at most a minute) and returns the output.
fn output(dir: &Path, args: &[&str]) -> Output {
    let child = ORCAPOD
        .command(dir, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let waiter = std::thread::spawn(move || child.wait_with_output());
    let deadline = Instant::now() + Duration::from_secs(60);
    while !waiter.is_finished() {
        if Instant::now() > deadline {
            signal(pid, "KILL");
            panic!("orcapod {args:?} did not end within a minute");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    waiter.join().unwrap().unwrap()
}

/// Runs and asserts success, returning (stdout, stderr).
fn ok(dir: &Path, args: &[&str]) -> (String, String) {
    expect_success(args, &output(dir, args))
}

/// Starts `orcapod run slow.yaml --quiet` (plus `extra`) in the background; its
/// command processes become busy for a minute after `busy_after` answers each.
fn start_run(dir: &Path, extra: &[&str], busy_after: Option<usize>) -> Child {
    let mut args = vec!["run", "slow.yaml", "--quiet"];
    args.extend_from_slice(extra);
    let mut command = ORCAPOD.command(dir, &args);
    if let Some(n) = busy_after {
        command.env("BUSY_AFTER", n.to_string());
    }
    command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name} {pid}");
}

/// Waits (at most a minute) for `child` to end: its status and stderr.
fn finish(child: Child) -> (ExitStatus, String) {
    orcapod_testing::cli::finish(child, Duration::from_secs(60))
}

/// The packets answered so far, in order (with repeats).
fn answered(dir: &Path) -> Vec<i64> {
    std::fs::read_to_string(dir.join("answered.txt"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect()
}

/// Waits until `what` holds (at most a minute).
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "waited a minute for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether process `pid` still runs (a zombie does not).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat[stat.rfind(')').unwrap() + 1..]
                .split_whitespace()
                .next()
                .unwrap()
                .to_string();
            state != "Z"
        }
        Err(_) => false,
    }
}

/// Asserts that no command process the script recorded outlives `orcapod` by more than
/// about two seconds.
fn no_command_left(dir: &Path) {
    let pids: Vec<u32> = std::fs::read_to_string(dir.join("pids.txt"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert!(!pids.is_empty(), "the script never started");
    let deadline = Instant::now() + Duration::from_millis(2500);
    loop {
        let left: Vec<u32> = pids.iter().copied().filter(|&p| alive(p)).collect();
        if left.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            for &p in &left {
                let _ = Command::new("kill")
                    .args(["-KILL", &p.to_string()])
                    .status();
            }
            panic!("command processes {left:?} outlived orcapod");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The rows `show` prints for node `f` (as CSV): (id, out), checked against the
/// function (`out` is twice the id's number).
fn shown(dir: &Path) -> BTreeSet<i64> {
    let (csv, _) = ok(dir, &["show", "slow.yaml", "f", "--format", "csv"]);
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("id,out"), "{csv}");
    lines
        .map(|line| {
            let (id, out) = line.split_once(',').unwrap();
            let x: i64 = id.strip_prefix('p').unwrap().parse().unwrap();
            assert_eq!(out.parse::<i64>().unwrap(), 2 * x, "a wrong value for {id}");
            x
        })
        .collect()
}

/// The summary line of `node`: (rows, computed, cached, failed, retried).
fn summary(stderr: &str, node: &str) -> [u64; 5] {
    let line = stderr
        .lines()
        .find(|l| l.split_whitespace().next() == Some(node))
        .unwrap_or_else(|| panic!("no summary line for `{node}` in:\n{stderr}"));
    let f: Vec<&str> = line.split_whitespace().collect();
    [2, 3, 4, 5, 6].map(|i| {
        f[i].parse()
            .unwrap_or_else(|_| panic!("not a count in `{line}`"))
    })
}

/// The `status` line of node `node`: its words.
fn status_line(status: &str, node: &str) -> Vec<String> {
    status
        .lines()
        .find(|l| l.split_whitespace().next() == Some(node))
        .unwrap_or_else(|| panic!("no line for `{node}` in:\n{status}"))
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// Interrupts a run with `signal_name` once some packets are answered, then checks
/// what must hold after it; returns the packets `show` prints afterwards.
fn interrupt_mid_run(dir: &Path, signal_name: &str, mode: &str) -> BTreeSet<i64> {
    // Each command (two on actors, one in sync mode) answers ten packets, then is busy
    // with the eleventh.
    let child = start_run(dir, &["--mode", mode], Some(10));
    let pid = child.id();
    let busy = if mode == "actors" { 20 } else { 10 };
    wait_until("every command busy", || answered(dir).len() >= busy);
    if mode == "actors" {
        // The progress file has published some counts (what `status` shows after a kill).
        wait_until("published counts", || published_computed(dir) > 0);
    }
    signal(pid, signal_name);
    let (status, stderr) = finish(child);
    no_command_left(dir);
    let stored = shown(dir);
    assert!(
        !stored.is_empty(),
        "show prints the results stored before {signal_name} ({mode}); stderr:\n{stderr}"
    );
    let before = answered(dir);
    assert!(stored.len() < PACKETS, "the run was interrupted mid-run");
    // Whatever was stored was answered by the command (and correctly: see `shown`).
    let answered_set: BTreeSet<i64> = before.iter().copied().collect();
    assert!(stored.is_subset(&answered_set));
    if signal_name == "KILL" {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9), "{stderr}");
    } else {
        let (code, name) = match signal_name {
            "INT" => (130, "SIGINT"),
            _ => (143, "SIGTERM"),
        };
        assert_eq!(status.code(), Some(code), "{stderr}");
        let line = stderr
            .lines()
            .find(|l| l.starts_with(&format!("interrupted by {name}: ")))
            .unwrap_or_else(|| panic!("no interruption message in:\n{stderr}"));
        assert!(
            line.contains(&format!("{} results stored in ", stored.len()))
                && line.contains(".orcapod")
                && line.ends_with("`orcapod run slow.yaml` continues from there"),
            "{line}"
        );
        assert_eq!(
            stderr.trim().lines().count(),
            1,
            "one line on stderr:\n{stderr}"
        );
        let (status, _) = ok(dir, &["status", "slow.yaml"]);
        assert!(
            status.contains("interrupted at") && status.contains(&format!("({name})")),
            "{status}"
        );
        let f = status_line(&status, "f");
        if mode == "actors" {
            received_were_stored(&f[4], &stored, &status);
        }
        assert!(f.last().unwrap().contains("(interrupted)"), "{status}");
    }
    stored
}

/// The node `f`'s computed count in the progress file.
fn published_computed(dir: &Path) -> u64 {
    orcapod_testing::cli::published_computed(&dir.join(".orcapod"), "f")
}

/// The results a run counted as computed are the ones stored, give or take the one
/// result per worker (two) that may arrive as the node stops.
fn received_were_stored(computed: &str, stored: &BTreeSet<i64>, status: &str) {
    let computed: u64 = computed
        .parse()
        .unwrap_or_else(|_| panic!("no computed count in:\n{status}"));
    let stored = stored.len() as u64;
    assert!(
        stored <= computed && computed <= stored + 2,
        "{computed} computed, {stored} stored:\n{status}"
    );
}

/// The run after an interruption completes, computes only what was not stored, and
/// computes nothing twice.
fn rerun_completes(dir: &Path, stored: &BTreeSet<i64>) {
    let before = answered(dir).len();
    let (_, stderr) = ok(dir, &["run", "slow.yaml", "--quiet"]);
    let [rows, computed, cached, failed, retried] = summary(&stderr, "f");
    assert_eq!(rows, PACKETS as u64, "{stderr}");
    assert_eq!(computed + cached, PACKETS as u64, "{stderr}");
    assert_eq!(
        cached,
        stored.len() as u64,
        "stored results are reused:\n{stderr}"
    );
    assert_eq!((failed, retried), (0, 0), "{stderr}");
    let now: Vec<i64> = answered(dir)[before..].to_vec();
    assert_eq!(now.len() as u64, computed, "{stderr}");
    let recomputed: Vec<&i64> = now.iter().filter(|x| stored.contains(x)).collect();
    assert!(
        recomputed.is_empty(),
        "stored results computed again: {recomputed:?}"
    );
    assert_eq!(shown(dir).len(), PACKETS);
}

/// Signal `signal` stops a run in `mode` mid-way, and the next run completes from what
/// it stored.
fn interrupted_run_continues(signal: &str, mode: &str) {
    let dir = workspace(PACKETS);
    let stored = interrupt_mid_run(dir.path(), signal, mode);
    rerun_completes(dir.path(), &stored);
}

#[test]
fn sigint_stops_the_run_keeps_its_results_and_the_next_run_continues() {
    interrupted_run_continues("INT", "actors");
}

#[test]
fn sigterm_stops_the_run_keeps_its_results_and_the_next_run_continues() {
    interrupted_run_continues("TERM", "actors");
}

#[test]
fn sigterm_stops_a_synchronous_run_too() {
    interrupted_run_continues("TERM", "sync");
}

#[test]
fn a_second_sigint_exits_at_once_and_leaves_no_command() {
    let dir = workspace(PACKETS);
    let child = start_run(dir.path(), &[], Some(5));
    let pid = child.id();
    wait_until("every command busy", || answered(dir.path()).len() >= 10);
    signal(pid, "INT");
    signal(pid, "INT");
    let (status, stderr) = finish(child);
    assert_eq!(status.code(), Some(130), "{stderr}");
    no_command_left(dir.path());
}

#[test]
fn sigkill_leaves_no_command_and_status_says_the_run_was_killed() {
    let dir = workspace(PACKETS);
    let d = dir.path();
    let stored = interrupt_mid_run(d, "KILL", "actors");
    let (status, _) = ok(d, &["status", "slow.yaml"]);
    assert!(
        status.contains("was interrupted (killed)")
            && status.contains("the results it stored are kept"),
        "{status}"
    );
    // The last known progress of the killed run.
    let f = status_line(&status, "f");
    assert_eq!(f[1], "function", "{status}");
    assert!(f[4].parse::<u64>().unwrap() > 0, "{status}");
    assert_eq!(f.last().unwrap(), "running", "{status}");
    rerun_completes(d, &stored);
    // The next run recorded the killed run in the run log.
    let (status, _) = ok(d, &["status", "slow.yaml"]);
    assert!(status.contains("2 runs recorded"), "{status}");
    assert!(status.contains("completed at"), "{status}");
}

#[test]
fn status_after_a_failed_run_names_the_node_the_reason_and_the_counts() {
    for mode in ["actors", "sync"] {
        let dir = workspace(60);
        let d = dir.path();
        std::fs::write(
            d.join("slow.py"),
            SLOW_SCRIPT.replace("\"DELAY\"", "\"0.005\""),
        )
        .unwrap();
        let out = ORCAPOD
            .command(d, &["run", "slow.yaml", "--quiet", "--mode", mode])
            .env("FAIL_AT", "45")
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("cannot handle this packet 45"), "{stderr}");
        let (status, _) = ok(d, &["status", "slow.yaml"]);
        assert!(
            status.contains("failed at")
                && status.contains("node `f` failed")
                && status.contains("cannot handle this packet 45"),
            "{mode}: {status}"
        );
        let f = status_line(&status, "f");
        let computed: u64 = f[4]
            .parse()
            .unwrap_or_else(|_| panic!("{mode}: no counts for `f`:\n{status}"));
        assert!(computed >= 1, "{mode}: {status}");
        assert_eq!(f[5], "1", "{mode}: one packet failed:\n{status}");
        assert!(f.last().unwrap().contains("(failed)"), "{mode}: {status}");
        // What was computed before the failure is stored and shown.
        received_were_stored(&f[4], &shown(d), &status);
    }
}

#[test]
fn status_during_a_run_shows_its_live_progress() {
    let dir = workspace(PACKETS);
    let d = dir.path();
    let child = start_run(d, &[], None);
    let pid = child.id();
    let mut seen = String::new();
    wait_until("live counts in status", || {
        let out = output(d, &["status", "slow.yaml"]);
        seen = text(&out.stdout);
        out.status.success()
            && seen.contains("running since")
            && seen
                .lines()
                .find(|l| l.starts_with("f "))
                .and_then(|l| l.split_whitespace().nth(4)?.parse::<u64>().ok())
                .is_some_and(|computed| computed >= 10)
    });
    assert!(seen.contains(&format!("pid {pid}")), "{seen}");
    assert!(
        status_line(&seen, "f").last().unwrap() == "running",
        "{seen}"
    );
    let (status, stderr) = finish(child);
    assert!(status.success(), "{stderr}");
    let (after, _) = ok(d, &["status", "slow.yaml"]);
    assert!(after.contains("completed at"), "{after}");
    assert_eq!(status_line(&after, "f")[4], PACKETS.to_string(), "{after}");
}

#[test]
fn show_during_a_run_prints_what_is_stored_so_far() {
    let dir = workspace(20);
    let d = dir.path();
    ok(d, &["run", "slow.yaml", "--quiet"]);
    // More rows: the run computes 180 packets, and `show` asks it meanwhile.
    write_data(d, PACKETS);
    let child = start_run(d, &[], None);
    wait_until("the run to announce itself", || {
        std::fs::read_to_string(d.join(".orcapod/run-progress.json"))
            .is_ok_and(|p| p.contains("\"running\""))
    });
    let during = shown(d);
    assert!(during.len() >= 20, "{during:?}");
    assert!((0..20).all(|x| during.contains(&x)), "{during:?}");
    // The run answers with the rows of the results stored so far and counts the rest
    // (rows are missing only while it runs: it computes them all).
    let (csv, stderr) = ok(d, &["show", "slow.yaml", "f", "--format", "csv"]);
    let rows = csv.lines().count() - 1;
    if rows < PACKETS {
        assert!(
            stderr.contains(&format!(
                "function node `f`: {} input packets ({} rows) have no stored result",
                PACKETS - rows,
                PACKETS - rows
            )) && stderr.contains("a run of this pipeline is in progress")
                && stderr.contains("the run in progress computes them"),
            "{rows} rows shown:\n{stderr}"
        );
    }
    // `--all-stored` is asked of the run too.
    let (all, _) = ok(
        d,
        &["show", "slow.yaml", "f", "--all-stored", "--format", "csv"],
    );
    assert!(all.lines().count() > 20, "{all}");
    // A file whose node differs from the running one's is refused, not misread.
    std::fs::write(
        d.join("other.yaml"),
        pipeline_yaml("slow")
            .replace("[out]", "[out2]")
            .replace("{out: int}", "{out2: int}"),
    )
    .unwrap();
    let out = output(d, &["show", "other.yaml", "f"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("the file changed since the run started"),
        "{}",
        text(&out.stderr)
    );
    let (status, stderr) = finish(child);
    assert!(status.success(), "{stderr}");
    assert_eq!(shown(d).len(), PACKETS);
}

#[test]
fn graph_status_and_show_never_start_a_command() {
    let dir = workspace(5);
    let d = dir.path();
    ok(d, &["run", "slow.yaml", "--quiet"]);
    let started = d.join("started.txt");
    std::fs::remove_file(&started).unwrap();
    ok(d, &["graph", "slow.yaml"]);
    ok(d, &["status", "slow.yaml"]);
    ok(d, &["show", "slow.yaml", "f"]);
    ok(d, &["show", "slow.yaml", "s"]);
    assert!(!started.exists(), "a read-only command started the command");
    // validate keeps the start probe (and so the marker works).
    ok(d, &["validate", "slow.yaml"]);
    assert!(started.exists(), "validate probes the command");
}

#[test]
fn a_run_log_written_by_an_older_orcapod_stays_readable() {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, LargeStringArray, RecordBatch, UInt64Array};
    use arrow::datatypes::{DataType, Field, Schema};
    use orcapod::store::{ArrowStore, RecordPath, SledStore};

    let dir = workspace(5);
    let d = dir.path();
    {
        // The first layout of the run log: eight columns under `_log/runs`.
        let store = SledStore::open(d.join(".orcapod")).unwrap();
        let text_field = |n: &str| Field::new(n, DataType::LargeUtf8, false);
        let count_field = |n: &str| Field::new(n, DataType::UInt64, false);
        let schema = Arc::new(Schema::new(vec![
            text_field("run_id"),
            text_field("finished_at"),
            text_field("node"),
            count_field("rows_out"),
            count_field("cached"),
            count_field("computed"),
            count_field("failed"),
            text_field("failures"),
        ]));
        let strings = |v: [&str; 2]| -> ArrayRef { Arc::new(LargeStringArray::from(v.to_vec())) };
        let counts = |v: [u64; 2]| -> ArrayRef { Arc::new(UInt64Array::from(v.to_vec())) };
        let batch = RecordBatch::try_new(
            schema,
            vec![
                strings(["0000000000001-1-0"; 2]),
                strings(["2024-05-01T10:00:00.000Z"; 2]),
                strings(["s", "f"]),
                counts([5, 4]),
                counts([0, 1]),
                counts([0, 3]),
                counts([0, 1]),
                strings(["[]", "[]"]),
            ],
        )
        .unwrap();
        store
            .at(&["slow"])
            .unwrap()
            .add_records(
                &RecordPath::new(["_log", "runs"]).unwrap(),
                &["0000000000001-1-0/s".into(), "0000000000001-1-0/f".into()],
                &batch,
                true,
            )
            .unwrap();
        store.flush().unwrap();
    }
    let (status, _) = ok(d, &["status", "slow.yaml"]);
    assert!(status.contains("1 run recorded"), "{status}");
    assert!(status.contains("was not recorded"), "{status}");
    assert_eq!(
        status_line(&status, "f")[2..7],
        ["4", "1", "3", "1", "0"],
        "{status}"
    );
    ok(d, &["run", "slow.yaml", "--quiet"]);
    let (status, _) = ok(d, &["status", "slow.yaml"]);
    assert!(status.contains("2 runs recorded"), "{status}");
    assert!(status.contains("completed at"), "{status}");
}
