//! Reading a CSV file into one record batch, with the reference reader's type inference
//! and errors that name the file, the column and the line.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, LargeStringArray, RecordBatch,
};
use arrow::datatypes::{DataType, Field, Schema};

use crate::error::{Error, Result};

/// Values the reference's reader (pyarrow's defaults) reads as null in non-string columns.
const NULL_MARKERS: &[&str] = &[
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "N/A", "NA", "NULL", "NaN", "n/a", "nan", "null",
];
const TRUE_VALUES: &[&str] = &["1", "True", "TRUE", "true"];
const FALSE_VALUES: &[&str] = &["0", "False", "FALSE", "false"];

/// Reads `path`: a header row, then data rows with as many fields as the header.
pub(super) fn read_csv(path: &Path) -> Result<RecordBatch> {
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
        .map_err(|e| csv_error(error_line(&e), format!("cannot read the header row: {e}")))?
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

    let mut cells: Vec<Vec<String>> = vec![Vec::new(); names.len()];
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(error_line(&e), e.to_string()))?;
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != names.len() {
            return Err(csv_error(
                line,
                format!(
                    "expected {} fields ({}), found {}",
                    names.len(),
                    names.join(", "),
                    record.len()
                ),
            ));
        }
        for (column, value) in cells.iter_mut().zip(record.iter()) {
            column.push(value.to_string());
        }
    }

    let mut fields = Vec::with_capacity(names.len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(names.len());
    for (name, values) in names.iter().zip(&cells) {
        let (field, array) = infer_column(name, values);
        fields.push(field);
        columns.push(array);
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

fn error_line(e: &csv::Error) -> u64 {
    e.position().map_or(1, |p| p.line())
}

fn is_null(v: &str) -> bool {
    NULL_MARKERS.contains(&v)
}

/// Infers a column's type: int64, then bool, then float64 (null markers allowed in
/// each), else string (where every value, empty included, is kept as text).
fn infer_column(name: &str, values: &[String]) -> (Field, ArrayRef) {
    let present = || values.iter().filter(|v| !is_null(v));
    let nullable = values.iter().any(|v| is_null(v));
    let any_present = present().next().is_some();
    if any_present && present().all(|v| v.parse::<i64>().is_ok()) {
        let array: Int64Array = values
            .iter()
            .map(|v| if is_null(v) { None } else { v.parse().ok() })
            .collect();
        return (Field::new(name, DataType::Int64, nullable), Arc::new(array));
    }
    if any_present
        && present()
            .all(|v| TRUE_VALUES.contains(&v.as_str()) || FALSE_VALUES.contains(&v.as_str()))
    {
        let array: BooleanArray = values
            .iter()
            .map(|v| (!is_null(v)).then(|| TRUE_VALUES.contains(&v.as_str())))
            .collect();
        return (
            Field::new(name, DataType::Boolean, nullable),
            Arc::new(array),
        );
    }
    if any_present && present().all(|v| v.parse::<f64>().is_ok()) {
        let array: Float64Array = values
            .iter()
            .map(|v| if is_null(v) { None } else { v.parse().ok() })
            .collect();
        return (
            Field::new(name, DataType::Float64, nullable),
            Arc::new(array),
        );
    }
    let array: LargeStringArray = values.iter().map(|v| Some(v.as_str())).collect();
    (
        Field::new(name, DataType::LargeUtf8, false),
        Arc::new(array),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(values: &[&str]) -> Field {
        let values: Vec<String> = values.iter().map(|s| s.to_string()).collect();
        infer_column("c", &values).0
    }

    #[test]
    fn inference_follows_the_reference_reader() {
        assert_eq!(column(&["1", "2"]), Field::new("c", DataType::Int64, false));
        assert_eq!(column(&["1", ""]), Field::new("c", DataType::Int64, true));
        assert_eq!(
            column(&["true", "False"]),
            Field::new("c", DataType::Boolean, false)
        );
        assert_eq!(
            column(&["1.5", "2"]),
            Field::new("c", DataType::Float64, false)
        );
        assert_eq!(
            column(&["a", ""]),
            Field::new("c", DataType::LargeUtf8, false)
        );
        assert_eq!(column(&[]), Field::new("c", DataType::LargeUtf8, false));
    }
}
