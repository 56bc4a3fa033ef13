//! End-to-end tests of CSV column types: `types:` on a source reads columns exactly as
//! declared, and `validate` and `run` warn when the default inference (the reference
//! reader's) lost information — leading zeros, integers rounded to float, a column made
//! text by a few odd rows.

use std::path::Path;

use orcapod_testing::cli::Orcapod;

/// The binary under test.
const ORCAPOD: Orcapod = Orcapod::new(env!("CARGO_BIN_EXE_orcapod"));

/// A scratch directory with `data.csv` holding `csv`, and `p.yaml` reading it as source
/// `src` with the given source settings (after `csv: data.csv`), and one node `out`
/// selecting every packet column (so `--out` writes `out.json`).
fn workspace(csv: &str, settings: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("data.csv"), csv).unwrap();
    write_pipeline(dir.path(), settings);
    dir
}

fn write_pipeline(dir: &Path, settings: &str) {
    std::fs::write(
        dir.join("p.yaml"),
        format!(
            "sources:\n  src: {{csv: data.csv{settings}}}\nnodes:\n  out: {{op: map_packets, \
             input: src, name_map: {{}}}}\noutputs: [out]\n"
        ),
    )
    .unwrap();
}

/// The `warning:` lines of a command's stderr.
fn warnings(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("warning: "))
        .collect()
}

/// The rows of `out.json` written by `run --out DIR`, as JSON objects.
fn out_rows(dir: &Path, out: &str) -> Vec<serde_json::Value> {
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(out).join("out.json")).unwrap()).unwrap();
    json["rows"].as_array().unwrap().clone()
}

const BIG_IDS: &str =
    "id,name\n9007199254740993,ada\n9007199254740992,bob\n99999999999999999999,cy\n";

#[test]
fn an_integer_beyond_64_bits_warns_that_ids_are_rounded_and_str_keeps_them() {
    let dir = workspace(BIG_IDS, ", tags: [id]");
    let d = dir.path();
    for command in ["validate", "run"] {
        let (_, stderr) = ORCAPOD.ok(d, &[command, "p.yaml"]);
        let w = warnings(&stderr);
        assert_eq!(w.len(), 1, "{command}: {stderr}");
        let w = w[0];
        assert!(w.contains("p.yaml:2:3: source `src`"), "{w}");
        assert!(w.contains("data.csv:2: column `id`"), "{w}");
        assert!(
            w.contains("`99999999999999999999` (line 4) does not fit"),
            "{w}"
        );
        assert!(
            w.contains("rounds `9007199254740993` (line 2) to 9007199254740992.0"),
            "{w}"
        );
        assert!(w.contains("types: {id: str}"), "{w}");
    }
    // The default merges the two ids: the reference's reading, kept as it is.
    ORCAPOD.ok(d, &["run", "p.yaml", "--out", "merged", "--db", "db1"]);
    let ids: Vec<serde_json::Value> = out_rows(d, "merged")
        .iter()
        .map(|r| r["id"].clone())
        .collect();
    assert_eq!(
        ids.iter()
            .filter(|i| i.as_f64() == Some(9007199254740992.0))
            .count(),
        2,
        "{ids:?}"
    );

    // Declared `str`, every id stays as written, and there is no warning.
    write_pipeline(d, ", tags: [id], types: {id: str}");
    let (_, stderr) = ORCAPOD.ok(d, &["run", "p.yaml", "--out", "kept", "--db", "db2"]);
    assert_eq!(warnings(&stderr), Vec::<&str>::new(), "{stderr}");
    let mut ids: Vec<String> = out_rows(d, "kept")
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            "9007199254740992",
            "9007199254740993",
            "99999999999999999999"
        ]
    );

    // Declared `int`, the value beyond 64 bits is an error naming file, line and column.
    write_pipeline(d, ", tags: [id], types: {id: int}");
    let stderr = ORCAPOD.fails(d, &["validate", "p.yaml"], 2);
    assert!(stderr.contains("source `src`"), "{stderr}");
    assert!(stderr.contains("data.csv:4: column `id`"), "{stderr}");
    assert!(
        stderr.contains("`99999999999999999999` does not fit in a 64-bit integer"),
        "{stderr}"
    );
    assert!(stderr.contains("`id: str`"), "{stderr}");
}

#[test]
fn declared_int_keeps_two_big_ids_two_tags() {
    // Without the value beyond 64 bits, `int` reads both ids exactly.
    let dir = workspace(
        "id,name\n9007199254740993,ada\n9007199254740992,bob\n",
        ", tags: [id], types: {id: int}",
    );
    let d = dir.path();
    let (_, stderr) = ORCAPOD.ok(d, &["run", "p.yaml", "--out", "out"]);
    assert_eq!(warnings(&stderr), Vec::<&str>::new(), "{stderr}");
    let mut ids: Vec<i64> = out_rows(d, "out")
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, [9007199254740992, 9007199254740993]);
}

