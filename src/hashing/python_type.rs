//! The Python type each Arrow field stands for, as the reference hashes it.
//!
//! The reference computes schema hashes over *Python* schemas (`{"x": int}`), so a Rust
//! schema must be translated first: any integer width → `int`, any float → `float`,
//! strings → `str`, binaries → `bytes`, booleans → `bool`, lists → `list[T]`; a nullable
//! field is `T | None`. Each type hashes as the reference's type handlers do:
//! `type:builtins.int`, `{"__type__":"union","args":[…]}`,
//! `{"__type__":"generic_alias","origin":…,"args":[…]}`.

use arrow::datatypes::{DataType, Field};

use super::semantic::{hash_str, hash_value, Value};
use super::ContentHash;
use crate::error::{Error, Result};
use crate::files::PathKind;

/// The semantic hash of the Python type a field stands for (nullability included).
pub fn field_type_hash(field: &Field) -> Result<ContentHash> {
    let base = data_type_hash(field.data_type())?;
    if field.is_nullable() && field.data_type() != &DataType::Null {
        Ok(union_hash(vec![base, builtin("NoneType")]))
    } else {
        Ok(base)
    }
}

/// The semantic hash of the Python type a data type stands for, ignoring nullability.
pub fn data_type_hash(data_type: &DataType) -> Result<ContentHash> {
    use DataType::*;
    Ok(match data_type {
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 => builtin("int"),
        Float16 | Float32 | Float64 => builtin("float"),
        Utf8 | LargeUtf8 | Utf8View => builtin("str"),
        Binary | LargeBinary | BinaryView => builtin("bytes"),
        Boolean => builtin("bool"),
        Null => builtin("NoneType"),
        Date32 | Date64 => hash_str("type:datetime.date"),
        List(item) | LargeList(item) => generic_alias_hash(builtin("list"), item.data_type())?,
        // The reference's content-identified `orcapod.File` and `orcapod.Directory`
        // (orcapod 0.1.4), named by their classes' module and qualified name.
        t if PathKind::of(t) == Some(PathKind::File) => {
            hash_str("type:orcapod.extension_types.file_type.File")
        }
        t if PathKind::of(t) == Some(PathKind::Dir) => {
            hash_str("type:orcapod.extension_types.directory_type.Directory")
        }
        other => {
            return Err(Error::Hash(format!(
                "the arrow type {other} has no python equivalent in orcapod schemas"
            )))
        }
    })
}

/// A short readable Python spelling of a field's type (`int`, `list[str] | None`), for
/// error messages and schema displays.
pub fn python_type_name(field: &Field) -> String {
    let base = data_type_name(field.data_type());
    if field.is_nullable() && field.data_type() != &DataType::Null {
        format!("{base} | None")
    } else {
        base
    }
}

fn data_type_name(data_type: &DataType) -> String {
    use DataType::*;
    match data_type {
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 => "int".into(),
        Float16 | Float32 | Float64 => "float".into(),
        Utf8 | LargeUtf8 | Utf8View => "str".into(),
        Binary | LargeBinary | BinaryView => "bytes".into(),
        Boolean => "bool".into(),
        Null => "None".into(),
        Date32 | Date64 => "date".into(),
        List(item) | LargeList(item) => format!("list[{}]", data_type_name(item.data_type())),
        other => match PathKind::of(other) {
            Some(kind) => kind.type_name().into(),
            None => other.to_string(),
        },
    }
}

fn builtin(name: &str) -> ContentHash {
    hash_str(&format!("type:builtins.{name}"))
}

fn union_hash(args: Vec<ContentHash>) -> ContentHash {
    let mut args: Vec<String> = args.iter().map(ToString::to_string).collect();
    args.sort();
    hash_value(&Value::dict([
        ("__type__", Value::str("union")),
        (
            "args",
            Value::List(args.into_iter().map(Value::Str).collect()),
        ),
    ]))
}

fn generic_alias_hash(origin: ContentHash, arg: &DataType) -> Result<ContentHash> {
    Ok(hash_value(&Value::dict([
        ("__type__", Value::str("generic_alias")),
        ("origin", Value::Str(origin.to_string())),
        (
            "args",
            Value::List(vec![Value::Str(data_type_hash(arg)?.to_string())]),
        ),
    ])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_integer_width_is_int_and_nullability_is_a_union() {
        let i64_field = Field::new("x", DataType::Int64, false);
        let i32_field = Field::new("x", DataType::Int32, false);
        assert_eq!(
            field_type_hash(&i64_field).unwrap(),
            field_type_hash(&i32_field).unwrap()
        );
        let nullable = Field::new("x", DataType::Int64, true);
        assert_ne!(
            field_type_hash(&i64_field).unwrap(),
            field_type_hash(&nullable).unwrap()
        );
        assert_eq!(python_type_name(&nullable), "int | None");
        assert!(data_type_hash(&DataType::Duration(arrow::datatypes::TimeUnit::Second)).is_err());
    }

    #[test]
    fn files_and_directories_are_the_references_classes() {
        // From orcapod 0.1.4: `get_default_context().semantic_hasher.hash_object(t)` for
        // `orcapod.File`, `orcapod.Directory` and `orcapod.File | None`.
        let hash = |kind: PathKind, nullable| {
            field_type_hash(&Field::new("f", kind.data_type(), nullable))
                .unwrap()
                .to_string()
        };
        assert_eq!(
            hash(PathKind::File, false),
            "semantic_v0.1:5b1488f179e9bbc665e5fda12102327efa777cdbf77f28322783ee2b1f9ad267"
        );
        assert_eq!(
            hash(PathKind::Dir, false),
            "semantic_v0.1:d587641cada6fe1672a19ebc9ee96d044d83f6d5f0e2afa56fd49c321351cf61"
        );
        assert_eq!(
            hash(PathKind::File, true),
            "semantic_v0.1:0c7697e4745ddba245aba24e4ad5b3ed7361f82ff5557a20da7829703b640f22"
        );
    }
}
