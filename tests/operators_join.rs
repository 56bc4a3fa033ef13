//! Integration tests of Join, MergeJoin and SemiJoin through the public API.
//!
//! Golden values (system-tag names, values, source info, packet content hashes and
//! output identity hashes) were computed by the Python reference (orcapod) for the
//! sources of its worked example:
//! A = {id: a, b | x: 1, 2}, B = {id: a, b, c | y: 10, 20, 30},
//! B2 = {id: a, b | x: 5, 0}, C = {id: a | z: true}, all `DictSource`s with
//! `tag_columns=["id"]` and `source_id` = their name.

use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use orcapod::hashing::identity::{invocation, Identity};
use orcapod::model::{ColumnConfig, Datum, Stream};
use orcapod::operator::{run_to_completion, InputInfo, Operator, OperatorSpec};
use orcapod::source::{Source, SourceOptions};
use orcapod::{ContentHash, Error};
use orcapod_testing::datums::{i, s};
use proptest::prelude::*;

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

/// An operator input: a stream and the pipeline hash of whatever produced it.
#[derive(Clone)]
struct Input {
    stream: Stream,
    pipeline: ContentHash,
}

impl Input {
    fn info(&self) -> InputInfo {
        InputInfo {
            schema: self.stream.schema().clone(),
            pipeline_hash: self.pipeline.clone(),
        }
    }

    /// The same rows split into batches of the given sizes (the last takes the rest).
    fn chunked(&self, sizes: &[usize]) -> Input {
        let whole = self.stream.to_batch().unwrap();
        let mut batches = Vec::new();
        let mut offset = 0;
        for &size in sizes {
            let size = size.min(whole.num_rows() - offset);
            batches.push(whole.slice(offset, size));
            offset += size;
        }
        batches.push(whole.slice(offset, whole.num_rows() - offset));
        Input {
            stream: Stream::new(self.stream.schema().clone(), batches).unwrap(),
            pipeline: self.pipeline.clone(),
        }
    }

    /// A stream with this input's schema and no rows.
    fn emptied(&self) -> Input {
        Input {
            stream: Stream::empty(self.stream.schema().clone()),
            pipeline: self.pipeline.clone(),
        }
    }
}

/// A `DictSource` with the given source id, tag columns, column names and rows.
fn dict_source(source_id: &str, tags: &[&str], columns: &[&str], rows: &[Vec<Datum>]) -> Source {
    let rows: Vec<Vec<(String, Datum)>> = rows
        .iter()
        .map(|r| {
            columns
                .iter()
                .map(|c| c.to_string())
                .zip(r.iter().cloned())
                .collect()
        })
        .collect();
    Source::from_rows(
        &rows,
        &SourceOptions::tags(tags.iter().copied()).with_source_id(source_id),
    )
    .unwrap()
}

/// A source with one tag column `tag` and one packet column `packet`: rows of (tag
/// value, packet value).
fn pairs(source_id: &str, tag: &str, packet: &str, rows: &[(Datum, Datum)]) -> Source {
    let rows: Vec<Vec<Datum>> = rows
        .iter()
        .map(|(t, p)| vec![t.clone(), p.clone()])
        .collect();
    dict_source(source_id, &[tag], &[tag, packet], &rows)
}

fn input(source: &Source) -> Input {
    Input {
        stream: source.stream().unwrap(),
        pipeline: source.identity().pipeline.clone(),
    }
}

fn a() -> Source {
    pairs("A", "id", "x", &[(s("a"), i(1)), (s("b"), i(2))])
}

fn b() -> Source {
    pairs(
        "B",
        "id",
        "y",
        &[(s("a"), i(10)), (s("b"), i(20)), (s("c"), i(30))],
    )
}

fn b2() -> Source {
    pairs("B2", "id", "x", &[(s("a"), i(5)), (s("b"), i(0))])
}

fn c() -> Source {
    pairs("C", "id", "z", &[(s("a"), Datum::Bool(true))])
}

/// A result table: column names in stream order and rows rendered as strings, sorted.
#[derive(Debug, Clone, PartialEq)]
struct Table {
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
}

/// The expected table, rows sorted like [`check`]'s.
fn expect(columns: &[&str], rows: &[&[&str]]) -> Table {
    let mut rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|v| v.to_string()).collect())
        .collect();
    rows.sort();
    Table {
        columns: columns.iter().map(|c| c.to_string()).collect(),
        rows,
    }
}

/// Every column and row of a stream, rows sorted.
fn table_of(stream: &Stream) -> Table {
    let batch = stream.to_batch().unwrap();
    let columns = stream
        .schema()
        .arrow()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let mut rows: Vec<Vec<String>> = (0..batch.num_rows())
        .map(|r| {
            batch
                .columns()
                .iter()
                .map(|c| Datum::from_array(c.as_ref(), r).unwrap().python_str())
                .collect()
        })
        .collect();
    rows.sort();
    Table { columns, rows }
}

/// `table` with its columns sorted by name (each row's values moved with their column),
/// rows sorted: what two joins of the same inputs listed in different orders share.
fn by_name(table: &Table) -> Table {
    let mut order: Vec<usize> = (0..table.columns.len()).collect();
    order.sort_by(|&a, &b| table.columns[a].cmp(&table.columns[b]));
    let mut rows: Vec<Vec<String>> = table
        .rows
        .iter()
        .map(|r| order.iter().map(|&i| r[i].clone()).collect())
        .collect();
    rows.sort();
    Table {
        columns: order.iter().map(|&i| table.columns[i].clone()).collect(),
        rows,
    }
}

