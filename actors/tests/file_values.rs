//! End-to-end tests of files as values: folder sources (`files:`, `dirs:`, `match:`),
//! `file` and `dir` columns whose identity is their content, and the cache of file
//! hashes, with the built `orcapod` binary on real files in a temporary directory.
//!
//! The command of these pipelines (`measure.py`) appends the path of every packet it
//! computes to `answered.txt`, so a test knows exactly which packets were computed, in
//! which run, besides the summary's counts. Nothing here measures time.

use std::fs;
use std::path::Path;

use orcapod_testing::cli::Orcapod;

/// The binary under test.
const ORCAPOD: Orcapod = Orcapod::new(env!("CARGO_BIN_EXE_orcapod"));

/// A command taking `{path: file}` (and any other columns) and answering the file's
/// size and first line; it logs each path it is given, and fails on a relative one.
const MEASURE: &str = r#"
import json, os, sys
for line in sys.stdin:
    p = json.loads(line)
    path = p["path"]
    if not os.path.isabs(path):
        print(json.dumps({"$error": "relative path " + path}), flush=True)
        continue
    with open("answered.txt", "a") as log:
        log.write(path + "\n")
    with open(path) as f:
        first = f.readline().strip()
    print(json.dumps({"size": os.path.getsize(path), "first": first}), flush=True)
"#;

/// A command taking `{path: dir}` and answering how many files are under it.
const COUNT: &str = r#"
import json, os, sys
for line in sys.stdin:
    p = json.loads(line)
    with open("answered_dirs.txt", "a") as log:
        log.write(p["path"] + "\n")
    n = sum(len(files) for _, _, files in os.walk(p["path"]))
    print(json.dumps({"files": n}), flush=True)
"#;

/// A pipeline measuring every file `glob` matches, tagged by subject and session.
fn measure_pipeline(glob: &str, folder: &str) -> String {
    format!(
        r#"pipeline: rec
sources:
  rec:
    files: "{glob}"
    match: "{folder}/(?P<subject>[^/]+)/(?P<session>\\d+)\\.txt$"
nodes:
  measured:
    op: function
    input: rec
    command: [python3, measure.py]
    output_keys: [size, first]
    output_types: {{size: int, first: str}}
"#
    )
}

/// Writes `recordings/{subject}/{session}.txt` for each (subject, session, contents).
fn write_recordings(dir: &Path, files: &[(&str, &str, &str)]) {
    for (subject, session, contents) in files {
        let d = dir.join("recordings").join(subject);
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join(format!("{session}.txt")), contents).unwrap();
    }
}

fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("measure.py"), MEASURE).unwrap();
    fs::write(dir.path().join("count.py"), COUNT).unwrap();
    dir
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

/// The run's file-hash counts: (files hashed, bytes read, from the cache).
fn hash_counts(stderr: &str) -> (u64, u64, u64) {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("file hashes: "))
        .unwrap_or_else(|| panic!("no file-hash line in:\n{stderr}"));
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    (numbers[0], numbers[1], numbers[2])
}

/// The lines of a log file (none when it does not exist).
fn logged(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

fn rows_of(json_path: &Path) -> Vec<serde_json::Value> {
    let value: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(json_path).unwrap()).unwrap();
    value["rows"].as_array().unwrap().clone()
}

