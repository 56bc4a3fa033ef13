//! The pipeline file as written: top-level keys checked by serde, every source and node
//! kept as a JSON object with the line and column where it starts.
//!
//! Nothing here interprets an op or an argument; that is `compile`'s job, so that every
//! message about a node can name the node and its line.

use std::collections::HashMap;
use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value as Json};
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

/// One entry of `sources:` or `nodes:`: its name, where it is, and its mapping.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub position: Position,
    pub body: Map<String, Json>,
    /// Where each key of the mapping is written, and each key of its `args:` mapping
    /// (a key written in both places keeps its top-level position).
    pub keys: HashMap<String, Position>,
}

impl Entry {
    /// Where `key` is written, or else where the entry starts.
    pub fn position_of(&self, key: &str) -> Position {
        self.keys.get(key).copied().unwrap_or(self.position)
    }
}

/// The top level of a pipeline file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    pub name: Option<String>,
    pub description: Option<String>,
    pub pipeline: Option<Spanned<String>>,
    pub on_error: Option<Spanned<String>>,
    #[serde(default)]
    pub sources: Entries,
    #[serde(default)]
    pub nodes: Entries,
    pub outputs: Option<Vec<Spanned<String>>>,
    pub defaults: Option<Spanned<Keyed>>,
}

/// A YAML mapping of name → mapping, in file order, each with its position.
#[derive(Debug, Default)]
pub struct Entries(pub Vec<Entry>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;

        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = Entries;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping of names to mappings")
            }

            fn visit_unit<E: serde::de::Error>(self) -> Result<Entries, E> {
                Ok(Entries::default())
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut entries = Vec::new();
                while let Some((name, body)) = map.next_entry::<Spanned<String>, Keyed>()? {
                    let position = Position::of(&name);
                    let Keyed {
                        value,
                        mut keys,
                        args,
                    } = body;
                    let body = match value {
                        Json::Object(m) => m,
                        other => {
                            return Err(serde::de::Error::custom(format!(
                                "`{}` must be a mapping of its settings, not {}",
                                name.value,
                                describe(&other)
                            )))
                        }
                    };
                    for (key, at) in args {
                        keys.entry(key).or_insert(at);
                    }
                    entries.push(Entry {
                        name: name.value,
                        position,
                        body,
                        keys,
                    });
                }
                Ok(Entries(entries))
            }
        }

        deserializer.deserialize_map(EntriesVisitor)
    }
}

/// A value as written, with the position of each key when it is a mapping (and of
/// each key of its `args:` mapping, if it has one).
#[derive(Debug, Default)]
pub struct Keyed {
    pub value: Json,
    /// Where each key of the mapping is written.
    pub keys: HashMap<String, Position>,
    /// Where each key of the mapping's `args:` mapping is written.
    pub args: HashMap<String, Position>,
}

impl<'de> Deserialize<'de> for Keyed {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KeyedVisitor { nested: true })
    }
}

/// A value whose keys are located, one level deep: the `args:` of a [`Keyed`].
struct KeyedArgs(Keyed);

impl<'de> Deserialize<'de> for KeyedArgs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(KeyedVisitor { nested: false })
            .map(KeyedArgs)
    }
}

/// Reads any value as [`Json`] would, locating the keys of a mapping (and, when
/// `nested`, of its `args:`).
struct KeyedVisitor {
    nested: bool,
}

impl KeyedVisitor {
    fn plain(value: Json) -> Keyed {
        Keyed {
            value,
            ..Keyed::default()
        }
    }
}

impl<'de> Visitor<'de> for KeyedVisitor {
    type Value = Keyed;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Keyed, E> {
        Ok(Self::plain(Json::Bool(v)))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Keyed, E> {
        Ok(Self::plain(Json::from(v)))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Keyed, E> {
        Ok(Self::plain(Json::from(v)))
    }

    fn visit_i128<E: serde::de::Error>(self, v: i128) -> Result<Keyed, E> {
        let number = serde_json::Number::deserialize(serde::de::value::I128Deserializer::new(v))?;
        Ok(Self::plain(Json::Number(number)))
    }

    fn visit_u128<E: serde::de::Error>(self, v: u128) -> Result<Keyed, E> {
        let number = serde_json::Number::deserialize(serde::de::value::U128Deserializer::new(v))?;
        Ok(Self::plain(Json::Number(number)))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Keyed, E> {
        // As `serde_json::Value` reads it: a non-finite number is null.
        Ok(Self::plain(Json::from(v)))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Keyed, E> {
        Ok(Self::plain(Json::String(v.to_string())))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Keyed, E> {
        Ok(Self::plain(Json::String(v)))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Keyed, E> {
        Ok(Self::plain(Json::Null))
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Keyed, E> {
        Ok(Self::plain(Json::Null))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Keyed, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Keyed, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Json>()? {
            items.push(item);
        }
        Ok(Self::plain(Json::Array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Keyed, A::Error> {
        let mut value = Map::new();
        let mut keys = HashMap::new();
        let mut args = HashMap::new();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            let item = if self.nested && key.value == "args" {
                let KeyedArgs(nested) = map.next_value::<KeyedArgs>()?;
                args = nested.keys;
                nested.value
            } else {
                map.next_value::<Json>()?
            };
            keys.insert(key.value.clone(), Position::of(&key));
            value.insert(key.value, item);
        }
        Ok(Keyed {
            value: Json::Object(value),
            keys,
            args,
        })
    }
}

/// "a string", "a list", … for messages.
pub fn describe(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "a list",
        Json::Object(_) => "a mapping",
    }
}

/// A value as it reads in a message: a string or number as written, anything else as
/// compact JSON (shortened when long).
pub fn shown(value: &Json) -> String {
    let text = match value {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() > 40 {
        let head: String = text.chars().take(37).collect();
        format!("{head}...")
    } else {
        text
    }
}

/// Positions of spanned values, for the compiler.
pub fn position<T>(spanned: &Spanned<T>) -> Position {
    Position::of(spanned)
}
