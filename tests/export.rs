//! Exported results: the files `orcapod run --out DIR` writes and what `orcapod show`
//! prints — exact JSON and CSV text, the canonical row order, byte-identical output
//! whatever order the rows arrive in, provenance in the `all_info` files, the Arrow file
//! read back, and atomic writes.

use orcapod_testing::datums::{bytes, f, i, list, s};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch, UInt32Array};
use arrow::buffer::{NullBuffer, ScalarBuffer};
use arrow::compute::take_record_batch;
use arrow::datatypes::{DataType, Int64Type};
use arrow::ipc::reader::FileReader;
use orcapod::export::{
    read_arrow, read_parquet, write_output, Columns, Format, SortedStream, TAG_COLUMNS_METADATA,
};
use orcapod::model::{Datum, Stream};
use orcapod::operator::{run_to_completion, InputInfo, OperatorSpec};
use orcapod::source::{Source, SourceOptions};
use orcapod::Error;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn row(cells: &[(&str, Datum)]) -> Vec<(String, Datum)> {
    cells
        .iter()
        .map(|(n, v)| (n.to_string(), v.clone()))
        .collect()
}

fn source(rows: &[Vec<(String, Datum)>], tags: &[&str], id: &str) -> Source {
    Source::from_rows(
        rows,
        &SourceOptions::tags(tags.iter().copied()).with_source_id(id),
    )
    .expect("a valid rows source")
}

/// Scores of the contract's example, deliberately out of order.
fn scores() -> Source {
    source(
        &[
            row(&[
                ("student_id", s("s02")),
                ("course_id", s("c1")),
                ("score", i(85)),
            ]),
            row(&[
                ("student_id", s("s01")),
                ("course_id", s("c2")),
                ("score", i(91)),
            ]),
            row(&[
                ("student_id", s("s01")),
                ("course_id", s("c1")),
                ("score", i(70)),
            ]),
        ],
        &["student_id", "course_id"],
        "scores",
    )
}

/// What `write` writes of the sorted rows of `stream`, as text.
fn rendered(
    stream: &Stream,
    write: impl FnOnce(&SortedStream, &mut Vec<u8>) -> std::io::Result<()>,
) -> String {
    let mut out = Vec::new();
    write(&SortedStream::new(stream).unwrap(), &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn json_text(stream: &Stream, columns: Columns) -> String {
    rendered(stream, |sorted, out| sorted.write_json(out, columns))
}

fn csv_text(stream: &Stream, columns: Columns) -> String {
    rendered(stream, |sorted, out| sorted.write_csv(out, columns))
}

/// The names of the entries of a directory.
fn entries(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

fn run(spec: OperatorSpec, inputs: &[&Source]) -> Stream {
    let infos: Vec<InputInfo> = inputs
        .iter()
        .map(|s| InputInfo {
            schema: s.schema().clone(),
            pipeline_hash: s.identity().pipeline.clone(),
        })
        .collect();
    let owned: Vec<Stream> = inputs.iter().map(|s| s.stream().unwrap()).collect();
    let streams: Vec<&Stream> = owned.iter().collect();
    let mut op = spec.build(&infos).expect("operator builds");
    run_to_completion(op.as_mut(), &streams).expect("operator runs")
}

// ---------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------

#[test]
fn a_one_row_stream_is_written_exactly_as_the_contract_shows() {
    let one = source(
        &[row(&[
            ("student_id", s("s01")),
            ("course_id", s("c1")),
            ("score", i(91)),
        ])],
        &["student_id", "course_id"],
        "scores",
    );
    assert_eq!(
        json_text(&one.stream().unwrap(), Columns::TagsAndPackets),
        r#"{"tag_columns": ["student_id", "course_id"],
 "packet_columns": ["score"],
 "rows": [{"student_id": "s01", "course_id": "c1", "score": 91}]}
"#
    );
}

#[test]
fn json_rows_are_sorted_and_all_info_adds_provenance() {
    let scores = scores();
    assert_eq!(
        json_text(&scores.stream().unwrap(), Columns::TagsAndPackets),
        r#"{"tag_columns": ["student_id", "course_id"],
 "packet_columns": ["score"],
 "rows": [{"student_id": "s01", "course_id": "c1", "score": 70},
          {"student_id": "s01", "course_id": "c2", "score": 91},
          {"student_id": "s02", "course_id": "c1", "score": 85}]}
"#
    );
    let h = scores.schema_hash();
    let expected = format!(
        r#"{{"tag_columns": ["student_id", "course_id"],
 "packet_columns": ["score"],
 "system_tag_columns": ["_tag_source_id::{h}", "_tag_record_id::{h}"],
 "source_info_columns": ["_source_score"],
 "rows": [{{"student_id": "s01", "course_id": "c1", "score": 70, "_tag_source_id::{h}": "scores", "_tag_record_id::{h}": "row_2", "_source_score": "scores::row_2::score"}},
          {{"student_id": "s01", "course_id": "c2", "score": 91, "_tag_source_id::{h}": "scores", "_tag_record_id::{h}": "row_1", "_source_score": "scores::row_1::score"}},
          {{"student_id": "s02", "course_id": "c1", "score": 85, "_tag_source_id::{h}": "scores", "_tag_record_id::{h}": "row_0", "_source_score": "scores::row_0::score"}}]}}
"#
    );
    assert_eq!(
        json_text(&scores.stream().unwrap(), Columns::AllInfo),
        expected
    );
}

