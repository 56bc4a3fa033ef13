//! Reading one node's or source's settings: typed getters that remember which keys
//! were read, so that every key nobody read is reported as unknown, by name.

use std::collections::BTreeMap;
use std::time::Duration;

use super::suggest::did_you_mean;
use super::value::{describe, keys_list, shown, Field, Mapping, Number, Position, Problem, Value};
use crate::function::command::Protocol;
use crate::model::Datum;

/// The settings of one entry, consumed key by key. Errors name the key and where it is
/// written; the caller adds the file and the entry.
pub(crate) struct Args {
    map: Mapping,
}

impl Args {
    pub(crate) fn new(map: Mapping) -> Self {
        Args { map }
    }

    /// Fails, naming the first key that is not one of `known` (with the closest known
    /// key, if one is close), before any argument is read: a misspelt key is reported
    /// as itself, not as a missing one.
    pub(crate) fn only(&self, known: &[&str], what: &str) -> Result<(), Problem> {
        let Some(field) = self
            .map
            .fields
            .iter()
            .find(|f| !known.contains(&f.key.as_str()))
        else {
            return Ok(());
        };
        let hint = did_you_mean(&field.key, known.iter().copied());
        let takes = if known.is_empty() {
            format!("{what} takes no arguments")
        } else {
            format!("{what} takes {}", keys_list(known))
        };
        Err(Problem::at(
            field.at,
            format!("unknown argument `{}`{hint}; {takes}", field.key),
        ))
    }

    /// Removes and returns the field of `key` (or of its first present alias).
    pub(crate) fn take_field(&mut self, keys: &[&str]) -> Result<Option<Field>, Problem> {
        let present: Vec<&Field> = keys.iter().filter_map(|k| self.map.field(k)).collect();
        if present.len() > 1 {
            return Err(Problem::at(
                present[1].at,
                format!(
                    "give only one of {}",
                    keys_list(&present.iter().map(|f| f.key.as_str()).collect::<Vec<_>>())
                ),
            ));
        }
        let key = present.first().map(|f| f.key.clone());
        Ok(key.and_then(|k| self.map.remove(&k)))
    }

    /// Removes and returns the value of `key` (or of its first present alias).
    pub(crate) fn take(&mut self, keys: &[&str]) -> Result<Option<Value>, Problem> {
        Ok(self.take_field(keys)?.map(|f| f.value))
    }

    /// Removes and returns the field of `key` (or of its first present alias), unless
    /// its value is null: a null is as if the key were not written.
    fn take_present(&mut self, keys: &[&str]) -> Result<Option<Field>, Problem> {
        Ok(self.take_field(keys)?.filter(|f| !f.value.is_null()))
    }

    /// Text, as written (a number or `true` keeps its spelling); null is absent.
    pub(crate) fn string(&mut self, key: &str) -> Result<Option<String>, Problem> {
        let Some(field) = self.take_present(&[key])? else {
            return Ok(None);
        };
        match field.value.text() {
            Some(text) => Ok(Some(text.to_string())),
            None => Err(Problem::at(
                field.at,
                format!("`{key}` must be text, not {}", describe(&field.value)),
            )),
        }
    }

    pub(crate) fn required_string(&mut self, key: &str) -> Result<String, Problem> {
        self.string(key)?
            .ok_or_else(|| Problem::from(format!("`{key}` is required")))
    }

    pub(crate) fn bool(&mut self, key: &str, default: bool) -> Result<bool, Problem> {
        let Some(field) = self.take_present(&[key])? else {
            return Ok(default);
        };
        match field.value {
            Value::Bool(b, _) => Ok(b),
            other => Err(Problem::at(
                field.at,
                format!(
                    "`{key}: {}` must be true or false, not {}",
                    shown(&other),
                    describe(&other)
                ),
            )),
        }
    }

    pub(crate) fn count(&mut self, key: &str) -> Result<Option<usize>, Problem> {
        let Some(field) = self.take_present(&[key])? else {
            return Ok(None);
        };
        match field.value {
            Value::Number(Number::Int(n), _) if n >= 0 => Ok(Some(n as usize)),
            other => Err(Problem::at(
                field.at,
                format!("`{key}: {}` must be a whole number ≥ 0", shown(&other)),
            )),
        }
    }

    /// A list of texts, each as written; a single text counts as a list of one.
    pub(crate) fn strings(&mut self, keys: &[&str]) -> Result<Option<Vec<String>>, Problem> {
        let Some(field) = self.take_present(keys)? else {
            return Ok(None);
        };
        let key = &field.key;
        match field.value {
            Value::List(items) => texts_of(key, items)
                .map(Some)
                .map_err(|m| Problem::at(field.at, m)),
            other => match other.text() {
                Some(text) => Ok(Some(vec![text.to_string()])),
                None => Err(Problem::at(
                    field.at,
                    format!("`{key}` must be a list of names, not {}", describe(&other)),
                )),
            },
        }
    }

