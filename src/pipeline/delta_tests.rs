//! The oracle of a round fed only what changed: its outputs equal a full run's over the
//! sources as they are now.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field};
use arrow::util::display::{ArrayFormatter, FormatOptions};

use super::*;
use crate::files::file_hashes;
use crate::function::closure::ClosureFunction;
use crate::function::{FunctionError, FunctionPod};
use crate::model::Datum;
use crate::operator::{FilterOp, Predicate};
use crate::pipeline::{PipelineBuilder, SyncExecutor};
use crate::source::{RecordKeys, RowsSeen, SourceOptions};

fn table(name: &str, column: &str, rows: &[(i64, i64)]) -> Source {
    let rows: Vec<Vec<(String, Datum)>> = rows
        .iter()
        .map(|(id, v)| {
            vec![
                ("id".to_string(), Datum::Int(*id)),
                (column.to_string(), Datum::Int(*v)),
            ]
        })
        .collect();
    let options = SourceOptions::tags(["id"])
        .with_source_id(name)
        .with_record_id_column("id");
    Source::from_rows(&rows, &options).unwrap()
}

fn double() -> FunctionPod {
    let f = ClosureFunction::new(
        "double",
        vec![Arc::new(Field::new("x", DataType::Int64, false))],
        vec![Arc::new(Field::new("x2", DataType::Int64, false))],
        |packet| match packet[0].1 {
            Datum::Int(x) => Ok(vec![Datum::Int(2 * x)]),
            _ => Err(FunctionError::new("x is not an int")),
        },
    );
    FunctionPod::new(Arc::new(f)).unwrap()
}

/// `f = double(a)`, `j = f ⋈ b`, `big = j where y > 0`, `s = a ⋉ b`, `bb = b` (a
/// selection), outputs `f, big, s, bb`.
fn pipeline(a: &[(i64, i64)], b: &[(i64, i64)]) -> (Pipeline, Vec<usize>) {
    let mut builder = PipelineBuilder::new("p");
    builder.source("a", table("A", "x", a));
    builder.source("b", table("B", "y", b));
    builder.function("f", double(), ["a"]);
    builder.operator("j", OperatorSpec::Join, ["f", "b"]);
    let positive = Predicate {
        col: "y".to_string(),
        op: FilterOp::Gt,
        value: Datum::Int(0),
    };
    builder.operator(
        "big",
        OperatorSpec::Filter {
            predicates: vec![positive],
            constraints: Default::default(),
        },
        ["j"],
    );
    builder.operator("s", OperatorSpec::SemiJoin, ["a", "b"]);
    builder.operator(
        "bb",
        OperatorSpec::SelectPacketColumns {
            columns: vec!["y".to_string()],
            strict: true,
        },
        ["b"],
    );
    let pipeline = builder.build().unwrap();
    let outputs = indices(&pipeline, ALL);
    (pipeline, outputs)
}

const ALL: &[&str] = &["f", "big", "s", "bb"];

fn indices(pipeline: &Pipeline, names: &[&str]) -> Vec<usize> {
    names
        .iter()
        .map(|n| pipeline.index_of(n).unwrap())
        .collect()
}

/// Every output's rows, each row as text, sorted.
fn run(pipeline: &Pipeline, outputs: &[usize]) -> Vec<Vec<String>> {
    let mut executor = SyncExecutor::new(pipeline);
    outputs
        .iter()
        .map(|&o| {
            let stream = executor.output(pipeline.nodes()[o].name()).unwrap();
            rows(stream.batches())
        })
        .collect()
}

fn rows(batches: &[RecordBatch]) -> Vec<String> {
    let mut rows = Vec::new();
    for batch in batches {
        let options = FormatOptions::default();
        let formatters: Vec<ArrayFormatter> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = formatters
                .iter()
                .map(|f| f.value(row).to_string())
                .collect();
            rows.push(cells.join("|"));
        }
    }
    rows.sort();
    rows
}