/// Runs `spec` over `inputs` with the synchronous schedule and returns the output stream.
fn run(spec: &OperatorSpec, inputs: &[&Input]) -> orcapod::Result<Stream> {
    let infos: Vec<InputInfo> = inputs.iter().map(|i| i.info()).collect();
    let mut op = spec.build(&infos)?;
    let streams: Vec<&Stream> = inputs.iter().map(|i| &i.stream).collect();
    run_to_completion(op.as_mut(), &streams)
}

/// Runs `spec` over `inputs` and returns its rows, sorted.
fn check(spec: &OperatorSpec, inputs: &[&Input]) -> orcapod::Result<Table> {
    Ok(table_of(&run(spec, inputs)?))
}

/// Runs `spec` feeding each port completely (then finishing it) in `port_order`,
/// asserting that every emitted batch has the predicted schema; returns sorted rows.
fn drive(spec: &OperatorSpec, inputs: &[&Input], port_order: &[usize]) -> Table {
    let infos: Vec<InputInfo> = inputs.iter().map(|i| i.info()).collect();
    let mut op = spec.build(&infos).unwrap();
    let predicted = op.output_schema().clone();
    let mut out: Vec<RecordBatch> = Vec::new();
    for &port in port_order {
        for batch in inputs[port].stream.batches() {
            op.push(port, batch.clone()).unwrap();
            out.extend(op.take_output());
        }
        op.finish(port).unwrap();
        out.extend(op.take_output());
    }
    for batch in &out {
        assert_eq!(batch.schema().fields(), predicted.arrow().fields());
    }
    table_of(&Stream::new(predicted, out).unwrap())
}

/// The rows of `table` restricted to the named columns, sorted.
fn project(table: &Table, names: &[&str]) -> Vec<Vec<String>> {
    let idx: Vec<usize> = names
        .iter()
        .map(|n| table.columns.iter().position(|c| c == n).unwrap())
        .collect();
    let mut rows: Vec<Vec<String>> = table
        .rows
        .iter()
        .map(|r| idx.iter().map(|&i| r[i].clone()).collect())
        .collect();
    rows.sort();
    rows
}

fn schema_error(result: orcapod::Result<impl std::fmt::Debug>) -> String {
    match result {
        Err(Error::Schema { operator, message }) => format!("{operator}: {message}"),
        other => panic!("expected a schema error, got {other:?}"),
    }
}

/// The schema error of building `spec` over `inputs`, as `"{operator}: {message}"`.
fn build_error(spec: &OperatorSpec, inputs: &[&Input]) -> String {
    let infos: Vec<InputInfo> = inputs.iter().map(|i| i.info()).collect();
    schema_error(spec.build(&infos).map(|_| ()))
}

/// The packet content hashes of `out`'s rows, sorted by tags.
fn content_hashes(out: &Stream) -> Vec<String> {
    let config = ColumnConfig {
        content_hash: true,
        sort_by_tags: true,
        ..Default::default()
    };
    let table = out.as_table(&config).unwrap();
    let hashes = table.column_by_name("_content_hash").unwrap();
    (0..hashes.len())
        .map(|r| Datum::from_array(hashes.as_ref(), r).unwrap().python_str())
        .collect()
}

fn hash(s: &str) -> ContentHash {
    s.parse().unwrap()
}

/// The identity of `spec` applied to `inputs` (for golden hash checks).
fn output_identity(spec: &OperatorSpec, inputs: &[&Identity]) -> Identity {
    invocation(&spec.content_hash(), spec.symmetry(), inputs)
}

// ---------------------------------------------------------------------------
// golden tests against the reference
// ---------------------------------------------------------------------------

const A_SID: &str = "_tag_source_id::39d4ba8d2d69::39d4ba8d2d69:0";
const A_RID: &str = "_tag_record_id::39d4ba8d2d69::39d4ba8d2d69:0";
const B_SID: &str = "_tag_source_id::5acb55ffec29::5acb55ffec29:1";
const B_RID: &str = "_tag_record_id::5acb55ffec29::5acb55ffec29:1";

fn golden_join_ab() -> Table {
    expect(
        &[
            "id",
            "x",
            "y",
            A_SID,
            A_RID,
            B_SID,
            B_RID,
            "_source_x",
            "_source_y",
        ],
        &[
            &[
                "a",
                "1",
                "10",
                "A",
                "row_0",
                "B",
                "row_0",
                "A::row_0::x",
                "B::row_0::y",
            ],
            &[
                "b",
                "2",
                "20",
                "A",
                "row_1",
                "B",
                "row_1",
                "A::row_1::x",
                "B::row_1::y",
            ],
        ],
    )
}

/// The reference's column set (its `as_table(all_info=True)` without `_content_hash`
/// and `_context_key`) equals ours; only the order differs (ours: roles grouped).
fn assert_same_column_set(ours: &Table, reference: &[&str]) {
    let mut ours = ours.columns.clone();
    let mut theirs: Vec<String> = reference.iter().map(|c| c.to_string()).collect();
    ours.sort();
    theirs.sort();
    assert_eq!(ours, theirs);
}

