//! File sources read in batches: whatever the batch size, the batches of a CSV, Arrow IPC
//! or Parquet source are exactly its whole read (rows, values, types, record ids); an
//! Arrow or Parquet source is the same source as its table held in memory (same default
//! id, hashes and rows); errors found while reading name the file and the line.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, LargeStringArray, RecordBatch, StringArray,
};
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, Field, Schema};
use orcapod::pipeline::{PipelineBuilder, SyncExecutor};
use orcapod::pipeline_file::{Builtins, PipelineFile};
use orcapod::source::{Source, SourceOptions};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use proptest::prelude::*;

/// Reads `source` in batches of each size, and checks that every batch has at least one
/// row and at most that many, and that together they are the whole read.
fn assert_batches_are_the_whole_read(source: &Source) {
    let whole = source.stream().unwrap().to_batch().unwrap();
    for max in [1, 7, 1 << 20] {
        let batches: Vec<RecordBatch> = source
            .batches(max)
            .collect::<orcapod::error::Result<_>>()
            .unwrap();
        assert!(
            batches
                .iter()
                .all(|b| b.num_rows() > 0 && b.num_rows() <= max),
            "batch sizes {:?} with max {max}",
            batches
                .iter()
                .map(RecordBatch::num_rows)
                .collect::<Vec<_>>()
        );
        let joined = concat_batches(source.schema().arrow(), &batches).unwrap();
        assert_eq!(joined, whole, "batches of {max}");
    }
}

fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

/// A CSV file with what the reference's reader reads in a special way: signs, leading
/// zeros, null markers, booleans written `1/0/True`, floats, quoted lines, blank lines.
const TRICKY: &str = "id,n,zip,ok,x,note,flag\n\
a,+5,02134,1,1.5,\"two\nlines\",True\n\
b,-3,10001,0,NA,,false\n\
\n\
c,,00007,True,2,NA,FALSE\n\
d,12,99999,false,-0.25,x,true\n\
e,7,12345,TRUE,1e3,\"q,uoted\",False\n";

#[test]
fn csv_batches_of_any_size_are_the_whole_read() {
    let dir = tempfile::tempdir().unwrap();
    let tricky = write(dir.path(), "tricky.csv", TRICKY);
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files = vec![(tricky.clone(), vec!["id"])];
    for name in ["students.csv", "scores.csv"] {
        files.push((examples.join("data").join(name), vec!["student_id"]));
    }
    for entry in std::fs::read_dir(examples.join("school/data")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "csv") {
            files.push((path, vec![]));
        }
    }
    for (path, tags) in &files {
        let source = Source::from_csv(path, &SourceOptions::tags(tags.clone())).unwrap();
        assert!(source.reads_file());
        assert_batches_are_the_whole_read(&source);
    }
    // Identified by value, record ids are the same in every batch.
    let by_id = Source::from_csv(
        &tricky,
        &SourceOptions::tags(["id"]).with_record_id_column("id"),
    )
    .unwrap();
    assert_batches_are_the_whole_read(&by_id);
}

/// `options` with every column of `source`'s table declared with the type it has.
fn declaring_every_type(source: &Source, options: &SourceOptions) -> SourceOptions {
    let schema = source.schema();
    let mut declared = options.clone();
    for f in schema.tag_fields().iter().chain(schema.packet_fields()) {
        declared = declared.with_type(f.name(), f.data_type().clone(), f.is_nullable());
    }
    declared
}

