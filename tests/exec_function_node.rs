//! The function node's state machine driven by hand, without an executor: job
//! splitting, partial completion of a job, failure rows, stored results served on a
//! second run, and the running-node interface both executors share.

use std::sync::Arc;

use arrow::array::{Array, AsArray, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, FieldRef};
use orcapod::exec::{start_node, NodeSettings, Role};
use orcapod::function::closure::ClosureFunction;
use orcapod::function::node::{FunctionNode, Job, PacketCounts};
use orcapod::function::{FunctionError, FunctionPod};
use orcapod::model::Datum;
use orcapod::pipeline::{Pipeline, PipelineBuilder};
use orcapod::source::{Source, SourceOptions};
use orcapod::store::{apply_writes, ArrowStore, MemoryStore};

fn field(name: &str, dt: DataType) -> FieldRef {
    Arc::new(Field::new(name, dt, false))
}

/// `double(x) -> y`; the driver computes, so the body is never called here.
fn double() -> FunctionPod {
    let function = ClosureFunction::new(
        "double",
        vec![field("x", DataType::Int64)],
        vec![field("y", DataType::Int64)],
        |packet| match packet[0].1 {
            Datum::Int(x) => Ok(vec![Datum::Int(2 * x)]),
            _ => Err(FunctionError::new("x is not an int")),
        },
    );
    FunctionPod::new(Arc::new(function)).unwrap()
}

/// Six rows `k0..k5` carrying the packets 1, 2, 1, 3, 4, 2.
fn pipeline() -> Pipeline {
    let packets = [1, 2, 1, 3, 4, 2];
    let row = |i: usize| {
        let tag = ("k".to_string(), Datum::Str(format!("k{i}")));
        vec![tag, ("x".to_string(), Datum::Int(packets[i]))]
    };
    let rows: Vec<Vec<(String, Datum)>> = (0..packets.len()).map(row).collect();
    let source =
        Source::from_rows(&rows, &SourceOptions::tags(["k"]).with_source_id("xs")).unwrap();
    let mut builder = PipelineBuilder::new("p");
    builder.source("xs", source).function("f", double(), ["xs"]);
    builder.build().unwrap()
}

fn input(pipeline: &Pipeline) -> RecordBatch {
    let source = pipeline.index_of("xs").unwrap();
    let orcapod::pipeline::NodeKind::Source(source) = pipeline.nodes()[source].kind() else {
        panic!("xs is a source");
    };
    source.stream().unwrap().batches()[0].clone()
}

fn node(pipeline: &Pipeline, store: Option<Arc<dyn ArrowStore>>) -> FunctionNode {
    pipeline
        .function_state(pipeline.index_of("f").unwrap(), store)
        .unwrap()
}

/// The packets of a job, in order.
fn packets(job: &Job) -> Vec<i64> {
    (0..job.len())
        .map(|i| match job.packet(i).unwrap()[0].1 {
            Datum::Int(x) => x,
            ref other => panic!("not an int: {other:?}"),
        })
        .collect()
}

/// Doubles packets `start..start + n` of `job` and completes them on `node`.
fn complete(node: &mut FunctionNode, job: &Job, start: usize, n: usize) {
    let results = packets(job)[start..start + n]
        .iter()
        .map(|x| Ok(vec![Datum::Int(2 * x)]))
        .collect();
    let built = job.build(start, results, 0).unwrap();
    node.complete(job.id, built).unwrap();
}