    /// A mapping of text → text, each as written.
    pub(crate) fn string_map(
        &mut self,
        keys: &[&str],
    ) -> Result<Option<BTreeMap<String, String>>, Problem> {
        let Some(field) = self.take_present(keys)? else {
            return Ok(None);
        };
        let key = &field.key;
        match field.value {
            Value::Map(map) => map
                .fields
                .into_iter()
                .map(|f| match f.value.text() {
                    Some(text) => Ok((f.key, text.to_string())),
                    None => Err(Problem::at(
                        f.at,
                        format!(
                            "`{key}` maps `{}` to {}, expected a name",
                            f.key,
                            describe(&f.value)
                        ),
                    )),
                })
                .collect::<Result<BTreeMap<_, _>, _>>()
                .map(Some),
            other => Err(Problem::at(
                field.at,
                format!(
                    "`{key}` must be a mapping of names, not {}",
                    describe(&other)
                ),
            )),
        }
    }

    /// A mapping in file order, values as written.
    pub(crate) fn mapping(&mut self, key: &str) -> Result<Option<Mapping>, Problem> {
        let Some(field) = self.take_present(&[key])? else {
            return Ok(None);
        };
        match field.value {
            Value::Map(m) => Ok(Some(m)),
            other => Err(Problem::at(
                field.at,
                format!("`{key}` must be a mapping, not {}", describe(&other)),
            )),
        }
    }

    /// A list of values as written, and where the key is.
    pub(crate) fn list(&mut self, key: &str) -> Result<Option<(Vec<Value>, Position)>, Problem> {
        let Some(field) = self.take_present(&[key])? else {
            return Ok(None);
        };
        match field.value {
            Value::List(items) => Ok(Some((items, field.at))),
            other => Err(Problem::at(
                field.at,
                format!("`{key}` must be a list, not {}", describe(&other)),
            )),
        }
    }

    /// Fails if any key was not read, naming them and what was expected.
    pub(crate) fn finish(self, expected: &[&str]) -> Result<(), Problem> {
        let Some(first) = self.map.fields.first() else {
            return Ok(());
        };
        let unknown: Vec<&str> = self.map.keys().collect();
        let expected = if expected.is_empty() {
            "it takes none".to_string()
        } else {
            format!("expected {}", keys_list(expected))
        };
        Err(Problem::at(
            first.at,
            format!(
                "unknown argument{} {} ({expected})",
                if unknown.len() == 1 { "" } else { "s" },
                keys_list(&unknown)
            ),
        ))
    }
}

/// The items of a list of names, each as written (`y`, `010` and `true` are names).
pub(crate) fn texts_of(key: &str, items: Vec<Value>) -> Result<Vec<String>, String> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item.text() {
            Some(text) => Ok(text.to_string()),
            None => Err(format!(
                "`{key}` must list names, but item {} is {}{}",
                i + 1,
                describe(&item),
                if item.is_null() {
                    " (an empty item; write the name, quoted if need be)"
                } else {
                    ""
                }
            )),
        })
        .collect()
}

