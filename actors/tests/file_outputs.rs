//! End-to-end tests of files written by functions: a command writes a file under
//! `ORCAPOD_OUT_DIR` and answers its path; orcapod moves it into the database's
//! content-addressed `files/` area, `show` prints the stored path, re-runs find it
//! again, and `--out` copies it into `out/files/` and names the copy. With the built
//! `orcapod` binary on real files in a temporary directory.
//!
//! The command (`summarise.py`) fails any packet whose scratch directory is not empty
//! when the packet starts, leaves a stray file there besides the one it answers, and
//! logs every packet it computes to `answered.txt`.

use std::fs;
use std::path::{Path, PathBuf};

use orcapod_testing::cli::Orcapod;

/// The binary under test.
const ORCAPOD: Orcapod = Orcapod::new(env!("CARGO_BIN_EXE_orcapod"));

/// Takes `{path: file}`; writes `summary.csv` (the file's line count) under
/// `ORCAPOD_OUT_DIR` and answers it.
const SUMMARISE: &str = r#"
import json, os, sys
out = os.environ["ORCAPOD_OUT_DIR"]
for line in sys.stdin:
    p = json.loads(line)
    if not os.path.isdir(out) or os.listdir(out):
        print(json.dumps({"$error": "ORCAPOD_OUT_DIR is not a fresh empty directory"}), flush=True)
        continue
    with open("answered.txt", "a") as log:
        log.write(p["path"] + "\n")
    with open(p["path"]) as f:
        lines = len(f.read().splitlines())
    os.makedirs(os.path.join(out, "sub"))
    target = os.path.join(out, "sub", "summary.csv")
    with open(target, "w") as f:
        f.write("lines\n%d\n" % lines)
    with open(os.path.join(out, "stray.tmp"), "w") as f:
        f.write("not answered")
    print(json.dumps({"summary": target}), flush=True)
"#;

/// Takes `{path: file}` and answers its first data line.
const READ_BACK: &str = r#"
import json, sys
for line in sys.stdin:
    p = json.loads(line)
    with open(p["path"]) as f:
        print(json.dumps({"lines": int(f.read().splitlines()[1])}), flush=True)
"#;

const PIPELINE: &str = r#"pipeline: outs
sources:
  rec:
    files: "recordings/*/*.txt"
    match: "recordings/(?P<subject>[^/]+)/(?P<session>\\d+)\\.txt$"
nodes:
  summarised:
    op: function
    input: rec
    command: [python3, summarise.py]
    output_keys: [summary]
    output_types: {summary: file}
  renamed: {op: map_packets, input: summarised, name_map: {summary: path}}
  counted:
    op: function
    input: renamed
    command: [python3, read_back.py]
    output_keys: [lines]
    output_types: {lines: int}
outputs: [summarised, counted]
"#;

fn workspace() -> tempfile::TempDir {
    let ws = tempfile::tempdir().unwrap();
    let dir = ws.path();
    fs::write(dir.join("summarise.py"), SUMMARISE).unwrap();
    fs::write(dir.join("read_back.py"), READ_BACK).unwrap();
    fs::write(dir.join("p.yaml"), PIPELINE).unwrap();
    // s1/1 and s1/2 have two lines each: identical summaries.
    for (subject, session, text) in [
        ("s1", "1", "a\nb\n"),
        ("s1", "2", "c\nd\n"),
        ("s2", "1", "e\n"),
    ] {
        let d = dir.join("recordings").join(subject);
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join(format!("{session}.txt")), text).unwrap();
    }
    ws
}

/// The summary line of `node` in a run's stderr: (rows, computed, cached).
fn summary(stderr: &str, node: &str) -> (u64, u64, u64) {
    let line = stderr
        .lines()
        .find(|l| l.split_whitespace().next() == Some(node))
        .unwrap_or_else(|| panic!("no summary line for `{node}` in:\n{stderr}"));
    let f: Vec<&str> = line.split_whitespace().collect();
    let n = |s: &str| s.parse().unwrap_or_else(|_| panic!("`{s}` in:\n{stderr}"));
    (n(f[2]), n(f[3]), n(f[4]))
}

