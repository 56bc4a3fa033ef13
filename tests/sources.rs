//! Sources: enrichment, provenance and identity, checked against values computed by the
//! reference implementation (orcapod-python at v0.1.0rc1).

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{Array, AsArray, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use orcapod::model::{ColumnConfig, Datum};
use orcapod::source::{Source, SourceOptions};
use orcapod::Error;

fn rows(data: &[(&str, i64)], value_column: &str) -> Vec<Vec<(String, Datum)>> {
    data.iter()
        .map(|(id, v)| {
            vec![
                ("id".to_string(), Datum::Str(id.to_string())),
                (value_column.to_string(), Datum::Int(*v)),
            ]
        })
        .collect()
}

/// Source A of the reference's examples: `[{id: a, x: 1}, {id: b, x: 2}]`, tag `id`.
fn source_a(source_id: Option<&str>) -> Source {
    let mut options = SourceOptions::tags(["id"]);
    options.source_id = source_id.map(str::to_string);
    Source::from_rows(&rows(&[("a", 1), ("b", 2)], "x"), &options).unwrap()
}

fn column_names(batch: &RecordBatch) -> Vec<String> {
    batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

fn strings(batch: &RecordBatch, name: &str) -> Vec<String> {
    let column = batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"));
    let column = column.as_string::<i64>();
    (0..column.len())
        .map(|i| column.value(i).to_string())
        .collect()
}

fn write_file(dir: &tempfile::TempDir, name: &str, content: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    path
}

const STUDENTS: &str = "student_id,name,age\ns1,Ann,20\ns2,Bob,\ns3,Cy,22\n";

#[test]
fn rows_source_matches_the_reference_table_and_hashes() {
    let a = source_a(Some("A"));
    assert_eq!(
        a.identity().content.to_string(),
        "semantic_v0.1:8778f9fd0e595f0df62260f02f22a1ef0b105aa449791eb3c7b94603ea3c8b63"
    );
    assert_eq!(
        a.identity().pipeline.to_string(),
        "semantic_v0.1:39d4ba8d2d69576a8047ca9a3943f986fe200d1755953e2a30452d5147ce04be"
    );
    assert_eq!(a.schema_hash(), "39d4ba8d2d69");

    let table = a
        .stream()
        .unwrap()
        .as_table(&ColumnConfig::all_info())
        .unwrap();
    assert_eq!(
        column_names(&table),
        [
            "id",
            "x",
            "_tag_source_id::39d4ba8d2d69",
            "_tag_record_id::39d4ba8d2d69",
            "_content_hash",
            "_source_x"
        ]
    );
    assert_eq!(strings(&table, "_tag_source_id::39d4ba8d2d69"), ["A", "A"]);
    assert_eq!(
        strings(&table, "_tag_record_id::39d4ba8d2d69"),
        ["row_0", "row_1"]
    );
    assert_eq!(strings(&table, "_source_x"), ["A::row_0::x", "A::row_1::x"]);
    assert_eq!(
        strings(&table, "_content_hash"),
        [
            "arrow_v0.1:0000015b678360108332fb42ebcdc555c068d1942ab39590dfa3e941a4f47b1a3ff06d",
            "arrow_v0.1:0000012835349350044e4f0cfa0ea9e403ee1b14cf4aa65f35863d111fab54e8f69d96"
        ]
    );
    for f in table.schema().fields() {
        assert!(!f.is_nullable(), "{} should not be nullable", f.name());
    }
}

#[test]
fn other_reference_sources_have_the_reference_hashes() {
    let b = Source::from_rows(
        &rows(&[("a", 10), ("b", 20), ("c", 30)], "y"),
        &SourceOptions::tags(["id"]).with_source_id("B"),
    )
    .unwrap();
    assert_eq!(
        b.identity().content.to_string(),
        "semantic_v0.1:2b69d814346cd94027ffbd8674dc908cdeb31f015df0e39fe52c67259235e534"
    );
    assert_eq!(b.schema_hash(), "5acb55ffec29");
    // Same schema as A, different id: same pipeline hash, different content hash.
    let b2 = Source::from_rows(
        &rows(&[("a", 5), ("b", 0)], "x"),
        &SourceOptions::tags(["id"]).with_source_id("B2"),
    )
    .unwrap();
    assert_eq!(
        b2.identity().content.to_string(),
        "semantic_v0.1:a33ecf7de52201229b01a698303257b80fbf8d83ed287492376835a0e62b3f57"
    );
    assert_eq!(
        b2.identity().pipeline,
        source_a(Some("A")).identity().pipeline
    );
}

#[test]
fn default_source_id_is_the_start_of_the_table_hash() {
    let a = source_a(None);
    assert_eq!(a.source_id(), "00000118bde621f0891f");
    assert_eq!(
        a.identity().content.to_string(),
        "semantic_v0.1:75d0da830b63298322d48c4bcaefab1505e7edee2cc7658edadd70c7eb346de3"
    );
    let table = a
        .stream()
        .unwrap()
        .as_table(&ColumnConfig::all_info())
        .unwrap();
    assert_eq!(
        strings(&table, "_source_x")[0],
        "00000118bde621f0891f::row_0::x"
    );
}

#[test]
fn csv_source_matches_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(&dir, "students.csv", STUDENTS);
    let named = Source::from_csv(
        &path,
        &SourceOptions::tags(["student_id"]).with_source_id("students"),
    )
    .unwrap();
    assert_eq!(
        named.identity().content.to_string(),
        "semantic_v0.1:b99643f7ac5c65c98348d91b624f15d75a51b56cd305a1060f2994b1bdb1d0ee"
    );
    assert_eq!(
        named.identity().pipeline.to_string(),
        "semantic_v0.1:4a25a1d97ec98039cb30dc479384666e54f27ce9b3b2dcfaef0f4265febbf163"
    );
    let schema = named.schema();
    assert_eq!(
        schema.describe(),
        "tags {student_id: str} | packets {name: str, age: int | None}"
    );
    let table = named
        .stream()
        .unwrap()
        .as_table(&ColumnConfig::all_info())
        .unwrap();
    assert_eq!(
        strings(&table, "_source_age"),
        [
            "students::row_0::age",
            "students::row_1::age",
            "students::row_2::age"
        ]
    );
    assert_eq!(
        strings(&table, "_content_hash"),
        [
            "arrow_v0.1:00000171dd303c55e18895adaf099de78728902c0440a2cb9f17eaed04e32ca116fd2b",
            "arrow_v0.1:000001b199455af4ff3732e245065d3c9b352d2f6b4e051d55d69e24b7a517b16c25ef",
            "arrow_v0.1:000001c1713a2d4b38f59a54ac553090ad41f7b16739738b9b417321319f2730526d25"
        ]
    );
    let ages = table.column_by_name("age").unwrap();
    let ages = ages.as_any().downcast_ref::<Int64Array>().unwrap();
    assert_eq!(ages.iter().collect::<Vec<_>>(), [Some(20), None, Some(22)]);

    // The default source id is the path as given.
    let unnamed = Source::from_csv(&path, &SourceOptions::tags(["student_id"])).unwrap();
    assert_eq!(unnamed.source_id(), path.to_string_lossy());
    assert_eq!(unnamed.identity().pipeline, named.identity().pipeline);
}

#[test]
fn record_id_column_names_rows_by_value() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(&dir, "students.csv", STUDENTS);
    let source = Source::from_csv(
        &path,
        &SourceOptions::tags(["student_id"])
            .with_source_id("S")
            .with_record_id_column("student_id"),
    )
    .unwrap();
    let table = source
        .stream()
        .unwrap()
        .as_table(&ColumnConfig::all_info())
        .unwrap();
    assert_eq!(
        strings(&table, "_tag_record_id::4a25a1d97ec9"),
        ["student_id=s1", "student_id=s2", "student_id=s3"]
    );
    assert_eq!(strings(&table, "_source_name")[1], "S::student_id=s2::name");
}