/// The round from `(a, b)` to `(a2, b2)` fed only what changed: each output's rows, or
/// why it needs every row.
fn round(
    before: (Rows, Rows),
    after: (Rows, Rows),
    names: &[&str],
) -> std::result::Result<Vec<Vec<String>>, String> {
    let (old, _) = pipeline(before.0, before.1);
    let outputs = indices(&old, names);
    let (new, _) = pipeline(after.0, after.1);
    let mut executor = SyncExecutor::new(&old);
    let old_rows: Vec<Vec<RecordBatch>> = outputs
        .iter()
        .map(|&o| {
            executor
                .output(old.nodes()[o].name())
                .unwrap()
                .batches()
                .to_vec()
        })
        .collect();
    let mut changes = HashMap::new();
    let mut added = HashMap::new();
    let mut removed = RecordKeys::default();
    for name in ["a", "b"] {
        let index = new.index_of(name).unwrap();
        let source = |p: &Pipeline| match p.nodes()[index].kind() {
            NodeKind::Source(s) => s.clone(),
            _ => unreachable!(),
        };
        let (seen, _) = RowsSeen::default()
            .compare(&source(&old), file_hashes(), None, usize::MAX)
            .unwrap();
        let (_, delta) = seen
            .compare(&source(&new), file_hashes(), None, usize::MAX)
            .unwrap();
        let change = SourceChange {
            added: delta.added_rows > 0,
            whole: false,
            removed: !delta.removed.is_empty(),
        };
        changes.insert(index, change);
        added.insert(index, delta.added.unwrap());
        removed.extend(delta.removed);
    }
    let plan = plan_round(&new, &outputs, &changes)?;
    let mut fed = new.clone();
    for (index, feed) in &plan.feeds {
        fed = match feed {
            Feed::Added => fed.with_source_rows(*index, added[index].clone()).unwrap(),
            Feed::Nothing => fed.with_source_rows(*index, Vec::new()).unwrap(),
            Feed::Whole => fed,
        };
    }
    let mut executor = SyncExecutor::new(&fed);
    let mut result = Vec::new();
    for (k, (&o, output)) in outputs.iter().zip(&plan.outputs).enumerate() {
        let mut batches = Vec::new();
        if output.keep_old {
            for batch in &old_rows[k] {
                batches.push(if output.retract {
                    retract(batch, &removed).unwrap()
                } else {
                    batch.clone()
                });
            }
        }
        if output.take_run {
            let stream = executor.output(fed.nodes()[o].name()).unwrap();
            batches.extend(stream.batches().iter().cloned());
        }
        result.push(rows(&batches));
    }
    Ok(result)
}

/// A source's rows: (id, value).
type Rows<'a> = &'a [(i64, i64)];

const A: &[(i64, i64)] = &[(1, 10), (2, 20), (3, 30), (4, 40)];
const B: &[(i64, i64)] = &[(1, 1), (2, -2), (3, 3), (5, 5)];

#[test]
fn a_round_fed_the_changed_rows_of_one_source_gives_a_full_runs_rows() {
    // a: 2 changed, 3 removed, 6 added; b unchanged.
    let a2: &[(i64, i64)] = &[(1, 10), (2, 21), (4, 40), (6, 60), (5, 50)];
    let (new, outputs) = pipeline(a2, B);
    let expected = run(&new, &outputs);
    assert_eq!(round((A, B), (a2, B), ALL).unwrap(), expected);
    assert!(expected[1].len() >= 2, "the join keeps some rows");
}

#[test]
fn removing_rows_of_the_right_side_of_a_semi_join_needs_every_row() {
    let b2: &[(i64, i64)] = &[(1, 1), (3, 3)];
    let why = round((A, B), (A, b2), ALL).unwrap_err();
    assert!(why.contains("`s`"), "{why}");
}

