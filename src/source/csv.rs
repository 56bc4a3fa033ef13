//! Reading a CSV file into one record batch. Columns declared in `types` are read as
//! declared, exactly; the others are inferred as the reference's reader does, and every
//! place where that inference loses information becomes a [`SourceWarning`]. Errors name
//! the file, the line (1-based, as an editor shows it) and the column.
//!
//! The file is parsed once into one Arrow string array per column; types are then
//! decided and checked column by column over those arrays.

use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, LargeStringArray, LargeStringBuilder,
    RecordBatch,
};
use arrow::datatypes::{DataType, Field, Schema};

use super::{SourceWarning, WarningKind};
use crate::error::{Error, Result};
use crate::hashing::python_type::python_type_name;
use crate::hashing::semantic::python_float_repr;

/// Values the reference's reader (pyarrow's defaults) reads as null in non-string columns.
const NULL_MARKERS: &[&str] = &[
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "N/A", "NA", "NULL", "NaN", "n/a", "nan", "null",
];

/// A value the reference's reader reads as a boolean.
fn boolean(v: &str) -> Option<bool> {
    match v {
        "1" | "True" | "TRUE" | "true" => Some(true),
        "0" | "False" | "FALSE" | "false" => Some(false),
        _ => None,
    }
}

fn is_null(v: &str) -> bool {
    NULL_MARKERS.contains(&v)
}

/// The types a CSV column may be declared with: text can be read as these only.
pub(super) fn check_declarable(path: &Path, declared: &[Field]) -> Result<()> {
    for (i, field) in declared.iter().enumerate() {
        if declared[..i].iter().any(|f| f.name() == field.name()) {
            return Err(Error::invalid(
                path.display().to_string(),
                format!("`types` declares column `{}` twice", field.name()),
            ));
        }
        if !matches!(
            field.data_type(),
            DataType::Utf8
                | DataType::LargeUtf8
                | DataType::Int64
                | DataType::Float64
                | DataType::Boolean
        ) {
            return Err(Error::invalid(
                path.display().to_string(),
                format!(
                    "`types` declares column `{}` as `{}`, which CSV text cannot hold; a CSV \
                     column may be declared str, int, float or bool (followed by `| None` if \
                     values may be missing)",
                    field.name(),
                    python_type_name(field)
                ),
            ));
        }
    }
    Ok(())
}

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
                    .with_data_type(super::large_type(declared.data_type()));
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

fn error_line(path: &Path, e: &csv::Error) -> u64 {
    e.position()
        .map_or(1, |p| record_line(path, p.line(), p.byte()))
}

