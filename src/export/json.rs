//! The JSON document of an export (layout and value encoding: see the [module
//! docs](super)).

use std::io::{self, BufWriter, Write};

use serde::Serialize;
use serde_json::ser::Formatter;
use serde_json::{Map, Value as Json};

use super::format::Columns;
use super::sorted::SortedStream;
use crate::function::{datum_to_json_with, NonFiniteFloats};
use crate::model::Datum;

impl SortedStream {
    /// Writes the JSON document (see the [module docs](crate::export)), ending with a newline.
    pub fn write_json<W: Write>(&self, out: W, columns: Columns) -> io::Result<()> {
        let mut out = BufWriter::new(out);
        write_document(&mut out, self, columns)?;
        out.flush()
    }
}

/// A value as exported JSON: non-finite floats as `"NaN"`, `"inf"`, `"-inf"`.
pub(super) fn datum_json(datum: &Datum) -> Json {
    datum_to_json_with(datum, NonFiniteFloats::Text)
}

/// JSON text on one line with Python's default separators `", "` and `": "`.
pub(super) fn json_text(value: &Json) -> String {
    let mut out = Vec::new();
    write_json_value(&mut out, value).expect("writing JSON to a vector cannot fail");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

fn write_json_value<W: Write>(out: &mut W, value: &Json) -> io::Result<()> {
    let mut serializer = serde_json::Serializer::with_formatter(out, Spaced);
    value.serialize(&mut serializer).map_err(io::Error::from)
}

/// Writes the document: header keys one per line, then `"rows"` with one row per line.
fn write_document<W: Write>(
    out: &mut W,
    sorted: &SortedStream,
    columns: Columns,
) -> io::Result<()> {
    let schema = sorted.schema();
    let names = |fields: &[arrow::datatypes::FieldRef]| {
        Json::Array(
            fields
                .iter()
                .map(|f| Json::String(f.name().clone()))
                .collect(),
        )
    };
    let mut header = vec![
        ("tag_columns", names(schema.tag_fields())),
        ("packet_columns", names(schema.packet_fields())),
    ];
    if columns == Columns::AllInfo {
        header.push(("system_tag_columns", names(schema.system_tag_fields())));
        header.push(("source_info_columns", names(schema.source_info_fields())));
    }
    out.write_all(b"{")?;
    for (key, value) in &header {
        write_json_value(out, &Json::String((*key).to_string()))?;
        out.write_all(b": ")?;
        write_json_value(out, value)?;
        out.write_all(b",\n ")?;
    }
    out.write_all(br#""rows": ["#)?;
    let shown = sorted.column_indices(columns);
    let fields = schema.arrow().fields();
    for (i, row) in sorted.rows().iter().enumerate() {
        if i > 0 {
            // Aligns each row under the first: the width of ` "rows": [`.
            out.write_all(b",\n          ")?;
        }
        let object: Map<String, Json> = shown
            .iter()
            .map(|&c| (fields[c].name().clone(), datum_json(&row[c])))
            .collect();
        write_json_value(out, &Json::Object(object))?;
    }
    out.write_all(b"]}\n")
}

/// serde_json's compact output with a space after each `,` and `:`.
struct Spaced;

/// Writes the `", "` before every element of an array or object but the first.
fn separator<W: ?Sized + Write>(writer: &mut W, first: bool) -> io::Result<()> {
    if first {
        Ok(())
    } else {
        writer.write_all(b", ")
    }
}

impl Formatter for Spaced {
    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        separator(writer, first)
    }

    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        separator(writer, first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_use_python_separators() {
        let v = serde_json::json!({"a": [1, 2.5, null], "b": {"$bytes": "00ff"}, "c": []});
        assert_eq!(
            json_text(&v),
            r#"{"a": [1, 2.5, null], "b": {"$bytes": "00ff"}, "c": []}"#
        );
        assert_eq!(json_text(&datum_json(&Datum::Float(f64::NAN))), r#""NaN""#);
        assert_eq!(json_text(&datum_json(&Datum::Float(3.0))), "3.0");
    }
}