#[test]
fn join_a_b_matches_the_reference() {
    let out = check(&OperatorSpec::Join, &[&input(&a()), &input(&b())]).unwrap();
    assert_eq!(out, golden_join_ab());
    assert_same_column_set(
        &out,
        &[
            "id",
            "x",
            A_SID,
            A_RID,
            "y",
            B_SID,
            B_RID,
            "_source_x",
            "_source_y",
        ],
    );
}

#[test]
fn join_b_a_is_identical_to_join_a_b() {
    let ab = check(&OperatorSpec::Join, &[&input(&a()), &input(&b())]).unwrap();
    let ba = check(&OperatorSpec::Join, &[&input(&b()), &input(&a())]).unwrap();
    assert_eq!(by_name(&ba), by_name(&golden_join_ab()));
    assert_eq!(by_name(&ab), by_name(&ba));
}

#[test]
fn join_types_and_packet_content_hashes_match_the_reference() {
    let out = run(&OperatorSpec::Join, &[&input(&a()), &input(&b())]).unwrap();
    let schema = out.schema().arrow();
    for (name, data_type) in [
        ("id", DataType::LargeUtf8),
        ("x", DataType::Int64),
        ("y", DataType::Int64),
        (A_SID, DataType::LargeUtf8),
        ("_source_y", DataType::LargeUtf8),
    ] {
        let field = schema.field_with_name(name).unwrap();
        assert_eq!(field.data_type(), &data_type, "{name}");
        assert!(!field.is_nullable(), "{name}");
    }
    assert_eq!(
        content_hashes(&out),
        [
            "arrow_v0.1:0000012c87eacafc2de6d89478b67ea06b13d6dda5bd264d2b1f4b43b281c9b9b33c21",
            "arrow_v0.1:00000189b01726bbdc12160173b1f084702bd39d66c4d6e855d3c42c7e5d86b1c90ab3",
        ]
    );
}

#[test]
fn join_output_hashes_match_the_reference() {
    let (a, b) = (a(), b());
    let ab = output_identity(&OperatorSpec::Join, &[a.identity(), b.identity()]);
    let ba = output_identity(&OperatorSpec::Join, &[b.identity(), a.identity()]);
    assert_eq!(
        ab.pipeline,
        hash("semantic_v0.1:2455be577d29b86a05411b569626a275e8d3fee67d7d7eb2e50cd828cbe048ec")
    );
    assert_eq!(
        ab.content,
        hash("semantic_v0.1:956e64640c48754f87b5a2b014f1d363246cb37ebb35fd57117851c15a4ff0f8")
    );
    assert_eq!(ab, ba);
    let abc = output_identity(
        &OperatorSpec::Join,
        &[a.identity(), b.identity(), c().identity()],
    );
    assert_eq!(
        abc.pipeline,
        hash("semantic_v0.1:95c2ed08afec4f8ebb629841c43d2808aa5f523b8a0d514140f3ffdb407578b0")
    );
    assert_eq!(
        abc.content,
        hash("semantic_v0.1:6712e1b0c848c054ecb647167ba12dfcf925b7b6551efc7cb6b8fb172f231b6c")
    );
}

#[test]
fn three_way_join_matches_the_reference() {
    // Canonical order by pipeline hash: A (39d4…), C (4bff…), B (5acb…).
    let expected = expect(
        &[
            "id",
            "x",
            "z",
            "y",
            A_SID,
            A_RID,
            "_tag_source_id::4bff1b631167::4bff1b631167:1",
            "_tag_record_id::4bff1b631167::4bff1b631167:1",
            "_tag_source_id::5acb55ffec29::5acb55ffec29:2",
            "_tag_record_id::5acb55ffec29::5acb55ffec29:2",
            "_source_x",
            "_source_z",
            "_source_y",
        ],
        &[&[
            "a",
            "1",
            "True",
            "10",
            "A",
            "row_0",
            "C",
            "row_0",
            "B",
            "row_0",
            "A::row_0::x",
            "C::row_0::z",
            "B::row_0::y",
        ]],
    );
    let (a, b, c) = (input(&a()), input(&b()), input(&c()));
    for order in [[&a, &b, &c], [&c, &b, &a], [&b, &a, &c]] {
        assert_eq!(
            by_name(&check(&OperatorSpec::Join, &order).unwrap()),
            by_name(&expected)
        );
    }
    let out = run(&OperatorSpec::Join, &[&a, &b, &c]).unwrap();
    assert_eq!(
        content_hashes(&out),
        ["arrow_v0.1:000001d942f72f775ca657a3c3c87287732df5c6091a6daae5a5a5938858e0f87660b9"]
    );
}

fn golden_merge_join() -> Table {
    expect(
        &[
            "id",
            "x",
            A_SID,
            A_RID,
            "_tag_source_id::39d4ba8d2d69::39d4ba8d2d69:1",
            "_tag_record_id::39d4ba8d2d69::39d4ba8d2d69:1",
            "_source_x",
        ],
        &[
            &[
                "a",
                "[1, 5]",
                "A",
                "row_0",
                "B2",
                "row_0",
                "['A::row_0::x', 'B2::row_0::x']",
            ],
            &[
                "b",
                "[0, 2]",
                "A",
                "row_1",
                "B2",
                "row_1",
                "['B2::row_1::x', 'A::row_1::x']",
            ],
        ],
    )
}