#[test]
fn declaring_every_inferred_type_reads_the_same_rows_in_one_pass() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "tricky.csv", TRICKY);
    let options = SourceOptions::tags(["id"]);
    let inferred = Source::from_csv(&path, &options).unwrap();
    let declared = Source::from_csv(&path, &declaring_every_type(&inferred, &options)).unwrap();
    assert_eq!(declared.identity(), inferred.identity());
    assert_eq!(declared.schema(), inferred.schema());
    let (declared_rows, inferred_rows) = (declared.stream().unwrap(), inferred.stream().unwrap());
    assert_eq!(declared_rows.batches(), inferred_rows.batches());
    assert_eq!(declared_rows.num_rows(), 5);
    assert_batches_are_the_whole_read(&declared);
    // The values the reference's reader gives.
    let table = inferred_rows.to_batch().unwrap();
    let column = |name: &str| table.column_by_name(name).unwrap().clone();
    let ints = Int64Array::from(vec![Some(5), Some(-3), None, Some(12), Some(7)]);
    assert_eq!(column("n").as_ref(), &ints as &dyn arrow::array::Array);
    let zips = Int64Array::from(vec![2134, 10001, 7, 99999, 12345]);
    assert_eq!(column("zip").as_ref(), &zips as &dyn arrow::array::Array);
    let oks = BooleanArray::from(vec![true, false, true, false, true]);
    assert_eq!(column("ok").as_ref(), &oks as &dyn arrow::array::Array);
    let xs = Float64Array::from(vec![Some(1.5), None, Some(2.0), Some(-0.25), Some(1000.0)]);
    assert_eq!(column("x").as_ref(), &xs as &dyn arrow::array::Array);
    let notes = LargeStringArray::from(vec!["two\nlines", "", "NA", "x", "q,uoted"]);
    assert_eq!(column("note").as_ref(), &notes as &dyn arrow::array::Array);
}

/// Cells the reference's reader reads in a special way, to build random files from.
const CELLS: &[&str] = &[
    "0",
    "+5",
    "-3",
    "007",
    "12",
    "1.5",
    "-0.25",
    "1e3",
    "NA",
    "",
    "null",
    "true",
    "False",
    "1",
    "TRUE",
    "x",
    "a b",
    "9007199254740993",
    "99999999999999999999",
    "\"q,uoted\"",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any file, inferred or declared, read in batches of any size, is its whole read,
    /// and declaring the inferred types reads the same rows.
    #[test]
    fn random_csv_files_read_the_same_in_batches(
        columns in 1usize..4,
        rows in prop::collection::vec(prop::collection::vec(0..CELLS.len(), 4), 0..25),
        max in 1usize..9,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let names: Vec<String> = (0..columns).map(|c| format!("c{c}")).collect();
        let mut text = format!("k,{}\n", names.join(","));
        for (i, row) in rows.iter().enumerate() {
            let cells: Vec<&str> = row[..columns].iter().map(|&c| CELLS[c]).collect();
            text.push_str(&format!("k{i},{}\n", cells.join(",")));
        }
        let path = write(dir.path(), "r.csv", &text);
        let options = SourceOptions::tags(["k"]);
        let inferred = Source::from_csv(&path, &options).unwrap();
        let whole = inferred.stream().unwrap().to_batch().unwrap();
        let batches: Vec<RecordBatch> =
            inferred.batches(max).collect::<orcapod::error::Result<_>>().unwrap();
        prop_assert!(batches.iter().all(|b| b.num_rows() <= max));
        let schema = inferred.schema().arrow().clone();
        prop_assert_eq!(&concat_batches(&schema, &batches).unwrap(), &whole);
        let declared = Source::from_csv(&path, &declaring_every_type(&inferred, &options)).unwrap();
        prop_assert_eq!(declared.identity(), inferred.identity());
        let batches: Vec<RecordBatch> =
            declared.batches(max).collect::<orcapod::error::Result<_>>().unwrap();
        prop_assert_eq!(&concat_batches(&schema, &batches).unwrap(), &whole);
    }
}

/// A table of `n` rows with strings, nullable floats and integers, in Arrow's small
/// types (sources normalise them).
fn table(n: usize) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, false),
        Field::new("x", DataType::Float64, true),
        Field::new("n", DataType::Int64, false),
        Field::new("s", DataType::Utf8, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            (0..n).map(|i| format!("k{i}")),
        )),
        Arc::new(Float64Array::from_iter(
            (0..n).map(|i| (i % 3 != 0).then_some(i as f64 / 4.0)),
        )),
        Arc::new(Int64Array::from_iter_values((0..n).map(|i| i as i64 * 7))),
        Arc::new(StringArray::from_iter(
            (0..n).map(|i| (i % 4 != 1).then(|| format!("é{i}"))),
        )),
    ];
    RecordBatch::try_new(schema, columns).unwrap()
}

