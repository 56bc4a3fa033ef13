//! Inferring the type of an undeclared CSV column as the reference's reader does
//! (int64, then bool, then float64, else string), and saying, as a [`SourceWarning`],
//! what that inference lost: leading zeros, integers rounded to float, text because of a
//! few odd rows. Never fails: any column can be text.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Float64Array, Int64Array, LargeStringArray};
use arrow::datatypes::{DataType, Field};

use super::table::{boolean, integer_text, is_null, Table};
use crate::hashing::semantic::python_float_repr;
use crate::source::warning::{SourceWarning, WarningKind};

impl Table<'_> {
    /// Infers column `index` as the reference's reader does: int64, then bool, then
    /// float64 (null markers allowed in each), else string (every value, empty
    /// included, kept as text). Appends a warning for each kind of information lost.
    pub(super) fn infer(
        &self,
        index: usize,
        warnings: &mut Vec<SourceWarning>,
    ) -> (Field, ArrayRef) {
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