/// The output's (tag, y) rows, in output order.
fn rows(batches: &[RecordBatch]) -> Vec<(String, i64)> {
    batches
        .iter()
        .flat_map(|b| {
            let k = b.column_by_name("k").unwrap().as_string::<i64>().clone();
            let y = b
                .column_by_name("y")
                .unwrap()
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .clone();
            (0..b.num_rows())
                .map(move |r| (k.value(r).to_string(), y.value(r)))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn pairs(expected: &[(&str, i64)]) -> Vec<(String, i64)> {
    expected.iter().map(|(k, y)| (k.to_string(), *y)).collect()
}

#[test]
fn distinct_packets_are_split_into_jobs_and_rows_wait_for_their_packet() {
    let pipeline = pipeline();
    let mut node = node(&pipeline, None);
    node.set_parallelism(2);
    let jobs = node.push(input(&pipeline)).unwrap();
    // Four distinct packets, in order of first appearance, in two jobs of two.
    assert_eq!(jobs.len(), 2);
    assert_eq!(packets(&jobs[0]), [1, 2]);
    assert_eq!(packets(&jobs[1]), [3, 4]);
    assert_eq!(node.jobs_in_flight(), 2);
    assert!(node.take_output().unwrap().is_empty());

    // The first packet of the first job: both rows carrying it are ready, the job is not
    // done.
    complete(&mut node, &jobs[0], 0, 1);
    assert_eq!(node.jobs_in_flight(), 2);
    assert_eq!(
        rows(&node.take_output().unwrap()),
        pairs(&[("k0", 2), ("k2", 2)])
    );
    // The rest of the job, in a second call.
    complete(&mut node, &jobs[0], 1, 1);
    assert_eq!(node.jobs_in_flight(), 1);
    assert_eq!(
        rows(&node.take_output().unwrap()),
        pairs(&[("k1", 4), ("k5", 4)])
    );
    complete(&mut node, &jobs[1], 0, 2);
    assert_eq!(node.jobs_in_flight(), 0);
    assert_eq!(
        rows(&node.take_output().unwrap()),
        pairs(&[("k3", 6), ("k4", 8)])
    );
    // Each packet computed once; the second row of a packet counts as cached.
    assert_eq!(
        node.counts(),
        &PacketCounts {
            cached: 2,
            computed: 4,
            failed: 0,
            retried: 0
        }
    );
    // Completing past a job's end is an error, not a silent overrun.
    let error = node
        .complete(jobs[1].id, jobs[1].build(0, vec![], 0).unwrap())
        .unwrap_err()
        .to_string();
    assert!(error.contains("unknown job"), "{error}");
}

#[test]
fn a_failed_packet_drops_its_rows_and_names_the_first_row_tags() {
    let pipeline = pipeline();
    let mut node = node(&pipeline, None);
    let jobs = node.push(input(&pipeline)).unwrap();
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_eq!(packets(job), [1, 2, 3, 4]);
    let results = vec![
        Ok(vec![Datum::Int(2)]),
        // A wrong number of values fails the packet, like an error of the function.
        Ok(vec![]),
        Err(FunctionError::new("three is bad")),
        Ok(vec![Datum::Int(8)]),
    ];
    node.complete(job.id, job.build(0, results, 1).unwrap())
        .unwrap();
    assert_eq!(node.jobs_in_flight(), 0);
    assert_eq!(
        rows(&node.take_output().unwrap()),
        pairs(&[("k0", 2), ("k2", 2), ("k4", 8)])
    );
    let failures = node.take_failures();
    let summary: Vec<(Vec<(String, Datum)>, String)> = failures
        .iter()
        .map(|f| (f.tag.clone(), f.error.message.clone()))
        .collect();
    assert_eq!(
        summary,
        [
            (
                vec![("k".to_string(), Datum::Str("k1".into()))],
                "the function returned 0 values for 1 output columns".to_string()
            ),
            (
                vec![("k".to_string(), Datum::Str("k3".into()))],
                "three is bad".to_string()
            ),
        ]
    );
    assert!(failures
        .iter()
        .all(|f| f.input_hash.starts_with("arrow_v0.1:")));
    assert_eq!(
        node.counts(),
        &PacketCounts {
            cached: 1,
            computed: 2,
            failed: 2,
            retried: 1
        }
    );
    assert!(node.take_failures().is_empty(), "failures are taken once");
}

#[test]
fn stored_results_are_served_by_the_read_step_and_only_failures_are_computed_again() {
    let pipeline = pipeline();
    let root = MemoryStore::new();
    let store: Arc<dyn ArrowStore> = root.at(&["p"]).unwrap();
    let mut first = node(&pipeline, Some(store.clone()));
    let jobs = first.push(input(&pipeline)).unwrap();
    let job = &jobs[0];
    let results = vec![
        Ok(vec![Datum::Int(2)]),
        Ok(vec![Datum::Int(4)]),
        Err(FunctionError::new("three is bad")),
        Ok(vec![Datum::Int(8)]),
    ];
    first
        .complete(job.id, job.build(0, results, 0).unwrap())
        .unwrap();
    assert_eq!(first.take_output().unwrap()[0].num_rows(), 5);
    // Results (three packets), then the records of the five emitted rows.
    let writes = first.take_writes().unwrap();
    let sizes: Vec<usize> = writes.iter().map(|w| w.len()).collect();
    assert_eq!(sizes, [3, 5]);
    apply_writes(store.as_ref(), writes).unwrap();

    let mut second = node(&pipeline, Some(store));
    let jobs = second.push(input(&pipeline)).unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        packets(&jobs[0]),
        [3],
        "only the failed packet is computed again"
    );
    assert_eq!(
        rows(&second.take_output().unwrap()),
        pairs(&[("k0", 2), ("k1", 4), ("k2", 2), ("k4", 8), ("k5", 4)])
    );
    assert_eq!(second.counts().cached, 5);
    assert_eq!(second.counts().computed, 0);
}

#[test]
fn running_nodes_take_input_and_hand_out_output_writes_and_warnings() {
    let pipeline = pipeline();
    let root = MemoryStore::new();
    let settings = NodeSettings {
        store: Some(root.at(&["p"]).unwrap()),
        lookup_only: true,
    };
    // A source is its rows, handed out once.
    let mut source = start_node(&pipeline, 0, &settings).unwrap();
    let batches = source.take_output().unwrap();
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 6);
    assert!(source.take_output().unwrap().is_empty());
    let error = source.push(0, batches[0].clone()).unwrap_err().to_string();
    assert!(error.contains("takes no input"), "{error}");

    // A lookup-only function node with nothing stored: no job, no row, no write, and
    // one warning once its input has ended.
    let mut function = start_node(&pipeline, 1, &settings).unwrap();
    assert!(function.take_warnings().is_empty());
    assert!(function.push(0, batches[0].clone()).unwrap().is_empty());
    function.finish(0).unwrap();
    assert!(function.take_output().unwrap().is_empty());
    assert!(function.take_writes().unwrap().is_empty());
    let warnings: Vec<String> = function
        .take_warnings()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        warnings,
        [
            "function node `f`: 4 input packets (6 rows) have no stored result (never \
          computed, or failed), so those rows are absent; a run computes them"
        ]
    );
    assert!(function.take_warnings().is_empty(), "told once");
    assert!(matches!(function.into_role(), Role::Function(_)));
}

