//! End-to-end tests of how the `orcapod` binary reads a pipeline file as a person
//! reading it would: YAML 1.1 booleans (`y`, `n`, `on`, …) are names, numbers in places
//! that take text are the text written, `input_keys` is checked before anything runs,
//! every message says what, where and what to do, names that cannot be files are
//! refused, and a closed stdout ends a command quietly.

use std::path::Path;
use std::process::Stdio;

use orcapod_testing::cli::{text, Orcapod};

/// The binary under test.
const ORCAPOD: Orcapod = Orcapod::new(env!("CARGO_BIN_EXE_orcapod"));

/// Runs and asserts exit code `code` and that nothing panicked, returning stderr.
fn fails(dir: &Path, args: &[&str], code: i32) -> String {
    let stderr = ORCAPOD.fails(dir, args, code);
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

/// Writes `yaml` as `p.yaml` in `dir`, expects `validate` and `run` to exit 2 with every
/// fragment in the message, and checks that no database was created.
fn invalid(dir: &Path, yaml: &str, fragments: &[&str]) -> String {
    std::fs::write(dir.join("p.yaml"), yaml).unwrap();
    let mut last = String::new();
    for command in [&["validate", "p.yaml"][..], &["run", "p.yaml"][..]] {
        last = fails(dir, command, 2);
        for fragment in fragments {
            assert!(last.contains(fragment), "expected `{fragment}` in:\n{last}");
        }
    }
    assert!(
        !dir.join(".orcapod").exists(),
        "an invalid file writes nothing"
    );
    last
}

/// A CSV file whose columns are called `on, off, y, n, yes, no`.
fn boolean_named_columns(dir: &Path) {
    std::fs::write(
        dir.join("flags.csv"),
        "on,off,y,n,yes,no\na,1,10,20,x,p\nb,2,30,40,y,q\n",
    )
    .unwrap();
}

const PY_SUM: &str = r#"import json, sys
for line in sys.stdin:
    p = json.loads(line)
    print(json.dumps({"y": p["y"] + p["n"], "n": str(p["y"]) + "/" + str(p["n"])}), flush=True)
"#;

#[test]
fn yaml_1_1_booleans_are_names_of_columns_output_keys_and_tags() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    boolean_named_columns(d);
    std::fs::write(d.join("sum.py"), PY_SUM).unwrap();
    std::fs::write(
        d.join("p.yaml"),
        "pipeline: flags
sources:
  flags: {csv: flags.csv, tags: [on, off]}
nodes:
  kept: {op: select_packet_columns, input: flags, columns: [y, n]}
  renamed: {op: map_tags, input: kept, name_map: {off: no_}}
  summed:
    op: function
    input: renamed
    command: [python3, sum.py]
    input_keys: [y, n]
    input_types: {y: int, n: int}
    output_keys: [y, n]
    output_types: {y: int, n: str}
outputs: [summed]
",
    )
    .unwrap();
    ORCAPOD.ok(d, &["validate", "p.yaml"]);
    ORCAPOD.ok(d, &["run", "p.yaml", "--out", "out", "--format", "csv"]);
    let csv = std::fs::read_to_string(d.join("out/summed.csv")).unwrap();
    assert_eq!(csv, "on,no_,y,n\na,1,30,10/20\nb,2,70,30/40\n");
}

const PY_ARGV: &str = r#"import json, sys
for line in sys.stdin:
    print(json.dumps({"args": " ".join(sys.argv[1:])}), flush=True)
"#;

#[test]
fn numbers_in_command_arguments_are_passed_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("one.csv"), "k,v\n1,2\n").unwrap();
    std::fs::write(d.join("argv.py"), PY_ARGV).unwrap();
    std::fs::write(
        d.join("p.yaml"),
        "sources:
  one: {csv: one.csv, tags: [k]}
nodes:
  argv:
    op: function
    input: one
    command: [python3, argv.py, 010, 0x1F, 1.50, 1e3, 1_000, -0, on, y, true, ~, 9007199254740993]
    output_keys: [args]
    output_types: {args: str}
",
    )
    .unwrap();
    ORCAPOD.ok(d, &["run", "p.yaml", "--out", "out", "--format", "csv"]);
    let csv = std::fs::read_to_string(d.join("out/argv.csv")).unwrap();
    assert_eq!(
        csv,
        "k,args\n1,010 0x1F 1.50 1e3 1_000 -0 on y true ~ 9007199254740993\n"
    );
}