#[test]
fn merge_join_matches_the_reference_in_both_orders() {
    let (a_src, b2_src) = (a(), b2());
    let (a, b2) = (input(&a_src), input(&b2_src));
    assert_eq!(
        check(&OperatorSpec::MergeJoin, &[&a, &b2]).unwrap(),
        golden_merge_join()
    );
    assert_eq!(
        check(&OperatorSpec::MergeJoin, &[&b2, &a]).unwrap(),
        golden_merge_join()
    );
    let out = run(&OperatorSpec::MergeJoin, &[&a, &b2]).unwrap();
    let schema = out.schema().arrow();
    let x = schema.field_with_name("x").unwrap();
    assert!(!x.is_nullable());
    assert!(
        matches!(x.data_type(), DataType::LargeList(item) if item.data_type() == &DataType::Int64)
    );
    let source = schema.field_with_name("_source_x").unwrap();
    assert!(!source.is_nullable());
    assert!(
        matches!(source.data_type(), DataType::LargeList(item) if item.data_type() == &DataType::LargeUtf8)
    );
    let id = output_identity(
        &OperatorSpec::MergeJoin,
        &[b2_src.identity(), a_src.identity()],
    );
    assert_eq!(
        id.pipeline,
        hash("semantic_v0.1:95b6ea638e022fa5aaf24bb6ea5ca82a5ce1417fc7bc6b20deebf4cfe9080bb9")
    );
    assert_eq!(
        id.content,
        hash("semantic_v0.1:5f8e2fb04f4cc06a7f012e70d88a74d63c30ffd06066f3e248c1af97923801e6")
    );
}

#[test]
fn merge_join_orders_equal_values_by_provenance() {
    let left = input(&pairs("L", "id", "x", &[(s("a"), i(3))]));
    let right = input(&pairs("R", "id", "x", &[(s("a"), i(3))]));
    let expected = expect(
        &[
            "id",
            "x",
            A_SID,
            A_RID,
            "_tag_source_id::39d4ba8d2d69::39d4ba8d2d69:1",
            "_tag_record_id::39d4ba8d2d69::39d4ba8d2d69:1",
            "_source_x",
        ],
        &[&[
            "a",
            "[3, 3]",
            "L",
            "row_0",
            "R",
            "row_0",
            "['L::row_0::x', 'R::row_0::x']",
        ]],
    );
    assert_eq!(
        check(&OperatorSpec::MergeJoin, &[&left, &right]).unwrap(),
        expected
    );
    assert_eq!(
        check(&OperatorSpec::MergeJoin, &[&right, &left]).unwrap(),
        expected
    );
}

#[test]
fn merge_join_packet_content_hashes() {
    let out = run(&OperatorSpec::MergeJoin, &[&input(&a()), &input(&b2())]).unwrap();
    assert_eq!(
        content_hashes(&out),
        [
            "arrow_v0.1:00000103da175db590544794a00d4938ea92fbbe05fad79351bde19af45ccffe7916f1",
            "arrow_v0.1:00000126f3924ea8c67f0b7c17b9f29b6cddb2dd0d76a10e1f6b13abd4845ee649c473",
        ]
    );
}

#[test]
fn semi_join_matches_the_reference_in_both_directions() {
    let (a_src, b_src) = (a(), b());
    let (a, b) = (input(&a_src), input(&b_src));
    let b_a = expect(
        &[
            "id",
            "y",
            "_tag_source_id::5acb55ffec29",
            "_tag_record_id::5acb55ffec29",
            "_source_y",
        ],
        &[
            &["a", "10", "B", "row_0", "B::row_0::y"],
            &["b", "20", "B", "row_1", "B::row_1::y"],
        ],
    );
    assert_eq!(check(&OperatorSpec::SemiJoin, &[&b, &a]).unwrap(), b_a);
    let a_b = expect(
        &[
            "id",
            "x",
            "_tag_source_id::39d4ba8d2d69",
            "_tag_record_id::39d4ba8d2d69",
            "_source_x",
        ],
        &[
            &["a", "1", "A", "row_0", "A::row_0::x"],
            &["b", "2", "A", "row_1", "A::row_1::x"],
        ],
    );
    assert_eq!(check(&OperatorSpec::SemiJoin, &[&a, &b]).unwrap(), a_b);
    assert_eq!(
        run(&OperatorSpec::SemiJoin, &[&a, &b]).unwrap().schema(),
        a.stream.schema()
    );
    let ba = output_identity(
        &OperatorSpec::SemiJoin,
        &[b_src.identity(), a_src.identity()],
    );
    assert_eq!(
        ba.pipeline,
        hash("semantic_v0.1:2b2f779ce93c765d798cdcdbb3613d54a0c0679cb65d17d289eaca6290e18ec7")
    );
    let ab = output_identity(
        &OperatorSpec::SemiJoin,
        &[a_src.identity(), b_src.identity()],
    );
    assert_eq!(
        ab.pipeline,
        hash("semantic_v0.1:2c7d6e3bf42e6c283c1c4c0299d4f45b7daaa08bf13703c49f27a8513bed384b")
    );
    assert_eq!(
        ab.content,
        hash("semantic_v0.1:3faff8384d0034603bef1621d0f3131ad92e45dcce92c3a9daeb91e79de553d3")
    );
}