#[test]
fn json_values_floats_bytes_lists_and_nulls() {
    let values = source(
        &[
            row(&[
                ("id", i(1)),
                ("x", f(1.0)),
                ("blob", bytes(&[0, 255])),
                ("items", list(vec![f(0.5), f(f64::NAN), Datum::Null])),
                ("note", s("é \"q\"\n")),
            ]),
            row(&[
                ("id", i(2)),
                ("x", f(f64::NEG_INFINITY)),
                ("blob", Datum::Null),
                ("items", list(vec![])),
                ("note", Datum::Null),
            ]),
            row(&[
                ("id", i(3)),
                ("x", f(1e-7)),
                ("blob", bytes(&[])),
                ("items", Datum::Null),
                ("note", s("")),
            ]),
        ],
        &["id"],
        "v",
    );
    assert_eq!(
        json_text(&values.stream().unwrap(), Columns::TagsAndPackets),
        r#"{"tag_columns": ["id"],
 "packet_columns": ["x", "blob", "items", "note"],
 "rows": [{"id": 1, "x": 1.0, "blob": {"$bytes": "00ff"}, "items": [0.5, "NaN", null], "note": "é \"q\"\n"},
          {"id": 2, "x": "-inf", "blob": null, "items": [], "note": null},
          {"id": 3, "x": 1e-7, "blob": {"$bytes": ""}, "items": null, "note": ""}]}
"#
    );
}

#[test]
fn an_empty_stream_has_its_columns_and_no_rows() {
    let scores = scores();
    let empty = Stream::empty(scores.schema().clone());
    assert_eq!(
        json_text(&empty, Columns::TagsAndPackets),
        "{\"tag_columns\": [\"student_id\", \"course_id\"],\n \"packet_columns\": [\"score\"],\n \"rows\": []}\n"
    );
    assert_eq!(
        csv_text(&empty, Columns::TagsAndPackets),
        "student_id,course_id,score\n"
    );
}

// ---------------------------------------------------------------------------------------
// Row order
// ---------------------------------------------------------------------------------------

/// The values of tag column `k` after sorting a stream whose rows hold `values` in this
/// order (with a packet column `n`, the input position, which must not decide anything
/// here as the values are distinct).
fn sorted_tags(values: Vec<Datum>) -> Vec<String> {
    let rows: Vec<_> = values
        .into_iter()
        .enumerate()
        .map(|(n, v)| row(&[("k", v), ("n", i(n as i64))]))
        .collect();
    let src = source(&rows, &["k"], "s");
    SortedStream::new(&src.stream().unwrap())
        .unwrap()
        .rows()
        .iter()
        .map(|r| format!("{:?}", r[0]))
        .collect()
}

fn shown(values: &[Datum]) -> Vec<String> {
    values.iter().map(|v| format!("{v:?}")).collect()
}

