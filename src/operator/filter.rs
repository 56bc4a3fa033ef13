//! Filter (the reference's `PolarsFilter`): keeps rows satisfying every condition.
//!
//! Conditions are hashable data ([`Predicate`]), not opaque expressions, so a filter has
//! a content hash and works inside pipelines (unlike the reference, bug K3).

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::record_batch::RecordBatch;

use super::{InputInfo, Operator};
use crate::error::{Error, Result};
use crate::hashing::Value;
use crate::model::{Datum, StreamSchema};

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
pub(crate) fn datum_value(d: &Datum) -> Value {
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

/// The running filter.
pub(super) struct Filter {
    output: Arc<StreamSchema>,
}

impl Filter {
    pub(super) fn new(
        input: &InputInfo,
        _predicates: &[Predicate],
        _constraints: &BTreeMap<String, Datum>,
    ) -> Result<Self> {
        let _ = Filter {
            output: input.schema.clone(),
        };
        Err(Error::internal("filter: under construction"))
    }
}

impl Operator for Filter {
    fn output_schema(&self) -> &Arc<StreamSchema> {
        &self.output
    }
    fn push(&mut self, _port: usize, _batch: RecordBatch) -> Result<()> {
        Err(Error::internal("filter: under construction"))
    }
    fn finish(&mut self, _port: usize) -> Result<()> {
        Ok(())
    }
    fn take_output(&mut self) -> Vec<RecordBatch> {
        Vec::new()
    }
}
