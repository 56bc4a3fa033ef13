//! Converting a batch of a CSV column's text to the column's type: exactly as declared
//! (`types:`) or as inferred when the source was loaded, or an error naming the file,
//! the line and the column of the first value that does not fit. Infers nothing and
//! warns of nothing.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Float64Array, Int64Array, LargeStringArray};
use arrow::datatypes::{DataType, Field};

use super::table::{boolean, integer_text, is_null, Table};
use crate::error::{Error, Result};
use crate::files::kind::{path_array, PathKind};
use crate::hashing::python_type::python_type_name;

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
        ) && PathKind::of(field.data_type()).is_none()
        {
            return Err(Error::invalid(
                path.display().to_string(),
                format!(
                    "`types` declares column `{}` as `{}`, which CSV text cannot hold; a CSV \
                     column may be declared str, int, float, bool, file or dir (followed by `| None` if \
                     values may be missing)",
                    field.name(),
                    python_type_name(field)
                ),
            ));
        }
    }
    Ok(())
}

impl Table<'_> {
    /// Reads column `index` as `field` says (`declared` in `types:`, else inferred when
    /// the source was loaded), or says which value does not fit.
    pub(super) fn read_column(
        &self,
        index: usize,
        field: &Field,
        declared: bool,
    ) -> Result<ArrayRef> {
        let text = &self.texts[index];
        let name = field.name();
        let nullable = field.is_nullable();
        let type_name = python_type_name(field);
        let error = |row: usize, message: String| Error::Csv {
            path: self.path.to_path_buf(),
            line: self.lines.line(row),
            message: match declared {
                true => format!("column `{name}`: {message}"),
                // An inferred type fits every value the file held when it was inferred.
                false => format!(
                    "column `{name}`: {}; the column was read as `{type_name}` when the \
                     source was loaded, and the file changed since: load the pipeline again",
                    message.split(", but `types`").next().unwrap_or(&message)
                ),
            },
        };
        let declared = &type_name;
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
            DataType::Int64 => Arc::new(Int64Array::from(values(
                text,
                nullable,
                missing,
                |row, v| match v.parse::<i64>() {
                    Ok(n) => Ok(n),
                    Err(_) if integer_text(v) => Err(error(
                        row,
                        format!(
                            "`{v}` does not fit in a 64-bit integer, but `types` declares \
                             `{name}: {declared}`; declare `{name}: str` to keep the values as \
                             written"
                        ),
                    )),
                    Err(_) => Err(not_a(row, v, "an integer")),
                },
            )?)),
            DataType::Float64 => Arc::new(Float64Array::from(values(
                text,
                nullable,
                missing,
                |row, v| v.parse::<f64>().map_err(|_| not_a(row, v, "a number")),
            )?)),
            DataType::Boolean => Arc::new(BooleanArray::from(values(
                text,
                nullable,
                missing,
                |row, v| {
                    boolean(v).ok_or_else(|| {
                        not_a(
                            row,
                            v,
                            "a boolean (true, false, True, False, TRUE, FALSE, 1 or 0)",
                        )
                    })
                },
            )?)),
            t if PathKind::of(t).is_some() => {
                // A path is relative to the CSV file's directory, and kept absolute.
                let base = std::path::absolute(self.path)
                    .ok()
                    .and_then(|p| p.parent().map(Path::to_path_buf))
                    .unwrap_or_default();
                let paths = values(text, nullable, missing, |_, v| {
                    Ok(base.join(v).to_string_lossy().into_owned())
                })?;
                path_array(PathKind::of(t).expect("just matched"), &paths)
            }
            other => {
                return Err(Error::Internal(format!(
                    "CSV column declared as {other} passed the check of declarable types"
                )))
            }
        })
    }
}

/// Every value of a declared column read by `read` (which gets the row and the text); a
/// null marker is null if the column is `nullable`, else the error `missing` makes.
fn values<T>(
    text: &LargeStringArray,
    nullable: bool,
    missing: impl Fn(usize, &str) -> Error,
    read: impl Fn(usize, &str) -> Result<T>,
) -> Result<Vec<Option<T>>> {
    text.iter()
        .enumerate()
        .map(|(row, v)| {
            let v = v.unwrap_or_default();
            match is_null(v) {
                false => read(row, v).map(Some),
                true if nullable => Ok(None),
                true => Err(missing(row, v)),
            }
        })
        .collect()
}