#[test]
fn each_kind_of_column_sorts_with_nulls_first() {
    let n = Datum::Null;
    assert_eq!(
        sorted_tags(vec![i(3), n.clone(), i(-1), i(0), i(i64::MIN)]),
        shown(&[n.clone(), i(i64::MIN), i(-1), i(0), i(3)])
    );
    assert_eq!(
        sorted_tags(vec![Datum::Bool(true), n.clone(), Datum::Bool(false)]),
        shown(&[n.clone(), Datum::Bool(false), Datum::Bool(true)])
    );
    assert_eq!(
        sorted_tags(vec![
            f(1.5),
            f(f64::NAN),
            f(f64::NEG_INFINITY),
            n.clone(),
            f(-0.0),
            f(0.0),
            f(f64::INFINITY),
            f(-2.0),
        ]),
        shown(&[
            n.clone(),
            f(f64::NEG_INFINITY),
            f(-2.0),
            f(-0.0),
            f(0.0),
            f(1.5),
            f(f64::INFINITY),
            f(f64::NAN),
        ])
    );
    assert_eq!(
        sorted_tags(vec![s("b"), s(""), s("B"), s("é"), s("ab"), s("a")]),
        shown(&[s(""), s("B"), s("a"), s("ab"), s("b"), s("é")])
    );
    assert_eq!(
        sorted_tags(vec![
            bytes(&[1]),
            bytes(&[]),
            bytes(&[0, 255]),
            n.clone(),
            bytes(&[0])
        ]),
        shown(&[
            n.clone(),
            bytes(&[]),
            bytes(&[0]),
            bytes(&[0, 255]),
            bytes(&[1])
        ])
    );
    assert_eq!(
        sorted_tags(vec![
            list(vec![i(2)]),
            list(vec![i(1), i(2)]),
            list(vec![]),
            n.clone(),
            list(vec![i(1)]),
            list(vec![i(1), n.clone()]),
        ]),
        shown(&[
            n,
            list(vec![]),
            list(vec![i(1)]),
            list(vec![i(1), Datum::Null]),
            list(vec![i(1), i(2)]),
            list(vec![i(2)]),
        ])
    );
}

#[test]
fn values_of_every_kind_order_none_bool_number_string_bytes_list() {
    let mut values = vec![
        list(vec![]),
        bytes(&[]),
        s(""),
        f(2.5),
        i(2),
        i(3),
        Datum::Bool(true),
        Datum::Bool(false),
        Datum::Null,
        f(f64::NAN),
        f(f64::NEG_INFINITY),
        i(i64::MIN),
        f(2.0),
    ];
    values.sort_by(Datum::total_cmp);
    assert_eq!(
        shown(&values),
        shown(&[
            Datum::Null,
            Datum::Bool(false),
            Datum::Bool(true),
            f(f64::NEG_INFINITY),
            i(i64::MIN),
            i(2),
            f(2.0),
            f(2.5),
            i(3),
            f(f64::NAN),
            s(""),
            bytes(&[]),
            list(vec![]),
        ])
    );
}

#[test]
fn tags_decide_first_then_packets_then_provenance() {
    // Rows 1 and 4 are equal in every tag and packet column: their record ids decide.
    let src = source(
        &[
            row(&[("a", i(2)), ("b", s("x")), ("p", i(0))]),
            row(&[("a", i(1)), ("b", s("y")), ("p", i(5))]),
            row(&[("a", i(1)), ("b", s("x")), ("p", i(9))]),
            row(&[("a", i(1)), ("b", s("y")), ("p", i(4))]),
            row(&[("a", i(1)), ("b", s("y")), ("p", i(5))]),
        ],
        &["a", "b"],
        "src",
    );
    let sorted = SortedStream::new(&src.stream().unwrap()).unwrap();
    let got: Vec<String> = sorted
        .rows()
        .iter()
        .map(|r| format!("{:?} {:?} {:?} {:?}", r[0], r[1], r[2], r[4]))
        .collect();
    assert_eq!(
        got,
        [
            r#"Int(1) Str("x") Int(9) Str("row_2")"#,
            r#"Int(1) Str("y") Int(4) Str("row_3")"#,
            r#"Int(1) Str("y") Int(5) Str("row_1")"#,
            r#"Int(1) Str("y") Int(5) Str("row_4")"#,
            r#"Int(2) Str("x") Int(0) Str("row_0")"#,
        ]
    );
}