/// Every regular file under `dir`, recursively, sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return found;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found.sort();
    found
}

fn rows_of(json_path: &Path) -> Vec<serde_json::Value> {
    let value: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(json_path).unwrap()).unwrap();
    value["rows"].as_array().unwrap().clone()
}

fn answered(dir: &Path) -> usize {
    fs::read_to_string(dir.join("answered.txt"))
        .unwrap_or_default()
        .lines()
        .count()
}

#[test]
fn files_written_by_a_command_are_stored_once_by_content_and_copied_by_out() {
    for mode in ["actors", "sync"] {
        let ws = workspace();
        let dir = ws.path();
        let args = ["run", "p.yaml", "--out", "out", "--mode", mode];
        let (_, stderr) = ORCAPOD.ok(dir, &args);
        assert_eq!(
            summary(&stderr, "summarised"),
            (3, 3, 0),
            "{mode}: {stderr}"
        );
        // Two of its inputs are the same file content: computed once.
        assert_eq!(summary(&stderr, "counted"), (3, 2, 1), "{mode}: {stderr}");
        assert_eq!(answered(dir), 3);

        // Two distinct contents: two stored files, named by their SHA-256, read-only;
        // no scratch directory is left.
        let area = dir.join(".orcapod/files");
        let stored = files_under(&area);
        assert_eq!(stored.len(), 2, "{mode}: {stored:?}");
        assert!(
            !area.join(".scratch").exists(),
            "{mode}: scratch left behind"
        );
        for file in &stored {
            let rel = file
                .strip_prefix(&area)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let (prefix, name) = rel.split_once('/').unwrap();
            assert_eq!(prefix.len(), 2, "{rel}");
            assert!(name.ends_with(".csv") && name.len() == 62 + 4, "{rel}");
            assert!(
                fs::metadata(file).unwrap().permissions().readonly(),
                "{rel}"
            );
        }

        // `--out` copies them into out/files/ and the rows name the copies.
        let rows = rows_of(&dir.join("out/summarised.json"));
        let names: Vec<&str> = rows
            .iter()
            .map(|r| r["summary"].as_str().unwrap())
            .collect();
        assert_eq!(names[0], names[1], "{mode}: identical files, one copy");
        assert_ne!(names[0], names[2]);
        assert_eq!(
            fs::read_to_string(dir.join("out").join(names[0])).unwrap(),
            "lines\n2\n"
        );
        assert_eq!(
            fs::read_to_string(dir.join("out").join(names[2])).unwrap(),
            "lines\n1\n"
        );
        assert_eq!(files_under(&dir.join("out/files")).len(), 2);
        for file in &stored {
            let rel = file
                .strip_prefix(&area)
                .unwrap()
                .to_string_lossy()
                .replace('/', "");
            assert!(
                names.contains(&format!("files/{rel}").as_str()),
                "{rel} in {names:?}"
            );
        }
        // The downstream node read the stored files.
        let counted = rows_of(&dir.join("out/counted.json"));
        let lines: Vec<i64> = counted
            .iter()
            .map(|r| r["lines"].as_i64().unwrap())
            .collect();
        assert_eq!(lines, [2, 2, 1]);

        // `show` prints the stored paths.
        let (shown, _) = ORCAPOD.ok(dir, &["show", "p.yaml", "summarised", "--format", "csv"]);
        let shown_paths: Vec<PathBuf> = shown
            .lines()
            .skip(1)
            .map(|l| PathBuf::from(l.rsplit(',').next().unwrap()))
            .collect();
        assert_eq!(shown_paths.len(), 3, "{shown}");
        for path in &shown_paths {
            let path = fs::canonicalize(path).unwrap();
            assert!(stored.contains(&path), "{path:?} not in {stored:?}");
        }

        // A re-run computes nothing and names the same files.
        let (_, stderr) = ORCAPOD.ok(dir, &args);
        assert_eq!(
            summary(&stderr, "summarised"),
            (3, 0, 3),
            "{mode}: {stderr}"
        );
        assert_eq!(summary(&stderr, "counted"), (3, 0, 3), "{mode}: {stderr}");
        assert_eq!(answered(dir), 3);
        assert_eq!(rows_of(&dir.join("out/summarised.json")), rows);
        assert_eq!(files_under(&area), stored);

        // In CSV too, the rows name the copies.
        ORCAPOD.ok(dir, &["run", "p.yaml", "--out", "csv", "--format", "csv"]);
        let csv = fs::read_to_string(dir.join("csv/summarised.csv")).unwrap();
        for name in &names {
            assert!(csv.contains(name), "{name} in {csv}");
            assert!(dir.join("csv").join(name).is_file(), "{name}");
        }

        // A stored file deleted by hand is a clear error, not a value naming nothing.
        let gone = &stored[0];
        fs::remove_file(gone).unwrap();
        let message = ORCAPOD.fails(dir, &args, 1);
        assert!(message.contains("is gone"), "{mode}: {message}");
        assert!(
            message.contains(&gone.display().to_string()),
            "{mode}: {message}"
        );
    }
}

