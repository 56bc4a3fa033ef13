//! Reading a pipeline file's YAML (or JSON) into a [`Value`] tree: YAML 1.2's core
//! schema booleans (only `true`/`false`, any case: `y`, `n`, `yes`, `no`, `on` and `off`
//! are text, as they are for the reference's users), every scalar's text cut from the
//! file by its span, every key's line and column, and the keys written twice found.
//!
//! Only the tree: nothing here knows a top-level key, an op or an argument.

use std::fmt;

use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::value::{Field, Mapping, Number, Position, Value};

/// Where a spanned item starts.
fn position_of<T>(spanned: &Spanned<T>) -> Position {
    Position {
        line: u32::try_from(spanned.referenced.line()).unwrap_or(u32::MAX),
        column: u32::try_from(spanned.referenced.column()).unwrap_or(u32::MAX),
    }
}

/// Reads `text` as YAML into a [`Value`] and where the document starts.
pub(crate) fn parse(text: &str) -> Result<(Value, Position), serde_saphyr::Error> {
    let options = serde_saphyr::options! {
        strict_booleans: true,
        duplicate_keys: serde_saphyr::options::DuplicateKeyPolicy::PassThrough,
        non_finite_float_policy: serde_saphyr::options::NonFiniteFloatPolicy::PassThrough,
    };
    let tree: Spanned<Tree> = serde_saphyr::from_str_with_options(text, options)?;
    let at = position_of(&tree);
    Ok((resolve(tree, text), at))
}

/// The first key written twice in one mapping anywhere in `value`: the key, where it
/// is written first and where again.
pub(crate) fn duplicate_key(value: &Value) -> Option<(String, Position, Position)> {
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
        Tree::Bool(b) => Value::Bool(b, or_shown(written(), b)),
        Tree::Int(i) => {
            let number = i64::try_from(i).map_or(Number::BeyondInt, Number::Int);
            Value::Number(number, or_shown(written(), i))
        }
        Tree::Float(f) => {
            let text = written();
            let number = integer_of(&text).unwrap_or(Number::Float(f));
            Value::Number(number, or_shown(text, f))
        }
        Tree::Str(s) => Value::String(s),
        Tree::List(items) => Value::List(items.into_iter().map(|i| resolve(i, text)).collect()),
        Tree::Map(fields) => Value::Map(Mapping {
            fields: fields
                .into_iter()
                .map(|(key, value)| Field {
                    at: position_of(&key),
                    key: key.value,
                    value: resolve(value, text),
                })
                .collect(),
        }),
    }
}

/// The text a scalar was written with, or, where the reader gave no span (an empty
/// text), the value as Rust shows it.
fn or_shown(text: Box<str>, value: impl std::fmt::Display) -> Box<str> {
    if text.is_empty() {
        value.to_string().into()
    } else {
        text
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
}