// ---------------------------------------------------------------------------------------
// Determinism
// ---------------------------------------------------------------------------------------

/// A join of two sources with floats, nulls, bytes and lists: extended system tags.
fn joined() -> Stream {
    let students = source(
        &[
            row(&[
                ("student_id", s("s2")),
                ("name", s("Bo")),
                ("photo", Datum::Null),
            ]),
            row(&[
                ("student_id", s("s1")),
                ("name", s("Al")),
                ("photo", bytes(&[7])),
            ]),
            row(&[
                ("student_id", s("s3")),
                ("name", s("Cy")),
                ("photo", bytes(&[])),
            ]),
        ],
        &["student_id"],
        "students",
    );
    let scores = source(
        &[
            row(&[
                ("student_id", s("s1")),
                ("course", s("c2")),
                ("score", f(f64::NAN)),
                ("bonus", Datum::Null),
                ("marks", list(vec![i(1), i(2)])),
            ]),
            row(&[
                ("student_id", s("s3")),
                ("course", s("c1")),
                ("score", f(70.0)),
                ("bonus", i(2)),
                ("marks", Datum::Null),
            ]),
            row(&[
                ("student_id", s("s1")),
                ("course", s("c1")),
                ("score", f(91.5)),
                ("bonus", i(1)),
                ("marks", list(vec![])),
            ]),
            row(&[
                ("student_id", s("s2")),
                ("course", s("c1")),
                ("score", f(-0.0)),
                ("bonus", Datum::Null),
                ("marks", list(vec![i(3)])),
            ]),
            // The same values as the first row: only provenance tells them apart.
            row(&[
                ("student_id", s("s1")),
                ("course", s("c2")),
                ("score", f(f64::NAN)),
                ("bonus", Datum::Null),
                ("marks", list(vec![i(1), i(2)])),
            ]),
        ],
        &["student_id", "course"],
        "scores",
    );
    run(OperatorSpec::Join, &[&students, &scores])
}

/// The same rows in reverse order, cut into batches of two, with every 64-bit integer
/// column rebuilt with a validity buffer (even where nothing is null) and junk under its
/// nulls: what another executor could hand over.
fn scrambled(stream: &Stream) -> Stream {
    let whole = stream.to_batch().unwrap();
    let n = whole.num_rows() as u32;
    let reversed = take_record_batch(&whole, &UInt32Array::from_iter_values((0..n).rev())).unwrap();
    let columns: Vec<ArrayRef> = reversed
        .columns()
        .iter()
        .map(|c| {
            if c.data_type() != &DataType::Int64 {
                return c.clone();
            }
            let ints = c.as_primitive::<Int64Type>();
            let nulls = ints
                .nulls()
                .cloned()
                .unwrap_or_else(|| NullBuffer::new_valid(ints.len()));
            let values: ScalarBuffer<i64> = (0..ints.len())
                .map(|j| {
                    if ints.is_null(j) {
                        12345
                    } else {
                        ints.value(j)
                    }
                })
                .collect();
            Arc::new(Int64Array::new(values, Some(nulls))) as ArrayRef
        })
        .collect();
    let rebuilt = RecordBatch::try_new(reversed.schema(), columns).unwrap();
    let batches = (0..rebuilt.num_rows())
        .step_by(2)
        .map(|start| rebuilt.slice(start, 2.min(rebuilt.num_rows() - start)))
        .collect();
    Stream::new(stream.schema().clone(), batches).unwrap()
}

