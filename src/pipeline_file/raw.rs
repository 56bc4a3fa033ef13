//! The pipeline file as written: a tree of [`Value`]s in which every scalar keeps the
//! exact text it was written with and every mapping key its line and column, and the
//! top level split into its known keys ([`RawFile`]).
//!
//! YAML is read with the 1.2 core schema's booleans (only `true`/`false`, any case): `y`,
//! `n`, `yes`, `no`, `on` and `off` are text, as they are for the reference's users. A
//! number keeps its text beside its value, so a place that takes text (a name, a column,
//! a command argument) gets `010`, `1.50` or `1e3` exactly as written. A key written
//! twice in one mapping is an error naming both lines.
//!
//! Nothing here interprets an op or an argument; that is `compile`'s job, so that every
//! message about a node can name the node and its line.

use std::fmt;

use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_saphyr::Spanned;

/// Where something starts in the file (1-based; 0 when unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// 1-based line, 0 when unknown.
    pub line: u32,
    /// 1-based column, 0 when unknown.
    pub column: u32,
}

impl Position {
    fn of<T>(spanned: &Spanned<T>) -> Position {
        Position {
            line: u32::try_from(spanned.referenced.line()).unwrap_or(u32::MAX),
            column: u32::try_from(spanned.referenced.column()).unwrap_or(u32::MAX),
        }
    }
}

/// What is wrong, and where when known (else where the entry concerned starts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where, when known more precisely than the entry.
    pub at: Option<Position>,
    /// What is wrong and what to do.
    pub message: String,
}

impl Problem {
    /// A problem at `at`.
    pub fn at(at: Position, message: impl Into<String>) -> Problem {
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
pub enum Number {
    /// An integer within 64 bits (decimal, `0x…`, `0o…`; a leading zero is decimal).
    Int(i64),
    /// An integer written with more digits than 64 bits hold.
    BeyondInt,
    /// Any other number.
    Float(f64),
}

/// A value as written in the file.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
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
    pub fn text(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            Value::Number(_, text) | Value::Bool(_, text) => Some(text),
            Value::Null(text) if !text.is_empty() => Some(text),
            _ => None,
        }
    }

    /// Whether this is `null` or an empty value.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null(_))
    }
}

/// "a string", "a list", … for messages.
pub fn describe(value: &Value) -> &'static str {
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
pub fn shown(value: &Value) -> String {
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
pub struct Field {
    pub key: String,
    /// Where the key is written.
    pub at: Position,
    pub value: Value,
}

/// A mapping in file order; keys are unique (checked when the file is read).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mapping {
    pub fields: Vec<Field>,
}

impl Mapping {
    /// The field of `key`.
    pub fn field(&self, key: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.key == key)
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.field(key).map(|f| &f.value)
    }

    /// Removes and returns the field of `key`.
    pub fn remove(&mut self, key: &str) -> Option<Field> {
        let i = self.fields.iter().position(|f| f.key == key)?;
        Some(self.fields.remove(i))
    }

    /// The keys, in file order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|f| f.key.as_str())
    }
}

/// One entry of `sources:` or `nodes:`: its name, where it is, and its mapping.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub position: Position,
    pub body: Mapping,
}

impl Entry {
    /// Where `key` (or an argument under `args:`) is written, or else where the entry
    /// starts.
    pub fn position_of(&self, key: &str) -> Position {
        if let Some(field) = self.body.field(key) {
            return field.at;
        }
        if let Some(Value::Map(args)) = self.body.get("args") {
            if let Some(field) = args.field(key) {
                return field.at;
            }
        }
        self.position
    }
}

/// The top-level keys of a pipeline file.
pub const TOP_LEVEL_KEYS: &[&str] = &[
    "pipeline",
    "name",
    "description",
    "on_error",
    "defaults",
    "sources",
    "nodes",
    "outputs",
];

/// The top level of a pipeline file, each key checked for its shape.
#[derive(Debug, Default)]
pub struct RawFile {
    pub name: Option<String>,
    pub description: Option<String>,
    pub pipeline: Option<(String, Position)>,
    pub on_error: Option<(String, Position)>,
    pub sources: Vec<Entry>,
    pub nodes: Vec<Entry>,
    pub outputs: Option<Vec<(String, Position)>>,
    pub defaults: Option<(Mapping, Position)>,
}

