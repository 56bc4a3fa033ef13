//! Identity structures: what each component's content and pipeline hashes are made of.
//!
//! These reproduce reference §5.3 exactly, because the hashes they give name system-tag
//! columns and database paths and must equal the reference's:
//!
//! | component | content identity | pipeline identity |
//! |---|---|---|
//! | root source | `(ClassName, (tag_schema, packet_schema), source_id)` | `(tag_schema, packet_schema)` |
//! | operator | per operator, e.g. `"Join"` | same |
//! | operator output | `(operator, symmetry(inputs' content hashes))` | `(operator, symmetry(inputs' pipeline hashes))` |
//!
//! A schema is a dict of column name → hash string of its Python type. Symmetry is a
//! tuple for positional operators and a set (sorted) for commutative ones.

use arrow::datatypes::FieldRef;

use super::python_type::field_type_hash;
use super::{hash_value, ContentHash, Value};
use crate::error::Result;

/// A component's two identities.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    /// Includes data or source identity.
    pub content: ContentHash,
    /// Schema and topology only.
    pub pipeline: ContentHash,
}

/// How an operator's inputs enter its identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Symmetry {
    /// Order matters (unary operators, SemiJoin): a tuple.
    Ordered,
    /// Order does not matter (Join, MergeJoin, function pods): a set.
    Unordered,
}

/// The Python-schema dict of a list of fields: name → hash string of the type.
pub fn schema_value(fields: &[FieldRef]) -> Result<Value> {
    fields
        .iter()
        .map(|f| Ok((f.name().clone(), Value::Hash(field_type_hash(f)?))))
        .collect::<Result<Vec<_>>>()
        .map(Value::Dict)
}

/// `(tag_schema, packet_schema)`: a root source's pipeline identity.
pub fn schema_pair(tags: &[FieldRef], packets: &[FieldRef]) -> Result<Value> {
    Ok(Value::tuple([schema_value(tags)?, schema_value(packets)?]))
}

/// The identities of a root source of class `class_name` (e.g. `CSVSource`).
pub fn root_source(
    class_name: &str,
    tags: &[FieldRef],
    packets: &[FieldRef],
    source_id: &str,
) -> Result<Identity> {
    let schemas = schema_pair(tags, packets)?;
    let content = hash_value(&Value::tuple([
        Value::str(class_name),
        schemas.clone(),
        Value::str(source_id),
    ]));
    Ok(Identity {
        content,
        pipeline: hash_value(&schemas),
    })
}

/// The identities of an invocation of an operator (or function pod) on inputs.
pub fn invocation(operator: &ContentHash, symmetry: Symmetry, inputs: &[&Identity]) -> Identity {
    let arrange = |hashes: Vec<Value>| match symmetry {
        Symmetry::Ordered => Value::Tuple(hashes),
        Symmetry::Unordered => Value::Set(hashes),
    };
    let content = arrange(
        inputs
            .iter()
            .map(|i| Value::Hash(i.content.clone()))
            .collect(),
    );
    let pipeline = arrange(
        inputs
            .iter()
            .map(|i| Value::Hash(i.pipeline.clone()))
            .collect(),
    );
    Identity {
        content: hash_value(&Value::tuple([Value::Hash(operator.clone()), content])),
        pipeline: hash_value(&Value::tuple([Value::Hash(operator.clone()), pipeline])),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::{DataType, Field};

    use super::*;

    fn field(name: &str, dt: DataType) -> FieldRef {
        Arc::new(Field::new(name, dt, false))
    }

    /// Source A of the reference's worked example: `{id: str | x: int}`.
    #[test]
    fn source_pipeline_hash_matches_the_reference() {
        let id = root_source(
            "DictSource",
            &[field("id", DataType::LargeUtf8)],
            &[field("x", DataType::Int64)],
            "A",
        )
        .unwrap();
        assert!(
            id.pipeline.hex().starts_with("39d4ba8d2d69"),
            "{}",
            id.pipeline
        );
    }

    #[test]
    fn unordered_invocations_ignore_input_order() {
        let a = root_source("S", &[field("id", DataType::Utf8)], &[], "a").unwrap();
        let b = root_source("S", &[field("id", DataType::Utf8)], &[], "b").unwrap();
        let op = crate::hashing::hash_str("Join");
        assert_eq!(
            invocation(&op, Symmetry::Unordered, &[&a, &b]),
            invocation(&op, Symmetry::Unordered, &[&b, &a])
        );
        assert_ne!(
            invocation(&op, Symmetry::Ordered, &[&a, &b]),
            invocation(&op, Symmetry::Ordered, &[&b, &a])
        );
    }
}
