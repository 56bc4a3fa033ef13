//! The top level of a pipeline file ([`RawFile`]): its known keys, each checked for its
//! shape, and the entries of `sources:` and `nodes:` by name ([`Entry`]).
//!
//! Nothing here interprets an op or an argument; that is `compile`'s job, so that every
//! message about a node can name the node and its line.

use super::suggest::did_you_mean;
use super::value::{describe, keys_list, Field, Mapping, Position, Problem, Value};

/// One entry of `sources:` or `nodes:`: its name, where it is, and its mapping.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub name: String,
    pub position: Position,
    pub body: Mapping,
}

impl Entry {
    /// Where `key` (or an argument under `args:`) is written, or else where the entry
    /// starts.
    pub(crate) fn position_of(&self, key: &str) -> Position {
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
const TOP_LEVEL_KEYS: &[&str] = &[
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
pub(crate) struct RawFile {
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
    pub(crate) fn read(document: Value, at: Position) -> Result<RawFile, Problem> {
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
                    let hint = did_you_mean(other, TOP_LEVEL_KEYS.iter().copied());
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

#[cfg(test)]
mod tests {
    use super::super::yaml::parse;
    use super::*;

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
