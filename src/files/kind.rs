//! How a file or directory value is carried in Arrow.
//!
//! A `file` value is a struct with one field, `path` (`large_string`): the semantic
//! struct for `pathlib.Path` of the reference's spec. A `dir` value is the same shape
//! with the field `dir` instead. The type is the column's Arrow type itself, so no
//! operator, join, store or export can lose it: a column keeps being a file column for
//! as long as it exists. (The reference 0.1.4 carries its `orcapod.File` and
//! `orcapod.Directory` as Arrow extension types over JSON strings instead; values hash
//! alike all the same, see `super::content`.)
//!
//! This module only names the types and converts between paths and arrays; it never
//! touches the file system.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, LargeStringArray, RecordBatch, StructArray};
use arrow::datatypes::{DataType, Field, Fields, Schema};

use crate::error::{Error, Result};

/// Whether a value names a file or a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PathKind {
    /// A regular file, identified by the SHA-256 of its bytes.
    File,
    /// A directory, identified by the Merkle hash of its entries.
    Dir,
}

impl PathKind {
    /// The name of the struct's one field: `path` for files (the reference's), `dir`.
    pub fn field_name(self) -> &'static str {
        match self {
            PathKind::File => "path",
            PathKind::Dir => "dir",
        }
    }

    /// The type's name in pipeline files and messages: `file` or `dir`.
    pub fn type_name(self) -> &'static str {
        match self {
            PathKind::File => "file",
            PathKind::Dir => "dir",
        }
    }

    /// The Arrow type of a value of this kind.
    pub fn data_type(self) -> DataType {
        DataType::Struct(self.fields())
    }

    fn fields(self) -> Fields {
        Fields::from(vec![Field::new(
            self.field_name(),
            DataType::LargeUtf8,
            true,
        )])
    }

    /// The kind of values of `data_type`, if it is a file or directory type.
    pub fn of(data_type: &DataType) -> Option<PathKind> {
        let DataType::Struct(fields) = data_type else {
            return None;
        };
        let [field] = &fields[..] else {
            return None;
        };
        if field.data_type() != &DataType::LargeUtf8 {
            return None;
        }
        [PathKind::File, PathKind::Dir]
            .into_iter()
            .find(|k| field.name() == k.field_name())
    }
}

/// Whether `data_type` holds file or directory values anywhere (itself or as list items).
pub fn holds_paths(data_type: &DataType) -> bool {
    match data_type {
        DataType::List(item) | DataType::LargeList(item) => holds_paths(item.data_type()),
        t => PathKind::of(t).is_some(),
    }
}

/// The paths of a file or directory array (null where the value is null).
pub fn path_strings(array: &dyn Array) -> Result<LargeStringArray> {
    if PathKind::of(array.data_type()).is_none() {
        return Err(Error::internal(format!(
            "a column of type {} holds no file or directory values",
            array.data_type()
        )));
    }
    let strukt = array.as_struct();
    let paths = strukt.column(0).as_string::<i64>();
    // A null struct is a null value, whatever its child holds.
    Ok(match strukt.nulls() {
        Some(nulls) => (0..strukt.len())
            .map(|i| {
                nulls
                    .is_valid(i)
                    .then(|| paths.value(i))
                    .filter(|_| paths.is_valid(i))
            })
            .collect(),
        None => paths.clone(),
    })
}

/// The path of row `i` of a file or directory array (`None` when null).
pub fn path_at(array: &dyn Array, i: usize) -> Option<String> {
    if array.is_null(i) {
        return None;
    }
    let paths = array.as_struct().column(0).as_string::<i64>();
    paths.is_valid(i).then(|| paths.value(i).to_string())
}

/// An array of `kind` values from paths (`None` is a null value).
pub fn path_array<S: AsRef<str>>(kind: PathKind, paths: &[Option<S>]) -> ArrayRef {
    let child: LargeStringArray = paths
        .iter()
        .map(|p| p.as_ref().map(AsRef::as_ref))
        .collect();
    let nulls = paths
        .iter()
        .any(Option::is_none)
        .then(|| paths.iter().map(Option::is_some).collect());
    Arc::new(StructArray::new(
        kind.fields(),
        vec![Arc::new(child) as ArrayRef],
        nulls,
    ))
}

/// `batch` with each file or directory column shown as its paths (text), for a table
/// printed to a person; never for data that is kept or hashed.
pub fn paths_as_text(batch: &RecordBatch) -> Result<RecordBatch> {
    let schema = batch.schema();
    if !schema
        .fields()
        .iter()
        .any(|f| PathKind::of(f.data_type()).is_some())
    {
        return Ok(batch.clone());
    }
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns = Vec::with_capacity(schema.fields().len());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        if PathKind::of(field.data_type()).is_some() {
            fields.push(Field::new(
                field.name(),
                DataType::LargeUtf8,
                field.is_nullable(),
            ));
            columns.push(Arc::new(path_strings(column.as_ref())?) as ArrayRef);
        } else {
            fields.push(field.as_ref().clone());
            columns.push(column.clone());
        }
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_round_trip() {
        for kind in [PathKind::File, PathKind::Dir] {
            assert_eq!(PathKind::of(&kind.data_type()), Some(kind));
            let array = path_array(kind, &[Some("/a"), None, Some("/b")]);
            assert_eq!(path_at(array.as_ref(), 0).as_deref(), Some("/a"));
            assert_eq!(path_at(array.as_ref(), 1), None);
            let strings = path_strings(array.as_ref()).unwrap();
            assert_eq!(strings.value(2), "/b");
            assert!(strings.is_null(1));
        }
        assert_eq!(PathKind::of(&DataType::LargeUtf8), None);
        let other = DataType::Struct(Fields::from(vec![Field::new("path", DataType::Utf8, true)]));
        assert_eq!(PathKind::of(&other), None);
    }
}