#[test]
fn a_number_compared_with_a_text_column_is_the_text_written() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // `code` holds text (one value is not a number), so it is a text column.
    std::fs::write(d.join("codes.csv"), "k,code\n1,1.50\n2,1.5\n3,A7\n4,010\n").unwrap();
    std::fs::write(
        d.join("p.yaml"),
        "sources:
  codes: {csv: codes.csv, tags: [k]}
nodes:
  exact: {op: filter, input: codes, constraints: {code: 1.50}}
  listed: {op: filter, input: codes, predicates: [{col: code, op: in, value: [010, 1.5]}]}
  keyed: {op: filter, input: codes, predicates: [{col: k, op: '>=', value: 3}]}
",
    )
    .unwrap();
    ORCAPOD.ok(d, &["run", "p.yaml", "--out", "out", "--format", "csv"]);
    let read = |name: &str| std::fs::read_to_string(d.join(format!("out/{name}.csv"))).unwrap();
    assert_eq!(read("exact"), "k,code\n1,1.50\n");
    assert_eq!(read("listed"), "k,code\n2,1.5\n4,010\n");
    assert_eq!(read("keyed"), "k,code\n3,A7\n4,010\n");
}

#[test]
fn input_keys_that_do_not_match_the_input_fail_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    boolean_named_columns(d);
    std::fs::write(d.join("sum.py"), PY_SUM).unwrap();
    let file = |keys: &str| {
        format!(
            "sources:
  flags: {{csv: flags.csv, tags: [on]}}
nodes:
  summed:
    op: function
    input: flags
    command: [python3, sum.py]
    {keys}
    output_keys: [y]
    output_types: {{y: int}}
"
        )
    };
    let err = invalid(
        d,
        &file("input_keys: [y, n, score]"),
        &[
            "p.yaml:8:5: node `summed`: `input_keys: [y, n, score]` does not match the packet \
             columns of its input `flags` ([off, y, n, yes, no])",
            "`score` missing",
            "`off`, `yes` and `no` not declared",
        ],
    );
    assert!(err.contains("select_packet_columns"), "{err}");
    invalid(
        d,
        &file("input_keys: [off, y, n, yes, no]\n    input_types: {y: str}"),
        &["`input_types` declares `y: str`, but its input gives `y: int`"],
    );
    invalid(
        d,
        &file("input_types: {y: int, nope: int}\n    input_keys: [y]"),
        &["`input_types` gives a type for `nope`, which is not in `input_keys`"],
    );
}

const SOURCES: &str = "sources:
  scores: {csv: scores.csv, tags: [id]}
";

