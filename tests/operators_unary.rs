//! Integration tests of the unary operators: Batch, Filter, Select/Drop tag and packet
//! columns, MapTags and MapPackets — through the public API only.
//!
//! Most tests are data-driven: a list of cases, each an operator, an input and the
//! expected output table written out, run by the one [`check`] helper. `check` also
//! verifies, for every case, that the produced batches have the predicted schema and that
//! the result does not depend on how the input was chunked into batches.
//!
//! Golden values (identity hashes, packet content hashes, provenance strings) were
//! computed by the Python reference (`golden.json`, keys `1_sources`, `3_operators`,
//! `6_polars_filter_identity`) and are copied here.

use orcapod_testing::datums::{f, i, list, s};
use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray, Int64Array, LargeStringArray, RecordBatch};
use arrow::datatypes::{DataType, Field, FieldRef};
use arrow::util::pretty::pretty_format_batches;
use orcapod::hashing::identity::{self, Identity, Symmetry};
use orcapod::model::{ColumnConfig, Datum, Stream, StreamSchema};
use orcapod::operator::{run_to_completion, FilterOp, InputInfo, OperatorSpec, Predicate};
use orcapod::source::{Source, SourceOptions};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------

/// An operator input: a stream plus the identity it has upstream.
#[derive(Clone, Debug)]
struct Input {
    stream: Stream,
    identity: Identity,
}

impl Input {
    fn of(source: &Source) -> Input {
        Input {
            stream: source.stream().unwrap(),
            identity: source.identity().clone(),
        }
    }

    fn info(&self) -> InputInfo {
        InputInfo {
            schema: self.stream.schema().clone(),
            pipeline_hash: self.identity.pipeline.clone(),
        }
    }

    /// The same rows cut into batches of `size` rows (the last may be shorter).
    fn rechunked(&self, size: usize) -> Input {
        let whole = self.stream.to_batch().expect("concat");
        let batches = (0..whole.num_rows())
            .step_by(size.max(1))
            .map(|start| whole.slice(start, size.min(whole.num_rows() - start)))
            .collect();
        Input {
            stream: Stream::new(self.stream.schema().clone(), batches).expect("rechunk"),
            identity: self.identity.clone(),
        }
    }

    /// The same schema without rows.
    fn empty(&self) -> Input {
        Input {
            stream: Stream::empty(self.stream.schema().clone()),
            identity: self.identity.clone(),
        }
    }
}

/// A rows source with the given tag columns and source id.
fn source(rows: &[&[(&str, Datum)]], tags: &[&str], source_id: &str) -> Source {
    let rows: Vec<Vec<(String, Datum)>> = rows
        .iter()
        .map(|r| r.iter().map(|(n, v)| (n.to_string(), v.clone())).collect())
        .collect();
    let options = SourceOptions::tags(tags.iter().copied()).with_source_id(source_id);
    Source::from_rows(&rows, &options).expect("valid source")
}

/// Reference source `A`: `{id: a, x: 1}, {id: b, x: 2}`, tag `id`, source id `A`.
fn source_a() -> Source {
    source(
        &[
            &[("id", s("a")), ("x", i(1))],
            &[("id", s("b")), ("x", i(2))],
        ],
        &["id"],
        "A",
    )
}

/// Reference source `B`: ids a, b, c with y = 10, 20, 30, source id `B`.
fn source_b() -> Source {
    source(
        &[
            &[("id", s("a")), ("y", i(10))],
            &[("id", s("b")), ("y", i(20))],
            &[("id", s("c")), ("y", i(30))],
        ],
        &["id"],
        "B",
    )
}

/// A source with nulls in several column types, for filters. Tag `id`, source id `F`.
fn source_f() -> Source {
    let row = |id: &str, n: Datum, v: Datum, w: Datum, flag: Datum| {
        vec![("id", s(id)), ("n", n), ("v", v), ("w", w), ("flag", flag)]
    };
    let rows = [
        row("a", i(1), f(0.5), s("x"), Datum::Bool(true)),
        row("b", i(2), f(1.5), s("y"), Datum::Bool(false)),
        row("c", Datum::Null, f(2.5), Datum::Null, Datum::Bool(true)),
        row("d", i(4), Datum::Null, s("x"), Datum::Null),
        row("e", i(5), f(4.5), s("z"), Datum::Bool(false)),
    ];
    let refs: Vec<&[(&str, Datum)]> = rows.iter().map(Vec::as_slice).collect();
    source(&refs, &["id"], "F")
}

/// A source with two tags and two packets, for select/drop/map. Source id `T`.
fn source_t() -> Source {
    source(
        &[
            &[("k1", s("a")), ("k2", i(1)), ("p", i(10)), ("q", s("u"))],
            &[("k1", s("b")), ("k2", i(2)), ("p", i(20)), ("q", s("v"))],
        ],
        &["k1", "k2"],
        "T",
    )
}

/// The stream the reference's `Join(A, B)` produces (golden `3_operators`), built
/// directly: Join itself is tested elsewhere. Its identity is the Join invocation's.
fn joined_a_b() -> Input {
    let (a, b) = (source_a(), source_b());
    let string =
        |name: &str| -> FieldRef { Arc::new(Field::new(name, DataType::LargeUtf8, false)) };
    let int = |name: &str| -> FieldRef { Arc::new(Field::new(name, DataType::Int64, false)) };
    let schema = Arc::new(
        StreamSchema::new(
            vec![string("id")],
            vec![int("x"), int("y")],
            vec![
                string("_tag_source_id::39d4ba8d2d69::39d4ba8d2d69:0"),
                string("_tag_record_id::39d4ba8d2d69::39d4ba8d2d69:0"),
                string("_tag_source_id::5acb55ffec29::5acb55ffec29:1"),
                string("_tag_record_id::5acb55ffec29::5acb55ffec29:1"),
            ],
            vec![string("_source_x"), string("_source_y")],
        )
        .expect("joined schema"),
    );
    let strings = |v: [&str; 2]| Arc::new(LargeStringArray::from(v.to_vec())) as _;
    let batch = RecordBatch::try_new(
        schema.arrow().clone(),
        vec![
            strings(["a", "b"]),
            Arc::new(Int64Array::from(vec![1, 2])),
            Arc::new(Int64Array::from(vec![10, 20])),
            strings(["A", "A"]),
            strings(["row_0", "row_1"]),
            strings(["B", "B"]),
            strings(["row_0", "row_1"]),
            strings(["A::row_0::x", "A::row_1::x"]),
            strings(["B::row_0::y", "B::row_1::y"]),
        ],
    )
    .expect("joined batch");
    Input {
        stream: Stream::new(schema, vec![batch]).expect("joined stream"),
        identity: identity::invocation(
            &OperatorSpec::Join.content_hash(),
            Symmetry::Unordered,
            &[a.identity(), b.identity()],
        ),
    }
}

// ---------------------------------------------------------------------------------------
// The check helper
// ---------------------------------------------------------------------------------------

/// What a case expects.
enum Expect<'a> {
    /// The whole output table (every column but `_content_hash`), pretty-printed.
    Table(&'a [&'a str]),
    /// Only the named columns of the output, pretty-printed.
    Columns(&'a [&'a str], &'a [&'a str]),
    /// Only the `id` column of the output, a string column: its values, in order.
    Ids(&'a [&'a str]),
    /// Building fails with an error whose message contains every fragment.
    Error(&'a [&'a str]),
}

