//! End-to-end tests of `orcapod show`: a node's rows as the pipeline gives them now,
//! computed from the current sources and the stored function results without running
//! any command, with the missing results counted on stderr; `--all-stored` for every
//! result ever stored; and the warning of a `cache: replay` node that finds nothing.
//!
//! Every test runs the built binary on real CSV files and a real Python command in a
//! temporary directory. The command appends each packet it computes to `calls.txt`, so
//! the tests see exactly which packets were computed, and when.

use std::path::Path;

use orcapod_testing::cli::{self, text, Orcapod};

/// The binary under test.
const ORCAPOD: Orcapod = Orcapod::new(env!("CARGO_BIN_EXE_orcapod"));

const SCRIPT: &str = r#"
import json, sys
for line in sys.stdin:
    p = json.loads(line)
    with open("calls.txt", "a") as f:
        f.write(f"{p['x']}\n")
    print(json.dumps({"dbl": p["x"] * 2}), flush=True)
"#;

/// `s` (data.csv, tagged by `id`) → function `f` (`dbl` = 2x) → `big` (dbl > 4, an
/// operator without cache); `plain` is an operator on the source alone; `replayed`
/// replays what `logged` (the same operator on the same input) logs.
const PIPELINE: &str = "\
pipeline: shown
outputs: [s, f, big, plain]
sources:
  s: {csv: data.csv, tags: [id]}
