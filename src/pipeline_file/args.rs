//! Reading one node's or source's settings: typed getters that remember which keys
//! were read, so that every key nobody read is reported as unknown, by name.

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};

use super::raw::describe;
use crate::model::Datum;

/// The settings of one entry, consumed key by key. Errors are plain messages; the
/// caller adds the file, the entry and the line.
pub struct Args {
    map: Map<String, Json>,
}

impl Args {
    pub fn new(map: Map<String, Json>) -> Self {
        Args { map }
    }

    /// Removes and returns `key` (or its first present alias).
    pub fn take(&mut self, keys: &[&str]) -> Result<Option<Json>, String> {
        let present: Vec<&str> = keys
            .iter()
            .copied()
            .filter(|k| self.map.contains_key(*k))
            .collect();
        if present.len() > 1 {
            return Err(format!(
                "give only one of {}",
                present
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            ));
        }
        Ok(present.first().and_then(|k| self.map.remove(*k)))
    }

    pub fn string(&mut self, key: &str) -> Result<Option<String>, String> {
        match self.take(&[key])? {
            None | Some(Json::Null) => Ok(None),
            Some(Json::String(s)) => Ok(Some(s)),
            // Versions such as `1.0` arrive as numbers; a name may be numeric too.
            Some(Json::Number(n)) => Ok(Some(n.to_string())),
            Some(other) => Err(format!(
                "`{key}` must be a string, not {}",
                describe(&other)
            )),
        }
    }

    pub fn required_string(&mut self, key: &str) -> Result<String, String> {
        self.string(key)?
            .ok_or_else(|| format!("`{key}` is required"))
    }

    pub fn bool(&mut self, key: &str, default: bool) -> Result<bool, String> {
        match self.take(&[key])? {
            None | Some(Json::Null) => Ok(default),
            Some(Json::Bool(b)) => Ok(b),
            Some(other) => Err(format!(
                "`{key}` must be true or false, not {}",
                describe(&other)
            )),
        }
    }

    pub fn count(&mut self, key: &str) -> Result<Option<usize>, String> {
        match self.take(&[key])? {
            None | Some(Json::Null) => Ok(None),
            Some(Json::Number(n)) if n.as_u64().is_some() => {
                Ok(Some(n.as_u64().unwrap_or(0) as usize))
            }
            Some(other) => Err(format!(
                "`{key}` must be a whole number ≥ 0, not {}",
                if let Json::Number(n) = &other {
                    n.to_string()
                } else {
                    describe(&other).to_string()
                }
            )),
        }
    }

    /// A list of strings; a single string counts as a list of one.
    pub fn strings(&mut self, keys: &[&str]) -> Result<Option<Vec<String>>, String> {
        let key = keys[0];
        match self.take(keys)? {
            None | Some(Json::Null) => Ok(None),
            Some(Json::String(s)) => Ok(Some(vec![s])),
            Some(Json::Array(items)) => items
                .into_iter()
                .map(|item| match item {
                    Json::String(s) => Ok(s),
                    Json::Number(n) => Ok(n.to_string()),
                    other => Err(format!(
                        "`{key}` must list strings, but holds {}",
                        describe(&other)
                    )),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(other) => Err(format!(
                "`{key}` must be a list of strings, not {}",
                describe(&other)
            )),
        }
    }

    /// A mapping of string → string.
    pub fn string_map(
        &mut self,
        keys: &[&str],
    ) -> Result<Option<BTreeMap<String, String>>, String> {
        let key = keys[0];
        match self.take(keys)? {
            None | Some(Json::Null) => Ok(None),
            Some(Json::Object(m)) => m
                .into_iter()
                .map(|(k, v)| match v {
                    Json::String(s) => Ok((k, s)),
                    other => Err(format!(
                        "`{key}` maps `{k}` to {}, expected a string",
                        describe(&other)
                    )),
                })
                .collect::<Result<BTreeMap<_, _>, _>>()
                .map(Some),
            Some(other) => Err(format!(
                "`{key}` must be a mapping of names, not {}",
                describe(&other)
            )),
        }
    }

    /// A mapping in file order, values as given.
    pub fn mapping(&mut self, key: &str) -> Result<Option<Map<String, Json>>, String> {
        match self.take(&[key])? {
            None | Some(Json::Null) => Ok(None),
            Some(Json::Object(m)) => Ok(Some(m)),
            Some(other) => Err(format!(
                "`{key}` must be a mapping, not {}",
                describe(&other)
            )),
        }
    }

    /// A list of values as given.
    pub fn list(&mut self, key: &str) -> Result<Option<Vec<Json>>, String> {
        match self.take(&[key])? {
            None | Some(Json::Null) => Ok(None),
            Some(Json::Array(items)) => Ok(Some(items)),
            Some(other) => Err(format!("`{key}` must be a list, not {}", describe(&other))),
        }
    }

    /// Fails if any key was not read, naming them and what was expected.
    pub fn finish(self, expected: &[&str]) -> Result<(), String> {
        if self.map.is_empty() {
            return Ok(());
        }
        let unknown: Vec<String> = self.map.keys().map(|k| format!("`{k}`")).collect();
        let expected = if expected.is_empty() {
            "it takes none".to_string()
        } else {
            format!("expected {}", expected.join(", "))
        };
        Err(format!(
            "unknown argument{} {} ({expected})",
            if unknown.len() == 1 { "" } else { "s" },
            unknown.join(", ")
        ))
    }
}

/// A value written in the file, untyped: integers stay integers, `{"$bytes": hex}` is
/// bytes.
pub fn datum_of(value: &Json) -> Result<Datum, String> {
    Ok(match value {
        Json::Null => Datum::Null,
        Json::Bool(b) => Datum::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Datum::Int(i),
            None => Datum::Float(
                n.as_f64()
                    .ok_or_else(|| format!("the number {n} does not fit in 64 bits"))?,
            ),
        },
        Json::String(s) => Datum::Str(s.clone()),
        Json::Array(items) => Datum::List(items.iter().map(datum_of).collect::<Result<_, _>>()?),
        Json::Object(m) => match (m.len(), m.get("$bytes")) {
            (1, Some(Json::String(h))) => {
                Datum::Bytes(hex::decode(h).map_err(|e| format!("bad `$bytes` hex `{h}`: {e}"))?)
            }
            _ => {
                return Err(
                    "a value may not be a mapping (write bytes as {\"$bytes\": \"<hex>\"})".into(),
                )
            }
        },
    })
}