// ---------------------------------------------------------------------------
// behaviour beyond the golden examples
// ---------------------------------------------------------------------------

#[test]
fn single_input_join_passes_through() {
    let a = input(&a());
    let out = run(&OperatorSpec::Join, &[&a]).unwrap();
    assert_eq!(out.schema(), a.stream.schema());
    assert_eq!(table_of(&out), table_of(&a.stream));
}

#[test]
fn joins_without_shared_tags_are_cartesian_products() {
    let left = input(&pairs("L", "i", "p", &[(i(1), s("p1")), (i(2), s("p2"))]));
    let right = input(&pairs(
        "R",
        "j",
        "q",
        &[(s("u"), i(7)), (s("v"), i(8)), (s("w"), i(9))],
    ));
    let out = check(&OperatorSpec::Join, &[&left, &right]).unwrap();
    // Columns follow the listed inputs (L, then R), although canonical order (by
    // pipeline hash) joins R first.
    assert_eq!(&out.columns[..4], ["i", "j", "p", "q"]);
    let expected = expect(
        &["i", "j", "p", "q"],
        &[
            &["1", "u", "p1", "7"],
            &["1", "v", "p1", "8"],
            &["1", "w", "p1", "9"],
            &["2", "u", "p2", "7"],
            &["2", "v", "p2", "8"],
            &["2", "w", "p2", "9"],
        ],
    );
    assert_eq!(project(&out, &["i", "j", "p", "q"]), expected.rows);
    // No shared tags and no colliding packets: MergeJoin is a Cartesian product too.
    assert_eq!(
        check(&OperatorSpec::MergeJoin, &[&left, &right])
            .unwrap()
            .rows
            .len(),
        6
    );
}

#[test]
fn rows_with_null_keys_never_match() {
    let left = input(&pairs(
        "L",
        "id",
        "x",
        &[(s("a"), i(1)), (Datum::Null, i(2)), (s("b"), i(3))],
    ));
    let right = input(&pairs(
        "R",
        "id",
        "y",
        &[(Datum::Null, i(10)), (s("a"), i(20))],
    ));
    let out = run(&OperatorSpec::Join, &[&left, &right]).unwrap();
    // Both key columns are nullable, so the output key is too.
    assert!(out
        .schema()
        .arrow()
        .field_with_name("id")
        .unwrap()
        .is_nullable());
    let rows: Vec<Vec<String>> = table_of(&out)
        .rows
        .iter()
        .map(|r| r[..3].to_vec())
        .collect();
    assert_eq!(rows, [["a", "1", "20"]]);

    let semi = check(&OperatorSpec::SemiJoin, &[&left, &right]).unwrap();
    assert_eq!(semi.rows.len(), 1);
    assert_eq!(&semi.rows[0][..2], ["a", "1"]);

    // A nullable key joined with a non-nullable one gives a non-nullable key.
    let out = run(&OperatorSpec::Join, &[&left, &input(&b())]).unwrap();
    assert!(!out
        .schema()
        .arrow()
        .field_with_name("id")
        .unwrap()
        .is_nullable());
    assert_eq!(out.num_rows(), 2);
}

#[test]
fn empty_inputs_give_empty_outputs() {
    let (a, b, b2, c) = (input(&a()), input(&b()), input(&b2()), input(&c()));
    let cases: Vec<(OperatorSpec, Vec<&Input>, usize)> = vec![
        (OperatorSpec::Join, vec![&a], 0),
        (OperatorSpec::Join, vec![&a, &b], 1),
        (OperatorSpec::Join, vec![&a, &b], 0),
        (OperatorSpec::Join, vec![&a, &b, &c], 2),
        (OperatorSpec::MergeJoin, vec![&a, &b2], 0),
        (OperatorSpec::MergeJoin, vec![&a, &b2], 1),
        (OperatorSpec::SemiJoin, vec![&a, &b], 0),
        (OperatorSpec::SemiJoin, vec![&a, &b], 1),
    ];
    for (spec, inputs, empty) in cases {
        let mut inputs: Vec<Input> = inputs.into_iter().cloned().collect();
        inputs[empty] = inputs[empty].emptied();
        let refs: Vec<&Input> = inputs.iter().collect();
        let out = run(&spec, &refs).unwrap();
        assert_eq!(out.num_rows(), 0, "{spec:?} with input {empty} empty");
        let predicted = spec
            .build(&refs.iter().map(|i| i.info()).collect::<Vec<_>>())
            .unwrap()
            .output_schema()
            .clone();
        assert_eq!(out.schema(), &predicted);
    }
    // An empty left passes nothing; no common keys passes the left through.
    let unrelated = input(&pairs("U", "k", "w", &[(i(1), i(2))]));
    assert_eq!(
        run(&OperatorSpec::SemiJoin, &[&a, &unrelated])
            .unwrap()
            .num_rows(),
        2
    );
    assert_eq!(
        run(&OperatorSpec::SemiJoin, &[&a, &unrelated.emptied()])
            .unwrap()
            .num_rows(),
        2
    );
}

