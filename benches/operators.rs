//! Each operator's state machine on 1M-row inputs, fed in 1024-row batches as the actor
//! runtime feeds it (the symmetric hash join included: both sides arrive interleaved).
//!
//! Run with `cargo bench --bench operators`; `-- join` runs only the benchmarks whose
//! name contains `join`. Throughput is reported in input rows. `join_one_int_key` joins
//! on one integer tag (the join's integer-key index); the other joins on two tags.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, LargeStringArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use orcapod::model::Datum;
use orcapod::operator::{FilterOp, InputInfo, OperatorSpec, Predicate};
use orcapod::source::{Source, SourceOptions};

const ROWS: usize = 1_000_000;
const BATCH: usize = 1024;

/// An input of `ROWS` rows: tags `id` (and `g`, 1000 groups), int packet `x` (or the
/// given name), string packet `s`, float packet `y`; cut into runtime-sized batches.
struct Input {
    info: InputInfo,
    batches: Vec<RecordBatch>,
}

fn input(source_id: &str, packet: &str, reversed: bool) -> Input {
    keyed_input(source_id, packet, reversed, false)
}

/// [`input`], or with `one_key` a single unique integer tag `id` (0..ROWS) and no `g`:
/// the shape the join's integer-key index serves.
fn keyed_input(source_id: &str, packet: &str, reversed: bool, one_key: bool) -> Input {
    let ids: Vec<i64> = (0..ROWS as i64)
        .map(|i| if reversed { ROWS as i64 - 1 - i } else { i })
        .collect();
    let mut fields = vec![Field::new("id", DataType::Int64, false)];
    let mut columns: Vec<ArrayRef> = Vec::new();
    if one_key {
        columns.push(Arc::new(Int64Array::from(ids.clone())));
    } else {
        // `id` and `g` together are unique: (id % 1000, id / 1000).
        fields.push(Field::new("g", DataType::Int64, false));
        columns.push(Arc::new(Int64Array::from_iter_values(
            ids.iter().map(|i| i % 1000),
        )));
        columns.push(Arc::new(Int64Array::from_iter_values(
            ids.iter().map(|i| i / 1000),
        )));
    }
    fields.extend([
        Field::new(packet, DataType::Int64, false),
        Field::new(format!("s_{source_id}"), DataType::LargeUtf8, false),
        Field::new(format!("y_{source_id}"), DataType::Float64, false),
    ]);
    columns.extend([
        Arc::new(Int64Array::from_iter_values(
            ids.iter().map(|i| i * 7 % 1000),
        )) as ArrayRef,
        Arc::new(LargeStringArray::from_iter_values(
            ids.iter().map(|i| format!("s{}", i % 1000)),
        )),
        Arc::new(Float64Array::from_iter_values(
            ids.iter().map(|&i| i as f64),
        )),
    ]);
    let table = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("valid batch");
    let tags: &[&str] = if one_key { &["id"] } else { &["id", "g"] };
    let source = Source::from_record_batch(
        table,
        &SourceOptions::tags(tags.iter().copied()).with_source_id(source_id),
    )
    .expect("valid source");
    let batch = source.stream().unwrap().batches()[0].clone();
    let batches = (0..batch.num_rows())
        .step_by(BATCH)
        .map(|at| batch.slice(at, BATCH.min(batch.num_rows() - at)))
        .collect();
    Input {
        info: InputInfo {
            schema: source.schema().clone(),
            pipeline_hash: source.identity().pipeline.clone(),
        },
        batches,
    }
}

/// Builds `spec` over `inputs` and pushes their batches in turn, one per port, then
/// finishes every port; returns the output rows.
fn run(spec: &OperatorSpec, inputs: &[&Input]) -> usize {
    let infos: Vec<InputInfo> = inputs.iter().map(|i| i.info.clone()).collect();
    let mut op = spec.build(&infos).expect("valid operator");
    let mut rows = 0;
    let longest = inputs.iter().map(|i| i.batches.len()).max().unwrap_or(0);
    for b in 0..longest {
        for (port, input) in inputs.iter().enumerate() {
            if let Some(batch) = input.batches.get(b) {
                op.push(port, batch.clone()).expect("push");
                rows += op.take_output().iter().map(|o| o.num_rows()).sum::<usize>();
            }
        }
    }
    for port in 0..inputs.len() {
        op.finish(port).expect("finish");
        rows += op.take_output().iter().map(|o| o.num_rows()).sum::<usize>();
    }
    rows
}