/// Writes `whole` as an Arrow IPC file of batches of `rows` rows.
fn write_ipc(path: &Path, whole: &RecordBatch, rows: usize) {
    let file = std::fs::File::create(path).unwrap();
    let mut writer = arrow::ipc::writer::FileWriter::try_new(file, &whole.schema()).unwrap();
    let mut offset = 0;
    while offset < whole.num_rows() {
        let len = rows.min(whole.num_rows() - offset);
        writer.write(&whole.slice(offset, len)).unwrap();
        offset += len;
    }
    writer.finish().unwrap();
}

/// Writes `whole` as a Parquet file (snappy) of row groups of `rows` rows.
fn write_parquet(path: &Path, whole: &RecordBatch, rows: usize) {
    let file = std::fs::File::create(path).unwrap();
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_size(rows)
        .build();
    let mut writer = ArrowWriter::try_new(file, whole.schema(), Some(properties)).unwrap();
    writer.write(whole).unwrap();
    writer.close().unwrap();
}

/// `file`, loaded, must be the same source as `whole` held in memory: same default
/// source id, identity and rows, read in batches of any size.
fn assert_same_as_in_memory(file: &Source, whole: &RecordBatch, options: &SourceOptions) {
    let memory = Source::from_record_batch(whole.clone(), options).unwrap();
    assert!(file.reads_file() && !memory.reads_file());
    assert_eq!(file.class_name(), "ArrowTableSource");
    assert_eq!(file.source_id(), memory.source_id());
    assert_eq!(file.identity(), memory.identity());
    assert_eq!(file.schema(), memory.schema());
    assert_eq!(
        file.stream().unwrap().batches(),
        memory.stream().unwrap().batches()
    );
    assert_batches_are_the_whole_read(file);
}

/// A file cut into batches (or row groups) of each of `rows` rows, read with: tags, no
/// option (the default source id), rows identified by value and a declared type.
fn variants(rows: [usize; 3]) -> Vec<(usize, SourceOptions)> {
    let by_value = SourceOptions::tags(["k"])
        .with_record_id_column("n")
        .with_type("x", DataType::Float64, true);
    let options = [
        SourceOptions::tags(["k"]),
        SourceOptions::default(),
        by_value,
    ];
    rows.into_iter().zip(options).collect()
}

/// A loader of a file source.
type Load = fn(&Path, &SourceOptions) -> orcapod::error::Result<Source>;

/// Writes `table(n)` with `write`, cut into pieces of each of `sizes` rows, as
/// `t{size}.{ext}`, and checks that each, loaded by `load` with each of `variants`, is
/// the same source as its table held in memory. Returns the directory of the files.
fn assert_files_are_their_tables(
    ext: &str,
    n: usize,
    sizes: [usize; 3],
    write: fn(&Path, &RecordBatch, usize),
    load: Load,
) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let whole = table(n);
    for (size, options) in variants(sizes) {
        let path = dir.path().join(format!("t{size}.{ext}"));
        write(&path, &whole, size);
        assert_same_as_in_memory(&load(&path, &options).unwrap(), &whole, &options);
    }
    dir
}

#[test]
fn an_arrow_ipc_file_is_its_table_read_batch_by_batch_with_the_same_default_id() {
    assert_files_are_their_tables("arrow", 23, [5, 23, 1], write_ipc, |p, o| {
        Source::from_arrow_ipc(p, o)
    });
}

#[test]
fn a_parquet_file_is_its_table_read_by_row_group_with_the_same_default_id() {
    let dir = assert_files_are_their_tables("parquet", 40, [6, 40, 9], write_parquet, |p, o| {
        Source::from_parquet(p, o)
    });
    for rows in [6, 40, 9] {
        let file = std::fs::File::open(dir.path().join(format!("t{rows}.parquet"))).unwrap();
        let metadata = parquet::file::reader::SerializedFileReader::new(file).unwrap();
        use parquet::file::reader::FileReader;
        let groups = metadata.metadata().num_row_groups();
        assert_eq!(groups, 40usize.div_ceil(rows), "row groups");
    }
    let path = dir.path().join("t6.parquet");
    let wrong = SourceOptions::default().with_type("x", DataType::Int64, true);
    says(
        Source::from_parquet(&path, &wrong),
        &["t6.parquet", "declares column `x`"],
    );
    let not_parquet = write(dir.path(), "bad.parquet", "k,x\n1,2\n");
    says(
        Source::from_parquet(&not_parquet, &SourceOptions::default()),
        &["bad.parquet: not a readable Parquet file"],
    );
}

