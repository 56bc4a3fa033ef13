//! Students and their scores: load two CSV files, join them, keep the passing scores
//! of cohort A, and group them in pairs — on the actor runtime, checked against the
//! synchronous executor.
//!
//! Run with `cargo run --example grades`. (The pairs follow the order in which the join
//! found its matches, so which scores share a pair can change between runs.)

use std::collections::BTreeMap;
use std::path::Path;

use arrow::util::pretty::pretty_format_batches;
use orcapod::model::{ColumnConfig, Datum};
use orcapod::operator::{FilterOp, OperatorSpec, Predicate};
use orcapod::pipeline::{PipelineBuilder, SyncExecutor};
use orcapod::source::{Source, SourceOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data");
    let students = Source::from_csv(
        data.join("students.csv"),
        &SourceOptions::tags(["student_id"]).with_source_id("students"),
    )?;
    let scores = Source::from_csv(
        data.join("scores.csv"),
        &SourceOptions::tags(["student_id", "course_id"]).with_source_id("scores"),
    )?;

    let mut builder = PipelineBuilder::new("grades");
    builder
        .source("students", students)
        .source("scores", scores)
        .operator("joined", OperatorSpec::Join, ["students", "scores"])
        .operator(
            "passing",
            OperatorSpec::Filter {
                predicates: vec![Predicate {
                    col: "score".into(),
                    op: FilterOp::Ge,
                    value: Datum::Int(70),
                }],
                constraints: BTreeMap::from([("cohort".to_string(), Datum::Str("A".into()))]),
            },
            ["joined"],
        )
        .operator(
            "pscore",
            OperatorSpec::SelectPacketColumns {
                columns: vec!["score".into()],
                strict: true,
            },
            ["passing"],
        )
        .operator(
            "pairs",
            OperatorSpec::Batch {
                batch_size: 2,
                drop_partial_batch: false,
            },
            ["pscore"],
        );
    let pipeline = builder.build()?;

    let shown = ["joined", "pscore", "pairs"];
    let output = orcapod_actors::Runtime::new()?.run(
        &pipeline,
        orcapod_actors::RunOptions::default().outputs(shown),
    )?;
    let mut executor = SyncExecutor::new(&pipeline);
    for name in shown {
        let node = pipeline.node(name).expect("declared above");
        let stream = &output.streams[name];
        assert_eq!(
            stream.num_rows(),
            executor.output(name)?.num_rows(),
            "the actor runtime and the synchronous executor agree"
        );
        let sorted = ColumnConfig {
            sort_by_tags: true,
            ..ColumnConfig::default()
        };
        println!(
            "== {name}: {} rows, {}\n   pipeline hash {}",
            stream.num_rows(),
            stream.schema().describe(),
            node.identity().pipeline
        );
        println!("{}", pretty_format_batches(&[stream.as_table(&sorted)?])?);
    }
    let provenance = ColumnConfig {
        system_tags: true,
        source_info: true,
        sort_by_tags: true,
        ..ColumnConfig::default()
    };
    println!("== pscore with provenance");
    println!(
        "{}",
        pretty_format_batches(&[output.streams["pscore"].as_table(&provenance)?])?
    );
    Ok(())
}
