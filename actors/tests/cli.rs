//! End-to-end tests of the `orcapod` binary on the pipeline files in `tests/pipelines/`
//! and `examples/school/`: every command, every op, both modes, re-runs, and every
//! kind of invalid file (message, exit code, and an untouched database).

use std::path::{Path, PathBuf};

use orcapod_testing::cli::Orcapod;

/// The binary under test.
const ORCAPOD: Orcapod = Orcapod::new(env!("CARGO_BIN_EXE_orcapod"));

/// The repository root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("actors/ is inside the repository")
        .to_path_buf()
}

/// A scratch directory holding the school data (`data/`), the test pipelines and their
/// scripts (`fns/`), and the school example (`school.yaml` with its own `fns/`).
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let copy_dir = |from: &Path, to: &Path| {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
            }
        }
    };
    copy_dir(
        &root().join("examples/school/data"),
        &dir.path().join("data"),
    );
    copy_dir(&root().join("tests/pipelines"), dir.path());
    copy_dir(&root().join("tests/pipelines/fns"), &dir.path().join("fns"));
    std::fs::copy(
        root().join("examples/school/fns/grade.py"),
        dir.path().join("fns/school_grade.py"),
    )
    .unwrap();
    let school = std::fs::read_to_string(root().join("examples/school/pipeline.yaml"))
        .unwrap()
        .replace("fns/grade.py", "fns/school_grade.py");
    std::fs::write(dir.path().join("school.yaml"), school).unwrap();
    let report = std::fs::read_to_string(root().join("examples/school/report.yaml"))
        .unwrap()
        .replace("from: pipeline.yaml", "from: school.yaml");
    std::fs::write(dir.path().join("report.yaml"), report).unwrap();
    dir
}