#[test]
fn a_directory_answered_from_the_scratch_directory_fails_its_packet() {
    let ws = workspace();
    let dir = ws.path();
    let script = SUMMARISE.replace(
        r#"print(json.dumps({"summary": target}), flush=True)"#,
        r#"print(json.dumps({"summary": os.path.join(out, "sub")}), flush=True)"#,
    );
    fs::write(dir.join("summarise.py"), script).unwrap();
    let yaml = PIPELINE.replace("pipeline: outs", "pipeline: outs\non_error: continue");
    fs::write(dir.join("p.yaml"), yaml).unwrap();
    let (_, stderr) = ORCAPOD.ok(dir, &["run", "p.yaml"]);
    assert_eq!(summary(&stderr, "summarised").0, 0, "{stderr}");
    let (status, _) = ORCAPOD.ok(dir, &["status", "p.yaml"]);
    assert!(status.contains("not a regular file"), "{status}");
    assert!(!dir.join(".orcapod/files/.scratch").exists());

    // A failed run (fail-fast) leaves no scratch directory either.
    fs::write(dir.join("p.yaml"), PIPELINE).unwrap();
    let message = ORCAPOD.fails(dir, &["run", "p.yaml"], 1);
    assert!(message.contains("not a regular file"), "{message}");
    assert!(!dir.join(".orcapod/files/.scratch").exists());
}

/// Copies the directory `from` into `to`, recursively.
fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == ".orcapod" || name == "out" {
            continue;
        }
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &to.join(&name));
        } else {
            fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
}

#[test]
fn the_recordings_example_runs_and_a_new_recording_is_all_a_rerun_computes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let ws = tempfile::tempdir().unwrap();
    let dir = ws.path();
    copy_dir(&root.join("examples/recordings"), dir);
    let args = ["run", "pipeline.yaml", "--out", "out"];
    let (_, stderr) = ORCAPOD.ok(dir, &args);
    assert_eq!(summary(&stderr, "summarised"), (5, 5, 0), "{stderr}");
    let rows = rows_of(&dir.join("out/by_subject.json"));
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0]["name"], "Ada");
    assert_eq!(rows[4]["name"], "Cleo");
    for row in &rows {
        let plot = row["plot"].as_str().unwrap();
        assert!(
            plot.starts_with("files/") && plot.ends_with(".svg"),
            "{plot}"
        );
        let svg = fs::read_to_string(dir.join("out").join(plot)).unwrap();
        assert!(
            svg.starts_with("<svg ") && svg.contains("polyline"),
            "{svg}"
        );
    }
    assert_eq!(files_under(&dir.join(".orcapod/files")).len(), 5);

    // The README's walk-through: a new recording is the only packet computed.
    fs::write(dir.join("recordings/s03/2.csv"), "t,value\n0,1.0\n1,2.0\n").unwrap();
    let (_, stderr) = ORCAPOD.ok(dir, &args);
    assert_eq!(summary(&stderr, "summarised"), (6, 1, 5), "{stderr}");
    assert_eq!(rows_of(&dir.join("out/by_subject.json")).len(), 6);
    assert_eq!(files_under(&dir.join("out/files")).len(), 6);
}
