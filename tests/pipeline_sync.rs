//! Pipeline plans and the synchronous executor: validation before anything runs,
//! predicted schemas, identities, and pull-based execution.

use std::collections::BTreeMap;

use orcapod::model::{ColumnConfig, Datum};
use orcapod::operator::OperatorSpec;
use orcapod::pipeline::{PipelineBuilder, SyncExecutor};
use orcapod::source::{Source, SourceOptions};
use orcapod::Error;

fn scores() -> Source {
    let rows: Vec<Vec<(String, Datum)>> = [("s1", "c1", 91), ("s2", "c1", 65), ("s1", "c2", 78)]
        .iter()
        .map(|(s, c, v)| {
            vec![
                ("student_id".to_string(), Datum::Str(s.to_string())),
                ("course_id".to_string(), Datum::Str(c.to_string())),
                ("score".to_string(), Datum::Int(*v)),
            ]
        })
        .collect();
    Source::from_rows(
        &rows,
        &SourceOptions::tags(["student_id", "course_id"]).with_source_id("scores"),
    )
    .unwrap()
}

fn rename(old: &str, new: &str) -> OperatorSpec {
    OperatorSpec::MapPackets {
        name_map: BTreeMap::from([(old.to_string(), new.to_string())]),
        drop_unmapped: false,
    }
}

#[test]
fn nodes_may_be_declared_in_any_order_and_run_on_demand() {
    let mut builder = PipelineBuilder::new("grades");
    builder
        .operator(
            "only_student",
            OperatorSpec::SelectTagColumns {
                columns: vec!["student_id".into()],
                strict: true,
            },
            ["renamed"],
        )
        .operator("renamed", rename("score", "points"), ["scores"])
        .source("scores", scores());
    let pipeline = builder.build().unwrap();
    let names: Vec<&str> = pipeline.nodes().iter().map(|n| n.name()).collect();
    assert_eq!(names, ["scores", "renamed", "only_student"]);
    assert_eq!(
        pipeline
            .sinks()
            .iter()
            .map(|n| n.name())
            .collect::<Vec<_>>(),
        ["only_student"]
    );

    let mut executor = SyncExecutor::new(&pipeline);
    let out = executor.output("only_student").unwrap().clone();
    assert_eq!(
        out.schema(),
        pipeline.node("only_student").unwrap().output_schema()
    );
    assert_eq!(out.schema().tag_names(), ["student_id"]);
    assert_eq!(out.schema().packet_names(), ["points"]);
    assert_eq!(out.num_rows(), 3);
    let table = out.as_table(&ColumnConfig::all_info()).unwrap();
    // Source info follows the rename and keeps the original column's provenance.
    let sources = table.column_by_name("_source_points").unwrap();
    let sources = arrow::array::AsArray::as_string::<i64>(sources.as_ref());
    assert_eq!(sources.value(0), "scores::row_0::score");
}

#[test]
fn identities_follow_the_reference_rules() {
    let build = |source_id: &str| {
        let mut builder = PipelineBuilder::new("p");
        let mut options = SourceOptions::tags(["student_id", "course_id"]);
        options.source_id = Some(source_id.to_string());
        let rows = vec![vec![
            ("student_id".to_string(), Datum::Str("s".into())),
            ("course_id".to_string(), Datum::Str("c".into())),
            ("score".to_string(), Datum::Int(1)),
        ]];
        builder
            .source("scores", Source::from_rows(&rows, &options).unwrap())
            .operator("renamed", rename("score", "points"), ["scores"]);
        builder.build().unwrap()
    };
    let a = build("a");
    let b = build("b");
    let (na, nb) = (a.node("renamed").unwrap(), b.node("renamed").unwrap());
    assert_eq!(
        na.identity().pipeline,
        nb.identity().pipeline,
        "same schema and topology"
    );
    assert_ne!(
        na.identity().content,
        nb.identity().content,
        "different sources"
    );
}

#[test]
fn unknown_inputs_duplicates_and_cycles_are_rejected_before_running() {
    let mut unknown = PipelineBuilder::new("p");
    unknown.operator("x", rename("a", "b"), ["nowhere"]);
    let err = unknown.build().unwrap_err().to_string();
    assert!(err.contains("`x` reads `nowhere`"), "{err}");

    let mut duplicate = PipelineBuilder::new("p");
    duplicate.source("s", scores()).source("s", scores());
    assert!(duplicate
        .build()
        .unwrap_err()
        .to_string()
        .contains("two nodes are named `s`"));

    let mut cycle = PipelineBuilder::new("p");
    cycle
        .source("s", scores())
        .operator("a", OperatorSpec::Join, ["s", "b"])
        .operator("b", rename("score", "p"), ["a"]);
    let err = cycle.build().unwrap_err();
    assert!(matches!(err, Error::Plan { .. }));
    let err = err.to_string();
    assert!(
        err.contains("`a`") && err.contains("`b`") && err.contains("cycle"),
        "{err}"
    );
}

#[test]
fn operator_validation_errors_name_the_node() {
    let mut builder = PipelineBuilder::new("p");
    builder.source("scores", scores()).operator(
        "pick",
        OperatorSpec::SelectPacketColumns {
            columns: vec!["grade".into()],
            strict: true,
        },
        ["scores"],
    );
    let err = builder.build().unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::Node { .. }));
    assert!(message.starts_with("node `pick`"), "{message}");
    assert!(message.contains("grade"), "{message}");

    let mut arity = PipelineBuilder::new("p");
    arity
        .source("scores", scores())
        .operator("semi", OperatorSpec::SemiJoin, ["scores"]);
    let message = arity.build().unwrap_err().to_string();
    assert!(
        message.contains("node `semi`") && message.contains("exactly two"),
        "{message}"
    );
}
