//! Reading one node's or source's settings: typed getters that remember which keys
//! were read, so that every key nobody read is reported as unknown, by name.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value as Json};

use super::raw::{describe, shown};
use crate::function::command::Protocol;
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

/// The longest timeout a file may give: a year.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);

/// How a timeout may be written, for messages.
const TIMEOUT_FORMS: &str =
    "write seconds as a positive number (`30`, `0.5`) or a number with a unit (`500ms`, `90s`, `5m`, `2h`)";

/// A timeout: seconds as a positive number, or a string holding a number (digits, with
/// an optional fraction) and an optional unit `ms`, `s`, `m` or `h`. `label` names the
/// setting in messages (`timeout`, `defaults.timeout`).
pub fn timeout_of(label: &str, value: &Json) -> Result<Duration, String> {
    let not_a_duration = || {
        format!(
            "`{label}: {}` is not a duration; {TIMEOUT_FORMS}",
            shown(value)
        )
    };
    let seconds = match value {
        Json::Number(n) => n.as_f64().ok_or_else(not_a_duration)?,
        Json::String(text) => {
            let split = text
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(text.len());
            let (number, unit) = text.split_at(split);
            let mut parts = number.splitn(2, '.');
            let whole = parts.next().unwrap_or_default();
            let fraction = parts.next();
            let well_formed =
                !whole.is_empty() && fraction.is_none_or(|f| !f.is_empty() && !f.contains('.'));
            let scale = match unit {
                "" | "s" => 1.0,
                "ms" => 0.001,
                "m" => 60.0,
                "h" => 3600.0,
                _ => return Err(not_a_duration()),
            };
            if !well_formed {
                return Err(not_a_duration());
            }
            number.parse::<f64>().map_err(|_| not_a_duration())? * scale
        }
        _ => return Err(not_a_duration()),
    };
    if seconds.is_nan() || seconds <= 0.0 {
        return Err(format!(
            "`{label}: {}` must be more than zero; {TIMEOUT_FORMS}",
            shown(value)
        ));
    }
    match Duration::try_from_secs_f64(seconds) {
        Ok(d) if d <= MAX_TIMEOUT => Ok(d),
        _ => Err(format!(
            "`{label}: {}` is too long: a timeout is at most a year (8760h)",
            shown(value)
        )),
    }
}

/// The most retries a file may ask for.
pub const MAX_RETRIES: u32 = 100;

/// A number of retries: a whole number from 0 to [`MAX_RETRIES`].
pub fn retries_of(label: &str, value: &Json) -> Result<u32, String> {
    match value.as_u64() {
        Some(n) if n <= u64::from(MAX_RETRIES) => Ok(n as u32),
        Some(_) => Err(format!(
            "`{label}: {}` is too many: at most {MAX_RETRIES} (each retry of a packet waits \
             first, 1 s, then 2 s, 4 s, … up to 60 s)",
            shown(value)
        )),
        None => Err(format!(
            "`{label}: {}` must be a whole number from 0 to {MAX_RETRIES}",
            shown(value)
        )),
    }
}

/// The largest `max_concurrency` a file may give: the pod's own bound.
pub use crate::function::MAX_CONCURRENCY;

/// A limit on concurrent packets: a whole number from 1 to [`MAX_CONCURRENCY`].
pub fn max_concurrency_of(label: &str, value: &Json) -> Result<usize, String> {
    match value.as_u64() {
        Some(n) if (1..=MAX_CONCURRENCY as u64).contains(&n) => Ok(n as usize),
        Some(n) if n > 0 => Err(format!(
            "`{label}: {}` is too large: at most {MAX_CONCURRENCY} (each packet computed at \
             once has its own worker thread and, for a command function, its own process)",
            shown(value)
        )),
        _ => Err(format!(
            "`{label}: {}` must be a whole number from 1 to {MAX_CONCURRENCY}",
            shown(value)
        )),
    }
}

