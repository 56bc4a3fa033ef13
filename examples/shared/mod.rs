//! What the examples share: the letter-grade function pod of the school data.
//!
//! Not an example of its own (Cargo builds only `examples/*.rs` and
//! `examples/*/main.rs` as examples); each example that grades declares `mod shared;`.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field};
use orcapod::function::closure::ClosureFunction;
use orcapod::function::{FunctionError, FunctionPod};
use orcapod::model::Datum;

/// `score -> grade`: A from 90, B from 80, C from 70, else F.
pub fn letter_grade() -> orcapod::Result<FunctionPod> {
    let function = ClosureFunction::new(
        "letter_grade",
        vec![Arc::new(Field::new("score", DataType::Int64, true))],
        vec![Arc::new(Field::new("grade", DataType::LargeUtf8, false))],
        |packet| match packet[0].1 {
            Datum::Int(s) if s >= 90 => Ok(vec![Datum::Str("A".into())]),
            Datum::Int(s) if s >= 80 => Ok(vec![Datum::Str("B".into())]),
            Datum::Int(s) if s >= 70 => Ok(vec![Datum::Str("C".into())]),
            Datum::Int(_) => Ok(vec![Datum::Str("F".into())]),
            _ => Err(FunctionError::new("no score")),
        },
    )
    .with_version("v1.0");
    FunctionPod::new(Arc::new(function))
}
