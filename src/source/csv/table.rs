//! A batch of a CSV file's rows as parsed: every column as text, by position
//! ([`Table`]), where each of its rows starts ([`Lines`], as an editor numbers lines),
//! and how the reference's reader reads a text value (its null markers and booleans).
//! Decides no column's type.

use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use arrow::array::LargeStringArray;

/// Values the reference's reader (pyarrow's defaults) reads as null in non-string columns.
const NULL_MARKERS: &[&str] = &[
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "N/A", "NA", "NULL", "NaN", "n/a", "nan", "null",
];

/// A value the reference's reader reads as a boolean.
pub(super) fn boolean(v: &str) -> Option<bool> {
    match v {
        "1" | "True" | "TRUE" | "true" => Some(true),
        "0" | "False" | "FALSE" | "false" => Some(false),
        _ => None,
    }
}

pub(super) fn is_null(v: &str) -> bool {
    NULL_MARKERS.contains(&v)
}

pub(super) fn error_line(path: &Path, e: &csv::Error) -> u64 {
    e.position()
        .map_or(1, |p| record_line(path, p.line(), p.byte()))
}

/// The line where a record starts, as an editor numbers it. The CSV reader gives the line
/// and byte where it began looking for the record: before the line ends it then skipped
/// (blank lines, and the `\n` of a `\r\n` ending). Those are counted here, from the file.
/// A pipe or another special file cannot be read again: its reader's line is kept.
pub(super) fn record_line(path: &Path, line: u64, byte: u64) -> u64 {
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return line;
    }
    let Ok(mut file) = std::fs::File::open(path) else {
        return line;
    };
    if file.seek(SeekFrom::Start(byte)).is_err() {
        return line;
    }
    let mut line = line;
    for b in BufReader::new(file).bytes() {
        match b {
            Ok(b'\n') => line += 1,
            Ok(b'\r') => {}
            _ => break,
        }
    }
    line
}

/// Digits with an optional sign: how an integer is written.
pub(super) fn integer_text(v: &str) -> bool {
    let digits = v.strip_prefix(['+', '-']).unwrap_or(v);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Where each data row starts: the CSV reader's line, kept as the runs of rows whose
/// line is the row's index plus a constant, and its byte offset, to find the exact line
/// of the few rows a message names ([`record_line`]).
#[derive(Debug)]
pub(super) struct Lines {
    path: PathBuf,
    /// (first row of the run, the reader's line minus the row index), by row.
    runs: Vec<(usize, u64)>,
    /// The reader's byte offset of each row.
    bytes: Vec<u64>,
}

impl Lines {
    pub(super) fn new(path: &Path) -> Lines {
        Lines {
            path: path.to_path_buf(),
            runs: Vec::new(),
            bytes: Vec::new(),
        }
    }

    pub(super) fn push(&mut self, row: usize, line: u64, byte: u64) {
        let offset = line.saturating_sub(row as u64);
        if self.runs.last().map(|r| r.1) != Some(offset) {
            self.runs.push((row, offset));
        }
        self.bytes.push(byte);
    }

    /// The 1-based line where data row `row` starts, as an editor numbers it.
    pub(super) fn line(&self, row: usize) -> u64 {
        let run = self.runs.partition_point(|r| r.0 <= row);
        let line = self
            .runs
            .get(run.wrapping_sub(1))
            .map_or(row as u64 + 2, |r| r.1 + row as u64);
        match self.bytes.get(row) {
            Some(&byte) => record_line(&self.path, line, byte),
            None => line,
        }
    }
}

/// A batch of parsed rows: every column as text, by position; row `i` of the batch
/// starts where `lines` says.
pub(super) struct Table<'a> {
    pub(super) path: &'a Path,
    pub(super) names: &'a [String],
    pub(super) texts: &'a [LargeStringArray],
    pub(super) lines: &'a Lines,
}
