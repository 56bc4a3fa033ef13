//! Tests of sources with declared types.

use arrow::array::{Int64Array, LargeStringArray};
use arrow::datatypes::DataType;

use super::*;

const STUDENTS: &str = "student_id,name,age,zip\ns1,Ann,20,02134\ns2,Bob,,10001\n";

/// The students source, and the directory holding its file (read when rows are asked
/// for).
fn students(options: &SourceOptions) -> Result<(tempfile::TempDir, Source)> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("students.csv");
    std::fs::write(&path, STUDENTS).unwrap();
    let source = Source::from_csv(&path, &options.clone().with_source_id("students"))?;
    Ok((dir, source))
}

#[test]
fn declaring_the_inferred_types_changes_no_hash_and_silences_warnings() {
    let (_dir, inferred) = students(&SourceOptions::tags(["student_id"])).unwrap();
    let warned: Vec<(&str, WarningKind)> = inferred
        .warnings()
        .iter()
        .map(|w| (w.column.as_str(), w.kind))
        .collect();
    assert_eq!(warned, [("zip", WarningKind::LeadingZeros)]);
    let (_declared_dir, declared) = students(
        &SourceOptions::tags(["student_id"])
            .with_type("name", DataType::Utf8, false)
            .with_type("age", DataType::Int64, true)
            .with_type("zip", DataType::Int64, false),
    )
    .unwrap();
    assert_eq!(declared.warnings(), &[]);
    assert_eq!(declared.identity(), inferred.identity());
    assert_eq!(
        declared.stream().unwrap().batches(),
        inferred.stream().unwrap().batches()
    );
}

#[test]
fn a_declared_type_reads_the_column_as_declared() {
    let (_dir, source) =
        students(&SourceOptions::tags(["student_id"]).with_type("zip", DataType::LargeUtf8, false))
            .unwrap();
    let zip = source.schema().packet_fields()[2].clone();
    assert_eq!(
        (zip.name().as_str(), zip.data_type()),
        ("zip", &DataType::LargeUtf8)
    );
    let batch = source.stream().unwrap().batches()[0].clone();
    let zips = batch
        .column_by_name("zip")
        .unwrap()
        .as_any()
        .downcast_ref::<LargeStringArray>()
        .unwrap();
    assert_eq!(zips.value(0), "02134");
}

#[test]
fn other_sources_must_have_the_declared_types() {
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)])),
        vec![Arc::new(Int64Array::from(vec![1, 2]))],
    )
    .unwrap();
    let ok = SourceOptions::default().with_type("n", DataType::Int64, false);
    assert!(Source::from_record_batch(batch.clone(), &ok).is_ok());
    let declaring = |column, data_type, nullable| {
        SourceOptions::default().with_type(column, data_type, nullable)
    };
    for (options, expected) in [
        (
            declaring("n", DataType::Float64, false),
            "declares column `n` as `float`, but it is `int` here",
        ),
        (
            declaring("n", DataType::Int64, true),
            "as `int | None`, but it is `int` here",
        ),
        (
            declaring("n", DataType::Int32, false),
            "as `int` (Arrow `Int32`), but it is `int` (Arrow `Int64`)",
        ),
        (
            declaring("m", DataType::Int64, false),
            "`types` declares column `m`, which is not in the table; columns are: `n`",
        ),
    ] {
        let message = Source::from_record_batch(batch.clone(), &options)
            .unwrap_err()
            .to_string();
        assert!(message.contains(expected), "{message}");
    }
}
