//! Reading a CSV file in batches. Loading a source ([`open_csv`]) reads the header and,
//! unless every column's type is declared, makes one pass over the file to infer the
//! other columns' types as the reference's reader does (`infer`: per-column counts and
//! first examples, never the values), noting every place where that inference loses
//! information as a [`SourceWarning`] and checking the declared columns on the way.
//! Reading the rows ([`CsvFile::batches`]) then parses a batch of rows into Arrow
//! string arrays (`table`) and converts each column to its decided type (`declared`),
//! exactly as declared or as inferred. Errors name the file, the line (1-based, as an
//! editor shows it) and the column.
//!
//! When every type is declared, the reader opened to read the header is kept and the
//! rows are read from it: the file is read once (a pipe can be a source).

mod declared;
mod infer;
mod table;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow::array::{ArrayRef, LargeStringArray, LargeStringBuilder, RecordBatch};
use arrow::datatypes::{Field, Schema};

use self::declared::check_declarable;
use self::infer::{Example, Scan};
use self::table::{error_line, record_line, Lines, Table};
use super::raw::{open_file, RawBatches};
use super::types::large_type;
use super::warning::SourceWarning;
use crate::error::{Error, Result};

/// Rows parsed at a time by the inference pass.
const SCAN_ROWS: usize = 8192;

/// A CSV file's columns and their decided types, as loaded.
#[derive(Debug)]
pub(super) struct CsvFile {
    names: Vec<String>,
    /// Each column's type (large variants), in file order.
    fields: Vec<Field>,
    /// Whether each column's type was declared (else inferred).
    declared: Vec<bool>,
    schema: Arc<Schema>,
    /// The reader that read the header, when no pass over the rows was needed: the
    /// first read of the rows continues from it.
    pending: Mutex<Option<csv::Reader<File>>>,
}

fn csv_error(path: &Path, line: u64, message: String) -> Error {
    Error::Csv {
        path: path.to_path_buf(),
        line,
        message,
    }
}

/// Opens `path` and reads its header row: the column names, checked.
fn open_reader(path: &Path) -> Result<(csv::Reader<File>, Vec<String>)> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(open_file(path)?);
    let headers = reader
        .headers()
        .map_err(|e| {
            csv_error(
                path,
                error_line(path, &e),
                format!("cannot read the header row: {e}"),
            )
        })?
        .clone();
    if headers.is_empty() || (headers.len() == 1 && headers[0].is_empty()) {
        return Err(csv_error(
            path,
            1,
            "the file is empty; a header row is required".into(),
        ));
    }
    let names: Vec<String> = headers.iter().map(str::to_string).collect();
    for (i, name) in names.iter().enumerate() {
        if name.is_empty() {
            return Err(csv_error(
                path,
                1,
                format!("column {} has an empty name", i + 1),
            ));
        }
        if names[..i].contains(name) {
            return Err(csv_error(
                path,
                1,
                format!("column `{name}` appears twice in the header"),
            ));
        }
    }
    Ok((reader, names))
}