#[test]
fn a_function_of_several_inputs_reads_its_implicit_join_node() {
    use orcapod::pipeline::{join_node_function, join_node_name};
    let column = |name: &str, values: [i64; 2]| -> Vec<Vec<(String, Datum)>> {
        (0..2)
            .map(|i| {
                let tag = ("k".to_string(), Datum::Str(format!("k{i}")));
                vec![tag, (name.to_string(), Datum::Int(values[i]))]
            })
            .collect()
    };
    let source = |name: &str, values| {
        let options = SourceOptions::tags(["k"]).with_source_id(name);
        Source::from_rows(&column(name, values), &options).unwrap()
    };
    let sum = ClosureFunction::new(
        "sum",
        vec![field("a", DataType::Int64), field("b", DataType::Int64)],
        vec![field("y", DataType::Int64)],
        |packet| match (&packet[0].1, &packet[1].1) {
            (Datum::Int(a), Datum::Int(b)) => Ok(vec![Datum::Int(a + b)]),
            _ => Err(FunctionError::new("not ints")),
        },
    );
    let mut builder = PipelineBuilder::new("p");
    builder
        .source("a", source("a", [1, 2]))
        .source("b", source("b", [10, 20]))
        .function("f", FunctionPod::new(Arc::new(sum)).unwrap(), ["a", "b"]);
    let pipeline = builder.build().unwrap();
    let join = join_node_name("f");
    assert_eq!(join, "f.join");
    assert_eq!(join_node_function(&join), Some("f"));
    assert_eq!(join_node_function("f"), None);
    let f = pipeline.node("f").unwrap();
    assert_eq!(f.inputs(), [pipeline.index_of(&join).unwrap()]);
}