#[test]
fn renaming_the_data_folder_computes_nothing_again() {
    for mode in ["actors", "sync"] {
        let ws = workspace();
        let dir = ws.path();
        write_recordings(
            dir,
            &[
                ("s1", "1", "alpha\n"),
                ("s1", "2", "beta\n"),
                ("s2", "1", "gamma\n"),
                ("s2", "7", "delta\n"),
            ],
        );
        fs::write(
            dir.join("p.yaml"),
            measure_pipeline("recordings/*/*.txt", "recordings"),
        )
        .unwrap();
        let args = ["run", "p.yaml", "--mode", mode, "--out", "out"];
        let (_, stderr) = ORCAPOD.ok(dir, &args);
        assert_eq!(summary(&stderr, "measured"), (4, 4, 0), "{stderr}");
        assert_eq!(logged(&dir.join("answered.txt")).len(), 4);
        let first_rows = rows_of(&dir.join("out/measured.json"));

        // The folder is renamed (and the glob with it): every file is the same content.
        fs::rename(dir.join("recordings"), dir.join("renamed")).unwrap();
        fs::write(
            dir.join("p.yaml"),
            measure_pipeline("renamed/*/*.txt", "renamed"),
        )
        .unwrap();
        let (_, stderr) = ORCAPOD.ok(dir, &args);
        assert_eq!(summary(&stderr, "measured"), (4, 0, 4), "{mode}: {stderr}");
        assert_eq!(
            logged(&dir.join("answered.txt")).len(),
            4,
            "{mode}: the command ran again"
        );
        // The same rows; provenance names the files where they are now.
        assert_eq!(rows_of(&dir.join("out/measured.json")), first_rows);
        let all_info = fs::read_to_string(dir.join("out/measured.all_info.json")).unwrap();
        assert!(all_info.contains("\"renamed/s2/7.txt\""), "{all_info}");
        assert!(!all_info.contains("recordings/"), "{all_info}");
    }
}

#[test]
fn editing_one_file_recomputes_exactly_its_dependants() {
    let ws = workspace();
    let dir = ws.path();
    write_recordings(
        dir,
        &[
            ("s1", "1", "alpha\n"),
            ("s1", "2", "beta\n"),
            ("s2", "1", "gamma\n"),
            // The same content as s1/1: one packet, computed once.
            ("s2", "2", "alpha\n"),
        ],
    );
    let mut yaml = measure_pipeline("recordings/*/*.txt", "recordings");
    yaml = yaml.replace(
        "nodes:\n",
        "  subjects:\n    dirs: \"recordings/*\"\n    match: \"recordings/(?P<subject>[^/]+)$\"\nnodes:\n",
    );
    yaml.push_str(
        "  counted:\n    op: function\n    input: subjects\n    command: [python3, count.py]\n    output_keys: [files]\n    output_types: {files: int}\n",
    );
    fs::write(dir.join("p.yaml"), &yaml).unwrap();
    let args = ["run", "p.yaml", "--out", "out"];
    let (_, stderr) = ORCAPOD.ok(dir, &args);
    assert_eq!(summary(&stderr, "measured"), (4, 3, 1), "{stderr}");
    assert_eq!(summary(&stderr, "counted"), (2, 2, 0), "{stderr}");
    // Each file read once, though s1/1 and s2/2 appear twice (files and directories).
    assert_eq!(hash_counts(&stderr).0, 4, "{stderr}");

    // Nothing changed: nothing computed, no file read.
    let (_, stderr) = ORCAPOD.ok(dir, &args);
    assert_eq!(summary(&stderr, "measured"), (4, 0, 4), "{stderr}");
    assert_eq!(summary(&stderr, "counted"), (2, 0, 2), "{stderr}");
    assert_eq!(hash_counts(&stderr).0, 0, "{stderr}");
    assert_eq!(hash_counts(&stderr).1, 0, "{stderr}");

    // One file edited: its packet and its directory, nothing else.
    let before = logged(&dir.join("answered.txt")).len();
    fs::write(dir.join("recordings/s1/2.txt"), "BETA, edited\n").unwrap();
    let (_, stderr) = ORCAPOD.ok(dir, &args);
    assert_eq!(summary(&stderr, "measured"), (4, 1, 3), "{stderr}");
    assert_eq!(summary(&stderr, "counted"), (2, 1, 1), "{stderr}");
    assert_eq!(
        hash_counts(&stderr).0,
        1,
        "only the edited file is read: {stderr}"
    );
    let answered = logged(&dir.join("answered.txt"));
    assert_eq!(answered.len(), before + 1);
    assert!(answered.last().unwrap().ends_with("recordings/s1/2.txt"));
    let dirs = logged(&dir.join("answered_dirs.txt"));
    assert_eq!(dirs.len(), 3);
    assert!(dirs.last().unwrap().ends_with("recordings/s1"));
    let rows = rows_of(&dir.join("out/measured.json"));
    let edited = rows
        .iter()
        .find(|r| r["subject"] == "s1" && r["session"] == "2")
        .unwrap();
    assert_eq!(edited["first"], "BETA, edited");
}