/// Loads `path`: a header row, then data rows with as many fields as the header.
/// Columns in `declared` are read with that type (see [`check_declarable`]); the others
/// are inferred, in one pass over the file. Returns the file and what inference lost.
pub(super) fn open_csv(path: &Path, declared: &[Field]) -> Result<(CsvFile, Vec<SourceWarning>)> {
    check_declarable(path, declared)?;
    let (mut reader, names) = open_reader(path)?;
    for field in declared {
        if !names.contains(field.name()) {
            return Err(csv_error(
                path,
                1,
                format!(
                    "`types` declares column `{}`, which the file does not have; its columns \
                     are: {}",
                    field.name(),
                    names
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    let declared: Vec<Option<Field>> = names
        .iter()
        .map(|name| {
            declared
                .iter()
                .find(|f| f.name() == name)
                .map(|f| f.clone().with_data_type(large_type(f.data_type())))
        })
        .collect();
    let mut warnings = Vec::new();
    let (fields, pending) = if declared.iter().all(Option::is_some) {
        (declared.iter().flatten().cloned().collect(), Some(reader))
    } else {
        let mut scans: Vec<Scan> = names.iter().map(|_| Scan::default()).collect();
        let mut record = csv::StringRecord::new();
        if declared.iter().all(Option::is_none) {
            scan_records(&mut reader, &mut record, path, &names, &mut scans)?;
        } else {
            // Declared columns are read as their type on the way, to fail on a value
            // that is not one, as reading the rows would.
            while let Some((texts, lines)) =
                read_texts(&mut reader, &mut record, path, &names, SCAN_ROWS)?
            {
                let table = Table {
                    path,
                    names: &names,
                    texts: &texts,
                    lines: &lines,
                };
                for (index, field) in declared.iter().enumerate() {
                    match field {
                        Some(field) => drop(table.read_column(index, field, true)?),
                        None => scans[index].update(&table, index),
                    }
                }
            }
        }
        let mut fields = Vec::with_capacity(names.len());
        for ((name, field), scan) in names.iter().zip(&declared).zip(scans) {
            fields.push(match field {
                Some(field) => field.clone(),
                None => scan.decide(path, name, &mut warnings),
            });
        }
        (fields, None)
    };
    let file = CsvFile {
        schema: Arc::new(Schema::new(fields.clone())),
        declared: declared.iter().map(Option::is_some).collect(),
        names,
        fields,
        pending: Mutex::new(pending),
    };
    Ok((file, warnings))
}

impl CsvFile {
    /// The table's schema: every column with its decided type.
    pub(super) fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    /// The file's rows, from the first: from the reader kept at loading if it is still
    /// there, else from the file opened again (its header must not have changed).
    pub(super) fn batches(&self, path: &Path) -> Result<CsvBatches> {
        let pending = self
            .pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        let reader = match pending {
            Some(reader) => reader,
            None => {
                let (reader, names) = open_reader(path)?;
                if names != self.names {
                    return Err(csv_error(
                        path,
                        1,
                        format!(
                            "the header changed since the source was loaded (columns {}, \
                             now {}); load the pipeline again",
                            self.names.join(", "),
                            names.join(", ")
                        ),
                    ));
                }
                reader
            }
        };
        Ok(CsvBatches {
            path: path.to_path_buf(),
            reader,
            record: csv::StringRecord::new(),
            names: self.names.clone(),
            fields: self.fields.clone(),
            declared: self.declared.clone(),
            schema: self.schema.clone(),
        })
    }
}

/// The rows of a CSV file, read a batch at a time, each column converted to its type.
pub(super) struct CsvBatches {
    path: PathBuf,
    reader: csv::Reader<File>,
    record: csv::StringRecord,
    names: Vec<String>,
    fields: Vec<Field>,
    declared: Vec<bool>,
    schema: Arc<Schema>,
}

impl RawBatches for CsvBatches {
    fn next_raw(&mut self, max_rows: usize) -> Result<Option<RecordBatch>> {
        let Some((texts, lines)) = read_texts(
            &mut self.reader,
            &mut self.record,
            &self.path,
            &self.names,
            max_rows,
        )?
        else {
            return Ok(None);
        };
        let table = Table {
            path: &self.path,
            names: &self.names,
            texts: &texts,
            lines: &lines,
        };
        let columns = self
            .fields
            .iter()
            .zip(&self.declared)
            .enumerate()
            .map(|(index, (field, &declared))| table.read_column(index, field, declared))
            .collect::<Result<Vec<ArrayRef>>>()?;
        Ok(Some(RecordBatch::try_new(self.schema.clone(), columns)?))
    }
}

/// Counts every value of the rest of `reader` into `scans` (one per column), record by
/// record: the inference pass of a file with no declared column, which needs no arrays.
fn scan_records(
    reader: &mut csv::Reader<File>,
    record: &mut csv::StringRecord,
    path: &Path,
    names: &[String],
    scans: &mut [Scan],
) -> Result<()> {
    loop {
        match reader.read_record(record) {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(e) => return Err(csv_error(path, error_line(path, &e), e.to_string())),
        }
        let (line, byte) = record.position().map_or((0, 0), |p| (p.line(), p.byte()));
        check_width(record, path, names, line, byte)?;
        let record = &*record;
        for (index, (scan, value)) in scans.iter_mut().zip(record.iter()).enumerate() {
            scan.add(value, || {
                Example::in_record(record, index, record_line(path, line, byte), names)
            });
        }
    }
}

/// Fails unless `record` (read at reader `line` and `byte`) has a field per column.
fn check_width(
    record: &csv::StringRecord,
    path: &Path,
    names: &[String],
    line: u64,
    byte: u64,
) -> Result<()> {
    if record.len() == names.len() {
        return Ok(());
    }
    Err(csv_error(
        path,
        record_line(path, line, byte),
        format!(
            "expected {} fields ({}), found {}",
            names.len(),
            names.join(", "),
            record.len()
        ),
    ))
}

/// Parses up to `max_rows` more rows of `reader` into one string array per column, with
/// where each row starts; `None` at the end of the file.
fn read_texts(
    reader: &mut csv::Reader<File>,
    record: &mut csv::StringRecord,
    path: &Path,
    names: &[String],
    max_rows: usize,
) -> Result<Option<(Vec<LargeStringArray>, Lines)>> {
    let mut builders: Vec<LargeStringBuilder> =
        names.iter().map(|_| LargeStringBuilder::new()).collect();
    let mut lines = Lines::new(path);
    let mut row = 0usize;
    while row < max_rows {
        match reader.read_record(record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_error(path, error_line(path, &e), e.to_string())),
        }
        let (line, byte) = record.position().map_or((0, 0), |p| (p.line(), p.byte()));
        check_width(record, path, names, line, byte)?;
        lines.push(row, line, byte);
        for (builder, value) in builders.iter_mut().zip(record.iter()) {
            builder.append_value(value);
        }
        row += 1;
    }
    if row == 0 {
        return Ok(None);
    }
    Ok(Some((
        builders.iter_mut().map(|b| b.finish()).collect(),
        lines,
    )))
}

#[cfg(test)]
mod tests;
