//! Type names of `output_types`: `str`, `int`, `float`, `bool`, `bytes`, `list[T]`,
//! `file` and `dir` (*extension*: paths whose identity is their content, see
//! [`crate::files`]), and `T | None` for a nullable value — the spelling the reference prints for its
//! Python types, so a type reads the same in a file, a schema and a message.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field};

use crate::files::PathKind;

/// The Arrow type and nullability of a type name, or what is wrong with it.
pub fn parse_type(text: &str) -> Result<(DataType, bool), String> {
    let text = text.trim();
    if let Some(inner) = text
        .strip_suffix("| None")
        .or_else(|| text.strip_suffix("|None"))
    {
        return Ok((parse_base(inner.trim(), text)?, true));
    }
    Ok((parse_base(text, text)?, false))
}

fn parse_base(text: &str, whole: &str) -> Result<DataType, String> {
    Ok(match text {
        "str" => DataType::LargeUtf8,
        "int" => DataType::Int64,
        "float" => DataType::Float64,
        "bool" => DataType::Boolean,
        "bytes" => DataType::LargeBinary,
        "file" => PathKind::File.data_type(),
        "dir" => PathKind::Dir.data_type(),
        _ => {
            let Some(inner) = text
                .strip_prefix("list[")
                .and_then(|rest| rest.strip_suffix(']'))
            else {
                return Err(format!(
                    "unknown type `{whole}` (expected str, int, float, bool, bytes, file, dir, \
                     list[T], or one of them followed by `| None`)"
                ));
            };
            let (item, nullable) = parse_type(inner)?;
            DataType::LargeList(Arc::new(Field::new("item", item, nullable)))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(parse_type("str").unwrap(), (DataType::LargeUtf8, false));
        assert_eq!(parse_type("int | None").unwrap(), (DataType::Int64, true));
        let (list, nullable) = parse_type("list[float | None]").unwrap();
        assert!(!nullable);
        assert_eq!(
            list,
            DataType::LargeList(Arc::new(Field::new("item", DataType::Float64, true)))
        );
        let err = parse_type("string").unwrap_err();
        assert!(err.contains("unknown type `string`"), "{err}");
        assert!(parse_type("list[int").is_err());
        assert_eq!(
            parse_type("file").unwrap(),
            (PathKind::File.data_type(), false)
        );
        assert_eq!(
            parse_type("dir | None").unwrap(),
            (PathKind::Dir.data_type(), true)
        );
    }
}
