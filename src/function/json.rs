//! JSON conversion of values, for command functions and JSON output.
//!
//! Strings, numbers, booleans and null map to themselves, lists to arrays, and bytes to
//! `{"$bytes": "<hex>"}`.

use arrow::datatypes::DataType;
use serde_json::Value as Json;

use crate::model::Datum;

/// A value as JSON.
pub fn datum_to_json(datum: &Datum) -> Json {
    match datum {
        Datum::Null => Json::Null,
        Datum::Bool(b) => Json::Bool(*b),
        Datum::Int(i) => Json::from(*i),
        Datum::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Datum::Str(s) => Json::String(s.clone()),
        Datum::Bytes(b) => serde_json::json!({ "$bytes": hex::encode(b) }),
        Datum::List(items) => Json::Array(items.iter().map(datum_to_json).collect()),
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

fn type_label(data_type: &DataType) -> String {
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
        let err = datum_from_json(&serde_json::json!("x"), &DataType::Int64).unwrap_err();
        assert!(err.contains("expected int"), "{err}");
    }
}
