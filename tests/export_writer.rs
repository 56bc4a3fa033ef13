//! `OutputWriter` at scale: outputs of more than one Arrow chunk, spilled into many runs
//! (more than are merged at once), give the same files as the in-memory sort and as
//! `write_output`; nothing temporary is left behind, after success, failure or drop.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema};
use std::fs::File;

use arrow::compute::{concat_batches, take_record_batch};
use arrow::ipc::reader::FileReader;
use orcapod::export::{
    read_arrow, read_parquet, write_output, Columns, Format, OutputWriter, Preview, SortedStream,
    CHUNK_ROWS,
};
use orcapod::model::{Stream, StreamSchema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// `rows` rows in batches of `batch_rows`, in a scrambled order with many duplicates,
/// NaNs and nulls.
fn stream(rows: usize, batch_rows: usize) -> Stream {
    let arrow = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, true),
        Field::new("x", DataType::Float64, true),
        Field::new("s", DataType::Utf8, true),
    ]));
    let tags = ["k", "x", "s"].map(String::from);
    let (schema, _) = StreamSchema::classify(&arrow, &tags).unwrap();
    let batches = (0..rows)
        .step_by(batch_rows)
        .map(|start| {
            let n = batch_rows.min(rows - start);
            let scrambled: Vec<u64> = (start..start + n)
                .map(|i| (i as u64).wrapping_mul(2_654_435_761) % 100_003)
                .collect();
            let k: Int64Array = scrambled
                .iter()
                .map(|&v| (v % 17 != 0).then_some((v % 1000) as i64))
                .collect();
            let x: Float64Array = scrambled
                .iter()
                .map(|&v| match v % 7 {
                    0 => Some(f64::NAN),
                    1 => None,
                    2 => Some(-0.0),
                    _ => Some(v as f64 / 3.0),
                })
                .collect();
            let s: StringArray = scrambled
                .iter()
                .map(|&v| (v % 5 != 0).then(|| format!("s{}", v % 311)))
                .collect();
            let columns: Vec<ArrayRef> = vec![Arc::new(k), Arc::new(x), Arc::new(s)];
            RecordBatch::try_new(arrow.clone(), columns).unwrap()
        })
        .collect();
    Stream::new(Arc::new(schema), batches).unwrap()
}

fn entries(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// The bytes of the files of `stream` written with `limit`, and the runs spilled.
fn written(stream: &Stream, format: Format, limit: usize) -> (Vec<Vec<u8>>, usize) {
    let dir = tempfile::tempdir().unwrap();
    let mut writer =
        OutputWriter::new(dir.path(), "big", stream.schema().clone(), format, limit).unwrap();
    for batch in stream.batches() {
        writer.push(batch).unwrap();
    }
    let runs = writer.spilled_runs();
    let paths = writer.finish().unwrap();
    let want: BTreeSet<String> = format.files("big").into_iter().map(|f| f.0).collect();
    assert_eq!(entries(dir.path()), want);
    (
        paths.iter().map(|p| std::fs::read(p).unwrap()).collect(),
        runs,
    )
}

#[test]
fn spilled_outputs_of_several_chunks_are_byte_identical() {
    let rows = 2 * CHUNK_ROWS + 5_000;
    let stream = stream(rows, 1_000);
    let batches = stream.batches().len();
    for format in [Format::Arrow, Format::Parquet, Format::Csv, Format::Json] {
        let (in_memory, runs) = written(&stream, format, usize::MAX);
        assert_eq!(runs, 0);
        // One run per batch: more runs than are merged at once.
        let (every_batch, runs) = written(&stream, format, 1);
        assert_eq!(runs, batches);
        assert!(in_memory == every_batch, "{format}: spilling every batch");
        let (some, runs) = written(&stream, format, 200 * 1024);
        assert!(runs > 1 && runs < batches, "{runs} runs");
        assert!(in_memory == some, "{format}: spilling every few batches");
        let dir = tempfile::tempdir().unwrap();
        let paths = write_output(dir.path(), "big", &stream, format).unwrap();
        let by_write_output: Vec<Vec<u8>> =
            paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
        assert!(in_memory == by_write_output, "{format}: write_output");
    }
    let sorted = SortedStream::new(&stream).unwrap();
    let (arrow, _) = written(&stream, Format::Arrow, 1);
    assert!(arrow[0] == sorted.to_arrow_ipc().unwrap());
    let reader = FileReader::try_new(std::io::Cursor::new(&arrow[0]), None).unwrap();
    let sizes: Vec<usize> = reader.map(|b| b.unwrap().num_rows()).collect();
    assert_eq!(sizes, [CHUNK_ROWS, CHUNK_ROWS, 5_000]);

    let dir = tempfile::tempdir().unwrap();
    let paths = write_output(dir.path(), "big", &stream, Format::Parquet).unwrap();
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(&paths[0]).unwrap()).unwrap();
    let groups: Vec<i64> = builder
        .metadata()
        .row_groups()
        .iter()
        .map(|g| g.num_rows())
        .collect();
    assert_eq!(groups, [CHUNK_ROWS as i64, CHUNK_ROWS as i64, 5_000]);
    let back = read_parquet(&paths[0]).unwrap();
    let via_arrow =
        read_arrow(&write_output(dir.path(), "big", &stream, Format::Arrow).unwrap()[0]).unwrap();
    assert_eq!(back.schema(), via_arrow.schema());
    let concat = |s: &Stream| concat_batches(s.schema().arrow(), s.batches()).unwrap();
    // No NaN in these columns compares equal to itself; compare their text.
    assert_eq!(
        format!("{:?}", concat(&back)),
        format!("{:?}", concat(&via_arrow))
    );
}