#[test]
fn the_same_rows_in_another_order_give_byte_identical_files() {
    let original = joined();
    let other = scrambled(&original);
    // The two really differ as given, and hold the same rows.
    assert_ne!(
        format!("{:?}", original.rows().unwrap()),
        format!("{:?}", other.rows().unwrap())
    );
    assert_eq!(
        orcapod_testing::multiset(&original),
        orcapod_testing::multiset(&other)
    );
    assert!(other.batches().len() > 1);
    assert!(
        other.batches()[0]
            .columns()
            .iter()
            .any(|c| c.data_type() == &DataType::Int64 && c.nulls().is_some()),
        "the scrambled stream carries validity buffers"
    );

    let dir = tempfile::tempdir().unwrap();
    for format in Format::ALL {
        let a = write_output(&dir.path().join("a"), "joined", &original, format).unwrap();
        let b = write_output(&dir.path().join("b"), "joined", &other, format).unwrap();
        assert_eq!(a.len(), b.len());
        for (pa, pb) in a.iter().zip(&b) {
            assert_eq!(pa.file_name(), pb.file_name());
            let (ba, bb) = (std::fs::read(pa).unwrap(), std::fs::read(pb).unwrap());
            assert!(ba == bb, "{} differs from {}", pa.display(), pb.display());
        }
    }
    assert_eq!(
        entries(&dir.path().join("a")),
        [
            "joined.all_info.csv",
            "joined.all_info.json",
            "joined.arrow",
            "joined.csv",
            "joined.json",
            "joined.parquet"
        ]
        .map(String::from)
        .into()
    );
    // The text table is the same too.
    let table = |s: &Stream| {
        SortedStream::new(s)
            .unwrap()
            .render_table(Columns::AllInfo)
            .unwrap()
    };
    assert_eq!(table(&original), table(&other));
}

// ---------------------------------------------------------------------------------------
// all_info
// ---------------------------------------------------------------------------------------

#[test]
fn all_info_files_hold_every_system_tag_and_source_info_column() {
    // Batching turns packets and their source info into lists.
    let batched = run(
        OperatorSpec::Batch {
            batch_size: 2,
            drop_partial_batch: false,
        },
        &[&scores()],
    );
    let schema = batched.schema().clone();
    let names = |range: std::ops::Range<usize>| -> Vec<String> {
        range
            .map(|c| schema.arrow().field(c).name().clone())
            .collect()
    };
    let system_tags = names(schema.system_tag_range());
    let source_info = names(schema.source_info_range());
    assert!(!system_tags.is_empty());
    assert_eq!(source_info, ["_source_score"]);

    let dir = tempfile::tempdir().unwrap();
    write_output(dir.path(), "batched", &batched, Format::Json).unwrap();
    let read = |file: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(dir.path().join(file)).unwrap()).unwrap()
    };
    let all = read("batched.all_info.json");
    let plain = read("batched.json");
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(strings(&all["system_tag_columns"]), system_tags);
    assert_eq!(strings(&all["source_info_columns"]), source_info);
    assert_eq!(strings(&all["tag_columns"]), schema.tag_names());
    assert_eq!(strings(&all["packet_columns"]), schema.packet_names());
    assert!(plain.get("system_tag_columns").is_none());
    assert!(plain.get("source_info_columns").is_none());

    let every_column = names(0..schema.arrow().fields().len());
    let rows = all["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for r in rows {
        let keys: Vec<String> = r.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, every_column, "every column, in schema order");
        assert!(r["_source_score"].is_array(), "{r}");
    }
    // Groups of input order (rows 0 and 1, then row 2), sorted by their tag lists:
    // ["s01"] before ["s02", "s01"].
    assert_eq!(rows[0]["student_id"], serde_json::json!(["s01"]));
    assert_eq!(
        rows[0]["_source_score"],
        serde_json::json!(["scores::row_2::score"])
    );
    assert_eq!(rows[1]["student_id"], serde_json::json!(["s02", "s01"]));
    assert_eq!(
        rows[1]["_source_score"],
        serde_json::json!(["scores::row_0::score", "scores::row_1::score"])
    );
    for r in plain["rows"].as_array().unwrap() {
        let keys: Vec<String> = r.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, names(0..schema.packet_range().end));
    }

    write_output(dir.path(), "batched", &batched, Format::Csv).unwrap();
    let csv = std::fs::read_to_string(dir.path().join("batched.all_info.csv")).unwrap();
    assert_eq!(csv.lines().next().unwrap(), every_column.join(","));
    let plain_csv = std::fs::read_to_string(dir.path().join("batched.csv")).unwrap();
    assert_eq!(
        plain_csv.lines().next().unwrap(),
        "student_id,course_id,score"
    );
}

