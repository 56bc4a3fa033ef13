//! Filter (the reference's `PolarsFilter`): keeps rows satisfying every condition.
//!
//! Conditions are hashable data ([`Predicate`]), not opaque expressions, so a filter has
//! a content hash and works inside pipelines (unlike the reference, bug K3). Predicates
//! and equality constraints are ANDed and may name any column, system tags and source
//! info included. Every condition is checked against the input schema when the filter is
//! built (unknown column, value of the wrong type, `in` without a list) so that a bad
//! filter fails before any data flows.
//!
//! Rows are selected with Arrow comparison kernels, one boolean mask per batch; this
//! module must never evaluate conditions row by row through [`Datum`]s, never change a
//! column's type, nullability or values, and never reorder rows. A null cell satisfies
//! no comparison and no `in` (as in Polars); only `is_null` selects it.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, Scalar};
use arrow::compute::kernels::cmp::{eq, gt, gt_eq, lt, lt_eq, neq};
use arrow::compute::{and, cast, filter_record_batch, is_not_null, is_null, or};
use arrow::datatypes::{DataType, Schema};
use arrow::record_batch::RecordBatch;

use super::checks::single_port;
use super::{InputInfo, Operator};
use crate::error::{Error, Result};
use crate::files::PathKind;
use crate::hashing::Value;
use crate::model::schema::column_list;
use crate::model::{array_from_datums, Datum, StreamSchema};

/// A comparison operator of a [`Predicate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `in`: the value is a list of accepted values.
    In,
    /// `is_null` (no value).
    IsNull,
    /// `not_null` (no value).
    NotNull,
}

impl FilterOp {
    /// The spelling used in pipeline files.
    pub fn as_str(&self) -> &'static str {
        match self {
            FilterOp::Eq => "==",
            FilterOp::Ne => "!=",
            FilterOp::Lt => "<",
            FilterOp::Le => "<=",
            FilterOp::Gt => ">",
            FilterOp::Ge => ">=",
            FilterOp::In => "in",
            FilterOp::IsNull => "is_null",
            FilterOp::NotNull => "not_null",
        }
    }

    /// Parses the spelling used in pipeline files.
    pub fn parse(s: &str) -> Result<FilterOp> {
        Ok(match s {
            "==" => FilterOp::Eq,
            "!=" => FilterOp::Ne,
            "<" => FilterOp::Lt,
            "<=" => FilterOp::Le,
            ">" => FilterOp::Gt,
            ">=" => FilterOp::Ge,
            "in" => FilterOp::In,
            "is_null" => FilterOp::IsNull,
            "not_null" => FilterOp::NotNull,
            other => {
                return Err(Error::invalid(
                    "filter predicate",
                    format!(
                        "unknown op `{other}`; expected one of == != < <= > >= in is_null not_null"
                    ),
                ))
            }
        })
    }
}

/// One condition on one column: `{col, op, value}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Predicate {
    /// The column (any column, system tags and source info included).
    pub col: String,
    /// The comparison.
    pub op: FilterOp,
    /// The value compared with (a list for `in`; `Null` for the null tests).
    pub value: Datum,
}

impl Predicate {
    /// `{"col": …, "op": …, "value": …}`: how a predicate enters the filter's identity.
    pub fn identity_structure(&self) -> Value {
        Value::dict([
            ("col", Value::str(self.col.as_str())),
            ("op", Value::str(self.op.as_str())),
            ("value", datum_value(&self.value)),
        ])
    }
}

/// A value as the semantic hasher sees it (bytes as lowercase hex, like the reference).
pub(super) fn datum_value(d: &Datum) -> Value {
    match d {
        Datum::Null => Value::None,
        Datum::Bool(b) => Value::Bool(*b),
        Datum::Int(i) => Value::Int(*i),
        Datum::Float(f) => Value::Float(*f),
        Datum::Str(s) => Value::str(s.as_str()),
        Datum::Bytes(b) => Value::Str(hex::encode(b)),
        Datum::List(items) => Value::List(items.iter().map(datum_value).collect()),
    }
}

/// The reference's class name, used in error messages.
const NAME: &str = "PolarsFilter";

/// A condition checked against the input schema, ready to run on batches.
#[derive(Debug)]
enum Test {
    /// `column <op> scalar`, after casting the column to `cast_to` (the common type of
    /// the column and the value: `Int64`, `Float64`, `LargeUtf8`, `LargeBinary` or
    /// `Boolean`).
    Compare {
        column: usize,
        op: FilterOp,
        cast_to: DataType,
        scalar: ArrayRef,
    },
    /// The column (cast to `cast_to`) equals one of `values` (nulls among the values are
    /// dropped: they match nothing).
    In {
        column: usize,
        cast_to: DataType,
        values: ArrayRef,
    },
    /// The cell is null.
    IsNull(usize),
    /// The cell is not null.
    NotNull(usize),
    /// No row can satisfy it (a comparison on a column of the `Null` type).
    Never,
}