/// The line where a record starts, as an editor numbers it. The CSV reader gives the line
/// and byte where it began looking for the record: before the line ends it then skipped
/// (blank lines, and the `\n` of a `\r\n` ending). Those are counted here, from the file.
fn record_line(path: &Path, line: u64, byte: u64) -> u64 {
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

/// Where each data row starts: the CSV reader's line, kept as the runs of rows whose
/// line is the row's index plus a constant, and its byte offset, to find the exact line
/// of the few rows a message names ([`record_line`]).
#[derive(Debug)]
struct Lines {
    path: PathBuf,
    /// (first row of the run, the reader's line minus the row index), by row.
    runs: Vec<(usize, u64)>,
    /// The reader's byte offset of each row.
    bytes: Vec<u64>,
}

impl Lines {
    fn new(path: &Path) -> Lines {
        Lines {
            path: path.to_path_buf(),
            runs: Vec::new(),
            bytes: Vec::new(),
        }
    }

    fn push(&mut self, row: usize, line: u64, byte: u64) {
        let offset = line.saturating_sub(row as u64);
        if self.runs.last().map(|r| r.1) != Some(offset) {
            self.runs.push((row, offset));
        }
        self.bytes.push(byte);
    }

    /// The 1-based line where data row `row` starts, as an editor numbers it.
    fn line(&self, row: usize) -> u64 {
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

/// A parsed file: every column as text, by position.
struct Table<'a> {
    path: &'a Path,
    names: &'a [String],
    texts: &'a [LargeStringArray],
    lines: &'a Lines,
}

impl Table<'_> {
    /// Reads column `index` as `field` declares it, or says which value does not fit.
    fn read_declared(&self, index: usize, field: &Field) -> Result<ArrayRef> {
        let text = &self.texts[index];
        let name = field.name();
        let nullable = field.is_nullable();
        let declared = python_type_name(field);
        let error = |row: usize, message: String| Error::Csv {
            path: self.path.to_path_buf(),
            line: self.lines.line(row),
            message: format!("column `{name}`: {message}"),
        };
        let missing = |row: usize, v: &str| {
            let shown = if v.is_empty() {
                "the value is missing (empty)".to_string()
            } else {
                format!("`{v}` means a missing value")
            };
            error(
                row,
                format!(
                    "{shown}, but `types` declares `{name}: {declared}`; declare \
                     `{name}: {declared} | None` if values may be missing"
                ),
            )
        };
        let not_a = |row: usize, v: &str, what: &str| {
            error(
                row,
                format!(
                    "`{v}` is not {what}, but `types` declares `{name}: {declared}`; correct \
                     the value, or declare `{name}: str` to read the column as text"
                ),
            )
        };
        Ok(match field.data_type() {
            DataType::LargeUtf8 if nullable => Arc::new(
                text.iter()
                    .map(|v| v.filter(|v| !v.is_empty()))
                    .collect::<LargeStringArray>(),
            ),
            DataType::LargeUtf8 => Arc::new(text.clone()),
            DataType::Int64 => {
                let mut values = Vec::with_capacity(text.len());
                for (row, v) in text.iter().enumerate() {
                    let v = v.unwrap_or_default();
                    values.push(if is_null(v) {
                        if !nullable {
                            return Err(missing(row, v));
                        }
                        None
                    } else {
                        match v.parse::<i64>() {
                            Ok(n) => Some(n),
                            Err(_) if integer_text(v) => {
                                return Err(error(
                                    row,
                                    format!(
                                        "`{v}` does not fit in a 64-bit integer, but `types` \
                                         declares `{name}: {declared}`; declare `{name}: str` to \
                                         keep the values as written"
                                    ),
                                ))
                            }
                            Err(_) => return Err(not_a(row, v, "an integer")),
                        }
                    });
                }
                Arc::new(Int64Array::from(values))
            }
            DataType::Float64 => {
                let mut values = Vec::with_capacity(text.len());
                for (row, v) in text.iter().enumerate() {
                    let v = v.unwrap_or_default();
                    values.push(if is_null(v) {
                        if !nullable {
                            return Err(missing(row, v));
                        }
                        None
                    } else {
                        Some(v.parse::<f64>().map_err(|_| not_a(row, v, "a number"))?)
                    });
                }
                Arc::new(Float64Array::from(values))
            }
            DataType::Boolean => {
                let mut values = Vec::with_capacity(text.len());
                for (row, v) in text.iter().enumerate() {
                    let v = v.unwrap_or_default();
                    values.push(if is_null(v) {
                        if !nullable {
                            return Err(missing(row, v));
                        }
                        None
                    } else {
                        Some(boolean(v).ok_or_else(|| {
                            not_a(
                                row,
                                v,
                                "a boolean (true, false, True, False, TRUE, FALSE, 1 or 0)",
                            )
                        })?)
                    });
                }
                Arc::new(BooleanArray::from(values))
            }
            other => {
                return Err(Error::Internal(format!(
                    "CSV column declared as {other} passed the check of declarable types"
                )))
            }
        })
    }

    /// Infers column `index` as the reference's reader does: int64, then bool, then
    /// float64 (null markers allowed in each), else string (every value, empty
    /// included, kept as text). Appends a warning for each kind of information lost.
    fn infer(&self, index: usize, warnings: &mut Vec<SourceWarning>) -> (Field, ArrayRef) {
        let name = &self.names[index];
        let text = &self.texts[index];
        let scan = Scan::of(text);
        let any_present = scan.present > 0;
        let nullable = scan.nulls > 0;
        if any_present && scan.ints == scan.present {
            if let Some(row) = scan.leading_zero {
                let v = text.value(row);
                let read = v
                    .parse::<i64>()
                    .map_or_else(|_| v.to_string(), |n| n.to_string());
                warnings.push(self.leading_zeros(index, row, "integers", &read));
            }
            let array: Int64Array = text
                .iter()
                .map(|v| v.filter(|v| !is_null(v)).and_then(|v| v.parse().ok()))
                .collect();
            return (Field::new(name, DataType::Int64, nullable), Arc::new(array));
        }
        if any_present && scan.bools == scan.present {
            let array: BooleanArray = text
                .iter()
                .map(|v| v.filter(|v| !is_null(v)).and_then(boolean))
                .collect();
            return (
                Field::new(name, DataType::Boolean, nullable),
                Arc::new(array),
            );
        }
        if any_present && scan.floats == scan.present {
            let mut inexact: Option<(usize, f64)> = None;
            let array: Float64Array = text
                .iter()
                .enumerate()
                .map(|(row, v)| {
                    let v = v.filter(|v| !is_null(v))?;
                    let f = v.parse::<f64>().ok()?;
                    if inexact.is_none() && integer_text(v) && !exact_in_float(v, f) {
                        inexact = Some((row, f));
                    }
                    Some(f)
                })
                .collect();
            if let Some(row) = scan.leading_zero {
                let v = text.value(row);
                let read = v
                    .parse::<f64>()
                    .map_or_else(|_| v.to_string(), python_float_repr);
                warnings.push(self.leading_zeros(index, row, "floats", &read));
            }
            let widened = scan.integer_texts == scan.present;
            if let Some(warning) =
                self.rounded(index, widened.then_some(scan.beyond_i64).flatten(), inexact)
            {
                warnings.push(warning);
            }
            return (
                Field::new(name, DataType::Float64, nullable),
                Arc::new(array),
            );
        }
        if let Some(warning) = self.text_fallback(index, &scan) {
            warnings.push(warning);
        }
        (
            Field::new(name, DataType::LargeUtf8, false),
            Arc::new(text.clone()),
        )
    }

    fn warning(
        &self,
        index: usize,
        row: usize,
        kind: WarningKind,
        message: String,
    ) -> SourceWarning {
        SourceWarning {
            file: self.path.to_path_buf(),
            column: self.names[index].clone(),
            line: self.lines.line(row),
            value: self.texts[index].value(row).to_string(),
            kind,
            message,
        }
    }

    fn leading_zeros(&self, index: usize, row: usize, read_as: &str, read: &str) -> SourceWarning {
        let name = &self.names[index];
        let v = self.texts[index].value(row);
        self.warning(
            index,
            row,
            WarningKind::LeadingZeros,
            format!(
                "column `{name}` was read as {read_as}, which drops leading zeros: `{v}` became \
                 {read}; declare `types: {{{name}: str}}` to keep the values as written (or \
                 `types: {{{name}: {}}}` if the numbers are what you mean)",
                if read_as == "integers" {
                    "int"
                } else {
                    "float"
                }
            ),
        )
    }

    /// The warning of a float column that holds integers it cannot all hold exactly:
    /// `beyond`, an integer beyond 64 bits that made a column of integers float; `inexact`,
    /// an integer whose float is not the same number.
    fn rounded(
        &self,
        index: usize,
        beyond: Option<usize>,
        inexact: Option<(usize, f64)>,
    ) -> Option<SourceWarning> {
        let name = &self.names[index];
        let text = &self.texts[index];
        let line = |row: usize| self.lines.line(row);
        let cause = match beyond {
            Some(row) => format!(
                "column `{name}` holds integers, but `{}` (line {}) does not fit in a 64-bit \
                 integer, so the whole column was read as float",
                text.value(row),
                line(row)
            ),
            None => format!("column `{name}` was read as float"),
        };
        let (row, effect) = match (inexact, beyond) {
            (Some((row, f)), _) => (
                row,
                format!(
                    ", which rounds `{}` (line {}) to {}: distinct integers may become equal",
                    text.value(row),
                    line(row),
                    python_float_repr(f)
                ),
            ),
            (None, Some(row)) => (row, String::new()),
            (None, None) => return None,
        };
        Some(self.warning(
            index,
            row,
            WarningKind::RoundedToFloat,
            format!(
                "{cause}{effect}; declare `types: {{{name}: str}}` to keep the values as written"
            ),
        ))
    }

    /// The warning of a column read as text although most of its values are numbers (or
    /// booleans): a few odd rows, such as a repeated header line, decided its type.
    fn text_fallback(&self, index: usize, scan: &Scan) -> Option<SourceWarning> {
        let (typed, example, what) = if scan.floats >= scan.bools {
            (scan.floats, scan.first_not_float?, "a number")
        } else {
            (scan.bools, scan.first_not_bool?, "a boolean")
        };
        let odd = scan.present - typed;
        if typed <= odd {
            return None;
        }
        let name = &self.names[index];
        let v = self.texts[index].value(example);
        let line = self.lines.line(example);
        let repeats_header = self
            .texts
            .iter()
            .zip(self.names)
            .all(|(text, name)| text.value(example) == name);
        let why = if repeats_header {
            format!("line {line} repeats the header row")
        } else if odd == 1 {
            format!("only `{v}` (line {line}) is not {what}")
        } else {
            format!(
                "{odd} of its {} values are not {what}s, e.g. `{v}` (line {line})",
                scan.present,
                what = what.trim_start_matches("a ")
            )
        };
        Some(self.warning(
            index,
            example,
            WarningKind::TextFallback,
            format!(
                "column `{name}` was read as text because {why}; remove or correct {}, or \
                 declare `types: {{{name}: str}}` to keep the column as text",
                if odd == 1 { "that row" } else { "those rows" }
            ),
        ))
    }
}

/// What one pass over a column's text finds: how many values fit each type, and the
/// first row of each kind of lossy value.
#[derive(Debug, Default)]
struct Scan {
    nulls: usize,
    present: usize,
    ints: usize,
    bools: usize,
    floats: usize,
    /// Values written as integers (digits, an optional sign), fitting in 64 bits or not.
    integer_texts: usize,
    first_not_float: Option<usize>,
    first_not_bool: Option<usize>,
    /// A number written with a leading zero (`02134`, `007.5`).
    leading_zero: Option<usize>,
    /// An integer beyond 64 bits.
    beyond_i64: Option<usize>,
}

impl Scan {
    fn of(text: &LargeStringArray) -> Scan {
        let mut scan = Scan::default();
        for (row, v) in text.iter().enumerate() {
            let v = v.unwrap_or_default();
            if is_null(v) {
                scan.nulls += 1;
                continue;
            }
            scan.present += 1;
            let int = v.parse::<i64>().is_ok();
            let float = int || v.parse::<f64>().is_ok();
            scan.ints += usize::from(int);
            if float {
                scan.floats += 1;
                if scan.leading_zero.is_none() && leading_zero(v) {
                    scan.leading_zero = Some(row);
                }
                if integer_text(v) {
                    scan.integer_texts += 1;
                    if !int && scan.beyond_i64.is_none() {
                        scan.beyond_i64 = Some(row);
                    }
                }
            } else if scan.first_not_float.is_none() {
                scan.first_not_float = Some(row);
            }
            if boolean(v).is_some() {
                scan.bools += 1;
            } else if scan.first_not_bool.is_none() {
                scan.first_not_bool = Some(row);
            }
        }
        scan
    }
}

/// Digits with an optional sign: how an integer is written.
fn integer_text(v: &str) -> bool {
    let digits = v.strip_prefix(['+', '-']).unwrap_or(v);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// A number whose integer part has a leading zero that reading it as a number drops
/// (`007`, `-02134`, `00.5`; not `0`, `0.5` or `0e3`).
fn leading_zero(v: &str) -> bool {
    let digits = v.strip_prefix(['+', '-']).unwrap_or(v).as_bytes();
    digits.len() > 1 && digits[0] == b'0' && digits[1].is_ascii_digit()
}

/// Whether `f`, the float of the integer text `v`, is exactly that integer.
fn exact_in_float(v: &str, f: f64) -> bool {
    let digits = v
        .strip_prefix(['+', '-'])
        .unwrap_or(v)
        .trim_start_matches('0');
    // Every integer below 10^15 < 2^53 is exact.
    if digits.len() <= 15 {
        return true;
    }
    if digits.len() <= 38 {
        // f is integral here; the cast is exact below 2^128 > 10^38.
        return digits.parse::<u128>().is_ok_and(|n| f.abs() as u128 == n);
    }
    // `{:.0}` prints a float's exact decimal value.
    format!("{:.0}", f.abs()) == digits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(values: &[&str]) -> LargeStringArray {
        values.iter().map(|v| Some(*v)).collect()
    }

    /// Infers one column `c` of `values` (data rows from line 2).
    fn infer(values: &[&str]) -> (Field, ArrayRef, Vec<SourceWarning>) {
        let names = ["c".to_string()];
        let texts = [text(values)];
        // Rows on lines 2, 3, …; no file to correct them from.
        let lines = Lines::new(Path::new("/nonexistent/t.csv"));
        let table = Table {
            path: Path::new("t.csv"),
            names: &names,
            texts: &texts,
            lines: &lines,
        };
        let mut warnings = Vec::new();
        let (field, array) = table.infer(0, &mut warnings);
        (field, array, warnings)
    }

    fn field(values: &[&str]) -> Field {
        infer(values).0
    }

    fn warnings(values: &[&str]) -> Vec<SourceWarning> {
        infer(values).2
    }

    #[test]
    fn inference_follows_the_reference_reader() {
        assert_eq!(field(&["1", "2"]), Field::new("c", DataType::Int64, false));
        assert_eq!(field(&["1", ""]), Field::new("c", DataType::Int64, true));
        assert_eq!(
            field(&["true", "False"]),
            Field::new("c", DataType::Boolean, false)
        );
        assert_eq!(
            field(&["1.5", "2"]),
            Field::new("c", DataType::Float64, false)
        );
        assert_eq!(
            field(&["a", ""]),
            Field::new("c", DataType::LargeUtf8, false)
        );
        assert_eq!(field(&[]), Field::new("c", DataType::LargeUtf8, false));
        assert_eq!(
            field(&["NA", ""]),
            Field::new("c", DataType::LargeUtf8, false)
        );
        // Leading zeros are read as numbers, as the reference does (with a warning).
        let (f, array, _) = infer(&["02134", "7"]);
        assert_eq!(f, Field::new("c", DataType::Int64, false));
        assert_eq!(
            array
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .value(0),
            2134
        );
    }

    #[test]
    fn clean_columns_warn_of_nothing() {
        for values in [
            &["0", "-0", "10", "+3"][..],
            &["0.5", "0e3", "-0.25", "1.5"],
            &["9007199254740992", "1.5"],
            &["true", "0"],
            &["alice", "bob", "12"],
            &["x1", "2"],
            &[],
        ] {
            assert_eq!(warnings(values), vec![], "{values:?}");
        }
    }

    #[test]
    fn dropped_leading_zeros_warn() {
        let w = warnings(&["12345", "02134", "007"]);
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(w[0].kind, WarningKind::LeadingZeros);
        assert_eq!((w[0].line, w[0].value.as_str()), (3, "02134"));
        let message = w[0].to_string();
        assert!(message.starts_with("t.csv:3: column `c`"), "{message}");
        assert!(message.contains("`02134` became 2134"), "{message}");
        assert!(message.contains("types: {c: str}"), "{message}");

        let w = warnings(&["1.5", "-007.5"]);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].message.contains("`-007.5` became -7.5"), "{}", w[0]);
    }

    #[test]
    fn integers_rounded_to_float_warn() {
        // One integer beyond 64 bits makes the column float, merging two ids.
        let w = warnings(&[
            "9007199254740993",
            "9007199254740992",
            "99999999999999999999",
        ]);
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(w[0].kind, WarningKind::RoundedToFloat);
        assert_eq!((w[0].line, w[0].value.as_str()), (2, "9007199254740993"));
        let message = &w[0].message;
        assert!(
            message.contains("`99999999999999999999` (line 4) does not fit"),
            "{message}"
        );
        assert!(message.contains("to 9007199254740992.0"), "{message}");
        assert!(message.contains("types: {c: str}"), "{message}");
        // Widened, but every value exact: still said, with the value that did it.
        let w = warnings(&["1", "100000000000000000000"]);
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(
            (w[0].line, w[0].value.as_str()),
            (3, "100000000000000000000")
        );
        // An integer text among decimals that is not exact as a float.
        let w = warnings(&["0.5", "123456789012345678"]);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].message.contains("was read as float, which rounds"),
            "{}",
            w[0]
        );
    }

    #[test]
    fn exactness_of_integers_as_floats() {
        let exact = |v: &str| exact_in_float(v, v.parse().unwrap());
        assert!(exact("9007199254740992"));
        assert!(!exact("9007199254740993"));
        assert!(exact("-9007199254740992"));
        assert!(exact("000000000000000000001"));
        assert!(exact("100000000000000000000"));
        assert!(!exact("100000000000000000000000")); // 1e23 is not a float
                                                     // 2^200 (61 digits) is exact, 2^200 + 1 is not.
        let two_200 = "1606938044258990275541962092341162602522202993782792835301376";
        assert!(exact(two_200));
        assert!(!exact(
            "1606938044258990275541962092341162602522202993782792835301377"
        ));
    }

    #[test]
    fn a_few_odd_rows_making_a_column_text_warn() {
        let w = warnings(&["1", "2", "3", "x", "4"]);
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(w[0].kind, WarningKind::TextFallback);
        assert_eq!((w[0].line, w[0].value.as_str()), (5, "x"));
        assert!(
            w[0].message.contains("only `x` (line 5) is not a number"),
            "{}",
            w[0]
        );
        let w = warnings(&["1", "2.5", "3", "x", "4", "y"]);
        assert!(
            w[0].message
                .contains("2 of its 6 values are not numbers, e.g. `x` (line 5)"),
            "{}",
            w[0]
        );
        let w = warnings(&["true", "false", "true", "maybe"]);
        assert!(w[0].message.contains("is not a boolean"), "{}", w[0]);
        // Mostly text: no warning.
        assert_eq!(warnings(&["1", "x", "y"]), vec![]);
    }

    /// Reads `contents` as a CSV file with the declared `types`.
    fn read(contents: &str, types: &[Field]) -> Result<(RecordBatch, Vec<SourceWarning>)> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, contents).unwrap();
        read_csv(&path, types)
    }

    fn error(contents: &str, types: &[Field]) -> String {
        read(contents, types).unwrap_err().to_string()
    }

    #[test]
    fn declared_columns_are_read_exactly() {
        let types = [
            Field::new("zip", DataType::LargeUtf8, false),
            Field::new("id", DataType::Int64, false),
            Field::new("x", DataType::Float64, true),
            Field::new("ok", DataType::Boolean, false),
            Field::new("note", DataType::Utf8, true),
        ];
        let (batch, warnings) = read(
            "id,zip,x,ok,note\n9007199254740993,02134,NA,TRUE,\n9007199254740992,007,1,0,NA\n",
            &types,
        )
        .unwrap();
        assert_eq!(warnings, vec![]);
        let schema = batch.schema();
        let fields: Vec<(&str, &DataType, bool)> = schema
            .fields()
            .iter()
            .map(|f| (f.name().as_str(), f.data_type(), f.is_nullable()))
            .collect();
        assert_eq!(
            fields,
            [
                ("id", &DataType::Int64, false),
                ("zip", &DataType::LargeUtf8, false),
                ("x", &DataType::Float64, true),
                ("ok", &DataType::Boolean, false),
                ("note", &DataType::LargeUtf8, true),
            ]
        );
        let column = |i: usize| batch.column(i).as_any();
        let ids = column(0).downcast_ref::<Int64Array>().unwrap();
        assert_eq!(ids.values().to_vec(), [9007199254740993, 9007199254740992]);
        let zips = column(1).downcast_ref::<LargeStringArray>().unwrap();
        assert_eq!((zips.value(0), zips.value(1)), ("02134", "007"));
        let xs = column(2).downcast_ref::<Float64Array>().unwrap();
        assert!(xs.is_null(0) && xs.value(1) == 1.0);
        let oks = column(3).downcast_ref::<BooleanArray>().unwrap();
        assert!(oks.value(0) && !oks.value(1));
        // `str | None`: only the empty value is null.
        let notes = column(4).downcast_ref::<LargeStringArray>().unwrap();
        assert!(notes.is_null(0) && notes.value(1) == "NA");
    }

    #[test]
    fn a_value_not_of_the_declared_type_is_an_error_at_its_line() {
        let int = [Field::new("n", DataType::Int64, false)];
        // Line 5: a quoted field spans lines 3–4.
        let message = error("k,n\na,1\n\"b\nc\",2\nd,x3\n", &int);
        assert!(
            message.contains("t.csv:5: column `n`: `x3` is not an integer"),
            "{message}"
        );
        assert!(message.contains("declare `n: str`"), "{message}");
        let message = error("k,n\na,99999999999999999999\n", &int);
        assert!(
            message.contains(
                "t.csv:2: column `n`: `99999999999999999999` does not fit in a 64-bit integer"
            ),
            "{message}"
        );
        let message = error("k,n\na,1\n\nb,\n", &int);
        assert!(
            message.contains("t.csv:4: column `n`: the value is missing (empty)"),
            "{message}"
        );
        assert!(message.contains("declare `n: int | None`"), "{message}");
        let message = error("k,n\na,NA\n", &int);
        assert!(message.contains("`NA` means a missing value"), "{message}");
        let float = [Field::new("n", DataType::Float64, false)];
        let message = error("k,n\na,1.5\nb,1,5\n", &float);
        assert!(message.contains("t.csv:3: expected 2 fields"), "{message}");
        let message = error("k,n\na,1.5\nb,one\n", &float);
        assert!(
            message.contains("t.csv:3: column `n`: `one` is not a number"),
            "{message}"
        );
        let boolean = [Field::new("n", DataType::Boolean, true)];
        let message = error("k,n\na,yes\n", &boolean);
        assert!(message.contains("`yes` is not a boolean"), "{message}");
        assert!(message.contains("`n: bool | None`"), "{message}");
    }

    #[test]
    fn declared_columns_must_exist_and_be_text_types() {
        let message = error("a,b\n1,2\n", &[Field::new("c", DataType::Int64, false)]);
        assert!(message.contains("t.csv:1: `types` declares column `c`, which the file does not have; its columns are: `a`, `b`"), "{message}");
        let bytes = Field::new("a", DataType::LargeBinary, false);
        let message = error("a,b\n1,2\n", &[bytes]);
        assert!(
            message.contains("declares column `a` as `bytes`, which CSV text cannot hold"),
            "{message}"
        );
        let message = error(
            "a,b\n1,2\n",
            &[
                Field::new("a", DataType::Int64, false),
                Field::new("a", DataType::Utf8, false),
            ],
        );
        assert!(message.contains("declares column `a` twice"), "{message}");
    }

    #[test]
    fn a_repeated_header_line_is_named() {
        let (batch, warnings) = read(
            "id,name,score\n1,ada,2.5\n2,bob,3\nid,name,score\n3,cy,1\n",
            &[],
        )
        .unwrap();
        assert!(batch
            .schema()
            .fields()
            .iter()
            .all(|f| f.data_type() == &DataType::LargeUtf8));
        // `name` was text anyway: no warning there.
        let columns: Vec<&str> = warnings.iter().map(|w| w.column.as_str()).collect();
        assert_eq!(columns, ["id", "score"]);
        for w in &warnings {
            assert_eq!(
                (w.kind, w.line, w.value.as_str()),
                (WarningKind::TextFallback, 4, w.column.as_str())
            );
            assert!(w.message.contains("line 4 repeats the header row"), "{w}");
        }
    }

    #[test]
    fn line_numbers_are_an_editors() {
        // A quoted field over two lines, blank lines, `\r\n` endings: a record's line is
        // the line where it starts.
        for ending in ["\n", "\r\n"] {
            let contents = ["k,n", "a,1", "\"b", "c\",2", "", "", "d,3", "e,4", "f,x"].join(ending);
            let message = error(&contents, &[Field::new("n", DataType::Int64, false)]);
            assert!(
                message.contains("t.csv:9: column `n`: `x` is not"),
                "{ending:?}: {message}"
            );
            let message = error(&format!("{contents}{ending}g,1,2"), &[]);
            assert!(
                message.contains("t.csv:10: expected 2 fields"),
                "{ending:?}: {message}"
            );
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("t.csv");
            std::fs::write(&path, &contents).unwrap();
            let mut reader = csv::Reader::from_path(&path).unwrap();
            let mut lines = Lines::new(&path);
            for (row, record) in reader.records().enumerate() {
                let p = record.unwrap().position().unwrap().clone();
                lines.push(row, p.line(), p.byte());
            }
            let found: Vec<u64> = (0..5).map(|r| lines.line(r)).collect();
            assert_eq!(found, [2, 3, 7, 8, 9], "{ending:?}");
        }
    }
}