// ---------------------------------------------------------------------------------------
// CSV
// ---------------------------------------------------------------------------------------

#[test]
fn csv_quotes_what_it_must_and_encodes_every_value() {
    let src = source(
        &[
            row(&[
                ("id", s("f\ng")),
                ("text", s("x, \"y\"")),
                ("flag", Datum::Bool(true)),
                ("x", f(f64::INFINITY)),
                ("blob", bytes(&[1])),
                ("items", list(vec![s("a,b"), Datum::Null])),
            ]),
            row(&[
                ("id", s("a")),
                ("text", s("plain")),
                ("flag", Datum::Bool(true)),
                ("x", f(1.0)),
                ("blob", bytes(&[0, 255])),
                ("items", list(vec![s("p"), s("q")])),
            ]),
            row(&[
                ("id", s("d\"e")),
                ("text", s("")),
                ("flag", Datum::Bool(false)),
                ("x", f(-0.5)),
                ("blob", Datum::Null),
                ("items", Datum::Null),
            ]),
            row(&[
                ("id", s("b,c")),
                ("text", Datum::Null),
                ("flag", Datum::Null),
                ("x", f(f64::NAN)),
                ("blob", bytes(&[])),
                ("items", list(vec![])),
            ]),
        ],
        &["id"],
        "csv",
    );
    let text = csv_text(&src.stream().unwrap(), Columns::TagsAndPackets);
    assert_eq!(
        text,
        concat!(
            "id,text,flag,x,blob,items\n",
            "a,plain,true,1.0,\"{\"\"$bytes\"\": \"\"00ff\"\"}\",\"[\"\"p\"\", \"\"q\"\"]\"\n",
            "\"b,c\",,,NaN,\"{\"\"$bytes\"\": \"\"\"\"}\",[]\n",
            "\"d\"\"e\",\"\",false,-0.5,,\n",
            "\"f\ng\",\"x, \"\"y\"\"\",true,inf,\"{\"\"$bytes\"\": \"\"01\"\"}\",\"[\"\"a,b\"\", null]\"\n",
        )
    );
    // A standard CSV reader gets the fields back.
    let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let records: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    assert_eq!(
        records[3],
        [
            "f\ng",
            "x, \"y\"",
            "true",
            "inf",
            r#"{"$bytes": "01"}"#,
            r#"["a,b", null]"#
        ]
    );
    assert_eq!(records[2][1], "");
    assert_eq!(records.len(), 4);
}

#[test]
fn a_single_null_column_row_is_not_a_blank_line() {
    let src = source(
        &[
            row(&[("id", i(1)), ("v", Datum::Null)]),
            row(&[("id", i(2)), ("v", s("w"))]),
        ],
        &["id"],
        "s",
    );
    let narrowed = run(
        OperatorSpec::DropTagColumns {
            columns: vec!["id".into()],
            strict: true,
        },
        &[&src],
    );
    assert_eq!(csv_text(&narrowed, Columns::TagsAndPackets), "v\n\"\"\nw\n");
}

// ---------------------------------------------------------------------------------------
// Arrow
// ---------------------------------------------------------------------------------------

