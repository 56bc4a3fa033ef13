//! Inferring the type of an undeclared CSV column as the reference's reader does
//! (int64, then bool, then float64, else string), in one pass over the file, batch by
//! batch ([`Scan`]: counts and the first example of each kind of lossy value, never the
//! values), and saying, as a [`SourceWarning`], what that inference lost: leading zeros,
//! integers rounded to float, text because of a few odd rows. Never fails: any column
//! can be text.

use std::path::Path;

use arrow::datatypes::{DataType, Field};

use super::table::{boolean, integer_text, is_null, Table};
use crate::hashing::semantic::python_float_repr;
use crate::source::warning::{SourceWarning, WarningKind};

/// A value a warning may name: as written, its line, and whether its row repeats the
/// header row.
#[derive(Debug, Clone)]
pub(super) struct Example {
    value: String,
    line: u64,
    repeats_header: bool,
}

impl Example {
    /// Field `index` of a record read at `line` (as an editor numbers it), whose fields
    /// are `fields`, of a file whose header is `names`.
    pub(super) fn in_record(
        fields: &csv::StringRecord,
        index: usize,
        line: u64,
        names: &[String],
    ) -> Example {
        Example {
            value: fields[index].to_string(),
            line,
            repeats_header: fields.iter().eq(names.iter().map(String::as_str)),
        }
    }

    fn of(table: &Table, index: usize, row: usize) -> Example {
        Example {
            value: table.texts[index].value(row).to_string(),
            line: table.lines.line(row),
            repeats_header: table
                .texts
                .iter()
                .zip(table.names)
                .all(|(text, name)| text.value(row) == name),
        }
    }
}

/// What one pass over a column's text finds: how many values fit each type, and the
/// first example of each kind of lossy value.
#[derive(Debug, Default)]
pub(super) struct Scan {
    nulls: usize,
    present: usize,
    ints: usize,
    bools: usize,
    floats: usize,
    /// Values written as integers (digits, an optional sign), fitting in 64 bits or not.
    integer_texts: usize,
    first_not_float: Option<Example>,
    first_not_bool: Option<Example>,
    /// A number written with a leading zero (`02134`, `007.5`).
    leading_zero: Option<Example>,
    /// An integer beyond 64 bits.
    beyond_i64: Option<Example>,
    /// An integer text whose float is not the same number.
    inexact: Option<Example>,
}

impl Scan {
    /// Counts the values of column `index` of a batch of rows.
    pub(super) fn update(&mut self, table: &Table, index: usize) {
        for (row, v) in table.texts[index].iter().enumerate() {
            self.add(v.unwrap_or_default(), || Example::of(table, index, row));
        }
    }

    /// Counts one value; `example` is where it is, asked only for the first value of
    /// a kind a warning may name.
    pub(super) fn add(&mut self, v: &str, example: impl Fn() -> Example) {
        let example = || Some(example());
        if is_null(v) {
            self.nulls += 1;
            return;
        }
        self.present += 1;
        let int = v.parse::<i64>().is_ok();
        let float = int || v.parse::<f64>().is_ok();
        self.ints += usize::from(int);
        if float {
            self.floats += 1;
            if self.leading_zero.is_none() && leading_zero(v) {
                self.leading_zero = example();
            }
            if integer_text(v) {
                self.integer_texts += 1;
                if !int && self.beyond_i64.is_none() {
                    self.beyond_i64 = example();
                }
                if self.inexact.is_none() && !exact_text(v) {
                    self.inexact = example();
                }
            }
        } else if self.first_not_float.is_none() {
            self.first_not_float = example();
        }
        if boolean(v).is_some() {
            self.bools += 1;
        } else if self.first_not_bool.is_none() {
            self.first_not_bool = example();
        }
    }

    /// The type of column `name` of the file at `path` once every row was counted: int64,
    /// then bool, then float64 (null markers allowed in each), else string (every value,
    /// empty included, kept as text). Appends a warning for each kind of information
    /// lost.
    pub(super) fn decide(
        self,
        path: &Path,
        name: &str,
        warnings: &mut Vec<SourceWarning>,
    ) -> Field {
        let any_present = self.present > 0;
        let nullable = self.nulls > 0;
        let warning = |example: &Example, kind, message| SourceWarning {
            file: path.to_path_buf(),
            column: name.to_string(),
            line: example.line,
            value: example.value.clone(),
            kind,
            message,
        };
        if any_present && self.ints == self.present {
            if let Some(e) = &self.leading_zero {
                let v = &e.value;
                let read = v
                    .parse::<i64>()
                    .map_or_else(|_| v.to_string(), |n| n.to_string());
                warnings.push(warning(
                    e,
                    WarningKind::LeadingZeros,
                    leading_zeros(name, v, "integers", &read),
                ));
            }
            return Field::new(name, DataType::Int64, nullable);
        }
        if any_present && self.bools == self.present {
            return Field::new(name, DataType::Boolean, nullable);
        }
        if any_present && self.floats == self.present {
            if let Some(e) = &self.leading_zero {
                let v = &e.value;
                let read = v
                    .parse::<f64>()
                    .map_or_else(|_| v.to_string(), python_float_repr);
                warnings.push(warning(
                    e,
                    WarningKind::LeadingZeros,
                    leading_zeros(name, v, "floats", &read),
                ));
            }
            let widened = self.integer_texts == self.present;
            let beyond = self.beyond_i64.as_ref().filter(|_| widened);
            if let Some((e, message)) = rounded(name, beyond, self.inexact.as_ref()) {
                warnings.push(warning(e, WarningKind::RoundedToFloat, message));
            }
            return Field::new(name, DataType::Float64, nullable);
        }
        if let Some((e, message)) = self.text_fallback(name) {
            warnings.push(warning(e, WarningKind::TextFallback, message));
        }
        Field::new(name, DataType::LargeUtf8, false)
    }