#[test]
fn a_push_in_two_halves_states_its_store_read_and_takes_the_answer() {
    let pipeline = pipeline();
    let store: Arc<dyn ArrowStore> = MemoryStore::new().at(&["p"]).unwrap();
    // The first run stores the results of packets 1, 2 and 4 (3 fails).
    let mut first = node(&pipeline, Some(store.clone()));
    let jobs = first.push(input(&pipeline)).unwrap();
    let results = [1, 2, 3, 4].map(|x| match x {
        3 => Err(FunctionError::new("three is bad")),
        x => Ok(vec![Datum::Int(2 * x)]),
    });
    let built = jobs[0].build(0, results.to_vec(), 0).unwrap();
    first.complete(jobs[0].id, built).unwrap();
    apply_writes(store.as_ref(), first.take_writes().unwrap()).unwrap();

    let mut second = node(&pipeline, Some(store.clone()));
    let prepared = second.prepare(input(&pipeline));
    let read = prepared.read().expect("four packets to look up");
    assert_eq!(read.ids.len(), 4);
    assert!(read
        .ids
        .iter()
        .all(|id| id.is_some_and(|id| id.starts_with("arrow_v0.1:"))));
    let found = read
        .run(store.as_ref())
        .unwrap()
        .expect("three results stored");
    // The packets 1, 2 and 4 were stored, each found at its position in the request.
    assert_eq!(found.asked, [0, 1, 3]);
    assert_eq!(found.batch.num_rows(), 3);
    let jobs = second.push_prepared(prepared, Some(found)).unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(packets(&jobs[0]), [3]);
    assert_eq!(second.take_output().unwrap()[0].num_rows(), 5);

    // Without a store there is nothing to read; an empty batch needs nothing either.
    let plain = node(&pipeline, None);
    assert!(plain.prepare(input(&pipeline)).read().is_none());
    assert!(second
        .prepare(input(&pipeline).slice(0, 0))
        .read()
        .is_none());
}

#[test]
fn results_let_go_of_are_read_again_from_the_store_and_never_computed_twice() {
    let pipeline = pipeline();
    let root = MemoryStore::new();
    let store: Arc<dyn ArrowStore> = root.at(&["p"]).unwrap();
    let mut node = node(&pipeline, Some(store.clone()));
    // Keep no result in memory beyond what the store cannot give back.
    node.set_known_budget(0);
    let all = input(&pipeline);
    // Rows k0..k2 carry the packets 1, 2, 1.
    let jobs = node.push(all.slice(0, 3)).unwrap();
    assert_eq!(packets(&jobs[0]), [1, 2]);
    complete(&mut node, &jobs[0], 0, 2);
    assert_eq!(
        sorted(rows(&node.take_output().unwrap())),
        pairs(&[("k0", 2), ("k1", 4), ("k2", 2)])
    );
    // Their results are not stored yet, so they are kept: packet 2 (row k5) is served
    // from memory, only 3 and 4 are computed.
    let jobs = node.push(all.slice(3, 3)).unwrap();
    assert_eq!(packets(&jobs[0]), [3, 4]);
    complete(&mut node, &jobs[0], 0, 2);
    assert_eq!(
        sorted(rows(&node.take_output().unwrap())),
        pairs(&[("k3", 6), ("k4", 8), ("k5", 4)])
    );
    apply_writes(store.as_ref(), node.take_writes().unwrap()).unwrap();
    // Now stored, they are let go at the next step; the same rows again are served
    // by the read step from the store, with the same answers, and nothing is computed.
    assert!(node.take_output().unwrap().is_empty());
    let jobs = node.push(all).unwrap();
    assert!(jobs.is_empty(), "nothing is computed twice");
    assert_eq!(
        sorted(rows(&node.take_output().unwrap())),
        pairs(&[
            ("k0", 2),
            ("k1", 4),
            ("k2", 2),
            ("k3", 6),
            ("k4", 8),
            ("k5", 4)
        ])
    );
    assert_eq!(node.counts().computed, 4);
    assert_eq!(node.counts().cached, 2 + 6);
}

