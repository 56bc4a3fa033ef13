//! Unit tests of the join operators: the order of output columns follows the order the
//! inputs are listed, and nothing else does.

use arrow::datatypes::FieldRef;

use crate::model::{Datum, Stream};
use crate::operator::{run_to_completion, InputInfo, OperatorSpec};
use crate::source::{Source, SourceOptions};

/// A source `id` with the given tags, columns, and rows of values (in column order).
fn source(id: &str, tags: &[&str], columns: &[&str], rows: &[&[Datum]]) -> Source {
    let rows: Vec<Vec<(String, Datum)>> = rows
        .iter()
        .map(|r| {
            columns
                .iter()
                .map(|c| c.to_string())
                .zip(r.to_vec())
                .collect()
        })
        .collect();
    Source::from_rows(
        &rows,
        &SourceOptions::tags(tags.iter().copied()).with_source_id(id),
    )
    .unwrap()
}

fn s(v: &str) -> Datum {
    Datum::Str(v.to_string())
}

fn students() -> Source {
    source(
        "students",
        &["student_id"],
        &["student_id", "name", "cohort"],
        &[&[s("s1"), s("Ada"), s("A")], &[s("s2"), s("Bo"), s("B")]],
    )
}

fn scores() -> Source {
    source(
        "scores",
        &["student_id", "course"],
        &["student_id", "course", "score"],
        &[
            &[s("s1"), s("c1"), Datum::Int(91)],
            &[s("s2"), s("c1"), Datum::Int(78)],
            &[s("s2"), s("c2"), Datum::Int(64)],
        ],
    )
}

fn courses() -> Source {
    source(
        "courses",
        &["course"],
        &["course", "title", "credits"],
        &[
            &[s("c1"), s("Logic"), Datum::Int(5)],
            &[s("c2"), s("Sets"), Datum::Int(3)],
        ],
    )
}

/// Runs `spec` over the sources, listed in this order.
fn run(spec: &OperatorSpec, sources: &[&Source]) -> Stream {
    let infos: Vec<InputInfo> = sources
        .iter()
        .map(|s| InputInfo {
            schema: s.schema().clone(),
            pipeline_hash: s.identity().pipeline.clone(),
        })
        .collect();
    let mut op = spec.build(&infos).unwrap();
    let owned: Vec<Stream> = sources.iter().map(|s| s.stream().unwrap()).collect();
    let streams: Vec<&Stream> = owned.iter().collect();
    run_to_completion(op.as_mut(), &streams).unwrap()
}

fn names(fields: &[FieldRef]) -> Vec<String> {
    fields.iter().map(|f| f.name().clone()).collect()
}

/// The user tags, packets and source-info columns of `stream`, in order.
fn user_columns(stream: &Stream) -> (Vec<String>, Vec<String>, Vec<String>) {
    let schema = stream.schema();
    (
        names(schema.tag_fields()),
        names(schema.packet_fields()),
        names(schema.source_info_fields()),
    )
}

