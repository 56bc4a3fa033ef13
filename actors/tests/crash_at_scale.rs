//! Crash safety at scale, end to end: `orcapod run` over 120,000 packets is killed
//! (SIGKILL) in the middle of its run; what it had stored stays, each result once; the
//! next run computes exactly the packets it did not store, and its output is the output
//! of a run that was never interrupted, byte for byte. And the id index of the
//! function's results that a run saves is what the next run reads back (a damaged one
//! is built again from the stored batches).
//!
//! The binary under test is the debug build, so the size is a compromise with the
//! suite's time: large enough that the killed run has stored many batches and is well
//! past the store backlog (65,536 rows) when it is killed; `CRASH_n=1000000` in
//! the environment runs it at a million. Time is bounded generously, never measured.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use orcapod_testing::cli::{finish, published_computed, Orcapod};

/// The binary under test.
const ORCAPOD: Orcapod = Orcapod::new(env!("CARGO_BIN_EXE_orcapod"));

/// The number of packets: `CRASH_n`, or 120,000.
fn packets() -> u64 {
    std::env::var("CRASH_n")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(120_000)
}

const PIPELINE: &str = "pipeline: scale\nsources:\n  scores: {csv: scores.csv, tags: [k]}\nnodes:\n  renamed: {op: map_packets, input: scores, name_map: {x: score}}\n  graded: {op: function, input: renamed, builtin: letter_grade}\noutputs: [graded]\n";

/// A directory with `scale.yaml` and `scores.csv`: `k` is `0..n`, every `x` differs
/// (`x = k · 7919 mod n`), so every packet is new to the function.
fn workspace(n: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("k,x\n");
    for k in 0..n {
        csv.push_str(&format!("{k},{}\n", k * 7919 % n));
    }
    std::fs::write(dir.path().join("scores.csv"), csv).unwrap();
    std::fs::write(dir.path().join("scale.yaml"), PIPELINE).unwrap();
    dir
}

/// `orcapod run scale.yaml` into `out/` as CSV, to its end (at most ten minutes);
/// returns the `graded` summary line's (rows, computed, cached, failed).
fn run(dir: &Path, db: &str) -> [u64; 4] {
    let args = [
        "run",
        "scale.yaml",
        "--db",
        db,
        "--out",
        "out",
        "--format",
        "csv",
        "--quiet",
    ];
    let child = ORCAPOD
        .command(dir, &args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (status, stderr) = finish(child, Duration::from_secs(600));
    assert!(status.success(), "orcapod {args:?}: {status}\n{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.split_whitespace().next() == Some("graded"))
        .unwrap_or_else(|| panic!("no summary line for `graded` in:\n{stderr}"));
    let f: Vec<&str> = line.split_whitespace().collect();
    [2, 3, 4, 5].map(|i| f[i].parse().unwrap())
}

/// How many results `show` prints for `graded` (what the store holds).
fn stored(dir: &Path, db: &str) -> u64 {
    let (csv, _) = ORCAPOD.ok(
        dir,
        &[
            "show",
            "scale.yaml",
            "graded",
            "--db",
            db,
            "--format",
            "csv",
        ],
    );
    csv.lines().skip(1).count() as u64
}

#[test]
fn a_run_killed_mid_way_keeps_each_stored_result_once_and_the_next_computes_only_the_rest() {
    let n = packets();
    let dir = workspace(n);
    let d = dir.path();

    // The reference: a run never interrupted, on its own database.
    assert_eq!(run(d, "clean-db"), [n, n, 0, 0]);
    let expected = std::fs::read(d.join("out/graded.csv")).unwrap();
    std::fs::remove_dir_all(d.join("out")).unwrap();

    // Killed once well past a third of the packets.
    let child = ORCAPOD
        .command(d, &["run", "scale.yaml", "--db", "db", "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(600);
    while published_computed(&d.join("db"), "graded") < n / 3 {
        assert!(
            Instant::now() < deadline,
            "the run did not get a third of the way"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let (status, _) = finish(child, Duration::from_secs(60));
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9));

    let kept = stored(d, "db");
    assert!(
        kept > 0 && kept < n,
        "{kept} results stored by the killed run"
    );
    // The next run reuses every stored result and computes exactly the others.
    assert_eq!(run(d, "db"), [n, n - kept, kept, 0]);
    assert_eq!(
        std::fs::read(d.join("out/graded.csv")).unwrap(),
        expected,
        "the output after a crash is the output of a run never interrupted"
    );
    assert_eq!(stored(d, "db"), n);
}

/// The one saved id index in `db`'s `indexes/` (a run saves its function's results'
/// index, not its pipeline records').
fn saved_index(dir: &Path, db: &str) -> std::path::PathBuf {
    let saved: Vec<_> = std::fs::read_dir(dir.join(db).join("indexes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(saved.len(), 1, "{saved:?}");
    saved.into_iter().next().unwrap()
}

/// When `file` was last written.
fn written_at(file: &Path) -> std::time::SystemTime {
    std::fs::metadata(file).unwrap().modified().unwrap()
}

#[test]
fn a_rerun_reads_back_the_results_index_the_run_before_saved_and_rebuilds_a_damaged_one() {
    // Enough packets for the results' index to be saved (65,536 ids).
    let n = 70_000;
    let dir = workspace(n);
    let d = dir.path();
    assert_eq!(run(d, "db"), [n, n, 0, 0]);
    let expected = std::fs::read(d.join("out/graded.csv")).unwrap();
    let index = saved_index(d, "db");
    let (bytes, saved) = (std::fs::read(&index).unwrap(), written_at(&index));

    // Read back, so unchanged and not written again.
    assert_eq!(run(d, "db"), [n, 0, n, 0]);
    assert_eq!(std::fs::read(d.join("out/graded.csv")).unwrap(), expected);
    assert_eq!(
        written_at(&index),
        saved,
        "the saved index was not read back"
    );

    // Cut short, it is not read: the index is built from the batches and saved again
    // (whole), then read back by the run after.
    let cut = bytes.len() / 2;
    std::fs::write(&index, &bytes[..cut]).unwrap();
    let damaged = written_at(&index);
    assert_eq!(run(d, "db"), [n, 0, n, 0]);
    assert_eq!(std::fs::read(d.join("out/graded.csv")).unwrap(), expected);
    let rebuilt = written_at(&index);
    assert!(rebuilt != damaged && std::fs::metadata(&index).unwrap().len() > cut as u64);
    assert_eq!(run(d, "db"), [n, 0, n, 0]);
    assert_eq!(
        written_at(&index),
        rebuilt,
        "the index saved again was not read back"
    );
}