#[test]
fn arrow_ipc_file_source_trusts_the_file_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.arrow");
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("x", DataType::Int64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(arrow::array::StringArray::from(vec!["a", "b"])),
            Arc::new(Int64Array::from(vec![1, 2])),
        ],
    )
    .unwrap();
    let mut writer =
        arrow::ipc::writer::FileWriter::try_new(std::fs::File::create(&path).unwrap(), &schema)
            .unwrap();
    writer.write(&batch.slice(0, 1)).unwrap();
    writer.write(&batch.slice(1, 1)).unwrap();
    writer.finish().unwrap();

    let source =
        Source::from_arrow_ipc(&path, &SourceOptions::tags(["id"]).with_source_id("A")).unwrap();
    assert_eq!(source.class_name(), "ArrowTableSource");
    // Same schema as the reference's source A: same pipeline hash and system-tag names.
    assert_eq!(source.schema_hash(), "39d4ba8d2d69");
    assert_eq!(source.stream().unwrap().num_rows(), 2);
    let table = source
        .stream()
        .unwrap()
        .as_table(&ColumnConfig::all_info())
        .unwrap();
    assert_eq!(table.schema().field(0).data_type(), &DataType::LargeUtf8);
    assert_eq!(strings(&table, "_source_x"), ["A::row_0::x", "A::row_1::x"]);
    // Same data as source A: the same per-row packet hashes.
    assert_eq!(
        strings(&table, "_content_hash")[0],
        "arrow_v0.1:0000015b678360108332fb42ebcdc555c068d1942ab39590dfa3e941a4f47b1a3ff06d"
    );
}

