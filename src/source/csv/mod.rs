//! Reading a CSV file into one record batch. Columns declared in `types` are read as
//! declared, exactly (`declared`); the others are inferred as the reference's reader
//! does, and every place where that inference loses information becomes a
//! [`SourceWarning`] (`infer`). Errors name the file, the line (1-based, as an editor
//! shows it) and the column.
//!
//! The file is parsed once into one Arrow string array per column (`table`); types are
//! then decided and checked column by column over those arrays.

mod declared;
mod infer;
mod table;

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, LargeStringArray, LargeStringBuilder, RecordBatch};
use arrow::datatypes::{Field, Schema};

use self::declared::check_declarable;
use self::table::{error_line, record_line, Lines, Table};
use super::types::large_type;
use super::warning::SourceWarning;
use crate::error::{Error, Result};

/// Reads `path`: a header row, then data rows with as many fields as the header. Columns
/// in `declared` are read with that type (see [`check_declarable`]); the others are
/// inferred. Returns the table and what inference lost.
pub(super) fn read_csv(
    path: &Path,
    declared: &[Field],
) -> Result<(RecordBatch, Vec<SourceWarning>)> {
    check_declarable(path, declared)?;
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let csv_error = |line: u64, message: String| Error::Csv {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(file);
    let headers = reader
        .headers()
        .map_err(|e| {
            csv_error(
                error_line(path, &e),
                format!("cannot read the header row: {e}"),
            )
        })?
        .clone();
    if headers.is_empty() || (headers.len() == 1 && headers[0].is_empty()) {
        return Err(csv_error(
            1,
            "the file is empty; a header row is required".into(),
        ));
    }
    let names: Vec<String> = headers.iter().map(str::to_string).collect();
    for (i, name) in names.iter().enumerate() {
        if name.is_empty() {
            return Err(csv_error(1, format!("column {} has an empty name", i + 1)));
        }
        if names[..i].contains(name) {
            return Err(csv_error(
                1,
                format!("column `{name}` appears twice in the header"),
            ));
        }
    }
    for field in declared {
        if !names.contains(field.name()) {
            return Err(csv_error(
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

    let mut builders: Vec<LargeStringBuilder> =
        names.iter().map(|_| LargeStringBuilder::new()).collect();
    let mut lines = Lines::new(path);
    let mut record = csv::StringRecord::new();
    let mut row = 0usize;
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_error(error_line(path, &e), e.to_string())),
        }
        let (line, byte) = record.position().map_or((0, 0), |p| (p.line(), p.byte()));
        if record.len() != names.len() {
            return Err(csv_error(
                record_line(path, line, byte),
                format!(
                    "expected {} fields ({}), found {}",
                    names.len(),
                    names.join(", "),
                    record.len()
                ),
            ));
        }
        lines.push(row, line, byte);
        for (builder, value) in builders.iter_mut().zip(record.iter()) {
            builder.append_value(value);
        }
        row += 1;
    }

    let texts: Vec<LargeStringArray> = builders.iter_mut().map(|b| b.finish()).collect();
    let table = Table {
        path,
        names: &names,
        texts: &texts,
        lines: &lines,
    };
    let mut fields = Vec::with_capacity(names.len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(names.len());
    let mut warnings = Vec::new();
    for (index, name) in names.iter().enumerate() {
        let (field, array) = match declared.iter().find(|f| f.name() == name) {
            Some(declared) => {
                let field = declared
                    .clone()
                    .with_data_type(large_type(declared.data_type()));
                let array = table.read_declared(index, &field)?;
                (field, array)
            }
            None => table.infer(index, &mut warnings),
        };
        fields.push(field);
        columns.push(array);
    }
    Ok((
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?,
        warnings,
    ))
}

#[cfg(test)]
mod tests;