nodes:
  f:
    op: function
    input: s
    command: [python3, double.py]
    output_keys: [dbl]
    output_types: {dbl: int}
  big: {op: filter, input: f, predicates: [{col: dbl, op: \">\", value: 4}]}
  plain: {op: map_packets, input: s, mapping: {x: value}}
";

fn workspace(csv: &str) -> tempfile::TempDir {
    cli::workspace(&[
        ("data.csv", csv),
        ("double.py", SCRIPT),
        ("p.yaml", PIPELINE),
    ])
}

/// The packets the command has computed so far, sorted (workers run concurrently).
fn calls(dir: &Path) -> Vec<String> {
    let mut calls: Vec<String> = std::fs::read_to_string(dir.join("calls.txt"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    calls.sort();
    calls
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("cannot read {file}: {e}"))
}

#[test]
fn show_prints_the_current_rows_and_counts_the_missing_results() {
    let dir = workspace("id,x\na,1\nb,2\nc,3\nd,4\ne,5\n");
    let d = dir.path();
    ORCAPOD.ok(d, &["run", "p.yaml", "--quiet"]);
    assert_eq!(calls(d), ["1", "2", "3", "4", "5"]);

    // b changes value, d is deleted.
    std::fs::write(d.join("data.csv"), "id,x\na,1\nb,20\nc,3\ne,5\n").unwrap();
    let (shown, stderr) = ORCAPOD.ok(d, &["show", "p.yaml", "f", "--format", "csv"]);
    assert_eq!(shown, "id,dbl\na,2\nc,6\ne,10\n", "{stderr}");
    assert!(
        stderr.contains(
            "p.yaml:6: function node `f`: 1 input packet (1 row) has no stored result \
             (never computed, or failed), so that row is absent; `orcapod run p.yaml` \
             computes it"
        ),
        "{stderr}"
    );
    // Downstream of the function: the rows that need the missing result are absent too.
    let (big, stderr) = ORCAPOD.ok(d, &["show", "p.yaml", "big", "--format", "csv"]);
    assert_eq!(big, "id,dbl\nc,6\ne,10\n", "{stderr}");
    assert!(
        stderr.contains("function node `f`: 1 input packet (1 row)")
            && stderr.contains("the rows of `big` that depend on it are absent"),
        "{stderr}"
    );
    // The table says the same.
    let (table, _) = ORCAPOD.ok(d, &["show", "p.yaml", "f"]);
    assert!(
        table.ends_with("3 rows\n") && !table.contains("| 40 "),
        "{table}"
    );
    assert_eq!(calls(d).len(), 5, "show ran the command");

    // --all-stored: every result ever stored, the old value of b and the deleted d too.
    let (all, stderr) = ORCAPOD.ok(
        d,
        &["show", "p.yaml", "f", "--all-stored", "--format", "csv"],
    );
    assert_eq!(all, "id,dbl\na,2\nb,4\nc,6\nd,8\ne,10\n");
    assert!(!stderr.contains("warning"), "{stderr}");

    // A run computes b's new packet only; then `show` gives exactly the run's rows.
    let (_, stderr) = ORCAPOD.ok(
        d,
        &[
            "run", "p.yaml", "--quiet", "--out", "out", "--format", "csv",
        ],
    );
    assert!(!stderr.contains("warning"), "{stderr}");
    assert_eq!(calls(d), ["1", "2", "20", "3", "4", "5"]);
    for node in ["f", "big", "plain", "s"] {
        let (shown, stderr) = ORCAPOD.ok(d, &["show", "p.yaml", node, "--format", "csv"]);
        assert_eq!(shown, read(d, &format!("out/{node}.csv")), "show {node}");
        assert!(!stderr.contains("warning"), "show {node}: {stderr}");
        let (all_info, _) = ORCAPOD.ok(
            d,
            &["show", "p.yaml", node, "--format", "csv", "--all-info"],
        );
        assert_eq!(
            all_info,
            read(d, &format!("out/{node}.all_info.csv")),
            "show {node} --all-info"
        );
    }
    assert_eq!(
        read(d, "out/f.csv"),
        "id,dbl\na,2\nb,40\nc,6\ne,10\n",
        "the run's rows"
    );
    ORCAPOD.ok(
        d,
        &[
            "run", "p.yaml", "--quiet", "--out", "json", "--format", "json",
        ],
    );
    let (json, _) = ORCAPOD.ok(d, &["show", "p.yaml", "f", "--format", "json"]);
    assert_eq!(json, read(d, "json/f.json"));
    assert_eq!(calls(d).len(), 6, "a re-run computes nothing new");
}

#[test]
fn show_of_sources_and_operators_needs_no_run_and_functions_say_what_is_missing() {
    let dir = workspace("id,x\na,1\nb,2\n");
    let d = dir.path();
    let (source, stderr) = ORCAPOD.ok(d, &["show", "p.yaml", "s", "--format", "csv"]);
    assert_eq!(source, "id,x\na,1\nb,2\n", "{stderr}");
    let (plain, stderr) = ORCAPOD.ok(d, &["show", "p.yaml", "plain", "--format", "csv"]);
    assert_eq!(plain, "id,value\na,1\nb,2\n", "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    // Nothing is stored yet: the function's rows are all missing, and `show` says so.
    let (f, stderr) = ORCAPOD.ok(d, &["show", "p.yaml", "f", "--format", "csv"]);
    assert_eq!(f, "id,dbl\n");
    assert!(
        stderr.contains("there is no database at")
            && stderr.contains("function node `f`: 2 input packets (2 rows) have no stored result")
            && stderr.contains("`orcapod run p.yaml` computes them"),
        "{stderr}"
    );
    assert!(calls(d).is_empty(), "show ran the command");
    assert!(!d.join(".orcapod").exists(), "show created a database");
    // `--all-stored` of an operator without `cache: log` has nothing to print.
    let out = ORCAPOD.output(d, &["show", "p.yaml", "plain", "--all-stored"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("node `plain` keeps no stored results"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_replay_with_nothing_stored_warns_in_run_and_show() {
    let dir = workspace("id,x\na,1\nb,2\n");
    let d = dir.path();
    let replaying = format!(
        "{PIPELINE}  replayed: {{op: map_packets, input: s, mapping: {{x: value}}, cache: replay}}\n"
    )
    .replace("[s, f, big, plain]", "[s, f, big, plain, replayed]");
    std::fs::write(d.join("p.yaml"), &replaying).unwrap();
    let warning = "p.yaml:14: node `replayed`: cache: replay found nothing stored at \
                   MapPackets/";
    for mode in ["actors", "sync"] {
        let (_, stderr) = ORCAPOD.ok(d, &["run", "p.yaml", "--quiet", "--mode", mode]);
        assert!(
            stderr.contains(&format!("warning: {warning}"))
                && stderr.contains("so it yields no rows; run once with `cache: log`"),
            "{mode}: {stderr}"
        );
    }
    let (shown, stderr) = ORCAPOD.ok(d, &["show", "p.yaml", "replayed", "--format", "csv"]);
    assert_eq!(shown, "id,value\n");
    assert!(stderr.contains(warning), "{stderr}");

    // Once `plain` has logged its rows, `replayed` (the same operator on the same input)
    // replays them, and nothing is said.
    std::fs::write(
        d.join("p.yaml"),
        replaying.replace(
            "mapping: {x: value}}\n",
            "mapping: {x: value}, cache: log}\n",
        ),
    )
    .unwrap();
    ORCAPOD.ok(d, &["run", "p.yaml", "--quiet"]);
    for mode in ["actors", "sync"] {
        let (_, stderr) = ORCAPOD.ok(d, &["run", "p.yaml", "--quiet", "--mode", mode]);
        assert!(!stderr.contains("warning"), "{mode}: {stderr}");
    }
    let (shown, stderr) = ORCAPOD.ok(d, &["show", "p.yaml", "replayed", "--format", "csv"]);
    assert_eq!(shown, "id,value\na,1\nb,2\n");
    assert!(!stderr.contains("warning"), "{stderr}");
}
