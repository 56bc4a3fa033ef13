//! The main correctness oracle: on random DAGs over random data, the actor runtime and
//! the synchronous executor produce the same rows for every node — system tags and
//! source info included, compared as multisets — under random batch sizes, windows and
//! pauses in every actor.
//!
//! Batch is placed anywhere, after joins and function pods too: it groups rows in their
//! canonical (provenance) order, so its groups do not depend on the order in which a
//! join discovers matches or a worker pool finishes packets.

use std::collections::BTreeMap;

use orcapod::model::Datum;
use orcapod::operator::{FilterOp, OperatorSpec, Predicate};
use orcapod::pipeline::{Pipeline, PipelineBuilder};
use orcapod::source::{Source, SourceOptions};
use orcapod_actors::{RunOptions, Runtime};
use orcapod_testing::runs::assert_actors_match_sync;
use proptest::prelude::*;

/// A deterministic generator, so a failing case is reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n.max(1)
    }
}

/// A source with tags drawn from `tags` and one packet column `v{index}`.
fn random_source(rng: &mut Rng, index: usize) -> Source {
    let tag_sets: [&[&str]; 3] = [&["a"], &["a", "b"], &["b"]];
    let tags = tag_sets[rng.below(3) as usize];
    let n = rng.below(12) as usize;
    let value = format!("v{index}");
    let rows: Vec<Vec<(String, Datum)>> = (0..n)
        .map(|_| {
            let mut row: Vec<(String, Datum)> = tags
                .iter()
                .map(|t| (t.to_string(), Datum::Str(format!("k{}", rng.below(3)))))
                .collect();
            row.push((value.clone(), Datum::Int(rng.below(50) as i64)));
            row
        })
        .collect();
    let options = SourceOptions::tags(tags.iter().copied()).with_source_id(format!("src{index}"));
    if rows.is_empty() {
        // An empty source still needs a schema: build it from one row, then drop the row.
        let one = vec![tags
            .iter()
            .map(|t| (t.to_string(), Datum::Str("k0".into())))
            .chain([(value.clone(), Datum::Int(0))])
            .collect()];
        let source = Source::from_rows(&one, &options).unwrap();
        let schema = source.schema().clone();
        let empty = arrow::record_batch::RecordBatch::new_empty(arrow::datatypes::SchemaRef::new(
            arrow::datatypes::Schema::new(
                schema
                    .tag_fields()
                    .iter()
                    .chain(schema.packet_fields())
                    .cloned()
                    .collect::<Vec<_>>(),
            ),
        ));
        return Source::from_record_batch(empty, &options).unwrap();
    }
    Source::from_rows(&rows, &options).unwrap()
}

/// A random operator over earlier nodes.
fn random_operator(rng: &mut Rng, nodes: &[String]) -> (OperatorSpec, Vec<String>) {
    let pick = |rng: &mut Rng| nodes[rng.below(nodes.len() as u64) as usize].clone();
    match rng.below(7) {
        0 | 1 => (OperatorSpec::Join, vec![pick(rng), pick(rng)]),
        2 => (OperatorSpec::SemiJoin, vec![pick(rng), pick(rng)]),
        3 => (OperatorSpec::MergeJoin, vec![pick(rng), pick(rng)]),
        4 => (
            OperatorSpec::Batch {
                batch_size: rng.below(4) as usize,
                drop_partial_batch: rng.below(2) == 0,
            },
            vec![pick(rng)],
        ),
        5 => (
            OperatorSpec::DropTagColumns {
                columns: vec!["b".into()],
                strict: false,
            },
            vec![pick(rng)],
        ),
        _ => (
            OperatorSpec::Filter {
                predicates: vec![Predicate {
                    col: "a".into(),
                    op: FilterOp::NotNull,
                    value: Datum::Null,
                }],
                constraints: BTreeMap::new(),
            },
            vec![pick(rng)],
        ),
    }
}

/// `v{k} + 1` as `f{k}`: a function pod that fits source `s{k}`'s packets.
fn plus_one(k: usize) -> orcapod::function::FunctionPod {
    use std::sync::Arc;
    let field = |n: String| {
        Arc::new(arrow::datatypes::Field::new(
            n,
            arrow::datatypes::DataType::Int64,
            false,
        ))
    };
    let function = orcapod::function::closure::ClosureFunction::new(
        format!("plus_one_{k}"),
        vec![field(format!("v{k}"))],
        vec![field(format!("f{k}"))],
        |p| match p[0].1 {
            Datum::Int(x) => Ok(vec![Datum::Int(x + 1)]),
            _ => Err(orcapod::function::FunctionError::new("not an int")),
        },
    );
    orcapod::function::FunctionPod::new(Arc::new(function)).expect("a valid pod")
}

/// A random DAG: a few sources, then operators over earlier nodes; operators whose
/// inputs do not fit (e.g. overlapping packet columns) are skipped, as a user would fix.
fn random_pipeline(seed: u64) -> Pipeline {
    let mut rng = Rng(seed);
    let mut builder = PipelineBuilder::new("random");
    let mut nodes = Vec::new();
    for i in 0..(2 + rng.below(2) as usize) {
        let name = format!("s{i}");
        builder.source(name.clone(), random_source(&mut rng, i));
        nodes.push(name);
    }
    for i in 0..(2 + rng.below(4) as usize) {
        // Now and then a function pod on a source's packet column `v{k}`.
        if rng.below(5) == 0 {
            let k = rng.below(nodes.len() as u64) as usize;
            let name = format!("fn{i}");
            let mut candidate = builder.clone();
            candidate.function(name.clone(), plus_one(k), [nodes[k].clone()]);
            if candidate.build().is_ok() {
                builder = candidate;
                nodes.push(name);
            }
            continue;
        }
        let (spec, inputs) = random_operator(&mut rng, &nodes);
        let name = format!("op{i}");
        let mut candidate = builder.clone();
        candidate.operator(name.clone(), spec, inputs);
        if candidate.build().is_ok() {
            builder = candidate;
            nodes.push(name);
        }
    }
    builder.build().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn actors_agree_with_the_sync_executor(
        seed in any::<u64>(),
        batch in 1usize..6,
        window in 1usize..12,
        jitter in any::<u64>(),
    ) {
        let runtime = Runtime::new().unwrap();
        let pipeline = random_pipeline(seed);
        assert_actors_match_sync(
            &runtime,
            &pipeline,
            RunOptions::default().max_batch_rows(batch).window_rows(window).jitter(jitter),
        );
        // Actors stop right after reporting their end (a function node joins its
        // workers first): none is left behind.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while runtime.live_actors() > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        prop_assert_eq!(runtime.live_actors(), 0);
    }
}