impl RawFile {
    /// Splits the document (a [`Value`] and where it starts) into the known top-level
    /// keys, or says what is wrong with its shape.
    pub fn read(document: Value, at: Position) -> Result<RawFile, Problem> {
        let map = match document {
            Value::Map(map) => map,
            Value::Null(_) => {
                return Err(Problem::at(
                    at,
                    "the file is empty: a pipeline file is a mapping with at least `sources:` \
                     (and usually `nodes:`)",
                ))
            }
            other => {
                return Err(Problem::at(
                    at,
                    format!(
                        "a pipeline file is a mapping of {}, but this file is {}",
                        keys_list(TOP_LEVEL_KEYS),
                        describe(&other)
                    ),
                ))
            }
        };
        let mut file = RawFile::default();
        for Field { key, at, value } in map.fields {
            let text = |value: Value| -> Result<Option<String>, Problem> {
                match value {
                    Value::Null(_) => Ok(None),
                    other => match other.text() {
                        Some(text) => Ok(Some(text.to_string())),
                        None => Err(Problem::at(
                            at,
                            format!("`{key}` must be text, not {}", describe(&other)),
                        )),
                    },
                }
            };
            match key.as_str() {
                "name" => file.name = text(value)?,
                "description" => file.description = text(value)?,
                "pipeline" => file.pipeline = text(value)?.map(|t| (t, at)),
                "on_error" => file.on_error = text(value)?.map(|t| (t, at)),
                "sources" | "nodes" => {
                    let entries = entries(&key, value, at)?;
                    if key == "sources" {
                        file.sources = entries;
                    } else {
                        file.nodes = entries;
                    }
                }
                "outputs" => {
                    file.outputs = match value {
                        Value::Null(_) => None,
                        Value::List(items) => Some(
                            items
                                .into_iter()
                                .map(|item| match item.text() {
                                    Some(name) => Ok((name.to_string(), at)),
                                    None => Err(Problem::at(
                                        at,
                                        format!(
                                            "`outputs` must list names of sources or nodes, \
                                             but holds {}",
                                            describe(&item)
                                        ),
                                    )),
                                })
                                .collect::<Result<_, _>>()?,
                        ),
                        other => {
                            let example = other.text().unwrap_or("name");
                            return Err(Problem::at(
                                at,
                                format!(
                                    "`outputs` must be a list of names, not {}; write \
                                     `outputs: [{example}]`",
                                    describe(&other)
                                ),
                            ));
                        }
                    }
                }
                "defaults" => {
                    file.defaults = match value {
                        Value::Null(_) => None,
                        Value::Map(map) => Some((map, at)),
                        other => {
                            return Err(Problem::at(
                                at,
                                format!(
                                    "`defaults` must be a mapping of timeout, retries, \
                                     max_concurrency, not {}",
                                    describe(&other)
                                ),
                            ))
                        }
                    }
                }
                other => {
                    let hint = super::compile::closest(other, TOP_LEVEL_KEYS.iter().copied())
                        .map(|c| format!(" (did you mean `{c}`?)"))
                        .unwrap_or_default();
                    return Err(Problem::at(
                        at,
                        format!(
                            "unknown top-level key `{other}`{hint}; the keys are {}",
                            keys_list(TOP_LEVEL_KEYS)
                        ),
                    ));
                }
            }
        }
        Ok(file)
    }
}

/// `sources:` or `nodes:`: a mapping of names to mappings.
fn entries(key: &str, value: Value, at: Position) -> Result<Vec<Entry>, Problem> {
    let singular = if key == "sources" { "source" } else { "node" };
    let map = match value {
        Value::Null(_) => return Ok(Vec::new()),
        Value::Map(map) => map,
        other => {
            return Err(Problem::at(
                at,
                format!(
                    "`{key}` must be a mapping of names to settings (`{key}: {{name: {{…}}}}`), \
                     not {}",
                    describe(&other)
                ),
            ))
        }
    };
    map.fields
        .into_iter()
        .map(
            |Field {
                 key: name,
                 at,
                 value,
             }| match value {
                Value::Map(body) => Ok(Entry {
                    name,
                    position: at,
                    body,
                }),
                other => Err(Problem::at(
                    at,
                    format!(
                        "{singular} `{name}` must be a mapping of its settings, not {}",
                        describe(&other)
                    ),
                )),
            },
        )
        .collect()
}

/// `` `a`, `b` and `c` `` for messages.
pub fn keys_list(keys: &[&str]) -> String {
    let quoted: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => quoted.join(""),
    }
}

