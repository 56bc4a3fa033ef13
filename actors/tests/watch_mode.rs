//! End-to-end tests of `orcapod run --watch` with the built binary on a folder source in
//! a temporary directory: a new file is computed alone and appears in `--out`, a deleted
//! file's row disappears from it, a failing round is reported and watching goes on, and
//! SIGINT stops the process cleanly (between rounds at once, during a round as a run
//! stops), leaving no command process behind.
//!
//! The command (`measure.py`) appends every path it computes to `answered.txt` and its
//! pid to `pids.txt`, so a test knows exactly which packets were computed and which
//! processes ran. Waits are bounded generously and nothing measures time.

use std::fs;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use orcapod_testing::cli::Orcapod;

/// The binary under test.
const ORCAPOD: Orcapod = Orcapod::new(env!("CARGO_BIN_EXE_orcapod"));

/// Answers a file's size and first line; a file saying `fail` is an `$error`, one
/// saying `slow` makes the process sleep (until it is killed).
const MEASURE: &str = r#"
import json, os, sys, time
with open("pids.txt", "a") as log:
    log.write(str(os.getpid()) + "\n")
for line in sys.stdin:
    path = json.loads(line)["path"]
    with open(path) as f:
        first = f.readline().strip()
    if first == "slow":
        with open("slow_started.txt", "a") as log:
            log.write(path + "\n")
        time.sleep(60)
    with open("answered.txt", "a") as log:
        log.write(path + "\n")
    if first == "fail":
        print(json.dumps({"$error": "cannot measure " + path}), flush=True)
    else:
        print(json.dumps({"size": os.path.getsize(path), "first": first}), flush=True)
"#;

const PIPELINE: &str = r#"pipeline: rec
sources:
  rec:
    files: "rec/*.txt"
    match: "rec/(?P<name>[^/]+)\\.txt$"
nodes:
  measured:
    op: function
    input: rec
    command: [python3, measure.py]
    output_keys: [size, first]
    output_types: {size: int, first: str}
"#;

/// A workspace with `rec/{name}.txt` for each (name, contents).
fn workspace(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("measure.py"), MEASURE).unwrap();
    fs::write(dir.path().join("pipeline.yaml"), PIPELINE).unwrap();
    fs::create_dir_all(dir.path().join("rec")).unwrap();
    for (name, contents) in files {
        write_rec(dir.path(), name, contents);
    }
    dir
}

/// Writes `rec/{name}.txt` whole: a temporary file renamed into place, as most
/// programs do, so the watch never sees half a file.
fn write_rec(dir: &Path, name: &str, contents: &str) {
    let tmp = dir.join(format!("{name}.tmp"));
    fs::write(&tmp, contents).unwrap();
    fs::rename(&tmp, dir.join("rec").join(format!("{name}.txt"))).unwrap();
}

/// Starts `orcapod run pipeline.yaml --watch --interval 200ms --out out` (plus
/// `extra`), its stderr going to `stderr.txt`.
fn start_watch(dir: &Path, extra: &[&str]) -> Child {
    let mut args = vec![
        "run",
        "pipeline.yaml",
        "--watch",
        "--interval",
        "200ms",
        "--out",
        "out",
    ];
    args.extend_from_slice(extra);
    ORCAPOD
        .command(dir, &args)
        .stdout(Stdio::null())
        .stderr(fs::File::create(dir.join("stderr.txt")).unwrap())
        .spawn()
        .unwrap()
}

fn stderr(dir: &Path) -> String {
    fs::read_to_string(dir.join("stderr.txt")).unwrap_or_default()
}

