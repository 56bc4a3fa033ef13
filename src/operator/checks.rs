//! Checks shared by several operators — the types of their inputs' columns, the ports a
//! driver pushes on — with the one wording of their errors.
//!
//! Nothing here sees a row. A check must never change what it accepts
//! or the text of its error, which users and tests read.

use arrow::datatypes::DataType;

use crate::error::{Error, Result};

/// Fails unless `left` and `right`, the types of the same `column` (described for the
/// reader, e.g. ``tag column `id` ``) on two inputs, are equal; the error of operator
/// `operator` says the column has `mismatch` (e.g. `incompatible types`).
pub(super) fn same_type(
    operator: &str,
    column: &str,
    left: &DataType,
    right: &DataType,
    mismatch: &str,
) -> Result<()> {
    if left == right {
        return Ok(());
    }
    Err(Error::schema(
        operator,
        format!("{column} has {mismatch}: {left} and {right}"),
    ))
}

/// Fails unless `port` is 0, the one input port of the single-input operator
/// `operator` (a driver's mistake, so an internal error).
pub(super) fn single_port(operator: &str, port: usize) -> Result<()> {
    if port == 0 {
        return Ok(());
    }
    Err(Error::internal(format!("{operator}: no input port {port}")))
}