/// A value written in the file, compared with a column of type `column` when known:
/// for a text column, a plain scalar is the text written (`02134`, `1.50`, `yes`);
/// otherwise integers stay integers, `{"$bytes": hex}` is bytes.
pub(crate) fn datum_of(value: &Value, text_column: bool) -> Result<Datum, String> {
    Ok(match value {
        Value::Null(_) => Datum::Null,
        Value::Number(_, text) | Value::Bool(_, text) if text_column => {
            Datum::Str(text.to_string())
        }
        Value::Bool(b, _) => Datum::Bool(*b),
        Value::Number(Number::Int(i), _) => Datum::Int(*i),
        Value::Number(Number::Float(f), _) => Datum::Float(*f),
        Value::Number(Number::BeyondInt, text) => {
            return Err(format!(
                "`{text}` is beyond the range of 64-bit integers; quote it to compare it as text"
            ))
        }
        Value::String(s) => Datum::Str(s.clone()),
        Value::List(items) => Datum::List(
            items
                .iter()
                .map(|i| datum_of(i, text_column))
                .collect::<Result<_, _>>()?,
        ),
        Value::Map(m) => match (m.fields.len(), m.get("$bytes")) {
            (1, Some(Value::String(h))) => {
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
pub(crate) fn timeout_of(label: &str, value: &Value) -> Result<Duration, String> {
    let not_a_duration = || {
        format!(
            "`{label}: {}` is not a duration; {TIMEOUT_FORMS}",
            shown(value)
        )
    };
    let seconds = match value {
        Value::Number(Number::Int(n), _) => *n as f64,
        Value::Number(Number::Float(f), _) => *f,
        Value::String(text) => {
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

/// A whole number ≥ 0 written as a number, if `value` is one.
fn whole(value: &Value) -> Option<u64> {
    match value {
        Value::Number(Number::Int(n), _) => u64::try_from(*n).ok(),
        _ => None,
    }
}

/// The most retries a file may ask for.
pub const MAX_RETRIES: u32 = 100;

/// A number of retries: a whole number from 0 to [`MAX_RETRIES`].
pub(crate) fn retries_of(label: &str, value: &Value) -> Result<u32, String> {
    match whole(value) {
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
pub(crate) fn max_concurrency_of(label: &str, value: &Value) -> Result<usize, String> {
    match whole(value) {
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
pub(crate) fn protocol_of(label: &str, value: &Value) -> Result<Protocol, String> {
    match value {
        Value::String(name) => Protocol::from_name(name),
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

    /// A value as a file would hold it.
    fn yaml(text: &str) -> Value {
        let (Value::Map(map), _) = super::super::yaml::parse(&format!("v: {text}")).unwrap() else {
            panic!()
        };
        map.get("v").unwrap().clone()
    }

    #[test]
    fn timeouts_in_every_form() {
        let ok = |v: Value| timeout_of("timeout", &v).unwrap();
        assert_eq!(ok(yaml("1")), Duration::from_secs(1));
        assert_eq!(ok(yaml("0.5")), Duration::from_millis(500));
        assert_eq!(ok(yaml("'30'")), Duration::from_secs(30));
        assert_eq!(ok(yaml("'2.5'")), Duration::from_millis(2500));
        assert_eq!(ok(yaml("'90s'")), Duration::from_secs(90));
        assert_eq!(ok(yaml("'5m'")), Duration::from_secs(300));
        assert_eq!(ok(yaml("'1.5m'")), Duration::from_secs(90));
        assert_eq!(ok(yaml("'2h'")), Duration::from_secs(7200));
        assert_eq!(ok(yaml("'500ms'")), Duration::from_millis(500));
        assert_eq!(ok(yaml("'8760h'")), MAX_TIMEOUT);

        let err = |v: Value| timeout_of("timeout", &v).unwrap_err();
        for bad in [
            "5x", "90 s", " 30", "1e3", ".5", "1.", "1..2", "-1", "s", "", "5min", "1.5.2s",
        ] {
            let message = err(Value::String(bad.into()));
            assert_eq!(
                message,
                format!(
                    "`timeout: {bad}` is not a duration; write seconds as a positive number \
                     (`30`, `0.5`) or a number with a unit (`500ms`, `90s`, `5m`, `2h`)"
                )
            );
        }
        assert!(err(yaml("true")).starts_with("`timeout: true` is not a duration"));
        assert!(err(yaml("[1]")).starts_with("`timeout: [1]` is not a duration"));
        for zero in [yaml("0"), yaml("-1"), yaml("'0s'"), yaml("'0'")] {
            assert!(
                err(zero.clone()).contains("` must be more than zero; write seconds"),
                "{zero:?}"
            );
        }
        assert_eq!(
            err(yaml("'8761h'")),
            "`timeout: 8761h` is too long: a timeout is at most a year (8760h)"
        );
        assert!(err(yaml("1e300")).contains("is too long"));
    }

    #[test]
    fn retries_concurrency_and_protocols_are_bounded() {
        assert_eq!(retries_of("retries", &yaml("0")), Ok(0));
        assert_eq!(retries_of("retries", &yaml("100")), Ok(100));
        assert!(retries_of("retries", &yaml("101"))
            .unwrap_err()
            .starts_with("`retries: 101` is too many: at most 100"));
        for bad in [yaml("-1"), yaml("1.5"), yaml("'3'")] {
            assert_eq!(
                retries_of("retries", &bad).unwrap_err(),
                format!(
                    "`retries: {}` must be a whole number from 0 to 100",
                    shown(&bad)
                )
            );
        }
        assert_eq!(max_concurrency_of("m", &yaml("1")), Ok(1));
        assert_eq!(max_concurrency_of("m", &yaml("1024")), Ok(1024));
        assert!(max_concurrency_of("m", &yaml("1025"))
            .unwrap_err()
            .starts_with("`m: 1025` is too large: at most 1024"));
        assert_eq!(
            max_concurrency_of("m", &yaml("0")).unwrap_err(),
            "`m: 0` must be a whole number from 1 to 1024"
        );
        assert_eq!(protocol_of("p", &yaml("'jsonl'")), Ok(Protocol::Jsonl));
        assert_eq!(protocol_of("p", &yaml("'jsonl-id'")), Ok(Protocol::JsonlId));
        assert_eq!(
            protocol_of("p", &yaml("'json'")).unwrap_err(),
            "`p: json` is not a protocol (expected jsonl or jsonl-id)"
        );
    }
}