#[test]
fn a_round_fed_the_left_of_a_semi_join_gives_a_full_runs_rows() {
    let a2: &[(i64, i64)] = &[(1, 11), (3, 30), (5, 50)];
    let (new, outputs) = pipeline(a2, B);
    assert_eq!(round((A, B), (a2, B), ALL).unwrap(), run(&new, &outputs));
}

#[test]
fn a_round_fed_the_changed_rows_of_a_joined_source_gives_a_full_runs_rows() {
    // b: 2 changed (now passes the filter), 3 removed, 4 added, 5 changed.
    let b2: &[(i64, i64)] = &[(1, 1), (2, 2), (4, 4), (5, -5)];
    let (new, _) = pipeline(A, b2);
    let names = ["f", "big", "bb"];
    let expected = run(&new, &indices(&new, &names));
    assert_eq!(round((A, B), (A, b2), &names).unwrap(), expected);
}

#[test]
fn sources_fed_and_outputs_kept_follow_what_changed() {
    let (p, outputs) = pipeline(A, B);
    let a = p.index_of("a").unwrap();
    let b = p.index_of("b").unwrap();
    let added = SourceChange {
        added: true,
        ..SourceChange::default()
    };
    let plan = plan_round(&p, &outputs, &HashMap::from([(a, added)])).unwrap();
    // b meets a's new rows in `big` (and `s`): fed whole.
    assert_eq!(plan.feeds, vec![(a, Feed::Added), (b, Feed::Whole)]);
    let kept_and_run = OutputUse {
        keep_old: true,
        retract: false,
        take_run: true,
    };
    let kept = OutputUse {
        keep_old: true,
        ..OutputUse::default()
    };
    assert_eq!(
        plan.outputs,
        vec![kept_and_run, kept_and_run, kept_and_run, kept]
    );
    // Only a's rows removed: nothing fed, the outputs a reaches withdraw rows.
    let removed = SourceChange {
        removed: true,
        ..SourceChange::default()
    };
    let plan = plan_round(&p, &outputs, &HashMap::from([(a, removed)])).unwrap();
    assert_eq!(plan.feeds, vec![(a, Feed::Nothing), (b, Feed::Nothing)]);
    let withdrawn = OutputUse {
        keep_old: true,
        retract: true,
        take_run: false,
    };
    assert_eq!(plan.outputs, vec![withdrawn, withdrawn, withdrawn, kept]);
    // b changed, and the semi-join `s` reads it on its right.
    let why = plan_round(&p, &outputs, &HashMap::from([(b, added)])).unwrap_err();
    assert!(why.contains("node `s` needs every row"), "{why}");
    // Without `s` among the outputs, b's new rows go through; a's and b's would meet in
    // `big`.
    let no_s = [outputs[0], outputs[1], outputs[3]];
    let plan = plan_round(&p, &no_s, &HashMap::from([(b, added)])).unwrap();
    assert_eq!(plan.feeds, vec![(a, Feed::Whole), (b, Feed::Added)]);
    assert_eq!(plan.outputs, vec![kept, kept_and_run, kept_and_run]);
    let both = HashMap::from([(a, added), (b, added)]);
    let why = plan_round(&p, &no_s, &both).unwrap_err();
    assert!(why.contains("both have new rows"), "{why}");
}

#[test]
fn a_self_join_of_a_changed_source_needs_every_row() {
    let mut builder = PipelineBuilder::new("p");
    builder.source("a", table("A", "x", A));
    builder.operator(
        "a2",
        OperatorSpec::MapPackets {
            name_map: [("x".to_string(), "z".to_string())].into(),
            drop_unmapped: true,
        },
        ["a"],
    );
    builder.operator("j", OperatorSpec::Join, ["a", "a2"]);
    let p = builder.build().unwrap();
    let changes = HashMap::from([(
        p.index_of("a").unwrap(),
        SourceChange {
            added: true,
            ..SourceChange::default()
        },
    )]);
    let why = plan_round(&p, &[p.index_of("j").unwrap()], &changes).unwrap_err();
    assert!(why.contains("2 paths"), "{why}");
}