#[test]
fn semi_join_matches_on_packet_columns_too() {
    // Common keys are {id, x}: only rows equal on both survive.
    let left = input(&pairs(
        "L",
        "id",
        "x",
        &[(s("a"), i(1)), (s("b"), i(2)), (s("c"), i(3))],
    ));
    let right = input(&pairs("R", "x", "id", &[(i(1), s("a")), (i(9), s("b"))]));
    let out = check(&OperatorSpec::SemiJoin, &[&left, &right]).unwrap();
    let rows: Vec<Vec<String>> = out.rows.iter().map(|r| r[..2].to_vec()).collect();
    assert_eq!(rows, [["a", "1"]]);
}

#[test]
fn schema_conflicts_are_typed_errors() {
    let (a, b2) = (input(&a()), input(&b2()));
    let message = build_error(&OperatorSpec::Join, &[&a, &b2]);
    assert!(
        message.starts_with("Join: packets should not have overlapping keys: x"),
        "{message}"
    );

    let float_x = input(&pairs("F", "id", "x", &[(s("a"), Datum::Float(1.5))]));
    let message = build_error(&OperatorSpec::MergeJoin, &[&a, &float_x]);
    assert!(
        message.contains("colliding packet column `x` has incompatible types"),
        "{message}"
    );

    let int_id = input(&pairs("I", "id", "y", &[(i(1), i(2))]));
    let message = build_error(&OperatorSpec::Join, &[&a, &int_id]);
    assert!(
        message.contains("tag column `id` has incompatible types"),
        "{message}"
    );
    let message = build_error(&OperatorSpec::SemiJoin, &[&a, &int_id]);
    assert!(
        message.contains("column `id` has incompatible types"),
        "{message}"
    );

    let x_tag = input(&pairs("T", "x", "w", &[(i(1), i(2))]));
    let message = build_error(&OperatorSpec::Join, &[&a, &x_tag]);
    assert!(
        message.contains("column `x` is a user tag of one input and a packet column"),
        "{message}"
    );
}

#[test]
fn joins_emit_matches_before_any_input_finishes() {
    let (a, b, b2) = (input(&a()), input(&b()), input(&b2()));
    for (spec, right) in [(OperatorSpec::Join, &b), (OperatorSpec::MergeJoin, &b2)] {
        let mut op: Box<dyn Operator> = spec.build(&[a.info(), right.info()]).unwrap();
        let a_rows = a.stream.to_batch().unwrap();
        let right_rows = right.stream.to_batch().unwrap();
        op.push(0, a_rows.slice(0, 1)).unwrap();
        assert!(op.take_output().is_empty());
        op.push(1, right_rows.slice(0, 1)).unwrap();
        let out = op.take_output();
        assert_eq!(
            out.iter().map(RecordBatch::num_rows).sum::<usize>(),
            1,
            "{spec:?}"
        );
        op.push(1, right_rows.slice(1, 1)).unwrap();
        assert!(op.take_output().is_empty());
        op.push(0, a_rows.slice(1, 1)).unwrap();
        assert_eq!(
            op.take_output()
                .iter()
                .map(RecordBatch::num_rows)
                .sum::<usize>(),
            1
        );
        op.finish(0).unwrap();
        op.finish(1).unwrap();
        assert!(op.take_output().is_empty());
    }
}

#[test]
fn three_way_join_streams_through_its_chain() {
    let (a, b, c) = (input(&a()), input(&b()), input(&c()));
    let mut op = OperatorSpec::Join
        .build(&[a.info(), b.info(), c.info()])
        .unwrap();
    op.push(2, c.stream.batches()[0].clone()).unwrap();
    op.push(0, a.stream.batches()[0].clone()).unwrap();
    assert!(op.take_output().is_empty());
    op.push(1, b.stream.batches()[0].clone()).unwrap();
    assert_eq!(
        op.take_output()
            .iter()
            .map(RecordBatch::num_rows)
            .sum::<usize>(),
        1
    );
}

#[test]
fn semi_join_holds_left_rows_until_the_right_side_ends() {
    let (a, b) = (input(&a()), input(&b()));
    let mut op = OperatorSpec::SemiJoin.build(&[a.info(), b.info()]).unwrap();
    let a_rows = a.stream.to_batch().unwrap();
    op.push(0, a_rows.slice(0, 1)).unwrap();
    op.push(1, b.stream.batches()[0].clone()).unwrap();
    assert!(op.take_output().is_empty());
    op.finish(1).unwrap();
    assert_eq!(
        op.take_output()
            .iter()
            .map(RecordBatch::num_rows)
            .sum::<usize>(),
        1
    );
    // From now on left rows are filtered at once.
    op.push(0, a_rows.slice(1, 1)).unwrap();
    assert_eq!(
        op.take_output()
            .iter()
            .map(RecordBatch::num_rows)
            .sum::<usize>(),
        1
    );
}

#[test]
fn many_to_many_matches_and_chunking_do_not_change_the_rows() {
    let left = input(&pairs(
        "L",
        "id",
        "x",
        &[
            (s("a"), i(1)),
            (s("a"), i(2)),
            (s("b"), i(3)),
            (s("a"), i(4)),
        ],
    ));
    let right = input(&pairs(
        "R",
        "id",
        "y",
        &[(s("a"), i(10)), (s("b"), i(20)), (s("a"), i(30))],
    ));
    let whole = check(&OperatorSpec::Join, &[&left, &right]).unwrap();
    assert_eq!(whole.rows.len(), 7);
    for sizes in [&[1, 1, 1][..], &[2], &[0, 3], &[3, 1]] {
        let l = left.chunked(sizes);
        let r = right.chunked(&sizes[..sizes.len().min(2)]);
        assert_eq!(check(&OperatorSpec::Join, &[&l, &r]).unwrap(), whole);
        assert_eq!(drive(&OperatorSpec::Join, &[&l, &r], &[1, 0]), whole);
    }
}

