//! JSON conversion of values, for command functions, failure records and JSON output.
//!
//! Strings, numbers, booleans and null map to themselves, lists to arrays, and bytes to
//! `{"$bytes": "<hex>"}`. Floats JSON numbers cannot hold (NaN, ±infinity) become `null`
//! or the strings `"NaN"`, `"inf"`, `"-inf"` ([`NonFiniteFloats`]). The command-function
//! protocol writes them as Python's `json` module does instead (`NaN`, `Infinity`,
//! `-Infinity`, which no [`serde_json::Value`] can hold): see [`super::jsonl`].

use arrow::datatypes::DataType;
use serde_json::Value as Json;

use crate::files::PathKind;
use crate::model::Datum;

/// How a JSON rendering writes the floats a JSON number cannot hold (NaN, ±infinity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonFiniteFloats {
    /// As `null` (e.g. the tags of failure records).
    Null,
    /// As the strings `"NaN"`, `"inf"` and `"-inf"`, which Python's `float()` and Rust's
    /// `f64::from_str` read back (exported results, which must lose nothing).
    Text,
}

/// A value as JSON, with non-finite floats as `null`. (Command requests are written by
/// [`super::jsonl::write_request`], which writes them as Python does.)
pub fn datum_to_json(datum: &Datum) -> Json {
    datum_to_json_with(datum, NonFiniteFloats::Null)
}

/// A value as JSON, with non-finite floats written as `non_finite` says.
pub fn datum_to_json_with(datum: &Datum, non_finite: NonFiniteFloats) -> Json {
    match datum {
        Datum::Null => Json::Null,
        Datum::Bool(b) => Json::Bool(*b),
        Datum::Int(i) => Json::from(*i),
        Datum::Float(f) => match serde_json::Number::from_f64(*f) {
            Some(n) => Json::Number(n),
            None => match non_finite {
                NonFiniteFloats::Null => Json::Null,
                NonFiniteFloats::Text => Json::String(non_finite_text(*f).into()),
            },
        },
        Datum::Str(s) => Json::String(s.clone()),
        Datum::Bytes(b) => serde_json::json!({ "$bytes": hex::encode(b) }),
        Datum::List(items) => Json::Array(
            items
                .iter()
                .map(|d| datum_to_json_with(d, non_finite))
                .collect(),
        ),
    }
}

/// `"NaN"`, `"inf"` or `"-inf"`: the text of a float that is not finite.
pub fn non_finite_text(f: f64) -> &'static str {
    by_non_finite(f, ["NaN", "inf", "-inf"])
}

/// `[nan, infinity, minus_infinity]`, picked by the float `f` that is not finite.
pub(super) fn by_non_finite<T>(f: f64, [nan, infinity, minus_infinity]: [T; 3]) -> T {
    if f.is_nan() {
        nan
    } else if f > 0.0 {
        infinity
    } else {
        minus_infinity
    }
}

/// A JSON value read as a value of `data_type`; the error says what was expected.
pub fn datum_from_json(json: &Json, data_type: &DataType) -> Result<Datum, String> {
    let wrong = || format!("expected {}, got {json}", type_label(data_type));
    Ok(match (data_type, json) {
        (_, Json::Null) => Datum::Null,
        (DataType::Boolean, Json::Bool(b)) => Datum::Bool(*b),
        (t, Json::Number(n)) if t.is_integer() => Datum::Int(n.as_i64().ok_or_else(wrong)?),
        (t, Json::Number(n)) if t.is_floating() => Datum::Float(n.as_f64().ok_or_else(wrong)?),
        (DataType::Utf8 | DataType::LargeUtf8, Json::String(s)) => Datum::Str(s.clone()),
        // A file or directory must be named wherever it is read: by an absolute path.
        (t, Json::String(s)) if PathKind::of(t).is_some() => {
            if !std::path::Path::new(s).is_absolute() {
                return Err(format!(
                    "expected {} (an absolute path), got the relative path {json}",
                    type_label(data_type)
                ));
            }
            Datum::Str(s.clone())
        }
        (DataType::Binary | DataType::LargeBinary, Json::Object(o)) => {
            let hex_text = o.get("$bytes").and_then(Json::as_str).ok_or_else(wrong)?;
            Datum::Bytes(hex::decode(hex_text).map_err(|e| format!("bad $bytes hex: {e}"))?)
        }
        (DataType::List(item) | DataType::LargeList(item), Json::Array(items)) => Datum::List(
            items
                .iter()
                .map(|i| datum_from_json(i, item.data_type()))
                .collect::<Result<_, _>>()?,
        ),
        _ => return Err(wrong()),
    })
}

/// The Python name of a type, for messages (`int`, `str`, `list[float]`, …).
pub(super) fn type_label(data_type: &DataType) -> String {
    crate::hashing::python_type::python_type_name(&arrow::datatypes::Field::new(
        "",
        data_type.clone(),
        false,
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::Field;

    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let list = DataType::LargeList(Arc::new(Field::new("item", DataType::Int64, true)));
        let d = Datum::List(vec![Datum::Int(1), Datum::Null]);
        assert_eq!(datum_from_json(&datum_to_json(&d), &list).unwrap(), d);
        let b = Datum::Bytes(vec![0, 255]);
        assert_eq!(datum_to_json(&b), serde_json::json!({"$bytes": "00ff"}));
        assert_eq!(
            datum_from_json(&datum_to_json(&b), &DataType::LargeBinary).unwrap(),
            b
        );
        let floats = Datum::List(vec![
            Datum::Float(f64::NAN),
            Datum::Float(f64::INFINITY),
            Datum::Float(f64::NEG_INFINITY),
            Datum::Float(0.5),
        ]);
        assert_eq!(
            datum_to_json(&floats),
            serde_json::json!([null, null, null, 0.5])
        );
        assert_eq!(
            datum_to_json_with(&floats, NonFiniteFloats::Text),
            serde_json::json!(["NaN", "inf", "-inf", 0.5])
        );
        let err = datum_from_json(&serde_json::json!("x"), &DataType::Int64).unwrap_err();
        assert!(err.contains("expected int"), "{err}");
    }
}
