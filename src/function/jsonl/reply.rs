//! Answer lines: what one line says about the packet it is paired with ([`Reply`]),
//! read against the output schema, with or without an echoed `$id`.
//!
//! The line's JSON (Python's non-finite tokens included) is parsed by
//! [`python_json`](super::python_json); this file decides what it means. It never
//! reads, waits or keeps state between lines: pairing is its callers' business.

use arrow::datatypes::{DataType, FieldRef};
use serde_json::Value as Json;

use super::python_json::{parse_object, Value};
use super::request::{ERROR_KEY, ID_KEY};
use crate::function::json::{datum_from_json, type_label};
use crate::model::Datum;

/// What one answer line says about the packet it is paired with.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// The output values, in output-schema order.
    Values(Vec<Datum>),
    /// The packet failed, and the line is recognisably its answer (pairing holds): an
    /// `{"$error": ...}` object, or the output keys with a value of the wrong type.
    Failed(String),
    /// The line cannot be told from a stray line (a protocol error): not a JSON object,
    /// not exactly the output keys, or (under `jsonl-id`) a missing or wrong `$id`. The
    /// message says what is wrong with it (not what the line was: see [`clip`](super::clip)).
    NotAnAnswer(String),
}

/// Reads one answer line against the output schema.
///
/// With `id` (protocol `jsonl-id`) the answer must carry `"$id": id` (a JSON string):
/// a missing or different id is [`Reply::NotAnAnswer`]; once the id matches, pairing is
/// certain, so wrong keys are [`Reply::Failed`]. Without `id` (plain `jsonl`) only an
/// object with exactly the output keys, or exactly the key `$error`, is an answer.
pub fn read_reply(line: &[u8], output: &[FieldRef], id: Option<&str>) -> Reply {
    let text = match std::str::from_utf8(line) {
        Ok(text) => text,
        Err(e) => return Reply::NotAnAnswer(format!("the line is not valid UTF-8 ({e})")),
    };
    let mut entries = match parse_object(text) {
        Ok(Some(entries)) => entries,
        Ok(None) => return Reply::NotAnAnswer("the line is not a JSON object".into()),
        Err(e) => return Reply::NotAnAnswer(format!("the line is not valid JSON ({e})")),
    };
    if let Some(expected) = id {
        let Some(at) = entries.iter().position(|(k, _)| k == ID_KEY) else {
            return Reply::NotAnAnswer(format!(
                "the answer has no `{ID_KEY}` (expected \"{expected}\")"
            ));
        };
        let (_, got) = entries.remove(at);
        if !matches!(&got, Value::Json(Json::String(s)) if s == expected) {
            return Reply::NotAnAnswer(format!(
                "the answer's `{ID_KEY}` is {} where \"{expected}\" was expected",
                got.text()
            ));
        }
    }
    if let Some((_, error)) = entries.iter().find(|(k, _)| k == ERROR_KEY) {
        if id.is_some() || entries.len() == 1 {
            return Reply::Failed(match error {
                Value::Json(Json::String(s)) => s.clone(),
                other => other.text(),
            });
        }
        return Reply::NotAnAnswer(format!("an `{ERROR_KEY}` answer must have no other key"));
    }
    let missing: Vec<&str> = output
        .iter()
        .map(|f| f.name().as_str())
        .filter(|k| !entries.iter().any(|(e, _)| e == k))
        .collect();
    let extra: Vec<&str> = entries
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !output.iter().any(|f| f.name() == k))
        .collect();
    if !missing.is_empty() || !extra.is_empty() {
        let mut problems = Vec::new();
        if !missing.is_empty() {
            problems.push(format!(
                "the answer lacks the output key(s) {}",
                quoted(missing.iter().copied())
            ));
        }
        if !extra.is_empty() {
            problems.push(format!(
                "the answer has unexpected key(s) {}",
                quoted(extra.iter().copied())
            ));
        }
        let message = format!(
            "{} (expected exactly {})",
            problems.join(" and "),
            quoted(output.iter().map(|f| f.name().as_str()))
        );
        return if id.is_some() {
            Reply::Failed(message)
        } else {
            Reply::NotAnAnswer(message)
        };
    }
    let values: Result<Vec<Datum>, String> = output
        .iter()
        .map(|field| {
            let value = entries
                .iter()
                .find(|(k, _)| k == field.name())
                .map(|(_, v)| v)
                .expect("every output key is present");
            let datum = datum_from_value(value, field.data_type())
                .map_err(|e| format!("output `{}`: {e}", field.name()))?;
            if datum == Datum::Null && !field.is_nullable() {
                return Err(format!(
                    "output `{}` is null but the field is not nullable",
                    field.name()
                ));
            }
            Ok(datum)
        })
        .collect();
    match values {
        Ok(values) => Reply::Values(values),
        Err(message) => Reply::Failed(message),
    }
}

/// The `$id` an answer line carries (a JSON string), if it is a JSON object with one:
/// for callers that hold a whole output and pair answers by id, in any order.
pub fn reply_id(line: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(line).ok()?;
    let entries = parse_object(text).ok()??;
    entries.into_iter().find_map(|(k, v)| match v {
        Value::Json(Json::String(s)) if k == ID_KEY => Some(s),
        _ => None,
    })
}

fn quoted<'a>(keys: impl Iterator<Item = &'a str>) -> String {
    keys.map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A value read as a value of `data_type`: [`datum_from_json`] for standard JSON, and
/// non-finite tokens only where a float is expected.
fn datum_from_value(value: &Value, data_type: &DataType) -> Result<Datum, String> {
    match (value, data_type) {
        (Value::Json(json), _) => datum_from_json(json, data_type),
        (Value::NonFinite(f), t) if t.is_floating() => Ok(Datum::Float(*f)),
        (Value::Array(items, _), DataType::List(item) | DataType::LargeList(item)) => items
            .iter()
            .map(|i| datum_from_value(i, item.data_type()))
            .collect::<Result<_, _>>()
            .map(Datum::List),
        (other, t) => Err(format!("expected {}, got {}", type_label(t), other.text())),
    }
}