/// Every column but the content hash, unsorted.
fn full_config() -> ColumnConfig {
    ColumnConfig {
        system_tags: true,
        source_info: true,
        content_hash: false,
        sort_by_tags: false,
    }
}

fn render(table: &RecordBatch) -> Vec<String> {
    pretty_format_batches(std::slice::from_ref(table))
        .expect("pretty print")
        .to_string()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Runs `spec` over `input` and compares the result with `expect`.
///
/// For every successful case it also checks that the produced stream has the schema
/// the built operator predicted, and that running over the input cut into one-row
/// batches, or into two-row batches, gives exactly the same rows. Returns the output.
fn check(name: &str, spec: &OperatorSpec, input: &Input, expect: Expect) -> Option<Stream> {
    let built = spec.build(&[input.info()]);
    let mut op = match (built, &expect) {
        (Err(e), Expect::Error(fragments)) => {
            let message = e.to_string();
            for fragment in *fragments {
                assert!(
                    message.contains(fragment),
                    "{name}: error `{message}` does not mention `{fragment}`"
                );
            }
            return None;
        }
        (Err(e), _) => panic!("{name}: unexpected error: {e}"),
        (Ok(_), Expect::Error(_)) => panic!("{name}: expected an error, got an operator"),
        (Ok(op), _) => op,
    };
    let predicted = op.output_schema().clone();
    let out = run_to_completion(op.as_mut(), &[&input.stream])
        .unwrap_or_else(|e| panic!("{name}: run failed: {e}"));
    assert_eq!(
        out.schema(),
        &predicted,
        "{name}: schema differs from prediction"
    );

    for size in [1, 2] {
        let mut again = spec.build(&[input.info()]).expect("built once already");
        let rechunked = run_to_completion(again.as_mut(), &[&input.rechunked(size).stream])
            .unwrap_or_else(|e| panic!("{name}: run over {size}-row batches failed: {e}"));
        assert_eq!(
            rechunked.to_batch().expect("concat"),
            out.to_batch().expect("concat"),
            "{name}: result depends on input chunking ({size}-row batches)"
        );
    }

    let table = out.as_table(&full_config()).expect("as_table");
    let (actual, wanted) = match expect {
        Expect::Table(lines) => (render(&table), lines),
        Expect::Columns(columns, lines) => {
            let idx: Vec<usize> = columns
                .iter()
                .map(|c| {
                    table
                        .schema()
                        .index_of(c)
                        .unwrap_or_else(|_| panic!("{name}: no output column `{c}`"))
                })
                .collect();
            (render(&table.project(&idx).expect("project")), lines)
        }
        Expect::Ids(ids) => {
            let column = table
                .column_by_name("id")
                .unwrap_or_else(|| panic!("{name}: no output column `id`"));
            let actual: Vec<String> = (0..column.len())
                .map(|row| match Datum::from_array(column.as_ref(), row) {
                    Ok(Datum::Str(id)) => id,
                    other => panic!("{name}: id {row} is not a string: {other:?}"),
                })
                .collect();
            assert_eq!(actual, ids, "{name}: unexpected ids");
            return Some(out);
        }
        Expect::Error(_) => unreachable!("handled above"),
    };
    assert_eq!(
        actual,
        wanted,
        "{name}: unexpected output\n{}",
        actual.join("\n")
    );
    Some(out)
}

/// The `_content_hash` column of a stream (reference packet content hashes).
fn content_hashes(stream: &Stream) -> Vec<String> {
    let table = stream
        .as_table(&ColumnConfig::all_info())
        .expect("as_table");
    let column = table.column_by_name("_content_hash").expect("hash column");
    let strings = column.as_string::<i64>();
    (0..strings.len())
        .map(|r| strings.value(r).to_string())
        .collect()
}

fn cols(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

fn renames(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn pred(col: &str, op: FilterOp, value: Datum) -> Predicate {
    Predicate {
        col: col.to_string(),
        op,
        value,
    }
}

/// A filter on one predicate.
fn where_(col: &str, op: FilterOp, value: Datum) -> OperatorSpec {
    filter(vec![pred(col, op, value)], &[])
}

fn filter(predicates: Vec<Predicate>, constraints: &[(&str, Datum)]) -> OperatorSpec {
    OperatorSpec::Filter {
        predicates,
        constraints: constraints
            .iter()
            .map(|(c, v)| (c.to_string(), v.clone()))
            .collect(),
    }
}

fn batch(batch_size: usize, drop_partial_batch: bool) -> OperatorSpec {
    OperatorSpec::Batch {
        batch_size,
        drop_partial_batch,
    }
}

// ---------------------------------------------------------------------------------------
// Identity goldens
// ---------------------------------------------------------------------------------------

#[test]
fn operator_identities_match_the_reference() {
    let cases: Vec<(OperatorSpec, &str)> = vec![
        (
            batch(2, false),
            "semantic_v0.1:6e9c57aad5dff25ff6f3ebd1b87f34e3966a230b4bcbbc19314975b6b460c855",
        ),
        (
            batch(2, true),
            "semantic_v0.1:b178a8d1cce99306919e299e57f566ae2e17b74f67db4b3ff974b8840ede7690",
        ),
        (
            batch(0, false),
            "semantic_v0.1:478bc479cd62d0ad8e0ca0d6c00e6f67907bad63bceef61f6c7eb9ac88b3556d",
        ),
        (
            filter(vec![], &[("id", s("a"))]),
            "semantic_v0.1:aa9252b762cb64894d09883c3cd8e3771fba00bdbfec0690b2db87afdb9da6d5",
        ),
        (
            OperatorSpec::SelectTagColumns {
                columns: cols(&["id"]),
                strict: true,
            },
            "semantic_v0.1:cf50710e048cb5fca03e036ec66d0afe632f313c7e02dc8ae3b4f4ef4b10ee64",
        ),
        (
            OperatorSpec::SelectPacketColumns {
                columns: cols(&["x"]),
                strict: true,
            },
            "semantic_v0.1:862555e33dea681999970bc0ce224ad62bdb5cd0b7fcc58e9cae907369a2c7c2",
        ),
        (
            OperatorSpec::DropPacketColumns {
                columns: cols(&["y"]),
                strict: true,
            },
            "semantic_v0.1:df3d84b63547ccca8c5f751817b98ef9d994b90e4985960c191c5cb6b38b9d97",
        ),
        (
            OperatorSpec::MapTags {
                name_map: renames(&[("id", "key")]),
                drop_unmapped: false,
            },
            "semantic_v0.1:2572c7758e50fbf20ee675e115754493e99620d58d7828e8093eb8145b935fca",
        ),
        (
            OperatorSpec::MapPackets {
                name_map: renames(&[("x", "xx")]),
                drop_unmapped: false,
            },
            "semantic_v0.1:2cba323d6fb16b2a5cbbc92e0ccc8417ed119a698adabe081b7660e75042f282",
        ),
    ];
    for (spec, golden) in cases {
        assert_eq!(spec.content_hash().to_string(), golden, "{spec:?}");
    }
}

/// Output-stream identities `(operator, (input,))` of the golden invocations; the joined
/// input's identity is checked against the golden `Join(A,B)` first.
#[test]
fn output_stream_identities_match_the_reference() {
    let joined = joined_a_b();
    assert_eq!(
        joined.identity.content.to_string(),
        "semantic_v0.1:956e64640c48754f87b5a2b014f1d363246cb37ebb35fd57117851c15a4ff0f8"
    );
    assert_eq!(
        joined.identity.pipeline.to_string(),
        "semantic_v0.1:2455be577d29b86a05411b569626a275e8d3fee67d7d7eb2e50cd828cbe048ec"
    );
    let (a, b) = (Input::of(&source_a()), Input::of(&source_b()));
    let cases: Vec<(OperatorSpec, &Input, &str, &str)> = vec![
        (
            batch(2, false),
            &b,
            "3d78082e9253df750ad67ff95cdd113ead518d63378a2bea6d9c0f000dda0068",
            "199d37ca57986acfd5840d620dcae40d215e91f535f8775a8998c02661bc13bd",
        ),
        (
            batch(0, false),
            &b,
            "49ab349607e863c0f03d691a8b3579707dfc33647f9a8b3ce069f3781ad7c26b",
            "1e62b3998cf6cb56b77f22aa9813a6f494fff77b1ce427c4d4ce39fee54e156b",
        ),
        (
            filter(vec![], &[("id", s("a"))]),
            &b,
            "1421a11fc8b7107803bef56b23e69d84792f7e62f0dbf93031186ad023411d16",
            "f217b5ef1161fc7a0c16bb02d46b0d2765c688633d5710ea1d07f1694755cfe8",
        ),
        (
            OperatorSpec::SelectPacketColumns {
                columns: cols(&["x"]),
                strict: true,
            },
            &joined,
            "d707d55a11046afc9695b8402f806d7f4d682672d151f563d1eeef1f0f580960",
            "02b74f32c1c2066b56f31559c4737e1a897582ae8c35020985dd25728e85d8aa",
        ),
        (
            OperatorSpec::MapPackets {
                name_map: renames(&[("x", "xx")]),
                drop_unmapped: false,
            },
            &a,
            "b706311d6cae5affc64af6cbf0c3ffbc21694ba812395d4397b80417603077eb",
            "6f0c0987cc032c32a54d79a3c709548c1b36194abc12cf36079107b37adc6d4a",
        ),
    ];
    for (spec, input, content, pipeline) in cases {
        let id = identity::invocation(&spec.content_hash(), spec.symmetry(), &[&input.identity]);
        assert_eq!(id.content.hex(), content, "{spec:?}");
        assert_eq!(id.pipeline.hex(), pipeline, "{spec:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Batch
// ---------------------------------------------------------------------------------------

#[test]
fn batch_groups_rows_into_lists() {
    let b = Input::of(&source_b());
    let cases: Vec<(&str, OperatorSpec, Expect)> = vec![
        (
            "size 2 keeps the partial last group",
            batch(2, false),
            Expect::Table(&[
                "+--------+----------+------------------------------+------------------------------+----------------------------+",
                "| id     | y        | _tag_source_id::5acb55ffec29 | _tag_record_id::5acb55ffec29 | _source_y                  |",
                "+--------+----------+------------------------------+------------------------------+----------------------------+",
                "| [a, b] | [10, 20] | [B, B]                       | [row_0, row_1]               | [B::row_0::y, B::row_1::y] |",
                "| [c]    | [30]     | [B]                          | [row_2]                      | [B::row_2::y]              |",
                "+--------+----------+------------------------------+------------------------------+----------------------------+",
            ]),
        ),
        (
            "size 2 dropping the partial group",
            batch(2, true),
            Expect::Table(&[
                "+--------+----------+------------------------------+------------------------------+----------------------------+",
                "| id     | y        | _tag_source_id::5acb55ffec29 | _tag_record_id::5acb55ffec29 | _source_y                  |",
                "+--------+----------+------------------------------+------------------------------+----------------------------+",
                "| [a, b] | [10, 20] | [B, B]                       | [row_0, row_1]               | [B::row_0::y, B::row_1::y] |",
                "+--------+----------+------------------------------+------------------------------+----------------------------+",
            ]),
        ),
        (
            "size 0 puts everything in one row",
            batch(0, false),
            Expect::Table(&[
                "+-----------+--------------+------------------------------+------------------------------+-----------------------------------------+",
                "| id        | y            | _tag_source_id::5acb55ffec29 | _tag_record_id::5acb55ffec29 | _source_y                               |",
                "+-----------+--------------+------------------------------+------------------------------+-----------------------------------------+",
                "| [a, b, c] | [10, 20, 30] | [B, B, B]                    | [row_0, row_1, row_2]        | [B::row_0::y, B::row_1::y, B::row_2::y] |",
                "+-----------+--------------+------------------------------+------------------------------+-----------------------------------------+",
            ]),
        ),
        (
            "size 0 dropping the partial group gives nothing (reference K9 behaviour)",
            batch(0, true),
            Expect::Columns(&["id", "y"], &["+----+---+", "| id | y |", "+----+---+", "+----+---+"]),
        ),
        (
            "size 3 divides exactly",
            batch(3, true),
            Expect::Columns(
                &["id", "y"],
                &[
                    "+-----------+--------------+",
                    "| id        | y            |",
                    "+-----------+--------------+",
                    "| [a, b, c] | [10, 20, 30] |",
                    "+-----------+--------------+",
                ],
            ),
        ),
        (
            "size 1 wraps every row",
            batch(1, false),
            Expect::Columns(
                &["id", "y"],
                &[
                    "+-----+------+",
                    "| id  | y    |",
                    "+-----+------+",
                    "| [a] | [10] |",
                    "| [b] | [20] |",
                    "| [c] | [30] |",
                    "+-----+------+",
                ],
            ),
        ),
        (
            "size larger than the input keeps one partial group",
            batch(5, false),
            Expect::Columns(
                &["id"],
                &["+-----------+", "| id        |", "+-----------+", "| [a, b, c] |", "+-----------+"],
            ),
        ),
        (
            "size larger than the input, dropping the partial group",
            batch(5, true),
            Expect::Columns(&["id"], &["+----+", "| id |", "+----+", "+----+"]),
        ),
    ];
    for (name, spec, expect) in cases {
        check(name, &spec, &b, expect);
    }
}

#[test]
fn batch_packet_content_hashes_match_the_reference() {
    let b = Input::of(&source_b());
    let cases: Vec<(OperatorSpec, Vec<&str>)> = vec![
        (
            batch(2, false),
            vec![
                "arrow_v0.1:000001ec9fa96edbe15ecf7985657e24f01fa6052b3dbe368bf86b78ff7605d7f10655",
                "arrow_v0.1:000001d9c6933963f50fcaa9be194a9834af7dbf067278f43fa7104781c1af16c60916",
            ],
        ),
        (
            batch(2, true),
            vec![
                "arrow_v0.1:000001ec9fa96edbe15ecf7985657e24f01fa6052b3dbe368bf86b78ff7605d7f10655",
            ],
        ),
        (
            batch(0, false),
            vec![
                "arrow_v0.1:000001a14e26d562aa7fdeeaf7125166e2f225c1e97e86466d372ce481aea0ca4386dd",
            ],
        ),
    ];
    for (spec, golden) in cases {
        let mut op = spec.build(&[b.info()]).expect("build");
        let out = run_to_completion(op.as_mut(), &[&b.stream]).expect("run");
        assert_eq!(content_hashes(&out), golden, "{spec:?}");
    }
}

#[test]
fn batch_output_types_are_non_nullable_large_lists_of_nullable_items() {
    let b = Input::of(&source_b());
    let op = batch(2, false).build(&[b.info()]).expect("build");
    let schema = op.output_schema();
    assert_eq!(
        schema.system_tag_names(),
        vec![
            "_tag_source_id::5acb55ffec29",
            "_tag_record_id::5acb55ffec29"
        ]
    );
    let expected = [
        ("id", DataType::LargeUtf8),
        ("y", DataType::Int64),
        ("_tag_source_id::5acb55ffec29", DataType::LargeUtf8),
        ("_tag_record_id::5acb55ffec29", DataType::LargeUtf8),
        ("_source_y", DataType::LargeUtf8),
    ];
    let fields = schema.arrow().fields();
    assert_eq!(fields.len(), expected.len());
    for (field, (name, item)) in fields.iter().zip(expected) {
        assert_eq!(field.name(), name);
        assert!(!field.is_nullable(), "{name} should be non-nullable");
        assert_eq!(
            field.data_type(),
            &DataType::LargeList(Arc::new(Field::new("item", item, true))),
            "{name}"
        );
    }
    assert_eq!(
        schema.describe(),
        "tags {id: list[str]} | packets {y: list[int]}"
    );
}

#[test]
fn batch_groups_the_same_rows_the_same_way_whatever_their_arrival_order() {
    // Twelve rows, so that natural order (row_2 < row_10) differs from text order.
    let rows: Vec<Vec<(&str, Datum)>> = (0..12)
        .map(|k| vec![("id", s(&format!("k{k}"))), ("y", i(k))])
        .collect();
    let refs: Vec<&[(&str, Datum)]> = rows.iter().map(Vec::as_slice).collect();
    let input = Input::of(&source(&refs, &["id"], "nums")).rechunked(1);
    let batches: Vec<RecordBatch> = input.stream.batches().to_vec();
    let run = |order: &[usize], size: usize, drop: bool| -> Vec<String> {
        let mut op = batch(size, drop).build(&[input.info()]).expect("build");
        for &k in order {
            op.push(0, batches[k].clone()).expect("push");
            assert!(op.take_output().is_empty(), "Batch waits for all its input");
        }
        op.finish(0).expect("finish");
        let out = op.take_output();
        let stream = Stream::new(op.output_schema().clone(), out).expect("stream");
        render(&stream.as_table(&full_config()).expect("table"))
    };
    let forward: Vec<usize> = (0..12).collect();
    let shuffled = [7, 0, 11, 3, 9, 1, 10, 5, 2, 8, 4, 6];
    for (size, drop) in [(5, false), (5, true), (0, false), (4, false)] {
        let a = run(&forward, size, drop);
        assert_eq!(a, run(&shuffled, size, drop), "size {size}, drop {drop}");
        let mut reversed = forward.clone();
        reversed.reverse();
        assert_eq!(a, run(&reversed, size, drop));
    }
    // Groups follow the source's order: the first group is rows 0..5, not row_0, row_1,
    // row_10, row_11, row_2.
    let table = run(&shuffled, 5, false).join("\n");
    assert!(table.contains("[0, 1, 2, 3, 4]"), "{table}");
    assert!(table.contains("[5, 6, 7, 8, 9]"), "{table}");
    let dropped = run(&shuffled, 5, true).join("\n");
    assert!(
        !dropped.contains("[10, 11]"),
        "the partial group is dropped: {dropped}"
    );
}

// ---------------------------------------------------------------------------------------
// Select / drop
// ---------------------------------------------------------------------------------------

#[test]
fn select_and_drop_on_the_joined_reference_stream() {
    let joined = joined_a_b();
    let cases: Vec<(&str, OperatorSpec, Expect, Vec<&str>)> = vec![
        (
            "SelectTagColumns(['id'])",
            OperatorSpec::SelectTagColumns {
                columns: cols(&["id"]),
                strict: true,
            },
            Expect::Table(&[
                "+----+---+----+----------------------------------------------+----------------------------------------------+----------------------------------------------+----------------------------------------------+-------------+-------------+",
                "| id | x | y  | _tag_source_id::39d4ba8d2d69::39d4ba8d2d69:0 | _tag_record_id::39d4ba8d2d69::39d4ba8d2d69:0 | _tag_source_id::5acb55ffec29::5acb55ffec29:1 | _tag_record_id::5acb55ffec29::5acb55ffec29:1 | _source_x   | _source_y   |",
                "+----+---+----+----------------------------------------------+----------------------------------------------+----------------------------------------------+----------------------------------------------+-------------+-------------+",
                "| a  | 1 | 10 | A                                            | row_0                                        | B                                            | row_0                                        | A::row_0::x | B::row_0::y |",
                "| b  | 2 | 20 | A                                            | row_1                                        | B                                            | row_1                                        | A::row_1::x | B::row_1::y |",
                "+----+---+----+----------------------------------------------+----------------------------------------------+----------------------------------------------+----------------------------------------------+-------------+-------------+",
            ]),
            vec![
                "arrow_v0.1:0000012c87eacafc2de6d89478b67ea06b13d6dda5bd264d2b1f4b43b281c9b9b33c21",
                "arrow_v0.1:00000189b01726bbdc12160173b1f084702bd39d66c4d6e855d3c42c7e5d86b1c90ab3",
            ],
        ),
        (
            "SelectPacketColumns(['x'])",
            OperatorSpec::SelectPacketColumns {
                columns: cols(&["x"]),
                strict: true,
            },
            Expect::Table(&[
                "+----+---+----------------------------------------------+----------------------------------------------+----------------------------------------------+----------------------------------------------+-------------+",
                "| id | x | _tag_source_id::39d4ba8d2d69::39d4ba8d2d69:0 | _tag_record_id::39d4ba8d2d69::39d4ba8d2d69:0 | _tag_source_id::5acb55ffec29::5acb55ffec29:1 | _tag_record_id::5acb55ffec29::5acb55ffec29:1 | _source_x   |",
                "+----+---+----------------------------------------------+----------------------------------------------+----------------------------------------------+----------------------------------------------+-------------+",
                "| a  | 1 | A                                            | row_0                                        | B                                            | row_0                                        | A::row_0::x |",
                "| b  | 2 | A                                            | row_1                                        | B                                            | row_1                                        | A::row_1::x |",
                "+----+---+----------------------------------------------+----------------------------------------------+----------------------------------------------+----------------------------------------------+-------------+",
            ]),
            vec![
                "arrow_v0.1:0000015b678360108332fb42ebcdc555c068d1942ab39590dfa3e941a4f47b1a3ff06d",
                "arrow_v0.1:0000012835349350044e4f0cfa0ea9e403ee1b14cf4aa65f35863d111fab54e8f69d96",
            ],
        ),
        (
            "DropPacketColumns(['y'])",
            OperatorSpec::DropPacketColumns {
                columns: cols(&["y"]),
                strict: true,
            },
            Expect::Table(&[
                "+----+---+----------------------------------------------+----------------------------------------------+----------------------------------------------+----------------------------------------------+-------------+",
                "| id | x | _tag_source_id::39d4ba8d2d69::39d4ba8d2d69:0 | _tag_record_id::39d4ba8d2d69::39d4ba8d2d69:0 | _tag_source_id::5acb55ffec29::5acb55ffec29:1 | _tag_record_id::5acb55ffec29::5acb55ffec29:1 | _source_x   |",
                "+----+---+----------------------------------------------+----------------------------------------------+----------------------------------------------+----------------------------------------------+-------------+",
                "| a  | 1 | A                                            | row_0                                        | B                                            | row_0                                        | A::row_0::x |",
                "| b  | 2 | A                                            | row_1                                        | B                                            | row_1                                        | A::row_1::x |",
                "+----+---+----------------------------------------------+----------------------------------------------+----------------------------------------------+----------------------------------------------+-------------+",
            ]),
            vec![
                "arrow_v0.1:0000015b678360108332fb42ebcdc555c068d1942ab39590dfa3e941a4f47b1a3ff06d",
                "arrow_v0.1:0000012835349350044e4f0cfa0ea9e403ee1b14cf4aa65f35863d111fab54e8f69d96",
            ],
        ),
    ];
    for (name, spec, expect, hashes) in cases {
        let out = check(name, &spec, &joined, expect).expect("a stream");
        assert_eq!(content_hashes(&out), hashes, "{name}");
    }
}

#[test]
fn select_and_drop_columns() {
    let t = Input::of(&source_t());
    let select_tags = |c: &[&str], strict| OperatorSpec::SelectTagColumns {
        columns: cols(c),
        strict,
    };
    let drop_tags = |c: &[&str], strict| OperatorSpec::DropTagColumns {
        columns: cols(c),
        strict,
    };
    let select_packets = |c: &[&str], strict| OperatorSpec::SelectPacketColumns {
        columns: cols(c),
        strict,
    };
    let drop_packets = |c: &[&str], strict| OperatorSpec::DropPacketColumns {
        columns: cols(c),
        strict,
    };
    let cases: Vec<(&str, OperatorSpec, Expect)> = vec![
        (
            "select one tag keeps the system tags",
            select_tags(&["k2"], true),
            Expect::Table(&[
                "+----+----+---+------------------------------+------------------------------+-------------+-------------+",
                "| k2 | p  | q | _tag_source_id::fcaac2361dfe | _tag_record_id::fcaac2361dfe | _source_p   | _source_q   |",
                "+----+----+---+------------------------------+------------------------------+-------------+-------------+",
                "| 1  | 10 | u | T                            | row_0                        | T::row_0::p | T::row_0::q |",
                "| 2  | 20 | v | T                            | row_1                        | T::row_1::p | T::row_1::q |",
                "+----+----+---+------------------------------+------------------------------+-------------+-------------+",
            ]),
        ),
        (
            "drop every tag keeps the system tags",
            drop_tags(&["k1", "k2"], true),
            Expect::Columns(
                &["p", "_source_p"],
                &[
                    "+----+-------------+",
                    "| p  | _source_p   |",
                    "+----+-------------+",
                    "| 10 | T::row_0::p |",
                    "| 20 | T::row_1::p |",
                    "+----+-------------+",
                ],
            ),
        ),
        (
            "select a packet carries its source info only",
            select_packets(&["q"], true),
            Expect::Table(&[
                "+----+----+---+------------------------------+------------------------------+-------------+",
                "| k1 | k2 | q | _tag_source_id::fcaac2361dfe | _tag_record_id::fcaac2361dfe | _source_q   |",
                "+----+----+---+------------------------------+------------------------------+-------------+",
                "| a  | 1  | u | T                            | row_0                        | T::row_0::q |",
                "| b  | 2  | v | T                            | row_1                        | T::row_1::q |",
                "+----+----+---+------------------------------+------------------------------+-------------+",
            ]),
        ),
        (
            "drop a packet drops its source info",
            drop_packets(&["q"], true),
            Expect::Table(&[
                "+----+----+----+------------------------------+------------------------------+-------------+",
                "| k1 | k2 | p  | _tag_source_id::fcaac2361dfe | _tag_record_id::fcaac2361dfe | _source_p   |",
                "+----+----+----+------------------------------+------------------------------+-------------+",
                "| a  | 1  | 10 | T                            | row_0                        | T::row_0::p |",
                "| b  | 2  | 20 | T                            | row_1                        | T::row_1::p |",
                "+----+----+----+------------------------------+------------------------------+-------------+",
            ]),
        ),
        (
            "selected tags keep input order, not argument order",
            select_tags(&["k2", "k1"], true),
            Expect::Columns(
                &["k1", "k2"],
                &["+----+----+", "| k1 | k2 |", "+----+----+", "| a  | 1  |", "| b  | 2  |", "+----+----+"],
            ),
        ),
        (
            "non-strict select ignores missing names",
            select_packets(&["p", "nope"], false),
            Expect::Columns(
                &["k1", "p"],
                &["+----+----+", "| k1 | p  |", "+----+----+", "| a  | 10 |", "| b  | 20 |", "+----+----+"],
            ),
        ),
        (
            "non-strict drop ignores missing names",
            drop_tags(&["nope"], false),
            Expect::Columns(
                &["k1", "k2"],
                &["+----+----+", "| k1 | k2 |", "+----+----+", "| a  | 1  |", "| b  | 2  |", "+----+----+"],
            ),
        ),
        (
            "strict select names the missing tag columns",
            select_tags(&["k1", "nope", "gone"], true),
            Expect::Error(&["SelectTagColumns", "missing tag columns: nope, gone", "k1, k2"]),
        ),
        (
            "strict drop names the missing packet columns",
            drop_packets(&["zz"], true),
            Expect::Error(&["DropPacketColumns", "missing packet columns: zz", "p, q"]),
        ),
        (
            "a tag name is not a packet column",
            select_packets(&["k1"], true),
            Expect::Error(&["missing packet columns: k1"]),
        ),
        (
            "dropping every packet column is an error",
            drop_packets(&["p", "q"], true),
            Expect::Error(&["no packet column would remain"]),
        ),
        (
            "selecting no packet column is an error",
            select_packets(&[], true),
            Expect::Error(&["no packet column would remain"]),
        ),
    ];
    for (name, spec, expect) in cases {
        check(name, &spec, &t, expect);
    }
}

/// `select(cols)` keeps exactly what `drop(complement)` keeps, for tags and packets.
#[test]
fn select_is_drop_of_the_complement() {
    let t = Input::of(&source_t());
    let run = |spec: OperatorSpec| {
        let mut op = spec.build(&[t.info()]).expect("build");
        run_to_completion(op.as_mut(), &[&t.stream])
            .expect("run")
            .to_batch()
            .expect("concat")
    };
    for (kept, dropped) in [(vec!["k1"], vec!["k2"]), (vec![], vec!["k1", "k2"])] {
        assert_eq!(
            run(OperatorSpec::SelectTagColumns {
                columns: cols(&kept),
                strict: true
            }),
            run(OperatorSpec::DropTagColumns {
                columns: cols(&dropped),
                strict: true
            })
        );
    }
    assert_eq!(
        run(OperatorSpec::SelectPacketColumns {
            columns: cols(&["q"]),
            strict: true
        }),
        run(OperatorSpec::DropPacketColumns {
            columns: cols(&["p"]),
            strict: true
        })
    );
}

// ---------------------------------------------------------------------------------------
// MapTags / MapPackets
// ---------------------------------------------------------------------------------------

#[test]
fn map_tags_and_packets_on_the_reference_source() {
    let a = Input::of(&source_a());
    let cases: Vec<(&str, OperatorSpec, Expect, Vec<&str>)> = vec![
        (
            "MapTags({'id':'key'})",
            OperatorSpec::MapTags {
                name_map: renames(&[("id", "key")]),
                drop_unmapped: false,
            },
            Expect::Table(&[
                "+-----+---+------------------------------+------------------------------+-------------+",
                "| key | x | _tag_source_id::39d4ba8d2d69 | _tag_record_id::39d4ba8d2d69 | _source_x   |",
                "+-----+---+------------------------------+------------------------------+-------------+",
                "| a   | 1 | A                            | row_0                        | A::row_0::x |",
                "| b   | 2 | A                            | row_1                        | A::row_1::x |",
                "+-----+---+------------------------------+------------------------------+-------------+",
            ]),
            vec![
                "arrow_v0.1:0000015b678360108332fb42ebcdc555c068d1942ab39590dfa3e941a4f47b1a3ff06d",
                "arrow_v0.1:0000012835349350044e4f0cfa0ea9e403ee1b14cf4aa65f35863d111fab54e8f69d96",
            ],
        ),
        (
            "MapPackets({'x':'xx'}) keeps source values naming the original column",
            OperatorSpec::MapPackets {
                name_map: renames(&[("x", "xx")]),
                drop_unmapped: false,
            },
            Expect::Table(&[
                "+----+----+------------------------------+------------------------------+-------------+",
                "| id | xx | _tag_source_id::39d4ba8d2d69 | _tag_record_id::39d4ba8d2d69 | _source_xx  |",
                "+----+----+------------------------------+------------------------------+-------------+",
                "| a  | 1  | A                            | row_0                        | A::row_0::x |",
                "| b  | 2  | A                            | row_1                        | A::row_1::x |",
                "+----+----+------------------------------+------------------------------+-------------+",
            ]),
            vec![
                "arrow_v0.1:0000019fb0759a1c5b0718a1fc955d5f755faa9f723875a38192425e687abbe203d4ca",
                "arrow_v0.1:000001b94f20ddeb13188b272d429c54bbbeece70c819730eaa5fb5b4345b28f996c4f",
            ],
        ),
    ];
    for (name, spec, expect, hashes) in cases {
        let out = check(name, &spec, &a, expect).expect("a stream");
        assert_eq!(content_hashes(&out), hashes, "{name}");
    }
}

#[test]
fn map_renames_drops_and_rejects_collisions() {
    let t = Input::of(&source_t());
    let map_tags = |pairs: &[(&str, &str)], drop_unmapped| OperatorSpec::MapTags {
        name_map: renames(pairs),
        drop_unmapped,
    };
    let map_packets = |pairs: &[(&str, &str)], drop_unmapped| OperatorSpec::MapPackets {
        name_map: renames(pairs),
        drop_unmapped,
    };
    let cases: Vec<(&str, OperatorSpec, Expect)> = vec![
        (
            "drop_unmapped tags",
            map_tags(&[("k2", "n")], true),
            Expect::Columns(
                &["n", "p", "q"],
                &[
                    "+---+----+---+",
                    "| n | p  | q |",
                    "+---+----+---+",
                    "| 1 | 10 | u |",
                    "| 2 | 20 | v |",
                    "+---+----+---+",
                ],
            ),
        ),
        (
            "drop_unmapped packets drops their source info",
            map_packets(&[("q", "r")], true),
            Expect::Table(&[
                "+----+----+---+------------------------------+------------------------------+-------------+",
                "| k1 | k2 | r | _tag_source_id::fcaac2361dfe | _tag_record_id::fcaac2361dfe | _source_r   |",
                "+----+----+---+------------------------------+------------------------------+-------------+",
                "| a  | 1  | u | T                            | row_0                        | T::row_0::q |",
                "| b  | 2  | v | T                            | row_1                        | T::row_1::q |",
                "+----+----+---+------------------------------+------------------------------+-------------+",
            ]),
        ),
        (
            "swapping two names is not a collision",
            map_packets(&[("p", "q"), ("q", "p")], false),
            Expect::Columns(
                &["q", "p", "_source_q"],
                &[
                    "+----+---+-------------+",
                    "| q  | p | _source_q   |",
                    "+----+---+-------------+",
                    "| 10 | u | T::row_0::p |",
                    "| 20 | v | T::row_1::p |",
                    "+----+---+-------------+",
                ],
            ),
        ),
        (
            "names absent from the stream are ignored",
            map_tags(&[("nope", "other")], false),
            Expect::Columns(
                &["k1", "k2"],
                &["+----+----+", "| k1 | k2 |", "+----+----+", "| a  | 1  |", "| b  | 2  |", "+----+----+"],
            ),
        ),
        (
            "a tag renamed onto another tag collides",
            map_tags(&[("k1", "k2")], false),
            Expect::Error(&["MapTags", "collisions", "`k2`"]),
        ),
        (
            "a tag renamed onto a packet collides",
            map_tags(&[("k1", "p")], false),
            Expect::Error(&["MapTags", "collisions", "`p`"]),
        ),
        (
            "a packet renamed onto a tag collides",
            map_packets(&[("p", "k1")], false),
            Expect::Error(&["MapPackets", "collisions", "`k1`"]),
        ),
        (
            "two packets renamed to one name collide",
            map_packets(&[("p", "z"), ("q", "z")], false),
            Expect::Error(&["MapPackets", "collisions", "`z`"]),
        ),
        (
            "reserved target names are rejected",
            map_packets(&[("p", "_p")], false),
            Expect::Error(&["reserved"]),
        ),
        (
            "drop_unmapped packets with no mapped packet leaves no packet",
            map_packets(&[("nope", "z")], true),
            Expect::Error(&["no packet column would remain"]),
        ),
    ];
    for (name, spec, expect) in cases {
        check(name, &spec, &t, expect);
    }
}

// ---------------------------------------------------------------------------------------
// Filter
// ---------------------------------------------------------------------------------------

#[test]
fn filter_predicates_and_constraints() {
    let src = source_f();
    let input = Input::of(&src);
    let record_id = format!("_tag_record_id::{}", src.schema_hash());
    let unknown_column = [
        "PolarsFilter",
        "`nope`",
        "`id`, `n`, `v`, `w`, `flag`",
        record_id.as_str(),
    ];
    let ids = Expect::Ids;
    use FilterOp::*;
    let cases: Vec<(&str, OperatorSpec, Expect)> = vec![
        (
            "no conditions pass everything through",
            filter(vec![], &[]),
            ids(&["a", "b", "c", "d", "e"]),
        ),
        ("==", where_("n", Eq, i(2)), ids(&["b"])),
        ("!= never keeps nulls", where_("n", Ne, i(2)), ids(&["a", "d", "e"])),
        ("<", where_("n", Lt, i(4)), ids(&["a", "b"])),
        ("<=", where_("n", Le, i(4)), ids(&["a", "b", "d"])),
        (">", where_("n", Gt, i(2)), ids(&["d", "e"])),
        (">=", where_("n", Ge, i(2)), ids(&["b", "d", "e"])),
        ("an int compared with a float column", where_("v", Gt, i(2)), ids(&["c", "e"])),
        ("a float compared with an int column", where_("n", Lt, f(2.5)), ids(&["a", "b"])),
        ("strings compare lexicographically", where_("w", Ge, s("y")), ids(&["b", "e"])),
        ("booleans", where_("flag", Eq, Datum::Bool(true)), ids(&["a", "c"])),
        (
            "in",
            filter(vec![pred("w", In, list(vec![s("x"), s("z")]))], &[]),
            ids(&["a", "d", "e"]),
        ),
        (
            "in ignores null items and mixes ints and floats",
            filter(vec![pred("n", In, list(vec![i(1), Datum::Null, f(5.0)]))], &[]),
            ids(&["a", "e"]),
        ),
        ("in an empty list keeps nothing", where_("n", In, list(vec![])), ids(&[])),
        ("is_null ignores its value", where_("n", IsNull, i(99)), ids(&["c"])),
        ("not_null", where_("v", NotNull, Datum::Null), ids(&["a", "b", "c", "e"])),
        (
            "constraints are ANDed equalities",
            filter(vec![], &[("w", s("x")), ("n", i(4))]),
            ids(&["d"]),
        ),
        (
            "predicates and constraints are ANDed",
            filter(vec![pred("n", Lt, i(5))], &[("w", s("x"))]),
            ids(&["a", "d"]),
        ),
        (
            "a system-tag column",
            filter(
                vec![pred(&record_id, In, list(vec![s("row_0"), s("row_4")]))],
                &[],
            ),
            ids(&["a", "e"]),
        ),
        (
            "a source-info column",
            filter(vec![], &[("_source_n", s("F::row_1::n"))]),
            ids(&["b"]),
        ),
        (
            "a tag column, keeping every column",
            where_("id", Eq, s("e")),
            Expect::Table(&[
                "+----+---+-----+---+-------+------------------------------+------------------------------+-------------+-------------+-------------+----------------+",
                "| id | n | v   | w | flag  | _tag_source_id::aeb9688bd7c2 | _tag_record_id::aeb9688bd7c2 | _source_n   | _source_v   | _source_w   | _source_flag   |",
                "+----+---+-----+---+-------+------------------------------+------------------------------+-------------+-------------+-------------+----------------+",
                "| e  | 5 | 4.5 | z | false | F                            | row_4                        | F::row_4::n | F::row_4::v | F::row_4::w | F::row_4::flag |",
                "+----+---+-----+---+-------+------------------------------+------------------------------+-------------+-------------+-------------+----------------+",
            ]),
        ),
        (
            "an unknown column is named, with the available ones",
            where_("nope", Eq, i(1)),
            Expect::Error(&unknown_column),
        ),
        (
            "an unknown constraint column",
            filter(vec![], &[("missing", i(1))]),
            Expect::Error(&["`missing`"]),
        ),
        (
            "a string compared with an int column",
            where_("n", Eq, s("2")),
            Expect::Error(&["PolarsFilter", "`n`", "a string ('2')", "Int64"]),
        ),
        (
            "an int compared with a string column",
            filter(vec![], &[("w", i(1))]),
            Expect::Error(&["`w`", "an integer (1)"]),
        ),
        (
            "an int compared with a boolean column",
            where_("flag", Eq, i(1)),
            Expect::Error(&["`flag`", "Boolean"]),
        ),
        (
            "an in list with a wrongly typed item",
            filter(vec![pred("n", In, list(vec![i(1), s("x")]))], &[]),
            Expect::Error(&["`n`", "a string ('x')"]),
        ),
        (
            "in needs a list",
            where_("n", In, i(1)),
            Expect::Error(&["`in`", "needs a list", "an integer (1)"]),
        ),
        (
            "comparing with null is rejected",
            where_("n", Eq, Datum::Null),
            Expect::Error(&["is_null"]),
        ),
    ];
    for (name, spec, expect) in cases {
        check(name, &spec, &input, expect);
    }
}

/// After Batch every column is a list: comparisons on it are rejected at build time,
/// null tests still work.
#[test]
fn filter_on_list_columns() {
    let b = Input::of(&source_b());
    let mut op = batch(2, false).build(&[b.info()]).expect("build");
    let batched = Input {
        stream: run_to_completion(op.as_mut(), &[&b.stream]).expect("run"),
        identity: identity::invocation(
            &batch(2, false).content_hash(),
            Symmetry::Ordered,
            &[&b.identity],
        ),
    };
    check(
        "comparison on a list column",
        &where_("y", FilterOp::Eq, i(10)),
        &batched,
        Expect::Error(&["`y`", "cannot be compared with a value"]),
    );
    check(
        "not_null on a list column",
        &where_("y", FilterOp::NotNull, Datum::Null),
        &batched,
        Expect::Columns(
            &["y"],
            &[
                "+----------+",
                "| y        |",
                "+----------+",
                "| [10, 20] |",
                "| [30]     |",
                "+----------+",
            ],
        ),
    );
}

/// The golden `PolarsFilter(constraints={'id':'a'})(B)`: row `a` with its provenance and
/// packet content hash. (The reference's Polars round trip marks every column nullable,
/// which changes its content hash to `…3fab28…`; orcapod keeps the input schema, so the
/// hash is that of B's row `a`.)
#[test]
fn filter_golden_constraint_on_b() {
    let b = Input::of(&source_b());
    let out = check(
        "PolarsFilter(constraints={'id':'a'})",
        &filter(vec![], &[("id", s("a"))]),
        &b,
        Expect::Table(&[
            "+----+----+------------------------------+------------------------------+-------------+",
            "| id | y  | _tag_source_id::5acb55ffec29 | _tag_record_id::5acb55ffec29 | _source_y   |",
            "+----+----+------------------------------+------------------------------+-------------+",
            "| a  | 10 | B                            | row_0                        | B::row_0::y |",
            "+----+----+------------------------------+------------------------------+-------------+",
        ]),
    )
    .expect("a stream");
    assert_eq!(
        content_hashes(&out),
        vec!["arrow_v0.1:0000016abb321aa5e3d56eb7ffca52e6ae406bb1aea682623eafc01d2cf6e5ff0f1dff"]
    );
    assert_eq!(
        out.schema(),
        b.stream.schema(),
        "filter keeps the input schema"
    );
}

// ---------------------------------------------------------------------------------------
// Empty inputs
// ---------------------------------------------------------------------------------------

#[test]
fn every_unary_operator_accepts_an_empty_input() {
    let t = Input::of(&source_t()).empty();
    let specs = vec![
        batch(0, false),
        batch(0, true),
        batch(2, false),
        batch(2, true),
        filter(vec![pred("p", FilterOp::Gt, i(0))], &[("k1", s("a"))]),
        filter(vec![], &[]),
        OperatorSpec::SelectTagColumns {
            columns: cols(&["k1"]),
            strict: true,
        },
        OperatorSpec::DropTagColumns {
            columns: cols(&["k1"]),
            strict: true,
        },
        OperatorSpec::SelectPacketColumns {
            columns: cols(&["p"]),
            strict: true,
        },
        OperatorSpec::DropPacketColumns {
            columns: cols(&["p"]),
            strict: true,
        },
        OperatorSpec::MapTags {
            name_map: renames(&[("k1", "kk")]),
            drop_unmapped: true,
        },
        OperatorSpec::MapPackets {
            name_map: renames(&[("p", "pp")]),
            drop_unmapped: false,
        },
    ];
    for spec in specs {
        let mut op = spec.build(&[t.info()]).expect("build");
        let out = run_to_completion(op.as_mut(), &[&t.stream])
            .unwrap_or_else(|e| panic!("{spec:?}: {e}"));
        assert_eq!(out.num_rows(), 0, "{spec:?}");
        assert_eq!(out.schema(), op.output_schema(), "{spec:?}");
        let table = out.as_table(&ColumnConfig::all_info()).expect("as_table");
        assert_eq!(table.num_rows(), 0, "{spec:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------

/// A random small source: 0–2 tags and 1–3 packets of random types, with nulls, 1–6
/// rows; returned with a random chunking and possibly emptied.
fn arb_input() -> impl Strategy<Value = Input> {
    let kinds = (0usize..2, 1usize..4, prop::collection::vec(0u8..3, 5));
    (kinds, 1usize..7, any::<u64>(), 1usize..4, any::<bool>()).prop_map(
        |((n_tags, n_packets, types), n_rows, seed, chunk, empty)| {
            let names: Vec<String> = (0..n_tags)
                .map(|t| format!("t{t}"))
                .chain((0..n_packets).map(|p| format!("p{p}")))
                .collect();
            let mut state = seed;
            let mut next = move || {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 33) as i64
            };
            let rows: Vec<Vec<(String, Datum)>> = (0..n_rows)
                .map(|row| {
                    names
                        .iter()
                        .zip(&types)
                        .map(|(name, kind)| {
                            let r = next();
                            let value = if row > 0 && r % 7 == 0 && name.starts_with('p') {
                                Datum::Null
                            } else {
                                match kind {
                                    0 => Datum::Int(r % 5),
                                    1 => Datum::Float((r % 9) as f64 / 2.0),
                                    _ => Datum::Str(format!("s{}", r % 4)),
                                }
                            };
                            (name.clone(), value)
                        })
                        .collect()
                })
                .collect();
            let tags: Vec<String> = (0..n_tags).map(|t| format!("t{t}")).collect();
            let source = Source::from_rows(&rows, &SourceOptions::tags(tags))
                .expect("generated rows are valid");
            let input = Input::of(&source).rechunked(chunk);
            if empty {
                input.empty()
            } else {
                input
            }
        },
    )
}

/// A random operator over `input`'s columns (it may fail to build, e.g. on a rename
/// collision or a type mismatch; that is fine).
fn arb_spec(input: &Input) -> impl Strategy<Value = OperatorSpec> {
    let schema = input.stream.schema();
    let tags = schema.tag_names();
    let packets = schema.packet_names();
    let all: Vec<String> = schema
        .arrow()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let subset = |names: Vec<String>| {
        let n = names.len();
        prop::collection::vec(any::<bool>(), n).prop_map(move |mask| {
            names
                .iter()
                .zip(mask)
                .filter(|(_, keep)| *keep)
                .map(|(n, _)| n.clone())
                .collect::<Vec<_>>()
        })
    };
    let renaming = |names: Vec<String>| {
        let n = names.len();
        prop::collection::vec(0usize..4, n).prop_map(move |targets| {
            names
                .iter()
                .zip(targets)
                .filter(|(_, t)| *t > 0)
                .map(|(n, t)| (n.clone(), format!("r{t}")))
                .collect::<BTreeMap<_, _>>()
        })
    };
    let ops = prop_oneof![
        Just(FilterOp::Eq),
        Just(FilterOp::Ne),
        Just(FilterOp::Lt),
        Just(FilterOp::Le),
        Just(FilterOp::Gt),
        Just(FilterOp::Ge),
        Just(FilterOp::IsNull),
        Just(FilterOp::NotNull),
    ];
    let values = prop_oneof![
        (0i64..5).prop_map(Datum::Int),
        (0i64..9).prop_map(|v| Datum::Float(v as f64 / 2.0)),
        (0i64..4).prop_map(|v| Datum::Str(format!("s{v}"))),
    ];
    let column = prop::sample::select(all);
    prop_oneof![
        (subset(tags.clone()), any::<bool>())
            .prop_map(|(columns, strict)| OperatorSpec::SelectTagColumns { columns, strict }),
        (subset(tags.clone()), any::<bool>())
            .prop_map(|(columns, strict)| OperatorSpec::DropTagColumns { columns, strict }),
        (subset(packets.clone()), any::<bool>())
            .prop_map(|(columns, strict)| OperatorSpec::SelectPacketColumns { columns, strict }),
        (subset(packets.clone()), any::<bool>())
            .prop_map(|(columns, strict)| OperatorSpec::DropPacketColumns { columns, strict }),
        (renaming(tags), any::<bool>()).prop_map(|(name_map, drop_unmapped)| {
            OperatorSpec::MapTags {
                name_map,
                drop_unmapped,
            }
        }),
        (renaming(packets), any::<bool>()).prop_map(|(name_map, drop_unmapped)| {
            OperatorSpec::MapPackets {
                name_map,
                drop_unmapped,
            }
        }),
        (0usize..4, any::<bool>()).prop_map(|(batch_size, drop_partial_batch)| {
            OperatorSpec::Batch {
                batch_size,
                drop_partial_batch,
            }
        }),
        prop::collection::vec((column, ops, values), 0..3).prop_map(|conditions| {
            OperatorSpec::Filter {
                predicates: conditions
                    .into_iter()
                    .map(|(col, op, value)| Predicate { col, op, value })
                    .collect(),
                constraints: BTreeMap::new(),
            }
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Whatever an operator predicts at build time is what every output batch has; and
    /// the output does not depend on the input's chunking.
    #[test]
    fn predicted_schema_is_produced_schema(
        (input, spec) in arb_input().prop_flat_map(|input| {
            let spec = arb_spec(&input);
            (Just(input), spec)
        })
    ) {
        if let Ok(mut op) = spec.build(&[input.info()]) {
            let predicted = op.output_schema().clone();
            let out = run_to_completion(op.as_mut(), &[&input.stream]).expect("run");
            prop_assert_eq!(out.schema(), &predicted);
            for b in out.batches() {
                let schema = b.schema();
                prop_assert_eq!(schema.fields(), predicted.arrow().fields());
            }
            out.as_table(&ColumnConfig::all_info()).expect("as_table");

            let mut again = spec.build(&[input.info()]).expect("builds twice");
            let whole = run_to_completion(again.as_mut(), &[&input.rechunked(usize::MAX).stream])
                .expect("run");
            prop_assert_eq!(whole.to_batch().expect("concat"), out.to_batch().expect("concat"));
        }
    }

    /// `select(cols)` equals `drop(complement)` for tags and packets.
    #[test]
    fn select_equals_drop_of_complement(
        (input, mask) in arb_input().prop_flat_map(|input| {
            let n = input.stream.schema().arrow().fields().len();
            (Just(input), prop::collection::vec(any::<bool>(), n))
        })
    ) {
        let schema = input.stream.schema().clone();
        for on_tags in [true, false] {
            let names = if on_tags { schema.tag_names() } else { schema.packet_names() };
            let (kept, dropped): (Vec<_>, Vec<_>) = names
                .into_iter()
                .zip(&mask)
                .partition(|(_, keep)| **keep);
            let kept: Vec<String> = kept.into_iter().map(|(n, _)| n).collect();
            let dropped: Vec<String> = dropped.into_iter().map(|(n, _)| n).collect();
            let (select, drop) = if on_tags {
                (
                    OperatorSpec::SelectTagColumns { columns: kept, strict: true },
                    OperatorSpec::DropTagColumns { columns: dropped, strict: true },
                )
            } else {
                (
                    OperatorSpec::SelectPacketColumns { columns: kept, strict: true },
                    OperatorSpec::DropPacketColumns { columns: dropped, strict: true },
                )
            };
            let run = |spec: &OperatorSpec| {
                spec.build(&[input.info()]).map(|mut op| {
                    run_to_completion(op.as_mut(), &[&input.stream])
                        .expect("run")
                        .to_batch()
                        .expect("concat")
                })
            };
            match (run(&select), run(&drop)) {
                (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
                (Err(_), Err(_)) => {}
                (a, b) => prop_assert!(false, "select {:?} vs drop {:?}", a.is_ok(), b.is_ok()),
            }
        }
    }
}