/// How a command function's answers are paired with packets: `jsonl` or `jsonl-id`.
pub fn protocol_of(label: &str, value: &Json) -> Result<Protocol, String> {
    match value {
        Json::String(name) => Protocol::from_name(name),
        _ => None,
    }
    .ok_or_else(|| {
        format!(
            "`{label}: {}` is not a protocol (expected {} or {})",
            shown(value),
            Protocol::Jsonl.name(),
            Protocol::JsonlId.name()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_in_every_form() {
        let ok = |v: Json| timeout_of("timeout", &v).unwrap();
        assert_eq!(ok(Json::from(1)), Duration::from_secs(1));
        assert_eq!(ok(Json::from(0.5)), Duration::from_millis(500));
        assert_eq!(ok(Json::from("30")), Duration::from_secs(30));
        assert_eq!(ok(Json::from("2.5")), Duration::from_millis(2500));
        assert_eq!(ok(Json::from("90s")), Duration::from_secs(90));
        assert_eq!(ok(Json::from("5m")), Duration::from_secs(300));
        assert_eq!(ok(Json::from("1.5m")), Duration::from_secs(90));
        assert_eq!(ok(Json::from("2h")), Duration::from_secs(7200));
        assert_eq!(ok(Json::from("500ms")), Duration::from_millis(500));
        assert_eq!(ok(Json::from("8760h")), MAX_TIMEOUT);

        let err = |v: Json| timeout_of("timeout", &v).unwrap_err();
        for bad in [
            "5x", "90 s", " 30", "1e3", ".5", "1.", "1..2", "-1", "s", "", "5min", "1.5.2s",
        ] {
            let message = err(Json::from(bad));
            assert_eq!(
                message,
                format!(
                    "`timeout: {bad}` is not a duration; write seconds as a positive number \
                     (`30`, `0.5`) or a number with a unit (`500ms`, `90s`, `5m`, `2h`)"
                )
            );
        }
        assert!(err(Json::Bool(true)).starts_with("`timeout: true` is not a duration"));
        assert!(err(serde_json::json!([1])).starts_with("`timeout: [1]` is not a duration"));
        for zero in [
            Json::from(0),
            Json::from(-1),
            Json::from("0s"),
            Json::from("0"),
        ] {
            assert!(
                err(zero.clone()).contains("` must be more than zero; write seconds"),
                "{zero}"
            );
        }
        assert_eq!(
            err(Json::from("8761h")),
            "`timeout: 8761h` is too long: a timeout is at most a year (8760h)"
        );
        assert!(err(Json::from(1e300)).contains("is too long"));
    }

    #[test]
    fn retries_concurrency_and_protocols_are_bounded() {
        assert_eq!(retries_of("retries", &Json::from(0)), Ok(0));
        assert_eq!(retries_of("retries", &Json::from(100)), Ok(100));
        assert!(retries_of("retries", &Json::from(101))
            .unwrap_err()
            .starts_with("`retries: 101` is too many: at most 100"));
        for bad in [Json::from(-1), Json::from(1.5), Json::from("3")] {
            assert_eq!(
                retries_of("retries", &bad).unwrap_err(),
                format!(
                    "`retries: {}` must be a whole number from 0 to 100",
                    shown(&bad)
                )
            );
        }
        assert_eq!(max_concurrency_of("m", &Json::from(1)), Ok(1));
        assert_eq!(max_concurrency_of("m", &Json::from(1024)), Ok(1024));
        assert!(max_concurrency_of("m", &Json::from(1025))
            .unwrap_err()
            .starts_with("`m: 1025` is too large: at most 1024"));
        assert_eq!(
            max_concurrency_of("m", &Json::from(0)).unwrap_err(),
            "`m: 0` must be a whole number from 1 to 1024"
        );
        assert_eq!(protocol_of("p", &Json::from("jsonl")), Ok(Protocol::Jsonl));
        assert_eq!(
            protocol_of("p", &Json::from("jsonl-id")),
            Ok(Protocol::JsonlId)
        );
        assert_eq!(
            protocol_of("p", &Json::from("json")).unwrap_err(),
            "`p: json` is not a protocol (expected jsonl or jsonl-id)"
        );
    }
}