/// Reads `text` as YAML into a [`Value`] and where the document starts.
pub fn parse(text: &str) -> Result<(Value, Position), serde_saphyr::Error> {
    let options = serde_saphyr::options! {
        strict_booleans: true,
        duplicate_keys: serde_saphyr::options::DuplicateKeyPolicy::PassThrough,
        non_finite_float_policy: serde_saphyr::options::NonFiniteFloatPolicy::PassThrough,
    };
    let tree: Spanned<Tree> = serde_saphyr::from_str_with_options(text, options)?;
    let at = Position::of(&tree);
    Ok((resolve(tree, text), at))
}

/// The first key written twice in one mapping anywhere in `value`: the key, where it
/// is written first and where again.
pub fn duplicate_key(value: &Value) -> Option<(String, Position, Position)> {
    match value {
        Value::List(items) => items.iter().find_map(duplicate_key),
        Value::Map(map) => {
            for (i, field) in map.fields.iter().enumerate() {
                if let Some(again) = map.fields[i + 1..].iter().find(|f| f.key == field.key) {
                    return Some((field.key.clone(), field.at, again.at));
                }
            }
            map.fields.iter().find_map(|f| duplicate_key(&f.value))
        }
        _ => None,
    }
}

/// A value as the YAML reader gives it, with the span of every item, before the texts
/// of its scalars are cut out of the file.
#[derive(Debug)]
enum Tree {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    List(Vec<Spanned<Tree>>),
    Map(Vec<(Spanned<String>, Spanned<Tree>)>),
}

impl<'de> Deserialize<'de> for Tree {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TreeVisitor)
    }
}

struct TreeVisitor;