// ---------------------------------------------------------------------------
// properties
// ---------------------------------------------------------------------------

/// Random rows `(key, value)`; keys from a small alphabet so that keys repeat, with
/// nulls, except the first row whose key is set (so the key column has a type).
fn keyed_rows() -> impl Strategy<Value = Vec<(Option<u8>, i64)>> {
    prop::collection::vec((prop::option::weighted(0.8, 0u8..3), -3i64..4), 1..6).prop_map(
        |mut rows| {
            if rows[0].0.is_none() {
                rows[0].0 = Some(0);
            }
            rows
        },
    )
}

fn keyed_source(id: &str, packet: &str, rows: &[(Option<u8>, i64)]) -> Source {
    let rows: Vec<(Datum, Datum)> = rows
        .iter()
        .map(|(k, v)| (k.map_or(Datum::Null, |k| s(&format!("k{k}"))), i(*v)))
        .collect();
    pairs(id, "id", packet, &rows)
}

/// A second tag `t` on some sources, so that key sets differ between chain steps.
fn two_tag_source(id: &str, packet: &str, rows: &[(Option<u8>, i64)]) -> Source {
    let rows: Vec<Vec<Datum>> = rows
        .iter()
        .map(|(k, v)| {
            let key = k.map_or(Datum::Null, |k| s(&format!("k{k}")));
            vec![key, i(v.rem_euclid(2)), i(*v)]
        })
        .collect();
    dict_source(id, &["id", "t"], &["id", "t", packet], &rows)
}

/// A source keyed by `id`, an integer (`as_int`) or the same number as a string.
fn numbered_source(id: &str, packet: &str, rows: &[(Option<u8>, i64)], as_int: bool) -> Source {
    let rows: Vec<(Datum, Datum)> = rows
        .iter()
        .map(|(k, v)| {
            let key = match k {
                None => Datum::Null,
                Some(k) if as_int => i(i64::from(*k)),
                Some(k) => s(&k.to_string()),
            };
            (key, i(*v))
        })
        .collect();
    pairs(id, "id", packet, &rows)
}