/// The files of a directory, name → bytes.
fn files(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// The summary line of `node` in a run's stderr: (rows, computed, cached, failed).
fn summary(stderr: &str, node: &str) -> (String, String, String, String) {
    let line = stderr
        .lines()
        .find(|l| l.split_whitespace().next() == Some(node))
        .unwrap_or_else(|| panic!("no summary line for `{node}` in:\n{stderr}"));
    let f: Vec<&str> = line.split_whitespace().collect();
    (f[2].into(), f[3].into(), f[4].into(), f[5].into())
}

/// The SHA-256 of every file the writer of an earlier release wrote for `all_ops.yaml`,
/// `format/file` → hex: the files must stay byte-identical to these.
fn golden_digests() -> std::collections::BTreeMap<String, String> {
    std::fs::read_to_string(root().join("tests/fixtures/all_ops_outputs.sha256"))
        .unwrap()
        .lines()
        .map(|line| {
            let (digest, name) = line.split_once("  ").expect("`digest  name` lines");
            (name.to_string(), digest.to_string())
        })
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn every_op_gives_identical_files_in_actors_and_sync_mode_in_every_format() {
    let dir = workspace();
    let d = dir.path();
    let golden = golden_digests();
    for format in ["json", "csv", "arrow", "parquet"] {
        let run = |out: &str, extra: &[&str]| {
            let db = format!("db-{out}");
            let mut args = vec!["run", "all_ops.yaml", "--out", out, "--format", format];
            args.extend(["--db", &db]);
            args.extend(extra);
            ORCAPOD.ok(d, &args);
            files(&d.join(out))
        };
        let a = run(&format!("out-actors-{format}"), &[]);
        let s = run(&format!("out-sync-{format}"), &["--mode", "sync"]);
        // A memory limit of one kilobyte: every output spills sorted runs and merges them.
        let spilled = run(&format!("out-spilled-{format}"), &["--memory-limit", "1K"]);
        assert!(!a.is_empty());
        for (mode, other) in [("sync", &s), ("spilled", &spilled)] {
            assert_eq!(
                a.keys().collect::<Vec<_>>(),
                other.keys().collect::<Vec<_>>(),
                "the same files in actors mode and {mode}"
            );
            for (name, bytes) in &a {
                assert!(
                    bytes == &other[name],
                    "{name} differs between actors mode and {mode}"
                );
            }
        }
        if format != "parquet" {
            let written: std::collections::BTreeMap<String, String> = a
                .iter()
                .map(|(name, bytes)| (format!("{format}/{name}"), sha256_hex(bytes)))
                .collect();
            let expected: std::collections::BTreeMap<String, String> = golden
                .iter()
                .filter(|(name, _)| name.starts_with(&format!("{format}/")))
                .map(|(n, d)| (n.clone(), d.clone()))
                .collect();
            assert_eq!(
                written, expected,
                "{format} files as the earlier writer wrote them"
            );
        }
    }
    // A Parquet output holds what the Arrow output holds: schema, roles and rows.
    for name in files(&d.join("out-actors-arrow")).keys() {
        let stem = name.trim_end_matches(".arrow");
        let arrow = orcapod::export::read_arrow(&d.join("out-actors-arrow").join(name)).unwrap();
        let parquet = orcapod::export::read_parquet(
            &d.join("out-actors-parquet").join(format!("{stem}.parquet")),
        )
        .unwrap();
        assert_eq!(parquet.schema(), arrow.schema(), "{stem}: the same schema");
        assert_eq!(
            arrow::compute::concat_batches(parquet.schema().arrow(), parquet.batches()).unwrap(),
            arrow::compute::concat_batches(arrow.schema().arrow(), arrow.batches()).unwrap(),
            "{stem}: the same rows"
        );
    }
    // Every sink is written, with its all_info twin.
    let json = files(&d.join("out-actors-json"));
    for sink in [
        "by_course",
        "ids",
        "no_title",
        "renamed",
        "passed_any",
        "merged",
        "triples",
        "everything",
        "graded",
        "letter",
        "both",
    ] {
        assert!(json.contains_key(&format!("{sink}.json")), "{sink}.json");
        assert!(
            json.contains_key(&format!("{sink}.all_info.json")),
            "{sink}.all_info.json"
        );
    }
    let graded: serde_json::Value = serde_json::from_slice(&json["graded.json"]).unwrap();
    let tags: Vec<&str> = graded["tag_columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    let mut tag_set = tags.clone();
    tag_set.sort();
    assert_eq!(tag_set, ["course_id", "student_id"]);
    assert_eq!(graded["packet_columns"], serde_json::json!(["grade"]));
    let rows = graded["rows"].as_array().unwrap();
    assert!(!rows.is_empty());
    let keys: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r[tags[0]].as_str().unwrap().into(),
                r[tags[1]].as_str().unwrap().into(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "rows are sorted by tags");
    let info: serde_json::Value = serde_json::from_slice(&json["graded.all_info.json"]).unwrap();
    assert!(info["system_tag_columns"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c.as_str().unwrap().starts_with("_tag_record_id::")));
    assert!(info["source_info_columns"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == "_source_grade"));
}

#[test]
fn the_school_example_runs_and_a_rerun_computes_nothing() {
    let dir = workspace();
    let d = dir.path();
    let (stdout, stderr) = ORCAPOD.ok(d, &["run", "school.yaml"]);
    assert!(stdout.contains("== graded:"), "{stdout}");
    assert!(stdout.contains("== mean_points: 1 row"), "{stdout}");
    let (rows, computed, cached, failed) = summary(&stderr, "graded");
    assert_ne!(rows, "0");
    // Rows with the same packet (score and credits) are computed once.
    let n = |s: &str| s.parse::<u64>().unwrap();
    assert!(n(&computed) > 0, "{stderr}");
    assert_eq!(n(&computed) + n(&cached), n(&rows), "{stderr}");
    assert_eq!(failed, "0");
    assert!(
        d.join(".orcapod").is_dir(),
        "the default database is beside the file"
    );

    for mode in ["actors", "sync"] {
        let (_, stderr) = ORCAPOD.ok(d, &["run", "school.yaml", "--mode", mode, "--quiet"]);
        let (rows2, computed, cached, _) = summary(&stderr, "graded");
        assert_eq!(rows2, rows);
        assert_eq!(computed, "0", "{mode} re-run computes nothing:\n{stderr}");
        assert_eq!(cached, rows);
    }
    // status: the last run of each node.
    let (status, _) = ORCAPOD.ok(d, &["status", "school.yaml"]);
    assert!(status.contains("3 runs recorded"), "{status}");
    let graded = status.lines().find(|l| l.starts_with("graded ")).unwrap();
    assert!(
        graded.contains(&rows) && graded.contains("function"),
        "{status}"
    );
    // show: stored results of a function node, in three formats.
    let (table, _) = ORCAPOD.ok(d, &["show", "school.yaml", "graded"]);
    assert!(
        table.contains("grade") && table.contains(&format!("{rows} rows")),
        "{table}"
    );
    let (json, _) = ORCAPOD.ok(d, &["show", "school.yaml", "graded", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["rows"].as_array().unwrap().len().to_string(), rows);
    let (csv, _) = ORCAPOD.ok(d, &["show", "school.yaml", "graded", "--format", "csv"]);
    assert!(
        csv.starts_with("student_id,course_id,grade,points\n"),
        "{csv}"
    );
    // A source shows its rows; an operator node is computed; `--all-stored` of an
    // operator that logs nothing says so.
    let (students, _) = ORCAPOD.ok(d, &["show", "school.yaml", "students"]);
    assert!(students.contains("Ada"), "{students}");
    let (enrolled, _) = ORCAPOD.ok(d, &["show", "school.yaml", "enrolled"]);
    assert!(enrolled.contains("Ada"), "{enrolled}");
    let err = ORCAPOD.fails(d, &["show", "school.yaml", "enrolled", "--all-stored"], 1);
    assert!(
        err.contains("node `enrolled` keeps no stored results"),
        "{err}"
    );
}

#[test]
fn validate_and_graph_describe_without_running() {
    let dir = workspace();
    let d = dir.path();
    let (out, _) = ORCAPOD.ok(d, &["validate", "school.yaml"]);
    assert!(out.contains("valid") && out.contains("graded"), "{out}");
    let (dot, _) = ORCAPOD.ok(d, &["graph", "school.yaml"]);
    assert!(dot.starts_with("digraph \"school\""), "{dot}");
    assert!(dot.contains("\"students\" -> \"enrolled\";"), "{dot}");
    let (mermaid, _) = ORCAPOD.ok(d, &["graph", "school.yaml", "--format", "mermaid"]);
    assert!(mermaid.starts_with("flowchart LR"), "{mermaid}");
    assert!(mermaid.contains(" --> "), "{mermaid}");
    assert!(
        !d.join(".orcapod").exists(),
        "validate and graph write nothing"
    );
    let (status, _) = ORCAPOD.ok(d, &["status", "school.yaml"]);
    assert!(status.contains("never run"), "{status}");
    assert!(!d.join(".orcapod").exists(), "status creates no database");
}

/// Writes `yaml` as `bad.yaml`, expects exit 2 with every fragment in the message, and
/// checks that no database was created.
fn invalid(d: &Path, yaml: &str, fragments: &[&str]) {
    std::fs::write(d.join("bad.yaml"), yaml).unwrap();
    for command in [&["run", "bad.yaml"][..], &["validate", "bad.yaml"][..]] {
        let err = ORCAPOD.fails(d, command, 2);
        for fragment in fragments {
            assert!(err.contains(fragment), "expected `{fragment}` in:\n{err}");
        }
    }
    assert!(
        !d.join(".orcapod").exists(),
        "an invalid file writes nothing"
    );
}

const SOURCES: &str = "sources:
  students: {csv: data/students.csv, tags: [student_id]}
  scores:   {csv: data/scores.csv,   tags: [student_id, course_id]}
";

#[test]
fn invalid_files_exit_2_and_write_nothing() {
    let dir = workspace();
    let d = dir.path();
    invalid(
        d,
        "sources: {a: [1, 2}\n",
        &["bad.yaml:1:14:", "mismatched bracket"],
    );
    invalid(
        d,
        &format!("{SOURCES}nodes:\n  j: {{op: jion, inputs: [students, scores]}}\n"),
        &["bad.yaml:5:7: node `j`: unknown op `jion`"],
    );
    invalid(
        d,
        &format!("{SOURCES}nodes:\n  b: {{op: batch, input: scores, size: 2}}\n"),
        &["bad.yaml:5:33: node `b`: unknown argument `size` (did you mean `batch_size`?)"],
    );
    invalid(
        d,
        &format!("{SOURCES}nodes:\n  j: {{op: join, inputs: [students, score]}}\n"),
        &["node `j`: reads `score`, which is neither a source nor a node"],
    );
    invalid(
        d,
        &format!("{SOURCES}nodes:\n  a: {{op: join, inputs: [students, b]}}\n  b: {{op: batch, input: a}}\n"),
        &["bad.yaml:5:3: node `a`: the nodes form a cycle"],
    );
    invalid(
        d,
        "sources:\n  s: {csv: data/nope.csv, tags: [id]}\n",
        &["bad.yaml:2:3: source `s`:", "nope.csv"],
    );
    std::fs::write(d.join("data/broken.csv"), "id,x\n1,2\n3\n").unwrap();
    invalid(
        d,
        "sources:\n  s: {csv: data/broken.csv, tags: [id]}\n",
        &["source `s`:", "broken.csv:3"],
    );
    invalid(
        d,
        &format!("{SOURCES}nodes:\n  p: {{op: select_packet_columns, input: scores, columns: [grade]}}\n"),
        &["bad.yaml:5:3: node `p`:", "grade"],
    );
    invalid(
        d,
        &format!(
            "{SOURCES}nodes:\n  g: {{op: function, input: scores, command: [python3, fns/missing.py], output_keys: [g], output_types: {{g: str}}}}\n"
        ),
        &["bad.yaml:5:3: node `g`: the command cannot start", "missing.py"],
    );
    invalid(
        d,
        &format!(
            "{SOURCES}nodes:\n  g: {{op: function, input: scores, command: [no-such-program-xyz], output_keys: [g], output_types: {{g: str}}}}\n"
        ),
        &["node `g`: the command cannot start: program `no-such-program-xyz` is not on PATH"],
    );
}

#[test]
fn a_failing_packet_fails_the_run_or_is_skipped_under_continue() {
    let dir = workspace();
    let d = dir.path();
    std::fs::write(d.join("data/unlucky.csv"), "id,score\na,90\nb,13\nc,40\n").unwrap();
    let pipeline = |policy: &str| {
        format!(
            "pipeline: unlucky\non_error: {policy}\nsources:\n  s: {{csv: data/unlucky.csv, tags: [id]}}\nnodes:\n  g:\n    op: function\n    input: s\n    command: [python3, fns/grade.py]\n    output_keys: [grade]\n    output_types: {{grade: str}}\n"
        )
    };
    std::fs::write(d.join("fail.yaml"), pipeline("fail")).unwrap();
    for mode in ["actors", "sync"] {
        let db = format!("db-{mode}");
        let err = ORCAPOD.fails(d, &["run", "fail.yaml", "--mode", mode, "--db", &db], 1);
        assert!(err.contains("fail.yaml"), "{err}");
        assert!(
            err.contains("`g`") && err.contains("unlucky score"),
            "{err}"
        );
    }
    std::fs::write(d.join("continue.yaml"), pipeline("continue")).unwrap();
    let (_, stderr) = ORCAPOD.ok(d, &["run", "continue.yaml", "--out", "out"]);
    let (rows, computed, _, failed) = summary(&stderr, "g");
    assert_eq!(
        (rows.as_str(), computed.as_str(), failed.as_str()),
        ("2", "2", "1"),
        "{stderr}"
    );
    let out: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("out/g.json")).unwrap()).unwrap();
    assert_eq!(out["rows"].as_array().unwrap().len(), 2);
    let (status, _) = ORCAPOD.ok(d, &["status", "continue.yaml"]);
    assert!(status.contains("unlucky score"), "{status}");
}

#[test]
fn a_derived_source_reads_another_pipelines_stored_results_with_their_provenance() {
    let dir = workspace();
    let d = dir.path();
    // Before the first pipeline has run there is nothing to derive from.
    let err = ORCAPOD.fails(d, &["run", "report.yaml"], 2);
    assert!(
        err.contains("source `grades`: there are no stored results yet"),
        "{err}"
    );
    assert!(!d.join(".orcapod").exists());
    ORCAPOD.ok(d, &["run", "school.yaml", "--quiet"]);
    for mode in ["actors", "sync"] {
        let out = format!("out-{mode}");
        ORCAPOD.ok(d, &["run", "report.yaml", "--mode", mode, "--out", &out]);
    }
    let report = files(&d.join("out-actors"));
    assert_eq!(report, files(&d.join("out-sync")));
    let rows: serde_json::Value = serde_json::from_slice(&report["report.json"]).unwrap();
    let rows = rows["rows"].as_array().unwrap();
    assert!(!rows.is_empty());
    assert!(rows
        .iter()
        .all(|r| r["grade"] == "A" && r["title"].is_string()));
    // Provenance goes back to the first pipeline's sources, through the store.
    let info: serde_json::Value = serde_json::from_slice(&report["report.all_info.json"]).unwrap();
    let row = &info["rows"][0];
    let sources: Vec<&str> = row
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.starts_with("_tag_source_id::"))
        .map(|(_, v)| v.as_str().unwrap())
        .collect();
    for source in ["students", "scores", "courses"] {
        assert!(sources.contains(&source), "{sources:?}");
    }
    let origin = row["_source_grade"].as_str().unwrap();
    assert!(origin.contains("letter_grade"), "{origin}");
}
