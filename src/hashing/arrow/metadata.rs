//! Which metadata the Arrow hasher sees, as the reference's `StarfixArrowHasher` decides
//! it (orcapod 0.1.4, `hashing/schema_cleaner.py`).
//!
//! Only Arrow extension metadata (`ARROW:extension:*` keys) carries identity. A schema
//! with an extension name on any field, at any depth, or on the schema itself is hashed
//! *with* metadata, after every other key is dropped; any other schema is hashed without
//! metadata, so comments or provenance written into a schema never move a hash. This
//! module only rewrites schemas; it hashes nothing.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, UnionFields};

/// The metadata key naming a field's Arrow extension type.
pub const EXTENSION_NAME_KEY: &str = "ARROW:extension:name";
/// The metadata key of an Arrow extension type's own metadata.
pub const EXTENSION_METADATA_KEY: &str = "ARROW:extension:metadata";
const EXTENSION_PREFIX: &str = "ARROW:extension:";

/// The schema to hash in place of `schema` when its metadata counts (it names an
/// extension type): `schema` with only its `ARROW:extension:*` keys. `None` when
/// metadata does not count, and `schema` is hashed as it is, without metadata.
pub fn with_extension_metadata(schema: &Schema) -> Option<Schema> {
    let clean = Schema::new_with_metadata(
        schema.fields().iter().map(clean_field).collect::<Fields>(),
        filter(schema.metadata()),
    );
    let named = clean.metadata().contains_key(EXTENSION_NAME_KEY)
        || clean.fields().iter().any(names_extension);
    named.then_some(clean)
}

fn filter(metadata: &HashMap<String, String>) -> HashMap<String, String> {
    metadata
        .iter()
        .filter(|(k, _)| k.starts_with(EXTENSION_PREFIX))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn clean_field(field: &FieldRef) -> FieldRef {
    Arc::new(
        Field::new(
            field.name(),
            clean_type(field.data_type()),
            field.is_nullable(),
        )
        .with_metadata(filter(field.metadata())),
    )
}

fn clean_type(data_type: &DataType) -> DataType {
    use DataType as T;
    match data_type {
        T::Struct(fields) => T::Struct(fields.iter().map(clean_field).collect()),
        T::List(item) => T::List(clean_field(item)),
        T::LargeList(item) => T::LargeList(clean_field(item)),
        T::FixedSizeList(item, n) => T::FixedSizeList(clean_field(item), *n),
        T::Map(entries, sorted) => T::Map(clean_field(entries), *sorted),
        T::Dictionary(key, value) => T::Dictionary(key.clone(), Box::new(clean_type(value))),
        T::Union(fields, mode) => {
            let (ids, children): (Vec<i8>, Vec<FieldRef>) =
                fields.iter().map(|(id, f)| (id, clean_field(f))).unzip();
            let fields = UnionFields::try_new(ids, children)
                .expect("the type ids and fields of a valid union");
            T::Union(fields, *mode)
        }
        other => other.clone(),
    }
}

fn names_extension(field: &FieldRef) -> bool {
    field.metadata().contains_key(EXTENSION_NAME_KEY) || type_names_extension(field.data_type())
}

fn type_names_extension(data_type: &DataType) -> bool {
    use DataType as T;
    match data_type {
        T::Struct(fields) => fields.iter().any(names_extension),
        T::List(item) | T::LargeList(item) | T::FixedSizeList(item, _) | T::Map(item, _) => {
            names_extension(item)
        }
        T::Dictionary(_, value) => type_names_extension(value),
        T::Union(fields, _) => fields.iter().any(|(_, f)| names_extension(f)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_extension_metadata_counts_and_only_when_an_extension_is_named() {
        let note = HashMap::from([("comment".to_string(), "x".to_string())]);
        let plain = Schema::new(vec![
            Field::new("a", DataType::Int64, false).with_metadata(note.clone())
        ]);
        assert_eq!(with_extension_metadata(&plain), None);
        let named = HashMap::from([
            (EXTENSION_NAME_KEY.to_string(), "orcapod.file".to_string()),
            ("comment".to_string(), "x".to_string()),
        ]);
        let item = Field::new("item", DataType::LargeUtf8, true).with_metadata(named);
        let nested = Schema::new_with_metadata(
            vec![
                Field::new("a", DataType::Int64, false).with_metadata(note.clone()),
                Field::new("l", DataType::LargeList(Arc::new(item)), true),
            ],
            note,
        );
        let clean = with_extension_metadata(&nested).expect("an extension is named");
        assert!(clean.metadata().is_empty());
        assert!(clean.field(0).metadata().is_empty());
        let DataType::LargeList(item) = clean.field(1).data_type() else {
            panic!("the list stays a list")
        };
        assert_eq!(
            item.metadata(),
            &HashMap::from([(EXTENSION_NAME_KEY.to_string(), "orcapod.file".to_string())])
        );
    }
}