/// Runs a two-input `spec`, pushing one batch of each port in turn and finishing a port
/// as soon as its batches run out, so that one side ends while the other still sends.
fn drive_alternating(spec: &OperatorSpec, inputs: [&Input; 2]) -> Table {
    let infos: Vec<InputInfo> = inputs.iter().map(|i| i.info()).collect();
    let mut op = spec.build(&infos).unwrap();
    let mut pending: [std::collections::VecDeque<RecordBatch>; 2] =
        inputs.map(|i| i.stream.batches().iter().cloned().collect());
    let mut finished = [false; 2];
    let mut out: Vec<RecordBatch> = Vec::new();
    while finished != [true, true] {
        for port in 0..2 {
            if finished[port] {
                continue;
            }
            match pending[port].pop_front() {
                Some(batch) => op.push(port, batch).unwrap(),
                None => {
                    op.finish(port).unwrap();
                    finished[port] = true;
                }
            }
            out.extend(op.take_output());
        }
    }
    table_of(&Stream::new(op.output_schema().clone(), out).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn join_is_commutative_and_emits_its_predicted_schema(
        ra in keyed_rows(), rb in keyed_rows(), rc in keyed_rows(),
    ) {
        let a = input(&keyed_source("A", "x", &ra));
        let b = input(&two_tag_source("B", "y", &rb));
        let c = input(&keyed_source("C", "z", &rc));
        let reference = drive(&OperatorSpec::Join, &[&a, &b, &c], &[0, 1, 2]);
        for (inputs, order) in [
            ([&b, &a, &c], [2, 1, 0]),
            ([&c, &b, &a], [0, 2, 1]),
            ([&a, &c, &b], [1, 0, 2]),
        ] {
            prop_assert_eq!(
                by_name(&drive(&OperatorSpec::Join, &inputs, &order)),
                by_name(&reference)
            );
        }
        let ab = by_name(&drive(&OperatorSpec::Join, &[&a, &b], &[0, 1]));
        prop_assert_eq!(&by_name(&drive(&OperatorSpec::Join, &[&b, &a], &[0, 1])), &ab);
        prop_assert_eq!(&by_name(&check(&OperatorSpec::Join, &[&b, &a]).unwrap()), &ab);
    }

    /// A join on one integer key (its own index) matches exactly the rows the same join
    /// on the key as a string (the general index) matches, however the batches arrive.
    #[test]
    fn integer_keys_match_as_their_string_form(
        ra in keyed_rows(), rb in keyed_rows(),
        sa in prop::collection::vec(0usize..3, 0..4),
        sb in prop::collection::vec(0usize..3, 0..4),
    ) {
        for (spec, packets, columns) in [
            (OperatorSpec::Join, ["x", "y"], &["id", "x", "y"][..]),
            (OperatorSpec::MergeJoin, ["x", "x"], &["id", "x"][..]),
        ] {
            let side = |name, packet, rows: &[(Option<u8>, i64)], sizes: &[usize], as_int| {
                input(&numbered_source(name, packet, rows, as_int)).chunked(sizes)
            };
            let ints = [side("A", packets[0], &ra, &sa, true), side("B", packets[1], &rb, &sb, true)];
            let strings = [side("A", packets[0], &ra, &sa, false), side("B", packets[1], &rb, &sb, false)];
            let expected = project(&check(&spec, &[&strings[0], &strings[1]]).unwrap(), columns);
            for order in [[0, 1], [1, 0]] {
                let got = drive_alternating(&spec, [&ints[order[0]], &ints[order[1]]]);
                prop_assert_eq!(&project(&got, columns), &expected);
            }
            prop_assert_eq!(&project(&drive(&spec, &[&ints[0], &ints[1]], &[1, 0]), columns), &expected);
        }
    }

    #[test]
    fn merge_join_is_commutative(ra in keyed_rows(), rb in keyed_rows()) {
        let a = input(&keyed_source("A", "x", &ra));
        let b = input(&keyed_source("B", "x", &rb));
        let ab = drive(&OperatorSpec::MergeJoin, &[&a, &b], &[0, 1]);
        prop_assert_eq!(&drive(&OperatorSpec::MergeJoin, &[&b, &a], &[0, 1]), &ab);
        prop_assert_eq!(&drive(&OperatorSpec::MergeJoin, &[&b, &a], &[1, 0]), &ab);
    }

    #[test]
    fn chunking_does_not_change_join_results(
        ra in keyed_rows(), rb in keyed_rows(),
        sa in prop::collection::vec(0usize..3, 0..4),
        sb in prop::collection::vec(0usize..3, 0..4),
    ) {
        let a = input(&keyed_source("A", "x", &ra));
        let b = input(&two_tag_source("B", "y", &rb));
        let b2 = input(&keyed_source("B2", "x", &rb));
        let (ca, cb, cb2) = (a.chunked(&sa), b.chunked(&sb), b2.chunked(&sb));
        for (spec, right, chunked_right) in [
            (OperatorSpec::Join, &b, &cb),
            (OperatorSpec::MergeJoin, &b2, &cb2),
            (OperatorSpec::SemiJoin, &b, &cb),
        ] {
            let whole = check(&spec, &[&a, right]).unwrap();
            prop_assert_eq!(&check(&spec, &[&ca, chunked_right]).unwrap(), &whole);
            prop_assert_eq!(&drive(&spec, &[&ca, chunked_right], &[1, 0]), &whole);
        }
    }
}

#[test]
fn output_schema_is_shared_by_every_batch_of_every_operator() {
    let (a, b, b2) = (input(&a()), input(&b()), input(&b2()));
    for (spec, inputs) in [
        (OperatorSpec::Join, vec![&a, &b]),
        (OperatorSpec::MergeJoin, vec![&a, &b2]),
        (OperatorSpec::SemiJoin, vec![&b, &a]),
    ] {
        // `drive` asserts the schema of each emitted batch.
        let forward = drive(&spec, &inputs, &[0, 1]);
        assert_eq!(drive(&spec, &inputs, &[1, 0]), forward);
    }
}

/// A MergeJoin over MergeJoin outputs: the colliding column's source info is already a
/// list, and becomes a list of lists aligned with the values.
#[test]
fn merge_join_of_merged_streams_nests_values_and_provenance() {
    use orcapod::pipeline::{PipelineBuilder, SyncExecutor};
    let rows: Vec<Vec<(String, Datum)>> = (0..4)
        .map(|i| {
            vec![
                ("b".to_string(), Datum::Str(format!("k{}", i % 2))),
                ("v".to_string(), Datum::Int(i)),
            ]
        })
        .collect();
    let s = Source::from_rows(&rows, &SourceOptions::tags(["b"]).with_source_id("s")).unwrap();
    let mut builder = PipelineBuilder::new("p");
    builder
        .source("s", s)
        .operator("once", OperatorSpec::MergeJoin, ["s", "s"])
        .operator("twice", OperatorSpec::MergeJoin, ["once", "once"]);
    let pipeline = builder.build().unwrap();
    let out = SyncExecutor::new(&pipeline).run_all().unwrap();
    let twice = &out["twice"];
    // 2 keys × (2 rows per key)² pairs in `once` × that again squared per key.
    assert_eq!(twice.num_rows(), 2 * 4 * 4);
    let schema = twice.schema();
    let nested = |dt: &arrow::datatypes::DataType| match dt {
        arrow::datatypes::DataType::LargeList(item) => item.data_type().clone(),
        other => panic!("not a list: {other}"),
    };
    assert_eq!(
        nested(&nested(schema.packet_fields()[0].data_type())),
        arrow::datatypes::DataType::Int64
    );
    assert_eq!(
        nested(&nested(schema.source_info_fields()[0].data_type())),
        arrow::datatypes::DataType::LargeUtf8
    );
    let (_, packet) = &twice.rows().unwrap()[0];
    match (packet.get("v").unwrap(), packet.source_info("v").unwrap()) {
        (Datum::List(values), Datum::List(sources)) => {
            assert_eq!(values.len(), 2);
            assert_eq!(sources.len(), 2);
        }
        other => panic!("{other:?}"),
    }
}