#[test]
fn the_arrow_file_reads_back_with_the_same_rows_and_roles() {
    let stream = joined();
    let dir = tempfile::tempdir().unwrap();
    let paths = write_output(dir.path(), "joined", &stream, Format::Arrow).unwrap();
    assert_eq!(paths, [dir.path().join("joined.arrow")]);

    let reader = FileReader::try_new(std::fs::File::open(&paths[0]).unwrap(), None).unwrap();
    let schema = reader.schema();
    assert_eq!(schema.fields(), stream.schema().arrow().fields());
    assert_eq!(
        schema
            .metadata()
            .get(TAG_COLUMNS_METADATA)
            .map(String::as_str),
        Some(r#"["student_id","course"]"#)
    );
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    assert_eq!(batches.len(), 1);
    let sorted = SortedStream::new(&stream).unwrap();
    let file_rows: Vec<String> = (0..batches[0].num_rows())
        .map(|r| {
            let cells: Vec<Datum> = batches[0]
                .columns()
                .iter()
                .map(|c| Datum::from_array(c.as_ref(), r).unwrap())
                .collect();
            format!("{cells:?}")
        })
        .collect();
    let expected: Vec<String> = sorted.rows().iter().map(|r| format!("{r:?}")).collect();
    assert_eq!(file_rows, expected);
    assert_eq!(file_rows.len(), stream.num_rows());

    let back = read_arrow(&paths[0]).unwrap();
    assert_eq!(back.schema(), stream.schema());
    assert_eq!(
        orcapod_testing::multiset(&back),
        orcapod_testing::multiset(&stream)
    );
}

/// Every row of `stream` in its order, as values.
fn rows_in_order(stream: &Stream) -> Vec<String> {
    stream
        .batches()
        .iter()
        .flat_map(|b| {
            (0..b.num_rows()).map(move |r| {
                let cells: Vec<Datum> = b
                    .columns()
                    .iter()
                    .map(|c| Datum::from_array(c.as_ref(), r).unwrap())
                    .collect();
                format!("{cells:?}")
            })
        })
        .collect()
}

#[test]
fn the_parquet_file_reads_back_as_the_arrow_file_does() {
    let stream = joined();
    let dir = tempfile::tempdir().unwrap();
    let parquet = write_output(dir.path(), "joined", &stream, Format::Parquet).unwrap();
    assert_eq!(parquet, [dir.path().join("joined.parquet")]);
    let arrow = write_output(dir.path(), "joined", &stream, Format::Arrow).unwrap();

    // The plain Parquet-to-Arrow reader sees the stream's schema and the roles.
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(&parquet[0]).unwrap(),
    )
    .unwrap();
    assert_eq!(builder.schema().fields(), stream.schema().arrow().fields());
    assert_eq!(
        builder
            .schema()
            .metadata()
            .get(TAG_COLUMNS_METADATA)
            .map(String::as_str),
        Some(r#"["student_id","course"]"#)
    );
    assert_eq!(builder.metadata().num_row_groups(), 1);

    let back = read_parquet(&parquet[0]).unwrap();
    let via_arrow = read_arrow(&arrow[0]).unwrap();
    assert_eq!(back.schema(), stream.schema());
    assert_eq!(back.schema(), via_arrow.schema());
    let sorted: Vec<String> = SortedStream::new(&stream)
        .unwrap()
        .rows()
        .iter()
        .map(|r| format!("{r:?}"))
        .collect();
    assert_eq!(rows_in_order(&back), sorted);
    assert_eq!(rows_in_order(&via_arrow), sorted);
    assert_eq!(
        orcapod_testing::multiset(&back),
        orcapod_testing::multiset(&stream)
    );

    // Written again, the same bytes.
    let again = tempfile::tempdir().unwrap();
    let rewritten = write_output(again.path(), "joined", &stream, Format::Parquet).unwrap();
    assert!(std::fs::read(&rewritten[0]).unwrap() == std::fs::read(&parquet[0]).unwrap());
}

#[test]
fn a_file_without_roles_is_not_read_as_an_export() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain.arrow");
    let batch =
        RecordBatch::try_from_iter([("x", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef)])
            .unwrap();
    let mut writer = arrow::ipc::writer::FileWriter::try_new(
        std::fs::File::create(&path).unwrap(),
        &batch.schema(),
    )
    .unwrap();
    writer.write(&batch).unwrap();
    writer.finish().unwrap();
    let err = read_arrow(&path).unwrap_err().to_string();
    assert!(err.contains(TAG_COLUMNS_METADATA), "{err}");
    assert!(err.contains("plain.arrow"), "{err}");
}

// ---------------------------------------------------------------------------------------
// Text table and writers
// ---------------------------------------------------------------------------------------