#[test]
fn a_folder_source_joins_a_csv_table_and_file_columns_export_as_paths() {
    let ws = workspace();
    let dir = ws.path();
    write_recordings(
        dir,
        &[
            ("s1", "1", "alpha\n"),
            ("s2", "1", "gamma\n"),
            ("s3", "1", "x\n"),
        ],
    );
    // A table of subjects, with a `file` column naming a note beside it.
    fs::create_dir(dir.join("notes")).unwrap();
    fs::write(dir.join("notes/n1.txt"), "first note\n").unwrap();
    fs::write(dir.join("notes/n2.txt"), "second note\n").unwrap();
    fs::write(
        dir.join("notes/subjects.csv"),
        "subject,age,note\ns1,31,n1.txt\ns2,42,n2.txt\n",
    )
    .unwrap();
    let yaml = format!(
        "{}  subjects: {{csv: notes/subjects.csv, tags: [subject], types: {{note: file}}}}\nnodes:\n  joined: {{op: join, inputs: [rec, subjects]}}\n  notes:\n    op: select_packet_columns\n    input: joined\n    columns: [note]\n  renamed:\n    op: map_packets\n    input: notes\n    name_map: {{note: path}}\n  measured:\n    op: function\n    input: renamed\n    command: [python3, measure.py]\n    output_keys: [size, first]\n    output_types: {{size: int, first: str}}\noutputs: [joined, measured]\n",
        measure_pipeline("recordings/*/*.txt", "recordings")
            .split("nodes:\n")
            .next()
            .unwrap()
    );
    fs::write(dir.join("p.yaml"), yaml).unwrap();
    for format in ["json", "csv", "arrow", "parquet"] {
        let out = format!("out-{format}");
        let (_, stderr) = ORCAPOD.ok(dir, &["run", "p.yaml", "--out", &out, "--format", format]);
        assert!(stderr.contains("wrote"), "{stderr}");
    }
    // s3 has no row in the table: the join keeps s1 and s2.
    let joined = rows_of(&dir.join("out-json/joined.json"));
    assert_eq!(joined.len(), 2);
    let abs = |p: &str| dir.join(p).display().to_string();
    assert_eq!(joined[0]["subject"], "s1");
    assert_eq!(joined[0]["path"], abs("recordings/s1/1.txt"));
    assert_eq!(joined[0]["note"], abs("notes/n1.txt"));
    let csv = fs::read_to_string(dir.join("out-csv/joined.csv")).unwrap();
    assert!(
        csv.contains(&format!(
            "s2,1,{},42,{}",
            abs("recordings/s2/1.txt"),
            abs("notes/n2.txt")
        )),
        "{csv}"
    );
    // The notes were computed by content: the file column kept its type through the
    // join, the projection and the renaming.
    let measured = rows_of(&dir.join("out-json/measured.json"));
    let firsts: Vec<&str> = measured
        .iter()
        .map(|r| r["first"].as_str().unwrap())
        .collect();
    assert_eq!(firsts, ["first note", "second note"]);
    let answered = logged(&dir.join("answered.txt"));
    assert_eq!(
        answered.len(),
        2,
        "computed once, in the first of four runs: {answered:?}"
    );
}

#[test]
fn folder_source_errors_name_the_file_the_source_and_the_path() {
    let ws = workspace();
    let dir = ws.path();
    write_recordings(dir, &[("s1", "1", "a\n"), ("odd", "x", "b\n")]);
    fs::write(
        dir.join("p.yaml"),
        measure_pipeline("recordings/*/*.txt", "recordings"),
    )
    .unwrap();
    let stderr = ORCAPOD.fails(dir, &["validate", "p.yaml"], 2);
    assert!(stderr.contains("p.yaml:"), "{stderr}");
    assert!(stderr.contains("`rec`"), "{stderr}");
    assert!(stderr.contains("recordings/odd/x.txt"), "{stderr}");
    assert!(!dir.join(".orcapod").exists());

    fs::write(
        dir.join("p.yaml"),
        measure_pipeline("recording/*/*.txt", "recordings"),
    )
    .unwrap();
    let stderr = ORCAPOD.fails(dir, &["run", "p.yaml"], 2);
    assert!(stderr.contains("matches no file"), "{stderr}");
    assert!(stderr.contains("recording/*/*.txt"), "{stderr}");
}

