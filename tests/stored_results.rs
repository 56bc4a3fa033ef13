//! What the store keeps about runs: a node's stored results as a derived source (with
//! system tags and source info), and the run log.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field};
use orcapod::function::closure::ClosureFunction;
use orcapod::function::{FunctionError, FunctionPod};
use orcapod::model::Datum;
use orcapod::operator::OperatorSpec;
use orcapod::pipeline::{
    read_run_log, stored_source, ErrorPolicy, Pipeline, PipelineBuilder, SyncExecutor,
};
use orcapod::source::{Source, SourceOptions};
use orcapod::store::{ArrowStore, MemoryStore, SledStore};
use orcapod_actors::{RunOptions, Runtime};
use orcapod_testing::multiset as rows;

fn numbers(n: i64) -> Source {
    let rows: Vec<Vec<(String, Datum)>> = (0..n)
        .map(|i| {
            vec![
                ("id".to_string(), Datum::Str(format!("r{i}"))),
                ("x".to_string(), Datum::Int(i)),
            ]
        })
        .collect();
    Source::from_rows(
        &rows,
        &SourceOptions::tags(["id"]).with_source_id("numbers"),
    )
    .unwrap()
}

fn doubled(fail_on: Option<i64>) -> Pipeline {
    let function = ClosureFunction::new(
        "double",
        vec![Arc::new(Field::new("x", DataType::Int64, false))],
        vec![Arc::new(Field::new("y", DataType::Int64, false))],
        move |p| match p[0].1 {
            Datum::Int(x) if Some(x) == fail_on => Err(FunctionError::new(format!("no {x}"))),
            Datum::Int(x) => Ok(vec![Datum::Int(2 * x)]),
            _ => Err(FunctionError::new("not an int")),
        },
    );
    let mut builder = PipelineBuilder::new("doubling");
    builder.source("numbers", numbers(12)).function(
        "doubled",
        FunctionPod::new(Arc::new(function)).unwrap(),
        ["numbers"],
    );
    builder.build().unwrap()
}

#[test]
fn stored_results_come_back_as_a_source_with_their_provenance() {
    let store: Arc<dyn ArrowStore> = Arc::new(MemoryStore::new());
    let pipeline = doubled(None);
    let computed = SyncExecutor::new(&pipeline)
        .with_store(store.clone())
        .unwrap()
        .run_all()
        .unwrap();

    let derived = stored_source(store.as_ref(), &pipeline, "doubled").unwrap();
    assert_eq!(derived.class_name(), "DerivedSource");
    assert_eq!(rows(&derived.stream().unwrap()), rows(&computed["doubled"]));
    assert_eq!(derived.schema(), computed["doubled"].schema());

    // The derived source detaches the Merkle chain: its pipeline hash is that of a fresh
    // source with the same schema.
    let fresh_rows = vec![vec![
        ("id".to_string(), Datum::Str("a".into())),
        ("y".to_string(), Datum::Int(1)),
    ]];
    let fresh = Source::from_rows(&fresh_rows, &SourceOptions::tags(["id"])).unwrap();
    assert_eq!(derived.identity().pipeline, fresh.identity().pipeline);

    // And it works as a source of a new pipeline.
    let mut builder = PipelineBuilder::new("downstream");
    builder
        .source("doubled", derived)
        .source("numbers", numbers(5))
        .operator("joined", OperatorSpec::Join, ["doubled", "numbers"]);
    let downstream = builder.build().unwrap();
    let joined = SyncExecutor::new(&downstream).run_all().unwrap();
    assert_eq!(joined["joined"].num_rows(), 5);
    assert_eq!(joined["joined"].schema().system_tag_fields().len(), 4);
}

#[test]
fn a_node_without_stored_results_gives_an_empty_source() {
    let store: Arc<dyn ArrowStore> = Arc::new(MemoryStore::new());
    let derived = stored_source(store.as_ref(), &doubled(None), "doubled").unwrap();
    assert_eq!(derived.stream().unwrap().num_rows(), 0);
    let err = stored_source(store.as_ref(), &doubled(None), "numbers").unwrap_err();
    assert!(err.to_string().contains("stores nothing"), "{err}");
}