/// `result` must be an error whose message says each of `expected`.
fn says<T: std::fmt::Debug, E: std::fmt::Display>(result: Result<T, E>, expected: &[&str]) {
    let message = result.unwrap_err().to_string();
    for fragment in expected {
        assert!(message.contains(fragment), "{message}");
    }
}

#[test]
fn a_pipeline_file_reads_a_parquet_source_like_an_arrow_one() {
    let dir = tempfile::tempdir().unwrap();
    let whole = table(12);
    write_parquet(&dir.path().join("t.parquet"), &whole, 5);
    write_ipc(&dir.path().join("t.arrow"), &whole, 5);
    let yaml = "sources:\n  p: {parquet: t.parquet, tags: [k], source_id: t}\n  \
                a: {arrow: t.arrow, tags: [k], source_id: t}\n\
                nodes:\n  sp: {op: select_packet_columns, input: p, columns: [x]}\n  \
                sa: {op: select_packet_columns, input: a, columns: [x]}\n";
    let path = write(dir.path(), "p.yaml", yaml);
    let file = PipelineFile::load(&path, &Builtins::new()).unwrap();
    let pipeline = file.pipeline();
    assert_eq!(
        pipeline.node("p").unwrap().identity(),
        pipeline.node("a").unwrap().identity()
    );
    let mut run = SyncExecutor::new(pipeline);
    let parquet = run.output("sp").unwrap().to_batch().unwrap();
    let arrow = run.output("sa").unwrap().to_batch().unwrap();
    assert_eq!(parquet.num_rows(), 12);
    assert_eq!(parquet, arrow);

    let both = "sources:\n  p: {parquet: t.parquet, arrow: t.arrow}\n\
                nodes:\n  s: {op: select_packet_columns, input: p, columns: [x]}\n";
    let path = write(dir.path(), "both.yaml", both);
    says(
        PipelineFile::load(&path, &Builtins::new()),
        &["give one of `csv`, `arrow` and `parquet`"],
    );
}

#[test]
fn a_value_found_wrong_while_reading_fails_naming_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "t.csv", "k,n\na,1\nb,2\nc,x3\nd,4\n");
    let options = SourceOptions::tags(["k"]).with_type("k", DataType::Utf8, false);
    let options = options.with_type("n", DataType::Int64, false);
    // Every type declared: loading reads the header only.
    let source = Source::from_csv(&path, &options).unwrap();
    let mut batches = source.batches(2);
    assert_eq!(batches.next().unwrap().unwrap().num_rows(), 2);
    let message = batches.next().unwrap().unwrap_err().to_string();
    assert!(
        message.contains("t.csv:4: column `n`: `x3` is not an integer"),
        "{message}"
    );
    assert!(batches.next().is_none(), "the reader ends at its error");
    // In a run, the error is the source node's.
    let mut builder = PipelineBuilder::new("p");
    builder.source("t", source);
    let pipeline = builder.build().unwrap();
    let message = SyncExecutor::new(&pipeline)
        .output("t")
        .unwrap_err()
        .to_string();
    assert!(message.contains("node `t`"), "{message}");
    assert!(message.contains("t.csv:4: column `n`"), "{message}");
}

#[test]
fn a_file_changed_since_it_was_loaded_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "t.csv", "k,n\na,1\nb,2\n");
    let source = Source::from_csv(&path, &SourceOptions::tags(["k"])).unwrap();
    assert_eq!(source.stream().unwrap().num_rows(), 2);
    // Inferred `int` from what the file held: a changed file is not read with it.
    std::fs::write(&path, "k,n\na,1\nb,2.5\nc,3\n").unwrap();
    let message = source.stream().unwrap_err().to_string();
    assert!(message.contains("t.csv"), "{message}");
    assert!(
        message.contains("changed since the source was loaded"),
        "{message}"
    );
}