#[test]
fn ten_thousand_unchanged_files_are_not_read_again() {
    const FILES: usize = 10_000;
    let ws = workspace();
    let dir = ws.path();
    for d in 0..100 {
        let sub = dir.join("data").join(format!("d{d:02}"));
        fs::create_dir_all(&sub).unwrap();
        for f in 0..FILES / 100 {
            fs::write(sub.join(format!("{f}.txt")), format!("file {d} {f}\n")).unwrap();
        }
    }
    let yaml = r#"pipeline: many
sources:
  many: {files: "data/*/*.txt", match: "data/(?P<dir>[^/]+)/(?P<file>\\d+)\\.txt$"}
nodes:
  measured:
    op: function
    input: many
    command: [python3, measure.py]
    output_keys: [size, first]
    output_types: {size: int, first: str}
"#;
    fs::write(dir.join("p.yaml"), yaml).unwrap();
    let (_, stderr) = ORCAPOD.ok(dir, &["run", "p.yaml", "--out", "out"]);
    assert_eq!(
        summary(&stderr, "measured"),
        (FILES as u64, FILES as u64, 0),
        "{stderr}"
    );
    let (hashed, bytes, _) = hash_counts(&stderr);
    assert_eq!(hashed, FILES as u64, "{stderr}");
    assert!(bytes > 0);

    // A second process: every hash comes from the store, no file content is read.
    let (_, stderr) = ORCAPOD.ok(dir, &["run", "p.yaml", "--out", "out"]);
    assert_eq!(
        summary(&stderr, "measured"),
        (FILES as u64, 0, FILES as u64),
        "{stderr}"
    );
    assert_eq!(hash_counts(&stderr), (0, 0, FILES as u64), "{stderr}");
}

#[test]
fn a_batch_of_files_counts_by_the_contents_of_its_files() {
    let ws = workspace();
    let dir = ws.path();
    write_recordings(
        dir,
        &[
            ("s1", "1", "ab\n"),
            ("s1", "2", "cde\n"),
            ("s2", "1", "f\n"),
        ],
    );
    fs::write(
        dir.join("total.py"),
        r#"
import json, os, sys
for line in sys.stdin:
    p = json.loads(line)
    with open("answered_batches.txt", "a") as log:
        log.write(json.dumps(p["path"]) + "\n")
    print(json.dumps({"bytes": sum(os.path.getsize(f) for f in p["path"])}), flush=True)
"#,
    )
    .unwrap();
    let yaml = |folder: &str| {
        format!(
            "pipeline: b\nsources:\n  rec: {{files: \"{folder}/*/*.txt\", match: \"{folder}/(?P<subject>[^/]+)/\"}}\nnodes:\n  grouped: {{op: batch, input: rec}}\n  total:\n    op: function\n    input: grouped\n    command: [python3, total.py]\n    input_types: {{path: \"list[file]\"}}\n    input_keys: [path]\n    output_keys: [bytes]\n    output_types: {{bytes: int}}\n"
        )
    };
    fs::write(dir.join("p.yaml"), yaml("recordings")).unwrap();
    let args = ["run", "p.yaml", "--out", "out"];
    let (_, stderr) = ORCAPOD.ok(dir, &args);
    assert_eq!(summary(&stderr, "total"), (1, 1, 0), "{stderr}");
    assert_eq!(rows_of(&dir.join("out/total.json"))[0]["bytes"], 9);
    let batches = logged(&dir.join("answered_batches.txt"));
    assert!(batches[0].contains(&dir.join("recordings/s2/1.txt").display().to_string()));

    fs::rename(dir.join("recordings"), dir.join("moved")).unwrap();
    fs::write(dir.join("p.yaml"), yaml("moved")).unwrap();
    let (_, stderr) = ORCAPOD.ok(dir, &args);
    assert_eq!(summary(&stderr, "total"), (1, 0, 1), "{stderr}");

    fs::write(dir.join("moved/s2/1.txt"), "fgh\n").unwrap();
    let (_, stderr) = ORCAPOD.ok(dir, &args);
    assert_eq!(summary(&stderr, "total"), (1, 1, 0), "{stderr}");
    assert_eq!(rows_of(&dir.join("out/total.json"))[0]["bytes"], 11);
    assert_eq!(logged(&dir.join("answered_batches.txt")).len(), 2);
}