#[test]
fn every_actor_run_is_logged_with_counts_and_failures() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ArrowStore> = Arc::new(SledStore::open(dir.path()).unwrap());
    let runtime = Runtime::new().unwrap();
    let options = || {
        RunOptions::default()
            .store(store.clone())
            .on_error(ErrorPolicy::Continue)
    };
    runtime.run(&doubled(Some(3)), options()).unwrap();
    runtime.run(&doubled(Some(3)), options()).unwrap();

    let log = read_run_log(store.as_ref(), "doubling").unwrap();
    let doubled: Vec<_> = log.iter().filter(|r| r.node == "doubled").collect();
    assert_eq!(doubled.len(), 2, "{log:?}");
    assert_ne!(doubled[0].run_id, doubled[1].run_id);
    assert_eq!(
        (doubled[0].computed, doubled[0].cached, doubled[0].failed),
        (11, 0, 1)
    );
    // The failed packet is tried again; the rest come from the store.
    assert_eq!(
        (doubled[1].computed, doubled[1].cached, doubled[1].failed),
        (0, 11, 1)
    );
    assert_eq!(doubled[1].rows_out, 11);
    assert!(
        doubled[0].failures_json.contains("no 3"),
        "{}",
        doubled[0].failures_json
    );
    assert!(
        doubled[0].failures_json.contains("\"id\":\"r3\""),
        "{}",
        doubled[0].failures_json
    );
    assert!(doubled[0].finished_at.ends_with('Z'));
    assert!(read_run_log(store.as_ref(), "other").unwrap().is_empty());
}

#[test]
fn logged_operator_rows_come_back_as_a_source() {
    use orcapod::pipeline::CacheMode;
    let store: Arc<dyn ArrowStore> = Arc::new(MemoryStore::new());
    let mut builder = PipelineBuilder::new("logged");
    builder.source("numbers", numbers(6)).operator_with_cache(
        "picked",
        OperatorSpec::SelectTagColumns {
            columns: vec!["id".into()],
            strict: true,
        },
        ["numbers"],
        CacheMode::Log,
    );
    let pipeline = builder.build().unwrap();
    let computed = SyncExecutor::new(&pipeline)
        .with_store(store.clone())
        .unwrap()
        .run_all()
        .unwrap();
    let derived = stored_source(store.as_ref(), &pipeline, "picked").unwrap();
    assert_eq!(rows(&derived.stream().unwrap()), rows(&computed["picked"]));
    assert_eq!(derived.schema().system_tag_fields().len(), 2);
}

/// The store paths of the function node `doubled` (inside the pipeline's scope).
fn paths(pipeline: &Pipeline) -> orcapod::store::FunctionPaths {
    let node = &pipeline.nodes()[pipeline.index_of("doubled").unwrap()];
    let orcapod::pipeline::NodeKind::Function(pod) = node.kind() else {
        panic!("`doubled` is a function node");
    };
    orcapod::store::FunctionPaths::new(pod, &node.identity().pipeline).unwrap()
}

#[test]
fn results_are_stored_without_their_source_info_and_read_back_with_it() {
    let store: Arc<dyn ArrowStore> = Arc::new(MemoryStore::new());
    let pipeline = doubled(None);
    let run = || {
        SyncExecutor::new(&pipeline)
            .with_store(store.clone())
            .unwrap()
            .run_all()
            .unwrap()
    };
    let computed = run();
    // The source info is derived from the input hash: the store keeps the packet alone.
    let scoped = store.at(&[pipeline.name()]).unwrap();
    let schema = scoped.schema(&paths(&pipeline).results).unwrap().unwrap();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["y"]);
    // Nor do the pipeline records hold the result id.
    let records = scoped.schema(&paths(&pipeline).records).unwrap().unwrap();
    assert!(records.index_of("__input_packet_hash").is_ok());
    assert!(records.index_of("__packet_id").is_err(), "{records:?}");
    // Read back, every row has the source info it was computed with.
    let recalled = run();
    assert_eq!(computed["doubled"].num_rows(), 12);
    assert_eq!(rows(&recalled["doubled"]), rows(&computed["doubled"]));
    let derived = stored_source(store.as_ref(), &pipeline, "doubled").unwrap();
    assert_eq!(rows(&derived.stream().unwrap()), rows(&computed["doubled"]));
}

