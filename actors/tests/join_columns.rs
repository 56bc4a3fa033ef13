//! End-to-end tests of the column order of `join` and `merge_join`: the built `orcapod`
//! binary runs a pipeline file over real CSV files in a temporary directory, and the
//! headers of what `run --out DIR` writes and of what `show` prints follow the order in
//! which each node lists its inputs (user tags, then packets, each an ordered union;
//! each packet's `_source_…` column in packet order), in both run modes. The order
//! changes nothing else: the same rows hold the same values under the same column names,
//! and the system tags are the same columns in the same order.

use std::collections::BTreeMap;
use std::path::Path;

use orcapod_testing::cli::{self, Orcapod};

/// The binary under test.
const ORCAPOD: Orcapod = Orcapod::new(env!("CARGO_BIN_EXE_orcapod"));

const STUDENTS: &str = "student_id,name,cohort\ns01,Ada,A\ns02,Bo,B\ns03,Cy,A\n";
const SCORES: &str = "student_id,course_id,score\ns01,c1,91\ns01,c2,67\ns02,c1,78\ns03,c2,55\n";
const COURSES: &str = "course_id,title,credits\nc1,Logic,5\nc2,Sets,3\n";
const MIDTERM: &str = "student_id,score,room\ns01,80,r1\ns02,70,r2\n";
const FINAL: &str = "course_id,student_id,grade,score\nc1,s01,A,95\nc1,s02,C,60\n";

/// A label from the named values of each request.
const LABEL_SCRIPT: &str = r#"
import json, sys
for line in sys.stdin:
    p = json.loads(line)
    print(json.dumps({"label": f"{p['name']}:{p['score']}"}), flush=True)
"#;

const PIPELINE: &str = "\
pipeline: columns
sources:
  students: {csv: students.csv, tags: [student_id]}
  scores:   {csv: scores.csv, tags: [student_id, course_id]}
  courses:  {csv: courses.csv, tags: [course_id]}
  midterm:  {csv: midterm.csv, tags: [student_id]}
  final:    {csv: final.csv, tags: [course_id, student_id]}
nodes:
  students_scores: {op: join, inputs: [students, scores], cache: log}
  scores_students: {op: join, inputs: [scores, students], cache: log}
  three:           {op: join, inputs: [students, scores, courses], cache: log}
  three_reversed:  {op: join, inputs: [courses, scores, students], cache: log}
  three_mixed:     {op: join, inputs: [scores, courses, students], cache: log}
  midterm_final:   {op: merge_join, inputs: [midterm, final], cache: log}
  final_midterm:   {op: merge_join, inputs: [final, midterm], cache: log}
  labelled:
    op: function
    inputs: [scores, students]
    command: [python3, label.py]
    output_keys: [label]
    output_types: {label: str}
outputs: [students_scores, scores_students, three, three_reversed, three_mixed,
          midterm_final, final_midterm, labelled]
";

/// Every output node with the user columns (tags, then packets) it must list.
const EXPECTED: [(&str, &[&str], &[&str]); 8] = [
    (
        "students_scores",
        &["student_id", "course_id"],
        &["name", "cohort", "score"],
    ),
    (
        "scores_students",
        &["student_id", "course_id"],
        &["score", "name", "cohort"],
    ),
    (
        "three",
        &["student_id", "course_id"],
        &["name", "cohort", "score", "title", "credits"],
    ),
    (
        "three_reversed",
        &["course_id", "student_id"],
        &["title", "credits", "score", "name", "cohort"],
    ),
    (
        "three_mixed",
        &["student_id", "course_id"],
        &["score", "title", "credits", "name", "cohort"],
    ),
    (
        "midterm_final",
        &["student_id", "course_id"],
        &["score", "room", "grade"],
    ),
    (
        "final_midterm",
        &["course_id", "student_id"],
        &["grade", "score", "room"],
    ),
    // The function's tags come from its implicit join of [scores, students].
    ("labelled", &["student_id", "course_id"], &["label"]),
];

/// A directory with the CSV files, the label script and `columns.yaml`.
fn workspace() -> tempfile::TempDir {
    cli::workspace(&[
        ("students.csv", STUDENTS),
        ("scores.csv", SCORES),
        ("courses.csv", COURSES),
        ("midterm.csv", MIDTERM),
        ("final.csv", FINAL),
        ("label.py", LABEL_SCRIPT),
        ("columns.yaml", PIPELINE),
    ])
}

/// Runs `orcapod ARGS` in `dir` and asserts success; returns stdout.
fn ok(dir: &Path, args: &[&str]) -> String {
    ORCAPOD.ok(dir, args).0
}

/// The records of a CSV text (fields split on commas outside double quotes, `""` an
/// escaped quote), header first.
fn parse_csv(csv: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    for line in csv.lines() {
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match (c, quoted) {
                ('"', true) if chars.peek() == Some(&'"') => {
                    field.push('"');
                    chars.next();
                }
                ('"', _) => quoted = !quoted,
                (',', false) => fields.push(std::mem::take(&mut field)),
                (c, _) => field.push(c),
            }
        }
        fields.push(field);
        records.push(fields);
    }
    records
}

/// The header of a CSV text.
fn header(csv: &str) -> Vec<String> {
    parse_csv(csv).into_iter().next().unwrap_or_default()
}