#[test]
fn a_function_may_answer_a_file_which_counts_by_content_downstream() {
    let ws = workspace();
    let dir = ws.path();
    write_recordings(dir, &[("s1", "1", "one\n"), ("s2", "1", "two\n")]);
    // Answers the file's sibling `{session}.meta` (absolute), or a relative path for s2
    // when RELATIVE is set.
    fs::write(
        dir.join("sibling.py"),
        r#"
import json, os, sys
for line in sys.stdin:
    p = json.loads(line)
    meta = os.path.splitext(p["path"])[0] + ".meta"
    if os.environ.get("RELATIVE") and "/s2/" in meta:
        meta = os.path.relpath(meta)
    print(json.dumps({"meta": meta}), flush=True)
"#,
    )
    .unwrap();
    fs::write(dir.join("recordings/s1/1.meta"), "meta one\n").unwrap();
    fs::write(dir.join("recordings/s2/1.meta"), "meta two\n").unwrap();
    let yaml = format!(
        "{}  meta:\n    op: function\n    input: rec\n    command: [python3, sibling.py]\n    output_keys: [meta]\n    output_types: {{meta: file}}\n  renamed: {{op: map_packets, input: meta, name_map: {{meta: path}}}}\n  measured_meta:\n    op: function\n    input: renamed\n    command: [python3, measure.py]\n    output_keys: [size, first]\n    output_types: {{size: int, first: str}}\non_error: continue\noutputs: [meta, measured_meta]\n",
        measure_pipeline("recordings/*/*.txt", "recordings").replace(
            "  measured:\n    op: function\n    input: rec\n    command: [python3, measure.py]\n    output_keys: [size, first]\n    output_types: {size: int, first: str}\n",
            ""
        )
    );
    fs::write(dir.join("p.yaml"), yaml).unwrap();
    let args = ["run", "p.yaml", "--out", "out"];
    let (_, stderr) = ORCAPOD.ok(dir, &args);
    assert_eq!(summary(&stderr, "meta"), (2, 2, 0), "{stderr}");
    assert_eq!(summary(&stderr, "measured_meta"), (2, 2, 0), "{stderr}");
    let rows = rows_of(&dir.join("out/measured_meta.json"));
    let firsts: Vec<&str> = rows.iter().map(|r| r["first"].as_str().unwrap()).collect();
    assert_eq!(firsts, ["meta one", "meta two"]);
    let meta_rows = rows_of(&dir.join("out/meta.json"));
    assert_eq!(
        meta_rows[0]["meta"],
        dir.join("recordings/s1/1.meta").display().to_string()
    );

    // The answered file is edited: `meta` is cached (its input did not change), the
    // node reading the answered file computes again.
    fs::write(dir.join("recordings/s2/1.meta"), "meta two, edited\n").unwrap();
    let (_, stderr) = ORCAPOD.ok(dir, &args);
    assert_eq!(summary(&stderr, "meta"), (2, 0, 2), "{stderr}");
    assert_eq!(summary(&stderr, "measured_meta"), (2, 1, 1), "{stderr}");

    // A relative path answered for a file fails that packet, naming why.
    fs::remove_dir_all(dir.join(".orcapod")).unwrap();
    let out = ORCAPOD
        .command(dir, &args)
        .env("RELATIVE", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(summary(&stderr, "meta").0, 1, "{stderr}");
    let status = ORCAPOD.ok(dir, &["status", "p.yaml"]).0;
    assert!(status.contains("absolute path"), "{status}");
}