impl<'de> Visitor<'de> for TreeVisitor {
    type Value = Tree;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Tree, E> {
        Ok(Tree::Bool(v))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Tree, E> {
        Ok(Tree::Int(v.into()))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Tree, E> {
        Ok(Tree::Int(v.into()))
    }

    fn visit_i128<E: serde::de::Error>(self, v: i128) -> Result<Tree, E> {
        Ok(Tree::Int(v))
    }

    fn visit_u128<E: serde::de::Error>(self, v: u128) -> Result<Tree, E> {
        Ok(Tree::Int(i128::try_from(v).unwrap_or(i128::MAX)))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Tree, E> {
        Ok(Tree::Float(v))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Tree, E> {
        Ok(Tree::Str(v.to_string()))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Tree, E> {
        Ok(Tree::Str(v))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Tree, E> {
        Ok(Tree::Null)
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Tree, E> {
        Ok(Tree::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Tree, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tree, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Tree>>()? {
            items.push(item);
        }
        Ok(Tree::List(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tree, A::Error> {
        let mut fields = Vec::new();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            let value = map.next_value::<Spanned<Tree>>()?;
            fields.push((key, value));
        }
        Ok(Tree::Map(fields))
    }
}

/// The [`Value`] of `tree`, the texts of its scalars cut out of `text`.
fn resolve(tree: Spanned<Tree>, text: &str) -> Value {
    let written = || -> Box<str> {
        let span = tree.defined.span();
        span.byte_offset()
            .zip(span.byte_len())
            .and_then(|(start, len)| {
                let start = usize::try_from(start).ok()?;
                text.get(start..start.checked_add(usize::try_from(len).ok()?)?)
            })
            .unwrap_or_default()
            .into()
    };
    match tree.value {
        Tree::Null => Value::Null(written()),
        Tree::Bool(b) => {
            let text = written();
            let text = if text.is_empty() {
                b.to_string().into()
            } else {
                text
            };
            Value::Bool(b, text)
        }
        Tree::Int(i) => {
            let text = written();
            let number = i64::try_from(i).map_or(Number::BeyondInt, Number::Int);
            let text = if text.is_empty() {
                i.to_string().into()
            } else {
                text
            };
            Value::Number(number, text)
        }
        Tree::Float(f) => {
            let text = written();
            let number = integer_of(&text).unwrap_or(Number::Float(f));
            let text = if text.is_empty() {
                f.to_string().into()
            } else {
                text
            };
            Value::Number(number, text)
        }
        Tree::Str(s) => Value::String(s),
        Tree::List(items) => Value::List(items.into_iter().map(|i| resolve(i, text)).collect()),
        Tree::Map(fields) => Value::Map(Mapping {
            fields: fields
                .into_iter()
                .map(|(key, value)| Field {
                    at: Position::of(&key),
                    key: key.value,
                    value: resolve(value, text),
                })
                .collect(),
        }),
    }
}

/// A decimal integer written in full (`010`, `-007`, `1_000`, `99999999999999999999`)
/// that the YAML reader widened to a float: an integer, as the core schema says.
fn integer_of(text: &str) -> Option<Number> {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit() || c == '_') {
        return None;
    }
    let plain: String = text.chars().filter(|&c| c != '_').collect();
    Some(plain.parse::<i64>().map_or(Number::BeyondInt, Number::Int))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(yaml: &str) -> Vec<Value> {
        let (value, _) = parse(yaml).unwrap();
        let Value::Map(map) = value else { panic!() };
        let Some(Value::List(items)) = map.get("a").cloned() else {
            panic!()
        };
        items
    }

    #[test]
    fn scalars_keep_their_text_and_yaml_1_1_booleans_are_text() {
        let items = list(
            "a: [010, 0x1F, 1.50, 1e3, 1_000, y, n, yes, no, on, off, 'q', \"x\", true, False, \
             9007199254740993, 99999999999999999999999, ~, null, -0, .inf]",
        );
        let texts: Vec<&str> = items.iter().map(|v| v.text().unwrap()).collect();
        assert_eq!(
            texts,
            [
                "010",
                "0x1F",
                "1.50",
                "1e3",
                "1_000",
                "y",
                "n",
                "yes",
                "no",
                "on",
                "off",
                "q",
                "x",
                "true",
                "False",
                "9007199254740993",
                "99999999999999999999999",
                "~",
                "null",
                "-0",
                ".inf"
            ]
        );
        for (i, expected) in [(5, "y"), (6, "n"), (9, "on"), (10, "off")] {
            assert_eq!(items[i], Value::String(expected.into()));
        }
        assert_eq!(items[0], Value::Number(Number::Int(10), "010".into()));
        assert_eq!(items[1], Value::Number(Number::Int(31), "0x1F".into()));
        assert_eq!(items[2], Value::Number(Number::Float(1.5), "1.50".into()));
        assert_eq!(items[4], Value::Number(Number::Int(1000), "1_000".into()));
        assert_eq!(items[13], Value::Bool(true, "true".into()));
        assert_eq!(items[14], Value::Bool(false, "False".into()));
        assert_eq!(
            items[15],
            Value::Number(Number::Int(9007199254740993), "9007199254740993".into())
        );
        assert_eq!(
            items[16],
            Value::Number(Number::BeyondInt, "99999999999999999999999".into())
        );
        assert!(matches!(items[20], Value::Number(Number::Float(f), _) if f.is_infinite()));
    }

    #[test]
    fn block_items_and_keys_keep_positions() {
        let (value, _) = parse("a:\n  - 1.50\n  - y\nb: {c: 2}\n").unwrap();
        let Value::Map(map) = value else { panic!() };
        assert_eq!(map.fields[0].at, Position { line: 1, column: 1 });
        assert_eq!(map.fields[1].at, Position { line: 4, column: 1 });
        assert_eq!(
            map.get("a"),
            Some(&Value::List(vec![
                Value::Number(Number::Float(1.5), "1.50".into()),
                Value::String("y".into())
            ]))
        );
    }

    #[test]
    fn duplicate_keys_are_found_with_both_positions() {
        let (value, _) = parse("a: 1\nb:\n  c: 1\n  c: 2\n").unwrap();
        let (key, first, again) = duplicate_key(&value).unwrap();
        assert_eq!(key, "c");
        assert_eq!((first.line, again.line), (3, 4));
    }

    #[test]
    fn the_shape_of_the_top_level_is_checked() {
        let read = |yaml: &str| {
            let (value, at) = parse(yaml).unwrap();
            RawFile::read(value, at)
        };
        let err = read("- a\n- b\n").unwrap_err();
        assert!(err.message.contains("this file is a list"), "{err:?}");
        let err = read("node: {}\n").unwrap_err();
        assert!(err.message.contains("(did you mean `nodes`?)"), "{err:?}");
        assert_eq!(err.at, Some(Position { line: 1, column: 1 }));
        let err = read("outputs: a\n").unwrap_err();
        assert!(err.message.contains("write `outputs: [a]`"), "{err:?}");
        assert!(read("").unwrap_err().message.contains("the file is empty"));
    }
}