/// `stream`'s rows in the canonical order, in batches of `batch_rows`.
fn sorted_rows(stream: &Stream, batch_rows: usize) -> Vec<RecordBatch> {
    let sorted = SortedStream::new(stream).unwrap();
    let all = sorted.batch();
    (0..all.num_rows())
        .step_by(batch_rows)
        .map(|start| all.slice(start, batch_rows.min(all.num_rows() - start)))
        .collect()
}

/// Rows that come in order are written as they come (no sort); a row out of order
/// later on turns what was written into a run merged with the rest. The files are the
/// bytes of the in-memory sort either way, and nothing temporary is left (`written`
/// checks). The first column has about 200 rows per value, so batches begin and end
/// inside ties, which the order check settles with every column.
#[test]
fn rows_in_order_are_written_as_they_come_and_disorder_later_is_merged() {
    let stream = stream(2 * CHUNK_ROWS + 3_000, 4_000);
    let in_order = sorted_rows(&stream, 4_000);
    let schema = stream.schema().clone();
    for format in [Format::Arrow, Format::Parquet, Format::Csv, Format::Json] {
        let (want, _) = written(&stream, format, usize::MAX);
        // All in order, in memory or written as they come (limit 1).
        for limit in [usize::MAX, 1] {
            let ordered = Stream::new(schema.clone(), in_order.clone()).unwrap();
            let (got, runs) = written(&ordered, format, limit);
            assert!(got == want, "{format}, limit {limit}: rows in order");
            // With limit 1, one run (appended to batch by batch); unlimited, at most
            // that one (the slices count their whole batch's memory).
            assert!(
                runs == 1 || (limit > 1 && runs == 0),
                "{format}: {runs} runs"
            );
        }
        // Half in order (written as they come), then the rest scrambled: merged.
        let first = &in_order[..in_order.len() / 2];
        let scrambled = Stream::new(schema.clone(), stream.batches().to_vec()).unwrap();
        let mut batches = first.to_vec();
        batches.extend(scrambled.batches().iter().cloned());
        let twice = Stream::new(schema.clone(), batches).unwrap();
        let (want_twice, _) = written(&twice, format, usize::MAX);
        for limit in [1, 200 * 1024] {
            let (got, runs) = written(&twice, format, limit);
            assert!(runs > 1, "{format}: runs {runs}");
            assert!(
                got == want_twice,
                "{format}, limit {limit}: order broken midway"
            );
        }
    }
}

/// [`sorted_rows`], each batch in its own memory (a slice counts its whole batch's, and
/// the reorder window is measured in memory).
fn sorted_rows_apart(stream: &Stream, batch_rows: usize) -> Vec<RecordBatch> {
    let own = |b: &RecordBatch| {
        let all = UInt32Array::from_iter_values(0..b.num_rows() as u32);
        take_record_batch(b, &all).unwrap()
    };
    sorted_rows(stream, batch_rows).iter().map(own).collect()
}

/// Rows nearly in order (each pair of batches swapped, as a function node's results
/// come out of order by a little) are written as they come, through the reorder window:
/// the files begun are the only run, nothing is merged, and the bytes are those of the
/// in-memory sort.
#[test]
fn rows_nearly_in_order_are_written_as_they_come() {
    let stream = stream(2 * CHUNK_ROWS + 3_000, 4_000);
    let schema = stream.schema().clone();
    let in_order = sorted_rows_apart(&stream, 2_000);
    let mut nearly = Vec::new();
    for pair in in_order.chunks(2) {
        nearly.extend(pair.iter().rev().cloned());
    }
    let nearly = Stream::new(schema.clone(), nearly).unwrap();
    assert_written_as_they_come(&stream, &nearly, 1 << 20);
}

/// `reordered` (the rows of `stream` in another order), written with `memory` bytes,
/// gives the output of `stream` from one run: nothing merged, in Arrow and CSV alike.
fn assert_written_as_they_come(stream: &Stream, reordered: &Stream, memory: usize) {
    for format in [Format::Arrow, Format::Csv] {
        let (want, _) = written(stream, format, usize::MAX);
        let (got, runs) = written(reordered, format, memory);
        assert_eq!(runs, 1, "{format}: written as they came, nothing merged");
        assert!(got == want, "{format}");
    }
}

