//! The pipeline file as written: top-level keys checked by serde, every source and node
//! kept as a JSON object with the line and column where it starts.
//!
//! Nothing here interprets an op or an argument; that is `compile`'s job, so that every
//! message about a node can name the node and its line.

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
                while let Some((name, body)) = map.next_entry::<Spanned<String>, Spanned<Json>>()? {
                    let position = Position::of(&name);
                    let body = match body.value {
                        Json::Object(m) => m,
                        other => {
                            return Err(serde::de::Error::custom(format!(
                                "`{}` must be a mapping of its settings, not {}",
                                name.value,
                                describe(&other)
                            )))
                        }
                    };
                    entries.push(Entry {
                        name: name.value,
                        position,
                        body,
                    });
                }
                Ok(Entries(entries))
            }
        }

        deserializer.deserialize_map(EntriesVisitor)
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

/// Positions of spanned values, for the compiler.
pub fn position<T>(spanned: &Spanned<T>) -> Position {
    Position::of(spanned)
}