/// Every row as (column name, value) pairs sorted by column name; rows sorted.
fn rows_by_name(stream: &Stream) -> Vec<Vec<(String, String)>> {
    let batch = stream.to_batch().unwrap();
    let schema = batch.schema();
    let mut rows: Vec<Vec<(String, String)>> = (0..batch.num_rows())
        .map(|r| {
            let mut row: Vec<(String, String)> = schema
                .fields()
                .iter()
                .zip(batch.columns())
                .map(|(f, c)| {
                    let value = Datum::from_array(c.as_ref(), r).unwrap().python_str();
                    (f.name().clone(), value)
                })
                .collect();
            row.sort();
            row
        })
        .collect();
    rows.sort();
    rows
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Sources listed in this order, with the user tags and packets the output must list.
type ColumnCase<'a> = (&'a [&'a Source], &'a [&'a str], &'a [&'a str]);

/// Asserts the user columns of `spec` over the sources of each case.
fn assert_columns(spec: &OperatorSpec, cases: &[ColumnCase]) {
    for &(sources, tags, packets) in cases {
        let out = run(spec, sources);
        let sources_info: Vec<String> = packets.iter().map(|p| format!("_source_{p}")).collect();
        assert_eq!(
            user_columns(&out),
            (strings(tags), strings(packets), sources_info),
            "{spec:?} over {:?}",
            sources.iter().map(|s| s.source_id()).collect::<Vec<_>>()
        );
    }
}

#[test]
fn a_two_way_join_lists_columns_in_the_order_of_its_inputs() {
    let (students, scores) = (students(), scores());
    assert_columns(
        &OperatorSpec::Join,
        &[
            (
                &[&students, &scores],
                &["student_id", "course"],
                &["name", "cohort", "score"],
            ),
            (
                &[&scores, &students],
                &["student_id", "course"],
                &["score", "name", "cohort"],
            ),
        ],
    );
}

#[test]
fn a_three_way_join_lists_columns_in_the_order_of_its_inputs() {
    let (students, scores, courses) = (students(), scores(), courses());
    assert_columns(
        &OperatorSpec::Join,
        &[
            (
                &[&students, &scores, &courses],
                &["student_id", "course"],
                &["name", "cohort", "score", "title", "credits"],
            ),
            (
                &[&courses, &scores, &students],
                &["course", "student_id"],
                &["title", "credits", "score", "name", "cohort"],
            ),
            (
                &[&scores, &courses, &students],
                &["student_id", "course"],
                &["score", "title", "credits", "name", "cohort"],
            ),
        ],
    );
}

#[test]
fn listed_order_changes_only_the_order_of_user_columns() {
    let (students, scores, courses) = (students(), scores(), courses());
    let orders: [[&Source; 3]; 3] = [
        [&students, &scores, &courses],
        [&courses, &scores, &students],
        [&scores, &students, &courses],
    ];
    let first = run(&OperatorSpec::Join, &orders[0]);
    assert_eq!(first.num_rows(), 3);
    for order in &orders[1..] {
        let other = run(&OperatorSpec::Join, order);
        // System tags: the same names at the same positions, whatever the order.
        assert_eq!(
            other.schema().system_tag_fields(),
            first.schema().system_tag_fields()
        );
        assert_eq!(rows_by_name(&other), rows_by_name(&first));
    }
    let two = run(&OperatorSpec::Join, &[&students, &scores]);
    let swapped = run(&OperatorSpec::Join, &[&scores, &students]);
    assert_eq!(
        two.schema().system_tag_fields(),
        swapped.schema().system_tag_fields()
    );
    assert_eq!(rows_by_name(&two), rows_by_name(&swapped));
}

fn left() -> Source {
    source(
        "left",
        &["id"],
        &["id", "x", "p"],
        &[
            &[s("a"), Datum::Int(7), s("p1")],
            &[s("b"), Datum::Int(1), s("p2")],
        ],
    )
}

fn right() -> Source {
    source(
        "right",
        &["k", "id"],
        &["k", "id", "q", "x"],
        &[
            &[s("u"), s("a"), s("q1"), Datum::Int(2)],
            &[s("v"), s("b"), s("q2"), Datum::Int(9)],
        ],
    )
}

#[test]
fn a_merge_join_lists_columns_in_the_order_of_its_inputs() {
    let (left, right) = (left(), right());
    assert_columns(
        &OperatorSpec::MergeJoin,
        &[
            (&[&left, &right], &["id", "k"], &["x", "p", "q"]),
            (&[&right, &left], &["k", "id"], &["q", "x", "p"]),
        ],
    );
    let lr = run(&OperatorSpec::MergeJoin, &[&left, &right]);
    let rl = run(&OperatorSpec::MergeJoin, &[&right, &left]);
    assert_eq!(
        lr.schema().system_tag_fields(),
        rl.schema().system_tag_fields()
    );
    let rows = rows_by_name(&lr);
    assert_eq!(rows, rows_by_name(&rl));
    // The merged values stay sorted ascending, whatever the listed order.
    let x: Vec<&str> = rows
        .iter()
        .map(|r| r.iter().find(|(c, _)| c == "x").unwrap().1.as_str())
        .collect();
    assert_eq!(x, ["[2, 7]", "[1, 9]"]);
}

#[test]
fn a_single_input_join_is_unchanged() {
    let students = students();
    let out = run(&OperatorSpec::Join, &[&students]);
    assert_eq!(out.schema(), students.schema());
}