/// Rows that come out of sequence only now and then (one batch in sixteen late by two,
/// long stretches in order between) are written as they come too: once
/// a row came late, the writer keeps half its window buffered even while the rows are
/// in order, so that the next late batch still finds rows buffered after it rather
/// than written, and the order never breaks.
#[test]
fn rows_late_now_and_then_are_written_as_they_come() {
    let stream = stream(2 * CHUNK_ROWS + 3_000, 4_000);
    let schema = stream.schema().clone();
    let in_order = sorted_rows_apart(&stream, 1_000);
    // Batch `i` of every sixteen comes after the two following it.
    let mut late = in_order.clone();
    for i in (0..late.len() - 2).step_by(16) {
        late[i..=i + 2].rotate_left(1);
    }
    let late = Stream::new(schema.clone(), late).unwrap();
    // About five batches' memory: half of it holds the two batches a late one follows.
    assert_written_as_they_come(&stream, &late, 128 << 10);
}

/// Rows in order are written once: an Arrow output writes its file and nothing beside
/// it (its file becomes the run if order breaks later); the other formats also keep a
/// run beside their files, in a spill directory, since their files cannot be read back.
#[test]
fn an_arrow_output_in_order_is_written_once() {
    let stream = stream(2 * CHUNK_ROWS + 3_000, 4_000);
    let in_order = sorted_rows(&stream, 4_000);
    for format in [Format::Arrow, Format::Csv] {
        let dir = tempfile::tempdir().unwrap();
        let mut writer =
            OutputWriter::new(dir.path(), "big", stream.schema().clone(), format, 1).unwrap();
        for batch in &in_order {
            writer.push(batch).unwrap();
        }
        let spill_dirs = entries(dir.path())
            .into_iter()
            .filter(|e| e.starts_with(".big.sort-"))
            .count();
        assert_eq!(spill_dirs, usize::from(format != Format::Arrow), "{format}");
        writer.finish().unwrap();
    }
}

#[test]
fn a_failed_or_dropped_writer_leaves_nothing_behind() {
    let stream = stream(3_000, 500);
    let dir = tempfile::tempdir().unwrap();
    // The final name is taken by a directory: the rename fails.
    std::fs::create_dir(dir.path().join("big.all_info.csv")).unwrap();
    let mut writer =
        OutputWriter::new(dir.path(), "big", stream.schema().clone(), Format::Csv, 1).unwrap();
    for batch in stream.batches() {
        writer.push(batch).unwrap();
    }
    assert_eq!(writer.spilled_runs(), 6);
    assert!(entries(dir.path())
        .iter()
        .any(|e| e.starts_with(".big.sort-")));
    assert!(writer.finish().is_err());
    let left = entries(dir.path());
    assert!(
        left.iter()
            .all(|e| e == "big.all_info.csv" || e == "big.csv"),
        "{left:?}"
    );

    let other = tempfile::tempdir().unwrap();
    let mut writer = OutputWriter::new(
        other.path(),
        "big",
        stream.schema().clone(),
        Format::Json,
        1,
    )
    .unwrap();
    writer.push(&stream.batches()[0]).unwrap();
    assert!(
        !entries(other.path()).is_empty(),
        "the spill directory, or the files begun"
    );
    drop(writer);
    assert!(entries(other.path()).is_empty());
}

#[test]
fn names_are_checked_and_the_directory_made() {
    let stream = stream(10, 10);
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a/b");
    assert!(OutputWriter::new(&nested, "../x", stream.schema().clone(), Format::Csv, 1).is_err());
    let writer = OutputWriter::new(&nested, "x", stream.schema().clone(), Format::Csv, 1).unwrap();
    assert!(nested.is_dir());
    assert_eq!(writer.rows(), 0);
    let paths = writer.finish().unwrap();
    assert_eq!(std::fs::read_to_string(&paths[0]).unwrap(), "k,x,s\n");
}

#[test]
fn the_preview_prints_what_the_full_sort_printed() {
    let stream = stream(20_000, 700);
    let mut preview = Preview::new(stream.schema().clone(), 20).unwrap();
    for batch in stream.batches() {
        preview.push(batch).unwrap();
    }
    assert_eq!(preview.total_rows(), 20_000);
    // As `orcapod run` printed an output before: the whole output sorted, then cut.
    let sorted = SortedStream::new(&stream).unwrap();
    let columns = sorted.column_indices(Columns::TagsAndPackets);
    let head = sorted.batch().project(&columns).unwrap().slice(0, 20);
    let want = arrow::util::pretty::pretty_format_batches(&[head])
        .unwrap()
        .to_string();
    assert_eq!(preview.render(Columns::TagsAndPackets).unwrap(), want);
    assert_eq!(want.lines().count(), 20 + 4);
}