/// The rows of a CSV text as column name → value, sorted: equal for two tables holding
/// the same values under the same names, whatever the order of their columns.
fn rows_by_name(csv: &str) -> Vec<BTreeMap<String, String>> {
    let mut records = parse_csv(csv).into_iter();
    let names = records.next().unwrap_or_default();
    let mut rows: Vec<BTreeMap<String, String>> = records
        .map(|r| names.iter().cloned().zip(r).collect())
        .collect();
    rows.sort();
    rows
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The system-tag columns of an `all_info` header.
fn system_tags(header: &[String]) -> Vec<String> {
    header
        .iter()
        .filter(|c| c.starts_with("_tag_"))
        .cloned()
        .collect()
}

#[test]
fn run_writes_join_columns_in_the_order_the_inputs_are_listed_in_both_modes() {
    let dir = workspace();
    let mut written: Vec<BTreeMap<&str, (String, String)>> = Vec::new();
    for mode in ["actors", "sync"] {
        let out = dir.path().join(format!("out-{mode}"));
        let db = dir.path().join(format!("db-{mode}"));
        ok(
            dir.path(),
            &[
                "run",
                "columns.yaml",
                "--mode",
                mode,
                "--db",
                db.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--format",
                "csv",
                "--quiet",
            ],
        );
        let mut files = BTreeMap::new();
        for (node, tags, packets) in EXPECTED {
            let plain = read(&out.join(format!("{node}.csv")));
            let all_info = read(&out.join(format!("{node}.all_info.csv")));
            let user: Vec<String> = strings(tags).into_iter().chain(strings(packets)).collect();
            assert_eq!(header(&plain), user, "{node} ({mode})");
            // all_info: the same user columns first, the system tags, then one source
            // info column per packet, in packet order.
            let full = header(&all_info);
            assert_eq!(full[..user.len()], user[..], "{node} ({mode})");
            let sources: Vec<String> = full
                .iter()
                .filter(|c| c.starts_with("_source_"))
                .cloned()
                .collect();
            let expected_sources: Vec<String> =
                packets.iter().map(|p| format!("_source_{p}")).collect();
            assert_eq!(sources, expected_sources, "{node} ({mode})");
            assert_eq!(
                full.len(),
                user.len() + system_tags(&full).len() + sources.len(),
                "{node} ({mode}): {full:?}"
            );
            files.insert(node, (plain, all_info));
        }
        written.push(files);
    }
    // Both modes write the same files, byte for byte.
    assert_eq!(written[0], written[1]);

    let files = &written[0];
    let rows = |node: &str| rows_by_name(&files[node].1);
    // The listed order changes no value and no system-tag column.
    for (a, b) in [
        ("students_scores", "scores_students"),
        ("three", "three_reversed"),
        ("three", "three_mixed"),
        ("midterm_final", "final_midterm"),
    ] {
        assert_eq!(rows(a), rows(b), "{a} and {b}");
        assert_eq!(
            system_tags(&header(&files[a].1)),
            system_tags(&header(&files[b].1)),
            "{a} and {b}"
        );
    }
    // The values sit under their own names.
    let s01_c1 = rows("three_reversed")
        .into_iter()
        .find(|r| r["student_id"] == "s01" && r["course_id"] == "c1")
        .unwrap();
    for (column, value) in [
        ("name", "Ada"),
        ("cohort", "A"),
        ("score", "91"),
        ("title", "Logic"),
        ("credits", "5"),
    ] {
        assert_eq!(s01_c1[column], value, "{column}");
    }
    assert_eq!(rows("three").len(), 4);
    // merge_join: the colliding column is where the first listed input has it, its two
    // values sorted ascending in either order.
    let merged = rows("final_midterm");
    let s01 = merged.iter().find(|r| r["student_id"] == "s01").unwrap();
    assert_eq!(
        (
            s01["score"].as_str(),
            s01["room"].as_str(),
            s01["grade"].as_str()
        ),
        ("[80, 95]", "r1", "A")
    );
    // The command got named values: each label pairs a student's name with their score.
    let mut labels: Vec<String> = rows_by_name(&files["labelled"].0)
        .into_iter()
        .map(|r| format!("{} {} {}", r["student_id"], r["course_id"], r["label"]))
        .collect();
    labels.sort();
    assert_eq!(
        labels,
        [
            "s01 c1 Ada:91",
            "s01 c2 Ada:67",
            "s02 c1 Bo:78",
            "s03 c2 Cy:55"
        ]
    );
}

#[test]
fn show_prints_join_columns_in_the_order_the_inputs_are_listed() {
    let dir = workspace();
    ok(dir.path(), &["run", "columns.yaml", "--quiet"]);
    for (node, tags, packets) in EXPECTED {
        let shown = ok(
            dir.path(),
            &["show", "columns.yaml", node, "--format", "csv"],
        );
        let user: Vec<String> = strings(tags).into_iter().chain(strings(packets)).collect();
        assert_eq!(header(&shown), user, "show {node}");
        let all = ok(
            dir.path(),
            &[
                "show",
                "columns.yaml",
                node,
                "--format",
                "csv",
                "--all-info",
            ],
        );
        assert_eq!(
            header(&all)[..user.len()],
            user[..],
            "show --all-info {node}"
        );
        assert_eq!(
            rows_by_name(&all).len(),
            rows_by_name(&shown).len(),
            "show {node}"
        );
    }
    let table = ok(dir.path(), &["show", "columns.yaml", "scores_students"]);
    let first = table.lines().find(|l| l.starts_with('|')).unwrap();
    let names: Vec<&str> = first
        .split('|')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        names,
        ["student_id", "course_id", "score", "name", "cohort"]
    );
}
