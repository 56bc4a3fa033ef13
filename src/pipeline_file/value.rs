//! The pipeline file as written: a tree of [`Value`]s in which every scalar keeps the
//! exact text it was written with and every mapping key its line and column, and what a
//! message says about such a value ([`describe`], [`shown`], [`keys_list`], [`Problem`]).
//!
//! A number keeps its text beside its value, so a place that takes text (a name, a
//! column, a command argument) gets `010`, `1.50` or `1e3` exactly as written. Nothing
//! here reads YAML (that is `yaml`) or interprets a key (that is `raw`, `args` and
//! `compile`).

/// Where something starts in the file (1-based; 0 when unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// 1-based line, 0 when unknown.
    pub line: u32,
    /// 1-based column, 0 when unknown.
    pub column: u32,
}

/// What is wrong, and where when known (else where the entry concerned starts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    /// Where, when known more precisely than the entry.
    pub at: Option<Position>,
    /// What is wrong and what to do.
    pub message: String,
}

impl Problem {
    /// A problem at `at`.
    pub(crate) fn at(at: Position, message: impl Into<String>) -> Problem {
        Problem {
            at: Some(at),
            message: message.into(),
        }
    }
}

impl From<String> for Problem {
    fn from(message: String) -> Problem {
        Problem { at: None, message }
    }
}

impl From<&str> for Problem {
    fn from(message: &str) -> Problem {
        Problem::from(message.to_string())
    }
}

/// A number as YAML's core schema reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Number {
    /// An integer within 64 bits (decimal, `0x…`, `0o…`; a leading zero is decimal).
    Int(i64),
    /// An integer written with more digits than 64 bits hold.
    BeyondInt,
    /// Any other number.
    Float(f64),
}

/// A value as written in the file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// `~`, `null` or nothing, with its text.
    Null(Box<str>),
    /// `true` or `false` (any case), with its text.
    Bool(bool, Box<str>),
    /// A number, with its text.
    Number(Number, Box<str>),
    /// Text: quoted, or plain text YAML reads as nothing else.
    String(String),
    /// A sequence.
    List(Vec<Value>),
    /// A mapping, in file order.
    Map(Mapping),
}

impl Value {
    /// The text of a scalar, as written: the string itself, or a number's, boolean's or
    /// `null`'s spelling. `None` for a list, a mapping or an empty value.
    pub(crate) fn text(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            Value::Number(_, text) | Value::Bool(_, text) => Some(text),
            Value::Null(text) if !text.is_empty() => Some(text),
            _ => None,
        }
    }

    /// Whether this is `null` or an empty value.
    pub(crate) fn is_null(&self) -> bool {
        matches!(self, Value::Null(_))
    }
}

/// "a string", "a list", … for messages.
pub(crate) fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null(_) => "null",
        Value::Bool(..) => "a boolean",
        Value::Number(..) => "a number",
        Value::String(_) => "a string",
        Value::List(_) => "a list",
        Value::Map(_) => "a mapping",
    }
}

/// A value as it reads in a message: a scalar as written, anything else in flow style
/// (shortened when long).
pub(crate) fn shown(value: &Value) -> String {
    fn render(value: &Value, out: &mut String) {
        match value {
            Value::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    render(item, out);
                }
                out.push(']');
            }
            Value::Map(map) => {
                out.push('{');
                for (i, field) in map.fields.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(&field.key);
                    out.push_str(": ");
                    render(&field.value, out);
                }
                out.push('}');
            }
            Value::Null(text) if text.is_empty() => out.push_str("null"),
            scalar => out.push_str(scalar.text().unwrap_or_default()),
        }
    }
    let mut text = String::new();
    render(value, &mut text);
    if text.chars().count() > 40 {
        let head: String = text.chars().take(37).collect();
        format!("{head}...")
    } else {
        text
    }
}

/// One `key: value` of a mapping.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Field {
    pub key: String,
    /// Where the key is written.
    pub at: Position,
    pub value: Value,
}

/// A mapping in file order; keys are unique (checked when the file is read).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Mapping {
    pub fields: Vec<Field>,
}

impl Mapping {
    /// The field of `key`.
    pub(crate) fn field(&self, key: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.key == key)
    }

    /// The value of `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        self.field(key).map(|f| &f.value)
    }

    /// Removes and returns the field of `key`.
    pub(crate) fn remove(&mut self, key: &str) -> Option<Field> {
        let i = self.fields.iter().position(|f| f.key == key)?;
        Some(self.fields.remove(i))
    }

    /// The keys, in file order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|f| f.key.as_str())
    }
}

/// `` `a`, `b` and `c` `` for messages.
pub(crate) fn keys_list(keys: &[&str]) -> String {
    let quoted: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => quoted.join(""),
    }
}