fn sorted(mut rows: Vec<(String, i64)>) -> Vec<(String, i64)> {
    rows.sort();
    rows
}

/// Builds every pending record group of `node` and applies them (records, then the
/// markers); returns, per group, whether it had records to write and a marker.
fn store_records(node: &mut FunctionNode, store: &Arc<dyn ArrowStore>) -> Vec<(bool, bool)> {
    let (writes, records) = node.take_writes_deferred().unwrap();
    apply_writes(store.as_ref(), writes).unwrap();
    let mut seen = Vec::new();
    let mut markers = Vec::new();
    for group in records {
        let built = group.build().unwrap();
        seen.push((built.records.is_some(), built.marker.is_some()));
        apply_writes(store.as_ref(), built.records.into_iter().collect()).unwrap();
        markers.extend(built.marker);
    }
    apply_writes(store.as_ref(), markers).unwrap();
    seen
}

#[test]
fn a_group_of_records_already_recorded_is_skipped_whole() {
    let pipeline = pipeline();
    let root = MemoryStore::new();
    let store: Arc<dyn ArrowStore> = root.at(&["p"]).unwrap();
    let records_path = {
        let node = &pipeline.nodes()[pipeline.index_of("f").unwrap()];
        let orcapod::pipeline::NodeKind::Function(pod) = node.kind() else {
            panic!("f is a function node");
        };
        orcapod::store::FunctionPaths::new(pod, &node.identity().pipeline)
            .unwrap()
            .records
    };

    let mut first = node(&pipeline, Some(store.clone()));
    let jobs = first.push(input(&pipeline)).unwrap();
    complete(&mut first, &jobs[0], 0, 4);
    first.take_output().unwrap();
    assert_eq!(store_records(&mut first, &store), [(true, true)]);
    assert_eq!(store.count(&records_path).unwrap(), 6);

    // A re-run emits the rows in another order (cached rows in input order), but its
    // records are grouped by input batch, in row order, as the first run's were: the
    // group is skipped whole, no records built, no marker.
    let mut second = node(&pipeline, Some(store.clone()));
    assert!(second.push(input(&pipeline)).unwrap().is_empty());
    assert_eq!(second.take_output().unwrap()[0].num_rows(), 6);
    assert_eq!(store_records(&mut second, &store), [(false, false)]);
    assert_eq!(store.count(&records_path).unwrap(), 6);

    // Another group (the first rows only) is not taken for it.
    let mut fourth = node(&pipeline, Some(store.clone()));
    fourth.push(input(&pipeline).slice(0, 5)).unwrap();
    fourth.take_output().unwrap();
    assert_eq!(store_records(&mut fourth, &store), [(false, true)]);
}

#[test]
fn an_input_batch_emitted_in_pieces_is_recorded_whole_for_the_next_run() {
    let pipeline = pipeline();
    let store: Arc<dyn ArrowStore> = MemoryStore::new().at(&["p"]).unwrap();
    // A first run emits its one input batch in two pieces, each handed out (records
    // and marker) at once; when the batch closes, the whole of it, in row order, is
    // handed out for its marker only.
    let mut first = node(&pipeline, Some(store.clone()));
    let jobs = first.push(input(&pipeline)).unwrap();
    assert_eq!(packets(&jobs[0]), [1, 2, 3, 4]);
    complete(&mut first, &jobs[0], 0, 2);
    assert_eq!(first.take_output().unwrap()[0].num_rows(), 4);
    assert_eq!(store_records(&mut first, &store), [(true, true)]);
    complete(&mut first, &jobs[0], 2, 2);
    assert_eq!(first.take_output().unwrap()[0].num_rows(), 2);
    assert_eq!(
        store_records(&mut first, &store),
        [(true, true), (false, true)]
    );
    // A re-run emits the batch at once: the group recorded whole, skipped whole.
    let mut second = node(&pipeline, Some(store.clone()));
    assert!(second.push(input(&pipeline)).unwrap().is_empty());
    assert_eq!(second.take_output().unwrap()[0].num_rows(), 6);
    assert_eq!(store_records(&mut second, &store), [(false, false)]);
}

