//! The functions the command line offers to pipeline files as `builtin: NAME`.
//!
//! Each is a Rust closure with a fixed signature; a node feeds it by having packet
//! columns of the names and types it takes (rename with `map_packets` if needed).
//! `orcapod builtins` lists them with these descriptions.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, FieldRef};
use orcapod::function::closure::ClosureFunction;
use orcapod::function::{FunctionError, PacketFunction};
use orcapod::model::Datum;
use orcapod::pipeline_file::{BuiltinRequest, Builtins};

/// A builtin of one nullable input column and one non-null output column: its name,
/// its description, the input and output columns, and what each value becomes.
type OneToOne = (
    &'static str,
    &'static str,
    (&'static str, DataType),
    (&'static str, DataType),
    fn(&Datum) -> Result<Datum, FunctionError>,
);

/// The builtins of one column in, one column out.
fn one_to_one_builtins() -> [OneToOne; 2] {
    [
        (
            "letter_grade",
            "{score: int} -> {grade: str}: A from 90, B from 80, C from 70, else F",
            ("score", DataType::Int64),
            ("grade", DataType::LargeUtf8),
            |score| match score {
                Datum::Int(s) => Ok(Datum::Str(letter(*s).into())),
                _ => Err(FunctionError::new("the score is missing")),
            },
        ),
        (
            "word_count",
            "{text: str} -> {words: int}: the number of whitespace-separated words",
            ("text", DataType::LargeUtf8),
            ("words", DataType::Int64),
            |text| match text {
                Datum::Str(s) => Ok(Datum::Int(s.split_whitespace().count() as i64)),
                Datum::Null => Ok(Datum::Int(0)),
                _ => Err(FunctionError::new("`text` is not a string")),
            },
        ),
    ]
}

/// Every builtin of the command line.
pub fn registry() -> Builtins {
    let mut builtins = Builtins::new();
    for (name, doc, input, output, body) in one_to_one_builtins() {
        builtins.register(name, doc, move |request| {
            one_to_one(request, input.clone(), output.clone(), body)
        });
    }
    builtins.register(
        "mean",
        "{values: list[int] or list[float]} -> {mean: float}: the mean of a batched \
         column (nulls skipped; fails on an empty list)",
        |request| {
            let item = list_item(request, "values")?;
            closure(
                request,
                vec![field(
                    "values",
                    DataType::LargeList(Arc::new(Field::new("item", item, true))),
                    true,
                )],
                vec![field("mean", DataType::Float64, false)],
                |packet| {
                    let Datum::List(items) = &packet[0].1 else {
                        return Err(FunctionError::new("`values` is not a list"));
                    };
                    let numbers: Vec<f64> = items
                        .iter()
                        .filter_map(|d| match d {
                            Datum::Int(i) => Some(*i as f64),
                            Datum::Float(f) => Some(*f),
                            _ => None,
                        })
                        .collect();
                    if numbers.is_empty() {
                        return Err(FunctionError::new("no values to average"));
                    }
                    Ok(vec![Datum::Float(
                        numbers.iter().sum::<f64>() / numbers.len() as f64,
                    )])
                },
            )
        },
    );
    builtins
}

/// The letter for a score.
fn letter(score: i64) -> &'static str {
    match score {
        90.. => "A",
        80..=89 => "B",
        70..=79 => "C",
        _ => "F",
    }
}

fn field(name: &str, data_type: DataType, nullable: bool) -> FieldRef {
    Arc::new(Field::new(name, data_type, nullable))
}

/// The item type of list column `name` of the input (int or float).
fn list_item(request: &BuiltinRequest<'_>, name: &str) -> Result<DataType, String> {
    let column = request
        .input
        .iter()
        .find(|f| f.name() == name)
        .ok_or_else(|| format!("takes a packet column `{name}`, and the input has none"))?;
    match column.data_type() {
        DataType::List(item) | DataType::LargeList(item)
            if matches!(item.data_type(), DataType::Int64 | DataType::Float64) =>
        {
            Ok(item.data_type().clone())
        }
        other => Err(format!(
            "`{name}` must be a list of int or float (batch a number column first), not {other}"
        )),
    }
}

/// A builtin of one nullable input column and one non-null output column.
fn one_to_one(
    request: &BuiltinRequest<'_>,
    (input, input_type): (&str, DataType),
    (output, output_type): (&str, DataType),
    body: fn(&Datum) -> Result<Datum, FunctionError>,
) -> Result<Arc<dyn PacketFunction>, String> {
    closure(
        request,
        vec![field(input, input_type, true)],
        vec![field(output, output_type, false)],
        move |packet| Ok(vec![body(&packet[0].1)?]),
    )
}

fn closure(
    request: &BuiltinRequest<'_>,
    input: Vec<FieldRef>,
    output: Vec<FieldRef>,
    body: impl Fn(&[(String, Datum)]) -> Result<Vec<Datum>, FunctionError> + Send + Sync + 'static,
) -> Result<Arc<dyn PacketFunction>, String> {
    Ok(Arc::new(
        ClosureFunction::new(request.function_name, input, output, body)
            .with_version(request.version),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters() {
        assert_eq!(letter(95), "A");
        assert_eq!(letter(89), "B");
        assert_eq!(letter(70), "C");
        assert_eq!(letter(12), "F");
    }
}