/// Waits until `done` holds, at most a minute (then kills `child` and fails, with the
/// watch's stderr).
fn wait_until(child: &mut Child, dir: &Path, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            panic!("waited for {what}; orcapod's stderr:\n{}", stderr(dir));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends SIGINT and waits (at most a minute) for the process to end.
fn interrupt(child: Child) -> ExitStatus {
    signal(child, "INT")
}

/// Sends signal `name` and waits (at most a minute) for the process to end.
fn signal(mut child: Child, name: &str) -> ExitStatus {
    let status = Command::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("orcapod did not stop within a minute of SIG{name}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The `name` tags of `out/measured.json`'s rows, with their `first` values.
fn out_rows(dir: &Path) -> Vec<(String, String)> {
    let Ok(text) = fs::read_to_string(dir.join("out/measured.json")) else {
        return Vec::new();
    };
    // Written whole and renamed into place: never half a file.
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["first"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The file names (`a.txt`) the command computed, sorted (the workers of a node
/// compute in any order), with repeats.
fn answered(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_to_string(dir.join("answered.txt"))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            Path::new(l)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// Asserts that no command process outlives orcapod by more than about two seconds.
fn no_command_left(dir: &Path) {
    let pids: Vec<u32> = fs::read_to_string(dir.join("pids.txt"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert!(!pids.is_empty(), "the command never started");
    let alive = |pid: u32| match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat[stat.rfind(')').unwrap() + 1..]
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    };
    let deadline = Instant::now() + Duration::from_millis(2500);
    loop {
        let left: Vec<u32> = pids.iter().copied().filter(|&p| alive(p)).collect();
        if left.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            for p in &left {
                let _ = Command::new("kill")
                    .args(["-KILL", &p.to_string()])
                    .status();
            }
            panic!("command processes {left:?} outlived orcapod");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn names(rows: &[(String, String)]) -> Vec<&str> {
    rows.iter().map(|(n, _)| n.as_str()).collect()
}

/// A new file is computed alone and written to `--out`; a deleted file's row leaves
/// it, computing nothing; SIGINT between rounds stops at once (exit 130).
fn new_and_deleted_files(mode: &str) {
    let dir = workspace(&[("a", "alpha"), ("b", "beta")]);
    let d = dir.path();
    let mut watch = start_watch(d, &["--mode", mode]);
    wait_until(&mut watch, d, "the first round", || {
        stderr(d).contains("watching rec (2 files) every 200ms")
    });
    assert_eq!(names(&out_rows(d)), ["a", "b"]);
    assert_eq!(answered(d), ["a.txt", "b.txt"]);

    write_rec(d, "c", "gamma");
    wait_until(&mut watch, d, "round 2 to write c", || {
        names(&out_rows(d)) == ["a", "b", "c"]
    });
    // Exactly the new packet was computed.
    assert_eq!(answered(d), ["a.txt", "b.txt", "c.txt"]);
    round_says(
        &mut watch,
        d,
        2,
        &[
            "rec: 1 added (rec/c.txt) (now 3 files)",
            // Only the new row was fed.
            "fed rec: 1 new or changed row of 3 ·",
            "measured: 1 computed, 0 cached",
            "output rows: measured 3",
        ],
    );

    fs::remove_file(d.join("rec/a.txt")).unwrap();
    wait_until(&mut watch, d, "round 3 to drop a", || {
        names(&out_rows(d)) == ["b", "c"]
    });
    round_says(
        &mut watch,
        d,
        3,
        &[
            "rec: 1 deleted (rec/a.txt) (now 2 files)",
            // Nothing was fed: the deleted file's row was withdrawn from the kept rows.
            "fed rec: 0 new or changed rows of 2, 1 old row withdrawn",
            "measured: 0 computed, 0 cached",
            "source rows: rec 3 → 2",
        ],
    );
    // Nothing was computed again, and the all-info file lost the row too.
    assert_eq!(answered(d), ["a.txt", "b.txt", "c.txt"]);
    let all_info = fs::read_to_string(d.join("out/measured.all_info.json")).unwrap();
    assert!(!all_info.contains("rec/a.txt"), "{all_info}");
    // No round without a change.
    let err = stderr(d);
    assert!(!err.contains("round 4"), "{err}");
    // While watching, `status` shows the round and `show` (through the watching
    // process) the latest round's rows.
    let (status, _) = ORCAPOD.ok(d, &["status", "pipeline.yaml"]);
    assert!(
        status.contains("watching the sources (--watch): round 3 ended; waiting for a change"),
        "{status}"
    );
    let (shown, _) = ORCAPOD.ok(d, &["show", "pipeline.yaml", "measured", "--format", "csv"]);
    assert!(
        shown.contains("b,") && shown.contains("c,") && !shown.contains("a,"),
        "{shown}"
    );

    let status = interrupt(watch);
    assert_eq!(status.code(), Some(130), "{}", stderr(d));
    let err = stderr(d);
    assert!(
        err.contains("interrupted by SIGINT between rounds: stopped watching after 3 rounds"),
        "{err}"
    );
    no_command_left(d);
    // The database is closed and the results are there: `show` gives the last round.
    let (shown, _) = ORCAPOD.ok(d, &["show", "pipeline.yaml", "measured", "--format", "csv"]);
    assert!(
        shown.contains("b,") && shown.contains("c,") && !shown.contains("a,"),
        "{shown}"
    );
}

#[test]
fn a_new_file_is_computed_alone_and_a_deleted_one_leaves_the_outputs() {
    new_and_deleted_files("actors");
}

#[test]
fn watching_works_in_sync_mode_too() {
    new_and_deleted_files("sync");
}

#[test]
fn a_failing_round_is_reported_and_watching_goes_on_until_sigterm() {
    let dir = workspace(&[("a", "alpha")]);
    let d = dir.path();
    let mut watch = start_watch(d, &[]);
    wait_until(&mut watch, d, "the first round", || {
        stderr(d).contains("watching rec")
    });
    write_rec(d, "b", "fail");
    wait_until(&mut watch, d, "round 2 to fail", || {
        stderr(d).contains("round 2 failed")
    });
    let err = stderr(d);
    let line = err
        .lines()
        .find(|l| l.starts_with("round 2 failed"))
        .unwrap();
    assert!(line.contains("cannot measure"), "{err}");
    assert!(line.contains("--out keeps round 1's files"), "{err}");
    assert!(line.contains("still watching"), "{err}");
    assert_eq!(names(&out_rows(d)), ["a"]);

    // The fix is picked up by the next look.
    write_rec(d, "b", "better");
    wait_until(&mut watch, d, "round 3 to write b", || {
        names(&out_rows(d)) == ["a", "b"]
    });
    assert_eq!(answered(d), ["a.txt", "b.txt", "b.txt"]);
    // SIGTERM between rounds stops at once too, with its own code.
    assert_eq!(signal(watch, "TERM").code(), Some(143));
    assert!(
        stderr(d)
            .contains("interrupted by SIGTERM between rounds: stopped watching after 3 rounds"),
        "{}",
        stderr(d)
    );
    no_command_left(d);
}

#[test]
fn sigint_during_a_round_stops_it_as_it_stops_a_run() {
    let dir = workspace(&[("a", "alpha")]);
    let d = dir.path();
    let mut watch = start_watch(d, &[]);
    wait_until(&mut watch, d, "the first round", || {
        stderr(d).contains("watching rec")
    });
    write_rec(d, "b", "slow");
    wait_until(&mut watch, d, "round 2's slow packet", || {
        d.join("slow_started.txt").exists()
    });
    let status = interrupt(watch);
    assert_eq!(status.code(), Some(130), "{}", stderr(d));
    let err = stderr(d);
    assert!(
        err.contains("interrupted by SIGINT: 1 result stored"),
        "{err}"
    );
    no_command_left(d);
    // The interrupted round wrote nothing: `--out` still holds round 1's files.
    assert_eq!(names(&out_rows(d)), ["a"]);
}

#[test]
fn the_interval_must_be_a_positive_duration_and_needs_watch() {
    let dir = workspace(&[("a", "alpha")]);
    let d = dir.path();
    for bad in ["0", "0ms", "soon", "2x"] {
        let err = ORCAPOD.fails(
            d,
            &["run", "pipeline.yaml", "--watch", "--interval", bad],
            2,
        );
        assert!(err.contains("--interval"), "{bad}: {err}");
    }
    let err = ORCAPOD.fails(
        d,
        &["run", "pipeline.yaml", "--watch", "--interval", "0"],
        2,
    );
    assert!(err.contains("more than zero"), "{err}");
    let err = ORCAPOD.fails(d, &["run", "pipeline.yaml", "--interval", "2s"], 2);
    assert!(err.contains("--watch"), "{err}");
    // Nothing ran.
    assert!(!d.join(".orcapod").exists());
}

/// [`PIPELINE`] with `rec`'s rows joined with a table of subjects (`subjects.csv`,
/// `name,group`) in `by`, and batched in `grouped`; the one output named.
fn joined(output: &str) -> String {
    let with_subjects = PIPELINE.replace(
        "nodes:\n",
        "  subjects: {csv: subjects.csv, tags: [name]}\nnodes:\n",
    );
    format!(
        "{with_subjects}  by: {{op: join, inputs: [subjects, measured]}}\n  \
         grouped: {{op: batch, input: measured}}\noutputs: [{output}]\n"
    )
}

/// Writes `name` whole (a temporary file renamed into place).
fn write_whole(dir: &Path, name: &str, contents: &str) {
    let tmp = dir.join(format!("{name}.tmp"));
    fs::write(&tmp, contents).unwrap();
    fs::rename(&tmp, dir.join(name)).unwrap();
}

/// Waits for round `n`'s line, and asserts that it says each of `parts`.
fn round_says(watch: &mut Child, dir: &Path, n: u32, parts: &[&str]) {
    let start = format!("round {n}: ");
    wait_until(watch, dir, &start, || stderr(dir).contains(&start));
    let err = stderr(dir);
    let line = err.lines().find(|l| l.starts_with(&start)).unwrap();
    for part in parts {
        assert!(
            line.contains(part),
            "round {n} does not say {part:?}: {line}"
        );
    }
}

/// Asserts that `out/{output}.csv` holds exactly the rows `show` computes from the
/// sources as they are and the results stored: a round fed only what changed writes
/// what a full run would.
fn out_is_what_show_gives(dir: &Path, output: &str) -> String {
    let written = fs::read_to_string(dir.join(format!("out/{output}.csv"))).unwrap();
    let (shown, _) = ORCAPOD.ok(dir, &["show", "pipeline.yaml", output, "--format", "csv"]);
    assert_eq!(written, shown);
    written
}

#[test]
fn a_round_feeds_only_the_new_or_changed_rows_through_a_join() {
    let dir = workspace(&[("a", "alpha"), ("b", "beta"), ("c", "gamma")]);
    let d = dir.path();
    fs::write(d.join("pipeline.yaml"), joined("by")).unwrap();
    write_whole(d, "subjects.csv", "name,group\na,x\nb,y\nc,z\n");
    let mut watch = start_watch(d, &["--format", "csv"]);
    wait_until(&mut watch, d, "the first round", || {
        stderr(d).contains("watching rec (3 files), subjects (1 file)")
    });
    out_is_what_show_gives(d, "by");

    // A new file: only its row is fed (the subjects whole, to join it), and computed.
    write_rec(d, "d", "delta");
    round_says(
        &mut watch,
        d,
        2,
        &[
            "fed rec: 1 new or changed row of 4; `subjects` whole",
            "measured: 1 computed, 0 cached",
            "output rows: by 3",
        ],
    );
    assert_eq!(answered(d), ["a.txt", "b.txt", "c.txt", "d.txt"]);
    out_is_what_show_gives(d, "by");

    // Its subject arrives: the new subject row is fed, and d's row joins.
    write_whole(d, "subjects.csv", "name,group\na,x\nb,y\nc,z\nd,w\n");
    round_says(
        &mut watch,
        d,
        3,
        &[
            "fed subjects: 1 new or changed row of 4; `rec` whole",
            "measured: 0 computed, 4 cached",
            "output rows: by 4",
        ],
    );
    let rows = out_is_what_show_gives(d, "by");
    assert!(rows.contains("d,w,"), "{rows}");

    // A subject's row edited: its old joined row is withdrawn, the new one fed.
    write_whole(d, "subjects.csv", "name,group\na,x\nb,v\nc,z\nd,w\n");
    round_says(
        &mut watch,
        d,
        4,
        &[
            "fed subjects: 1 new or changed row of 4, 1 old row withdrawn",
            "output rows: by 4",
        ],
    );
    let rows = out_is_what_show_gives(d, "by");
    assert!(rows.contains("b,v,") && !rows.contains("b,y,"), "{rows}");

    // A file edited: it alone is computed again, its old row withdrawn.
    write_rec(d, "a", "aleph");
    round_says(
        &mut watch,
        d,
        5,
        &[
            "fed rec: 1 new or changed row of 4, 1 old row withdrawn",
            "measured: 1 computed, 0 cached",
        ],
    );
    let rows = out_is_what_show_gives(d, "by");
    assert!(rows.contains("aleph") && !rows.contains("alpha"), "{rows}");
    assert_eq!(answered(d), ["a.txt", "a.txt", "b.txt", "c.txt", "d.txt"]);
    // Only the last round's rows are kept (once the round has concluded, just after
    // its line).
    wait_until(&mut watch, d, "one kept directory", || {
        fs::read_dir(d.join(".orcapod/watch")).unwrap().count() == 1
    });

    assert_eq!(interrupt(watch).code(), Some(130), "{}", stderr(d));
    // What the rounds kept is gone with the process.
    assert!(!d.join(".orcapod/watch").exists());
}

#[test]
fn a_change_through_a_batch_feeds_every_row_and_says_why() {
    let dir = workspace(&[("a", "alpha"), ("b", "beta")]);
    let d = dir.path();
    fs::write(d.join("pipeline.yaml"), joined("grouped")).unwrap();
    write_whole(d, "subjects.csv", "name,group\na,x\n");
    let mut watch = start_watch(d, &["--format", "csv"]);
    wait_until(&mut watch, d, "the first round", || {
        stderr(d).contains("watching rec (2 files)")
    });
    write_rec(d, "c", "gamma");
    round_says(
        &mut watch,
        d,
        2,
        &[
            "every row fed (source `rec` changed, and node `grouped` needs every row it reads)",
            "measured: 1 computed, 2 cached",
        ],
    );
    let rows = out_is_what_show_gives(d, "grouped");
    assert!(rows.contains("gamma"), "{rows}");
    assert_eq!(interrupt(watch).code(), Some(130), "{}", stderr(d));
}

#[test]
fn a_failed_round_leaves_its_changes_to_the_next() {
    let dir = workspace(&[("a", "alpha")]);
    let d = dir.path();
    fs::write(d.join("pipeline.yaml"), joined("by")).unwrap();
    write_whole(d, "subjects.csv", "name,group\na,x\nb,y\n");
    let mut watch = start_watch(d, &["--format", "csv"]);
    wait_until(&mut watch, d, "the first round", || {
        stderr(d).contains("watching rec")
    });
    // The subjects table breaks: rounds fail, one of them with a new file.
    write_whole(d, "subjects.csv", "name,group\na,x,extra\nb,y\n");
    wait_until(&mut watch, d, "round 2 to fail", || {
        stderr(d).contains("round 2 failed")
    });
    write_rec(d, "b", "beta");
    wait_until(&mut watch, d, "round 3 to fail", || {
        stderr(d).contains("round 3 failed")
    });
    // Mended: the round feeds the new file too, though only the table changed since.
    write_whole(d, "subjects.csv", "name,group\na,x\nb,y\n");
    round_says(&mut watch, d, 4, &["output rows: by 2"]);
    let rows = out_is_what_show_gives(d, "by");
    assert!(rows.contains("beta"), "{rows}");
    assert_eq!(interrupt(watch).code(), Some(130), "{}", stderr(d));
}

#[test]
fn new_rows_too_many_to_hold_feed_their_source_whole() {
    let dir = workspace(&[("a", "alpha"), ("b", "beta")]);
    let d = dir.path();
    fs::write(d.join("pipeline.yaml"), joined("by")).unwrap();
    write_whole(d, "subjects.csv", "name,group\na,x\nb,y\nc,z\n");
    // A memory limit of one byte: no new row can be held.
    let mut watch = start_watch(d, &["--format", "csv", "--memory-limit", "1"]);
    wait_until(&mut watch, d, "the first round", || {
        stderr(d).contains("watching rec")
    });
    write_whole(d, "subjects.csv", "name,group\na,x\nb,v\nc,z\n");
    round_says(
        &mut watch,
        d,
        2,
        &["fed subjects: 1 new or changed row of 3 (too many to hold: fed whole), 1 old row withdrawn"],
    );
    let rows = out_is_what_show_gives(d, "by");
    assert!(rows.contains("b,v,") && !rows.contains("b,y,"), "{rows}");
    write_rec(d, "c", "gamma");
    round_says(
        &mut watch,
        d,
        3,
        &["(too many to hold: fed whole)", "output rows: by 3"],
    );
    out_is_what_show_gives(d, "by");
    assert_eq!(interrupt(watch).code(), Some(130), "{}", stderr(d));
}