/// The running filter.
///
/// Per-batch streaming: each pushed batch gives its matching rows at once. With no
/// conditions every batch passes through unchanged. The output schema is the input
/// schema.
pub(super) struct Filter {
    output: Arc<StreamSchema>,
    tests: Vec<Test>,
    ready: Vec<RecordBatch>,
}

impl Filter {
    /// Validates every predicate and constraint against the input schema.
    ///
    /// Errors ([`Error::Schema`]): a named column that does not exist (the message lists
    /// the available columns); a value whose type does not fit the column's (integers
    /// and floats are interchangeable); `in` without a list value; a comparison with a
    /// null value (use `is_null` / `not_null`); a comparison on a column type that cannot
    /// be compared with a scalar (lists, structs, temporal types).
    pub(super) fn new(
        input: &InputInfo,
        predicates: &[Predicate],
        constraints: &BTreeMap<String, Datum>,
    ) -> Result<Self> {
        let schema = input.schema.arrow();
        let conditions = predicates
            .iter()
            .map(|p| (p.col.as_str(), p.op, &p.value))
            .chain(
                constraints
                    .iter()
                    .map(|(c, v)| (c.as_str(), FilterOp::Eq, v)),
            );
        let tests = conditions
            .map(|(col, op, value)| compile(schema, col, op, value))
            .collect::<Result<Vec<_>>>()?;
        Ok(Filter {
            output: input.schema.clone(),
            tests,
            ready: Vec::new(),
        })
    }

    /// The mask of rows of `batch` satisfying every test (`None`: keep every row).
    fn mask(&self, batch: &RecordBatch) -> Result<Option<BooleanArray>> {
        let mut mask: Option<BooleanArray> = None;
        for test in &self.tests {
            let m = evaluate(test, batch)?;
            mask = Some(match mask {
                None => m,
                Some(prev) => and(&prev, &m)?,
            });
        }
        Ok(mask)
    }
}

/// Checks one condition against the schema and turns it into a [`Test`].
fn compile(schema: &Schema, col: &str, op: FilterOp, value: &Datum) -> Result<Test> {
    let column = schema.index_of(col).map_err(|_| {
        Error::schema(
            NAME,
            format!(
                "no column `{col}` to filter on; the available columns are: {}",
                column_list(schema)
            ),
        )
    })?;
    let column_type = schema.field(column).data_type();
    match op {
        FilterOp::IsNull => Ok(Test::IsNull(column)),
        FilterOp::NotNull => Ok(Test::NotNull(column)),
        FilterOp::In => {
            let Datum::List(items) = value else {
                return Err(Error::schema(
                    NAME,
                    format!(
                        "`in` on column `{col}` needs a list of values, got {}",
                        describe(value)
                    ),
                ));
            };
            if *column_type == DataType::Null {
                return Ok(Test::Never);
            }
            let items: Vec<Datum> = items
                .iter()
                .filter(|d| **d != Datum::Null)
                .cloned()
                .collect();
            let types = items
                .iter()
                .map(|item| common_type(col, column_type, item))
                .collect::<Result<Vec<_>>>()?;
            // Every item fits the column, so the types agree except that integers widen
            // to floats when some item is a float.
            let cast_to = if types.contains(&DataType::Float64) {
                DataType::Float64
            } else {
                match types.first() {
                    Some(t) => t.clone(),
                    None => return Ok(Test::Never),
                }
            };
            let values = array_from_datums(col, &cast_to, &items)?;
            Ok(Test::In {
                column,
                cast_to,
                values,
            })
        }
        FilterOp::Eq | FilterOp::Ne | FilterOp::Lt | FilterOp::Le | FilterOp::Gt | FilterOp::Ge => {
            if *value == Datum::Null {
                return Err(Error::schema(
                    NAME,
                    format!(
                        "`{}` on column `{col}` compares with null, which no row satisfies; use `is_null` or `not_null`",
                        op.as_str()
                    ),
                ));
            }
            if *column_type == DataType::Null {
                return Ok(Test::Never);
            }
            let cast_to = common_type(col, column_type, value)?;
            let scalar = array_from_datums(col, &cast_to, std::slice::from_ref(value))?;
            Ok(Test::Compare {
                column,
                op,
                cast_to,
                scalar,
            })
        }
    }
}