#[test]
fn record_batch_source_without_tags_has_only_system_tags() {
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, true)])),
        vec![Arc::new(Int64Array::from(vec![Some(1), None]))],
    )
    .unwrap();
    let source = Source::from_record_batch(batch, &SourceOptions::default()).unwrap();
    let schema = source.schema();
    assert!(schema.tag_fields().is_empty());
    assert_eq!(schema.system_tag_fields().len(), 2);
    assert!(schema.packet_fields()[0].is_nullable());
}

#[test]
fn header_only_csv_gives_an_empty_stream() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(&dir, "empty.csv", "student_id,score\n");
    let source = Source::from_csv(&path, &SourceOptions::tags(["student_id"])).unwrap();
    assert_eq!(source.stream().unwrap().num_rows(), 0);
    assert_eq!(source.schema().packet_names(), ["score"]);
}

#[test]
fn user_columns_starting_with_underscore_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(&dir, "hidden.csv", "id,_hidden\na,1\n");
    let err = Source::from_csv(&path, &SourceOptions::tags(["id"])).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("hidden.csv"), "{message}");
    assert!(message.contains("`_hidden`"), "{message}");
}

#[test]
fn a_missing_tag_column_names_the_file_and_the_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(&dir, "students.csv", STUDENTS);
    let err = Source::from_csv(&path, &SourceOptions::tags(["course_id"])).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("students.csv"), "{message}");
    assert!(message.contains("`course_id`"), "{message}");
    assert!(
        message.contains("`student_id`"),
        "lists the columns: {message}"
    );
}

#[test]
fn a_malformed_row_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(&dir, "bad.csv", "id,x\na,1\nb,2,3\n");
    let err = Source::from_csv(&path, &SourceOptions::tags(["id"])).unwrap_err();
    match &err {
        Error::Csv { line, .. } => assert_eq!(*line, 3),
        other => panic!("expected a CSV error, got {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains("bad.csv:3"), "{message}");
    assert!(message.contains("expected 2 fields"), "{message}");
}

#[test]
fn a_missing_file_is_an_io_error_naming_it() {
    let err = Source::from_csv("/nonexistent/scores.csv", &SourceOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Io { .. }));
    assert!(err.to_string().contains("/nonexistent/scores.csv"));
}

#[test]
fn rows_must_have_the_same_columns() {
    let bad = vec![
        vec![
            ("id".to_string(), Datum::Str("a".into())),
            ("x".to_string(), Datum::Int(1)),
        ],
        vec![("id".to_string(), Datum::Str("b".into()))],
    ];
    let err = Source::from_rows(&bad, &SourceOptions::tags(["id"])).unwrap_err();
    assert!(err.to_string().contains("row 1"), "{err}");
}

#[test]
fn a_column_of_only_nulls_becomes_a_nullable_string_column() {
    let rows = vec![
        vec![
            ("id".to_string(), Datum::Str("a".into())),
            ("note".to_string(), Datum::Null),
        ],
        vec![
            ("id".to_string(), Datum::Str("b".into())),
            ("note".to_string(), Datum::Null),
        ],
    ];
    let source = Source::from_rows(&rows, &SourceOptions::tags(["id"])).unwrap();
    let field = &source.schema().packet_fields()[0];
    assert_eq!(field.data_type(), &DataType::LargeUtf8);
    assert!(field.is_nullable());
    assert_eq!(source.source_id().len(), 20, "the table hashes fine");
}