#[test]
fn leading_zeros_warn_by_default_and_str_keeps_them() {
    let csv = "name,zip\nada,02134\nbob,10001\n";
    let dir = workspace(csv, ", tags: [name]");
    let d = dir.path();
    let (_, stderr) = ORCAPOD.ok(d, &["validate", "p.yaml"]);
    let w = warnings(&stderr);
    assert_eq!(w.len(), 1, "{stderr}");
    assert!(w[0].contains("data.csv:2: column `zip`"), "{}", w[0]);
    assert!(w[0].contains("`02134` became 2134"), "{}", w[0]);
    assert!(w[0].contains("types: {zip: str}"), "{}", w[0]);

    write_pipeline(d, ", tags: [name], types: {zip: str}");
    let (stdout, stderr) = ORCAPOD.ok(d, &["validate", "p.yaml"]);
    assert_eq!(warnings(&stderr), Vec::<&str>::new(), "{stderr}");
    assert!(stdout.contains("zip: str"), "{stdout}");
    for format in ["json", "csv"] {
        let out = format!("out-{format}");
        let (_, stderr) = ORCAPOD.ok(d, &["run", "p.yaml", "--out", &out, "--format", format]);
        assert_eq!(warnings(&stderr), Vec::<&str>::new(), "{stderr}");
        let written = std::fs::read_to_string(d.join(&out).join(format!("out.{format}"))).unwrap();
        assert!(written.contains("02134"), "{format}: {written}");
    }
    assert_eq!(out_rows(d, "out-json")[0]["zip"], "02134");
}

#[test]
fn a_repeated_header_line_warns() {
    let csv = "id,score,passed\n1,90.5,true\n2,71,false\nid,score,passed\n3,88,true\n";
    let dir = workspace(csv, ", tags: [id]");
    let d = dir.path();
    let (_, stderr) = ORCAPOD.ok(d, &["validate", "p.yaml"]);
    let w = warnings(&stderr);
    // One warning per column it made text.
    assert_eq!(w.len(), 3, "{stderr}");
    for (warning, column) in w.iter().zip(["id", "score", "passed"]) {
        assert!(
            warning.contains(&format!("data.csv:4: column `{column}` was read as text")),
            "{warning}"
        );
        assert!(
            warning.contains("line 4 repeats the header row"),
            "{warning}"
        );
        assert!(
            warning.contains(&format!("types: {{{column}: str}}")),
            "{warning}"
        );
    }
}

#[test]
fn a_value_that_is_not_the_declared_type_fails_naming_file_line_and_column() {
    let csv = "name,n\nada,1\nbob,\"2\"\n\ncy,x3\n";
    let dir = workspace(csv, ", tags: [name], types: {n: int}");
    let d = dir.path();
    for command in ["validate", "run"] {
        let stderr = ORCAPOD.fails(d, &[command, "p.yaml"], 2);
        assert!(stderr.contains("p.yaml:2:3: source `src`"), "{stderr}");
        assert!(
            stderr.contains("data.csv:5: column `n`: `x3` is not an integer"),
            "{stderr}"
        );
        assert!(stderr.contains("`n: str`"), "{stderr}");
    }
    assert!(!d.join(".orcapod").exists(), "nothing written");

    // A missing value needs `| None`, and then reads as null.
    std::fs::write(d.join("data.csv"), "name,n\nada,1\nbob,\n").unwrap();
    let stderr = ORCAPOD.fails(d, &["validate", "p.yaml"], 2);
    assert!(
        stderr.contains("data.csv:3: column `n`: the value is missing"),
        "{stderr}"
    );
    assert!(stderr.contains("`n: int | None`"), "{stderr}");
    write_pipeline(d, ", tags: [name], types: {n: int | None}");
    let (stdout, _) = ORCAPOD.ok(d, &["validate", "p.yaml"]);
    assert!(stdout.contains("n: int | None"), "{stdout}");
}

#[test]
fn a_declared_column_the_file_lacks_or_a_type_csv_cannot_hold_is_an_error() {
    let dir = workspace(
        "name,zip\nada,02134\n",
        ", tags: [name], types: {zipcode: str}",
    );
    let d = dir.path();
    let stderr = ORCAPOD.fails(d, &["validate", "p.yaml"], 2);
    assert!(
        stderr.contains("`types` declares column `zipcode`, which the file does not have"),
        "{stderr}"
    );
    assert!(stderr.contains("`name`, `zip`"), "{stderr}");

    write_pipeline(d, ", tags: [name], types: {zip: bytes}");
    let stderr = ORCAPOD.fails(d, &["validate", "p.yaml"], 2);
    assert!(
        stderr.contains("as `bytes`, which CSV text cannot hold"),
        "{stderr}"
    );

    write_pipeline(d, ", tags: [name], types: {zip: string}");
    let stderr = ORCAPOD.fails(d, &["validate", "p.yaml"], 2);
    assert!(stderr.contains("unknown type `string`"), "{stderr}");

    write_pipeline(d, ", tags: [name], types: [zip]");
    let stderr = ORCAPOD.fails(d, &["validate", "p.yaml"], 2);
    assert!(stderr.contains("`types` must be a mapping"), "{stderr}");
}