fn names(columns: &[&str]) -> Vec<String> {
    columns.iter().map(|c| c.to_string()).collect()
}

fn operators(c: &mut Criterion) {
    let left = input("left", "x", false);
    let right = input("right", "z", true);
    // Same packet name `x` on both sides: merge_join merges it.
    let right_x = input("right_x", "x", true);

    let mut group = c.benchmark_group("operator_1M");
    group.sample_size(10);

    // One integer key: the join's integer-key index.
    let left_one = keyed_input("left", "x", false, true);
    let right_one = keyed_input("right", "z", true, true);
    group.throughput(Throughput::Elements(2 * ROWS as u64));
    group.bench_function("join_one_int_key", |b| {
        b.iter(|| assert_eq!(run(&OperatorSpec::Join, &[&left_one, &right_one]), ROWS));
    });
    drop((left_one, right_one));

    // Two integer keys: `arrow-row` encoded keys in the general index.
    let binary: [(&str, OperatorSpec, &Input); 3] = [
        ("join", OperatorSpec::Join, &right),
        ("merge_join", OperatorSpec::MergeJoin, &right_x),
        ("semi_join", OperatorSpec::SemiJoin, &right),
    ];
    for (name, spec, other) in binary {
        group.throughput(Throughput::Elements(2 * ROWS as u64));
        group.bench_function(name, |b| {
            b.iter(|| assert_eq!(run(&spec, &[&left, other]), ROWS));
        });
    }

    let unary: Vec<(&str, OperatorSpec)> = vec![
        (
            "batch_100",
            OperatorSpec::Batch {
                batch_size: 100,
                drop_partial_batch: false,
            },
        ),
        (
            "select_tag_columns",
            OperatorSpec::SelectTagColumns {
                columns: names(&["id"]),
                strict: true,
            },
        ),
        (
            "drop_tag_columns",
            OperatorSpec::DropTagColumns {
                columns: names(&["g"]),
                strict: true,
            },
        ),
        (
            "select_packet_columns",
            OperatorSpec::SelectPacketColumns {
                columns: names(&["x", "s_left"]),
                strict: true,
            },
        ),
        (
            "drop_packet_columns",
            OperatorSpec::DropPacketColumns {
                columns: names(&["y_left"]),
                strict: true,
            },
        ),
        (
            "map_tags",
            OperatorSpec::MapTags {
                name_map: BTreeMap::from([("g".to_string(), "group".to_string())]),
                drop_unmapped: false,
            },
        ),
        (
            "map_packets",
            OperatorSpec::MapPackets {
                name_map: BTreeMap::from([("x".to_string(), "value".to_string())]),
                drop_unmapped: false,
            },
        ),
        (
            "filter",
            OperatorSpec::Filter {
                predicates: vec![Predicate {
                    col: "x".into(),
                    op: FilterOp::Lt,
                    value: Datum::Int(500),
                }],
                constraints: BTreeMap::from([("s_left".to_string(), Datum::Str("s1".into()))]),
            },
        ),
    ];
    for (name, spec) in unary {
        group.throughput(Throughput::Elements(ROWS as u64));
        group.bench_function(name, |b| {
            b.iter(|| run(&spec, &[&left]));
        });
    }
    group.finish();

    // The hash join alone, one side fully indexed before the other probes it, as the
    // sync executor's schedule degenerates to when one input is much faster.
    let mut group = c.benchmark_group("hash_join_1M");
    group.sample_size(10);
    group.throughput(Throughput::Elements(2 * ROWS as u64));
    group.bench_function("build_then_probe", |b| {
        b.iter_batched(
            || {
                OperatorSpec::Join
                    .build(&[left.info.clone(), right.info.clone()])
                    .unwrap()
            },
            |mut op| {
                for batch in &left.batches {
                    op.push(0, batch.clone()).unwrap();
                }
                op.finish(0).unwrap();
                let mut rows = 0;
                for batch in &right.batches {
                    op.push(1, batch.clone()).unwrap();
                    rows += op.take_output().iter().map(|o| o.num_rows()).sum::<usize>();
                }
                op.finish(1).unwrap();
                assert_eq!(rows, ROWS);
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(benches, operators);
criterion_main!(benches);