#[test]
fn a_group_whose_ends_are_new_keeps_the_first_record_of_a_row_stored_in_between() {
    let pipeline = pipeline();
    let store: Arc<dyn ArrowStore> = MemoryStore::new().at(&["p"]).unwrap();
    let records_path = {
        let node = &pipeline.nodes()[pipeline.index_of("f").unwrap()];
        let orcapod::pipeline::NodeKind::Function(pod) = node.kind() else {
            panic!("f is a function node");
        };
        orcapod::store::FunctionPaths::new(pod, &node.identity().pipeline)
            .unwrap()
            .records
    };
    let all = input(&pipeline);
    // A first run computes row k3 (packet 3): its record says computed.
    let mut first = node(&pipeline, Some(store.clone()));
    let jobs = first.push(all.slice(3, 1)).unwrap();
    complete(&mut first, &jobs[0], 0, 1);
    first.take_output().unwrap();
    assert_eq!(store_records(&mut first, &store), [(true, true)]);
    // A second run records its one input batch as one group, k0 to k5: its ends are
    // new, its middle row k3 is recorded already.
    let mut second = node(&pipeline, Some(store.clone()));
    let jobs = second.push(all).unwrap();
    assert_eq!(packets(&jobs[0]), [1, 2, 4]);
    complete(&mut second, &jobs[0], 0, 2);
    complete(&mut second, &jobs[0], 2, 1);
    let keys: Vec<String> = second
        .take_output()
        .unwrap()
        .iter()
        .flat_map(|b| rows(std::slice::from_ref(b)))
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, ["k3", "k0", "k2", "k1", "k5", "k4"]);
    assert_eq!(store_records(&mut second, &store), [(true, true)]);
    // Every row recorded once, and k3's record is still the first run's.
    let records = store.get_all(&records_path).unwrap().unwrap().batch;
    assert_eq!(records.num_rows(), 6);
    let k = records.column_by_name("k").unwrap().as_string::<i64>();
    let computed = records
        .column_by_name(orcapod::store::layout::COMPUTED_COLUMN)
        .unwrap()
        .as_boolean();
    let computed_of = |key: &str| {
        let row = (0..k.len()).find(|&r| k.value(r) == key).unwrap();
        computed.value(row)
    };
    assert!(computed_of("k3"), "the first run computed k3");
    assert!(
        computed_of("k0") && computed_of("k4"),
        "the other rows are this run's"
    );
}

#[test]
fn pushes_prepared_ahead_elsewhere_give_what_pushes_give() {
    let pipeline = pipeline();
    let root = MemoryStore::new();
    let store: Arc<dyn ArrowStore> = root.at(&["p"]).unwrap();
    // Packet 1's result is stored beforehand.
    let mut earlier = node(&pipeline, Some(store.clone()));
    let jobs = earlier.push(input(&pipeline).slice(0, 1)).unwrap();
    complete(&mut earlier, &jobs[0], 0, 1);
    earlier.take_output().unwrap();
    apply_writes(store.as_ref(), earlier.take_writes().unwrap()).unwrap();

    let all = input(&pipeline);
    let (first, second) = (all.slice(0, 3), all.slice(3, 3));
    let mut node = node(&pipeline, Some(store.clone()));
    let preparer = node.preparer();
    // Both batches are prepared before either is pushed: the second's read cannot
    // know that packet 2 is being computed for the first.
    let first = preparer.prepare(first).unwrap();
    let second = preparer.prepare(second).unwrap();
    let jobs = node.push_prepared(first, None).unwrap();
    assert_eq!(packets(&jobs[0]), [2], "packet 1 is stored");
    let more = node.push_prepared(second, None).unwrap();
    assert_eq!(
        packets(&more[0]),
        [3, 4],
        "packet 2 is being computed already"
    );
    complete(&mut node, &jobs[0], 0, 1);
    complete(&mut node, &more[0], 0, 2);
    assert_eq!(
        sorted(rows(&node.take_output().unwrap())),
        pairs(&[
            ("k0", 2),
            ("k1", 4),
            ("k2", 2),
            ("k3", 6),
            ("k4", 8),
            ("k5", 4)
        ])
    );
    assert_eq!(node.counts().computed, 3);
    assert_eq!(node.counts().cached, 3);
}