    /// The warning of a column read as text although most of its values are numbers (or
    /// booleans): a few odd rows, such as a repeated header line, decided its type.
    fn text_fallback(&self, name: &str) -> Option<(&Example, String)> {
        let (typed, example, what) = if self.floats >= self.bools {
            (self.floats, self.first_not_float.as_ref()?, "a number")
        } else {
            (self.bools, self.first_not_bool.as_ref()?, "a boolean")
        };
        let odd = self.present - typed;
        if typed <= odd {
            return None;
        }
        let v = &example.value;
        let line = example.line;
        let why = if example.repeats_header {
            format!("line {line} repeats the header row")
        } else if odd == 1 {
            format!("only `{v}` (line {line}) is not {what}")
        } else {
            format!(
                "{odd} of its {} values are not {what}s, e.g. `{v}` (line {line})",
                self.present,
                what = what.trim_start_matches("a ")
            )
        };
        Some((
            example,
            format!(
                "column `{name}` was read as text because {why}; remove or correct {}, or \
                 declare `types: {{{name}: str}}` to keep the column as text",
                if odd == 1 { "that row" } else { "those rows" }
            ),
        ))
    }
}

fn leading_zeros(name: &str, v: &str, read_as: &str, read: &str) -> String {
    format!(
        "column `{name}` was read as {read_as}, which drops leading zeros: `{v}` became \
         {read}; declare `types: {{{name}: str}}` to keep the values as written (or \
         `types: {{{name}: {}}}` if the numbers are what you mean)",
        if read_as == "integers" {
            "int"
        } else {
            "float"
        }
    )
}

/// The warning of a float column that holds integers it cannot all hold exactly:
/// `beyond`, an integer beyond 64 bits that made a column of integers float; `inexact`,
/// an integer whose float is not the same number. Returns the example it names.
fn rounded<'a>(
    name: &str,
    beyond: Option<&'a Example>,
    inexact: Option<&'a Example>,
) -> Option<(&'a Example, String)> {
    let cause = match beyond {
        Some(e) => format!(
            "column `{name}` holds integers, but `{}` (line {}) does not fit in a 64-bit \
             integer, so the whole column was read as float",
            e.value, e.line
        ),
        None => format!("column `{name}` was read as float"),
    };
    let (example, effect) = match (inexact, beyond) {
        (Some(e), _) => (
            e,
            format!(
                ", which rounds `{}` (line {}) to {}: distinct integers may become equal",
                e.value,
                e.line,
                python_float_repr(e.value.parse::<f64>().unwrap_or(f64::NAN))
            ),
        ),
        (None, Some(e)) => (e, String::new()),
        (None, None) => return None,
    };
    Some((
        example,
        format!("{cause}{effect}; declare `types: {{{name}: str}}` to keep the values as written"),
    ))
}

/// Whether the integer text `v` is exactly its float: surely so with at most 15
/// significant digits (below 10^15 < 2^53), else checked.
fn exact_text(v: &str) -> bool {
    let digits = v
        .strip_prefix(['+', '-'])
        .unwrap_or(v)
        .trim_start_matches('0');
    digits.len() <= 15 || v.parse::<f64>().is_ok_and(|f| exact_in_float(v, f))
}

/// A number whose integer part has a leading zero that reading it as a number drops
/// (`007`, `-02134`, `00.5`; not `0`, `0.5` or `0e3`).
fn leading_zero(v: &str) -> bool {
    let digits = v.strip_prefix(['+', '-']).unwrap_or(v).as_bytes();
    digits.len() > 1 && digits[0] == b'0' && digits[1].is_ascii_digit()
}

/// Whether `f`, the float of the integer text `v`, is exactly that integer.
pub(super) fn exact_in_float(v: &str, f: f64) -> bool {
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