#[test]
fn every_message_says_what_where_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("scores.csv"), "id,score\n1,5\n").unwrap();

    invalid(
        d,
        &format!("{SOURCES}node:\n  s: {{op: batch, input: scores}}\n"),
        &[
            "p.yaml:3:1: unknown top-level key `node` (did you mean `nodes`?)",
            "the keys are `pipeline`",
        ],
    );
    invalid(
        d,
        &format!("{SOURCES}nodes:\n  s: {{op: select_packet_columns, input: scores, column: [score]}}\n"),
        &["p.yaml:4:49: node `s`: unknown argument `column` (did you mean `columns`?); op `select_packet_columns` takes `columns` and `strict`"],
    );
    invalid(
        d,
        "- sources\n- nodes\n",
        &[
            "p.yaml:1:1: a pipeline file is a mapping of `pipeline`",
            "but this file is a list",
        ],
    );
    invalid(
        d,
        &format!("{SOURCES}outputs: scores\n"),
        &["p.yaml:3:1: `outputs` must be a list of names, not a string; write `outputs: [scores]`"],
    );
    invalid(
        d,
        &format!("{SOURCES}nodes:\n  s: {{op: batch, input: scores}}\n  s: {{op: batch, input: scores}}\n"),
        &["p.yaml:5:3: `s` is written twice in the same mapping (lines 4 and 5); keep one"],
    );
    let long = "n".repeat(1100);
    let err = invalid(
        d,
        &format!("{SOURCES}nodes:\n  {long}: {{op: batch, input: scores}}\n"),
        &["p.yaml:4:3: a key of 1100 characters: YAML reads keys of at most 1024 characters"],
    );
    assert!(!err.contains("mapping start"), "{err}");
    invalid(
        d,
        &format!(
            "{SOURCES}nodes:\n  {}: {{op: batch, input: scores}}\n",
            "n".repeat(300)
        ),
        &["is 300 bytes long, more than the 200 a file name allows here; rename it"],
    );
    invalid(
        d,
        &format!("{SOURCES}nodes:\n  cached: {{op: batch, input: scores, cache: yes}}\n"),
        &["unknown cache mode `yes` (expected off, log or replay)"],
    );
    invalid(
        d,
        "sources:\n  scores: {csv: scores.csv, tags: [id], cached: yes}\n",
        &["p.yaml:2:41: source `scores`: `cached: yes` must be true or false, not a string"],
    );

    // `--db` naming a file, and `status`/`show` of a database that is not there.
    std::fs::write(d.join("p.yaml"), SOURCES).unwrap();
    std::fs::write(d.join("a_file"), "").unwrap();
    let err = fails(d, &["run", "p.yaml", "--db", "a_file"], 2);
    assert!(
        err.contains("--db a_file: this is a file, but a database is a directory"),
        "{err}"
    );
    assert!(!err.contains("os error"), "{err}");
    let err = fails(d, &["status", "p.yaml", "--db", "missing_db"], 1);
    assert!(
        err.contains("there is no database at missing_db (given with --db)"),
        "{err}"
    );
    assert!(!err.contains(".orcapod"), "{err}");
}

#[test]
fn names_that_cannot_be_files_are_refused_at_validation() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("scores.csv"), "id,score\n1,5\n").unwrap();
    for name in ["..", "'.'", "'a\\b'"] {
        invalid(
            d,
            &format!("{SOURCES}nodes:\n  {name}: {{op: batch, input: scores}}\n"),
            &["p.yaml:4:3: node `", "cannot be a name", "rename it"],
        );
    }
    invalid(
        d,
        "sources:\n  ..: {csv: scores.csv, tags: [id]}\n",
        &["p.yaml:2:3: source `..`: `..` cannot be a name"],
    );
}

#[test]
fn a_closed_stdout_ends_a_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut rows = String::from("id,score\n");
    for i in 0..5000 {
        rows.push_str(&format!("{i},{}\n", i * 7));
    }
    std::fs::write(d.join("scores.csv"), rows).unwrap();
    std::fs::write(
        d.join("p.yaml"),
        format!("{SOURCES}nodes:\n  b: {{op: batch, input: scores, batch_size: 2}}\n"),
    )
    .unwrap();
    for args in [
        &["validate", "p.yaml"][..],
        &["graph", "p.yaml"][..],
        &["builtins"][..],
        &["run", "p.yaml"][..],
        &["show", "p.yaml", "scores"][..],
        &["show", "p.yaml", "scores", "--format", "csv"][..],
        &["status", "p.yaml"][..],
    ] {
        // The reading end is closed before orcapod starts: its first write fails.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = ORCAPOD
            .command(d, args)
            .stdout(Stdio::from(writer))
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "orcapod {args:?}: {stderr}"
        );
        assert_eq!(out.status.code(), Some(0), "orcapod {args:?}: {stderr}");
    }
}