#[test]
fn a_store_whose_results_and_records_hold_result_ids_keeps_them_so() {
    // A store written before layout 4 keeps each result's source info beside it.
    let store: Arc<dyn ArrowStore> = Arc::new(MemoryStore::new());
    let pipeline = doubled(None);
    let fresh = SyncExecutor::new(&pipeline).run_all().unwrap();
    let out = fresh["doubled"].schema().arrow().clone();
    let legacy = Arc::new(arrow::datatypes::Schema::new(vec![
        out.field_with_name("y").unwrap().clone(),
        out.field_with_name("_source_y").unwrap().clone(),
    ]));
    let row = arrow::array::RecordBatch::try_new(
        legacy.clone(),
        vec![
            Arc::new(arrow::array::Int64Array::from(vec![-1])),
            Arc::new(arrow::array::LargeStringArray::from(vec![
                "an::old::result",
            ])),
        ],
    )
    .unwrap();
    let scoped = store.at(&[pipeline.name()]).unwrap();
    let path = paths(&pipeline).results;
    scoped
        .add_records(&path, &["not-a-packet-hash".to_string()], &row, true)
        .unwrap();
    // And its pipeline records hold the result id (`__packet_id`): a record like those
    // of a run on a new store, with that column.
    let other: Arc<dyn ArrowStore> = Arc::new(MemoryStore::new());
    SyncExecutor::new(&pipeline)
        .with_store(other.clone())
        .unwrap()
        .run_all()
        .unwrap();
    let records_path = paths(&pipeline).records;
    let record = other
        .at(&[pipeline.name()])
        .unwrap()
        .get_all(&records_path)
        .unwrap()
        .unwrap()
        .batch
        .slice(0, 1);
    let at = record.schema().index_of("__input_packet_hash").unwrap() + 1;
    let mut fields = record.schema().fields().to_vec();
    let mut columns = record.columns().to_vec();
    fields.insert(
        at,
        Arc::new(Field::new("__packet_id", DataType::LargeUtf8, false)),
    );
    columns.insert(
        at,
        Arc::new(arrow::array::LargeStringArray::from(vec!["an-old-id"])),
    );
    // (Recorded by another node sharing the table, so that it is none of this one's rows.)
    let node = record.schema().index_of("_node_content_hash").unwrap() + 1;
    columns[node] = Arc::new(arrow::array::LargeStringArray::from(vec!["another node"]));
    let old_records = Arc::new(arrow::datatypes::Schema::new(fields));
    let record = arrow::array::RecordBatch::try_new(old_records.clone(), columns).unwrap();
    scoped
        .add_records(
            &records_path,
            &["not-an-entry-id".to_string()],
            &record,
            true,
        )
        .unwrap();

    for _ in 0..2 {
        let out = SyncExecutor::new(&pipeline)
            .with_store(store.clone())
            .unwrap()
            .run_all()
            .unwrap();
        assert_eq!(rows(&out["doubled"]), rows(&fresh["doubled"]));
    }
    assert_eq!(
        scoped.schema(&path).unwrap().unwrap().fields(),
        legacy.fields()
    );
    assert_eq!(scoped.count(&path).unwrap(), 13);
    let records = scoped.get_all(&records_path).unwrap().unwrap().batch;
    assert_eq!(records.schema().fields(), old_records.fields());
    assert_eq!(records.num_rows(), 13);
    let derived = stored_source(store.as_ref(), &pipeline, "doubled").unwrap();
    assert_eq!(rows(&derived.stream().unwrap()), rows(&fresh["doubled"]));
}