#[test]
fn the_text_table_shows_tags_and_packets_sorted() {
    let sorted = SortedStream::new(&scores().stream().unwrap()).unwrap();
    assert_eq!(
        sorted.render_table(Columns::TagsAndPackets).unwrap(),
        "\
+------------+-----------+-------+
| student_id | course_id | score |
+------------+-----------+-------+
| s01        | c1        | 70    |
| s01        | c2        | 91    |
| s02        | c1        | 85    |
+------------+-----------+-------+
"
    );
}

#[test]
fn the_text_table_tells_nulls_from_empty_values() {
    let src = source(
        &[
            row(&[("id", i(1)), ("text", s("")), ("blob", bytes(&[]))]),
            row(&[("id", i(2)), ("text", Datum::Null), ("blob", Datum::Null)]),
        ],
        &["id"],
        "t",
    );
    let sorted = SortedStream::new(&src.stream().unwrap()).unwrap();
    assert_eq!(
        sorted.render_table(Columns::TagsAndPackets).unwrap(),
        "\
+----+------+------+
| id | text | blob |
+----+------+------+
| 1  |      |      |
| 2  | null | null |
+----+------+------+
"
    );
}

#[test]
fn writers_print_exactly_what_the_files_hold() {
    let stream = joined();
    let dir = tempfile::tempdir().unwrap();
    let sorted = SortedStream::new(&stream).unwrap();
    for format in [Format::Json, Format::Csv] {
        let paths = write_output(dir.path(), "j", &stream, format).unwrap();
        for ((_, columns), path) in format.files("j").into_iter().zip(&paths) {
            let mut printed = Vec::new();
            match format {
                Format::Json => sorted.write_json(&mut printed, columns),
                _ => sorted.write_csv(&mut printed, columns),
            }
            .unwrap();
            assert_eq!(printed, std::fs::read(path).unwrap(), "{}", path.display());
        }
    }
}

// ---------------------------------------------------------------------------------------
// Atomic writes and errors
// ---------------------------------------------------------------------------------------

#[test]
fn writes_create_the_directory_replace_files_and_leave_no_temporary_files() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("out").join("nested");
    let first = scores();
    write_output(&dir, "scores", &first.stream().unwrap(), Format::Json).unwrap();
    let smaller = run(
        OperatorSpec::Filter {
            predicates: vec![],
            constraints: [("student_id".to_string(), s("s02"))].into(),
        },
        &[&first],
    );
    let paths = write_output(&dir, "scores", &smaller, Format::Json).unwrap();
    assert_eq!(
        paths,
        [dir.join("scores.json"), dir.join("scores.all_info.json")]
    );
    assert_eq!(
        entries(&dir),
        ["scores.all_info.json", "scores.json"]
            .map(String::from)
            .into()
    );
    let text = std::fs::read_to_string(dir.join("scores.json")).unwrap();
    assert!(text.contains("s02") && !text.contains("s01"), "{text}");
}

#[test]
fn a_failed_write_names_the_file_and_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    // A directory stands where the file should go: the rename over it fails.
    std::fs::create_dir(dir.path().join("scores.csv")).unwrap();
    let err = write_output(
        dir.path(),
        "scores",
        &scores().stream().unwrap(),
        Format::Csv,
    )
    .unwrap_err();
    match &err {
        Error::Io { path, .. } => assert_eq!(path, &dir.path().join("scores.csv")),
        other => panic!("expected an I/O error, got {other:?}"),
    }
    assert!(err.to_string().contains("scores.csv"), "{err}");
    assert_eq!(entries(dir.path()), ["scores.csv".to_string()].into());

    // A file stands where the directory should be.
    let blocker: PathBuf = dir.path().join("file");
    std::fs::write(&blocker, "x").unwrap();
    let err = write_output(
        &blocker,
        "scores",
        &scores().stream().unwrap(),
        Format::Arrow,
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::Io { path, .. } if path == &blocker),
        "{err:?}"
    );
}

#[test]
fn output_names_must_be_plain_file_names() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["", "..", "../escape", "a/b"] {
        let err =
            write_output(dir.path(), bad, &scores().stream().unwrap(), Format::Json).unwrap_err();
        assert!(
            matches!(err, Error::InvalidInput { .. }),
            "{bad:?}: {err:?}"
        );
    }
    assert!(entries(dir.path()).is_empty());
}