/// The type both the column and the value are compared as, or a schema error if the
/// value does not fit the column.
fn common_type(col: &str, column_type: &DataType, value: &Datum) -> Result<DataType> {
    use DataType as T;
    let fits = match (value, column_type) {
        (Datum::Bool(_), T::Boolean) => Some(T::Boolean),
        (Datum::Int(_), t) if is_integer(t) => Some(T::Int64),
        (Datum::Int(_) | Datum::Float(_), t) if is_integer(t) || is_float(t) => Some(T::Float64),
        (Datum::Str(_), T::Utf8 | T::LargeUtf8 | T::Utf8View) => Some(T::LargeUtf8),
        (Datum::Bytes(_), T::Binary | T::LargeBinary | T::BinaryView) => Some(T::LargeBinary),
        _ => None,
    };
    fits.ok_or_else(|| {
        let comparable = is_integer(column_type) || is_float(column_type) || is_flat(column_type);
        let why = if comparable {
            format!("{} does not fit its type {column_type}", describe(value))
        } else if let Some(kind) = PathKind::of(column_type) {
            format!(
                "a `{}` column cannot be compared with a value (its values count by content); \
                 filter on a tag instead",
                kind.type_name()
            )
        } else {
            format!("columns of type {column_type} cannot be compared with a value")
        };
        Error::schema(NAME, format!("cannot filter column `{col}`: {why}"))
    })
}

fn is_integer(t: &DataType) -> bool {
    t.is_integer()
}

fn is_float(t: &DataType) -> bool {
    t.is_floating()
}

/// Non-numeric types a filter value can be compared with.
fn is_flat(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Boolean
            | DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
    )
}

/// A short description of a value for error messages: its kind and value.
fn describe(value: &Datum) -> String {
    let kind = match value {
        Datum::Null => "null",
        Datum::Bool(_) => "a boolean",
        Datum::Int(_) => "an integer",
        Datum::Float(_) => "a float",
        Datum::Str(_) => "a string",
        Datum::Bytes(_) => "bytes",
        Datum::List(_) => "a list",
    };
    match value {
        Datum::Null => kind.to_string(),
        Datum::Str(s) => format!("{kind} ('{s}')"),
        other => format!("{kind} ({})", other.python_str()),
    }
}

/// The rows of `batch` satisfying `test` (null where the cell is null).
fn evaluate(test: &Test, batch: &RecordBatch) -> Result<BooleanArray> {
    Ok(match test {
        Test::IsNull(c) => is_null(batch.column(*c).as_ref())?,
        Test::NotNull(c) => is_not_null(batch.column(*c).as_ref())?,
        Test::Never => BooleanArray::from(vec![false; batch.num_rows()]),
        Test::Compare {
            column,
            op,
            cast_to,
            scalar,
        } => {
            let lhs = cast(batch.column(*column), cast_to)?;
            let rhs = Scalar::new(scalar.clone());
            match op {
                FilterOp::Eq => eq(&lhs, &rhs)?,
                FilterOp::Ne => neq(&lhs, &rhs)?,
                FilterOp::Lt => lt(&lhs, &rhs)?,
                FilterOp::Le => lt_eq(&lhs, &rhs)?,
                FilterOp::Gt => gt(&lhs, &rhs)?,
                FilterOp::Ge => gt_eq(&lhs, &rhs)?,
                FilterOp::In | FilterOp::IsNull | FilterOp::NotNull => {
                    return Err(Error::internal(format!(
                        "filter: `{}` compiled as a comparison",
                        op.as_str()
                    )))
                }
            }
        }
        Test::In {
            column,
            cast_to,
            values,
        } => {
            let lhs = cast(batch.column(*column), cast_to)?;
            let mut any: Option<BooleanArray> = None;
            for i in 0..values.len() {
                let m = eq(&lhs, &Scalar::new(values.slice(i, 1)))?;
                any = Some(match any {
                    None => m,
                    Some(prev) => or(&prev, &m)?,
                });
            }
            any.unwrap_or_else(|| BooleanArray::from(vec![false; batch.num_rows()]))
        }
    })
}

impl Operator for Filter {
    fn output_schema(&self) -> &Arc<StreamSchema> {
        &self.output
    }

    fn push(&mut self, port: usize, batch: RecordBatch) -> Result<()> {
        single_port(NAME, port)?;
        let kept = match self.mask(&batch)? {
            None => batch,
            Some(mask) => filter_record_batch(&batch, &mask)?,
        };
        if kept.num_rows() > 0 {
            self.ready.push(RecordBatch::try_new(
                self.output.arrow().clone(),
                kept.columns().to_vec(),
            )?);
        }
        Ok(())
    }

    fn finish(&mut self, port: usize) -> Result<()> {
        single_port(NAME, port)?;
        Ok(())
    }

    fn take_output(&mut self) -> Vec<RecordBatch> {
        std::mem::take(&mut self.ready)
    }
}
