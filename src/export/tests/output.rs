//! [`OutputWriter`] on random streams: the same bytes whether or not it spills, the old
//! writers' bytes, and nothing left behind.

use arrow::ipc::writer::FileWriter;
use proptest::prelude::*;

use super::data::{batches, oracle_positions, stream};
use super::oracle::{self, oracle_rows};
use crate::export::arrow_ipc::arrow_file_schema;
use crate::export::canonical::Canonical;
use crate::export::{read_arrow, read_parquet, Columns, Format, OutputWriter};
use crate::model::{Datum, Stream};

/// The files `OutputWriter` writes of `stream` with `limit`, each as bytes, and the
/// number of runs it spilled.
fn written(stream: &Stream, format: Format, limit: usize) -> (Vec<Vec<u8>>, usize) {
    let dir = tempfile::tempdir().unwrap();
    let schema = stream.schema().clone();
    let mut writer = OutputWriter::new(dir.path(), "out", schema, format, limit).unwrap();
    let pushed = stream.batches().iter().try_for_each(|b| writer.push(b));
    pushed.unwrap();
    assert_eq!(writer.rows(), stream.num_rows() as u64);
    let runs = writer.spilled_runs();
    let paths = writer.finish().unwrap();
    let left = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(left, paths.len(), "only the output's files are left");
    (
        paths.iter().map(|p| std::fs::read(p).unwrap()).collect(),
        runs,
    )
}

/// The Arrow file as the export wrote it before: one canonical batch of every row.
fn old_arrow(stream: &Stream) -> Vec<u8> {
    let schema = arrow_file_schema(stream.schema());
    let positions = oracle_positions(stream.batches()).unwrap();
    let batch = Canonical::new(&schema)
        .gather(stream.batches(), &positions)
        .unwrap();
    let mut writer = FileWriter::try_new(Vec::new(), &schema).unwrap();
    writer.write(&batch).unwrap();
    writer.finish().unwrap();
    writer.into_inner().unwrap()
}

/// The rows of an exported file (its bytes, named `name`) read back, as text (in which
/// NaN equals NaN and the signs of zeros show), with the schema.
fn read_back(bytes: &[u8], name: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    let stream = if name.ends_with(".parquet") {
        read_parquet(&path).unwrap()
    } else {
        read_arrow(&path).unwrap()
    };
    let rows: Vec<Vec<String>> = stream
        .batches()
        .iter()
        .flat_map(|b| {
            (0..b.num_rows()).map(move |r| {
                b.columns()
                    .iter()
                    .map(|c| format!("{:?}", Datum::from_array(c.as_ref(), r).unwrap()))
                    .collect()
            })
        })
        .collect();
    format!("{:?}\n{rows:?}", stream.schema())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(60))]

    #[test]
    fn files_are_the_same_whether_or_not_rows_spill((types, rows) in batches(5)) {
        let stream = stream(&types, &rows);
        let old_rows = oracle_rows(&stream);
        for format in [Format::Csv, Format::Json, Format::Arrow, Format::Parquet] {
            let (in_memory, runs) = written(&stream, format, usize::MAX);
            prop_assert_eq!(runs, 0);
            // Every batch spills (as its own run, or appended to the run of rows that
            // came in order).
            let (spilled, runs) = written(&stream, format, 1);
            prop_assert_eq!(runs > 0, stream.batches().iter().any(|b| b.num_rows() > 0));
            prop_assert_eq!(&in_memory, &spilled);
            let want: Vec<Vec<u8>> = match format {
                Format::Csv => [Columns::TagsAndPackets, Columns::AllInfo]
                    .map(|c| oracle::csv(stream.schema(), &old_rows, c))
                    .to_vec(),
                Format::Json => [Columns::TagsAndPackets, Columns::AllInfo]
                    .map(|c| oracle::json(stream.schema(), &old_rows, c))
                    .to_vec(),
                Format::Arrow => vec![old_arrow(&stream)],
                Format::Parquet => {
                    // No old bytes: the rows read back are the Arrow file's.
                    prop_assert_eq!(read_back(&in_memory[0], "p.parquet"), read_back(&old_arrow(&stream), "a.arrow"));
                    continue;
                }
            };
            prop_assert_eq!(in_memory, want);
        }
    }
}
