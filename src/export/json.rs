//! The JSON document of an export (layout and value encoding: see the [module
//! docs](super)), written batch by batch from the sorted rows' arrays.

use std::io::{self, BufWriter, Write};

use arrow::array::RecordBatch;
use serde_json::Value as Json;

use super::cells::{write_json_str, write_json_value, Cells};
use super::format::Columns;
use super::sorted::SortedStream;
use crate::model::StreamSchema;

impl SortedStream {
    /// Writes the JSON document (see the [module docs](crate::export)), ending with a newline.
    pub fn write_json<W: Write>(&self, out: W, columns: Columns) -> io::Result<()> {
        let mut out = BufWriter::new(out);
        let mut rows = JsonRows::new(&mut out, self.schema(), columns)?;
        rows.write_batch(&mut out, self.batch())?;
        rows.finish(&mut out)?;
        out.flush()
    }
}

/// Writes a JSON document: the header keys when made, the rows of each batch given, in
/// order, and the closing brackets at [`JsonRows::finish`].
#[derive(Debug)]
pub(super) struct JsonRows {
    shown: Vec<usize>,
    /// `"name": ` of each shown column, with the `, ` before all but the first.
    keys: Vec<Vec<u8>>,
    first: bool,
}

impl JsonRows {
    /// Writes the header keys one per line, then `"rows": [`.
    pub(super) fn new<W: Write>(
        out: &mut W,
        schema: &StreamSchema,
        columns: Columns,
    ) -> io::Result<JsonRows> {
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
            write_json_str(out, key)?;
            out.write_all(b": ")?;
            write_json_value(out, value)?;
            out.write_all(b",\n ")?;
        }
        out.write_all(br#""rows": ["#)?;
        let shown = columns.indices(schema);
        let fields = schema.arrow().fields();
        let keys = shown
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let mut key = if i > 0 { b", ".to_vec() } else { Vec::new() };
                write_json_str(&mut key, fields[c].name())?;
                key.extend_from_slice(b": ");
                Ok(key)
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(JsonRows {
            shown,
            keys,
            first: true,
        })
    }

    /// Writes one object per row of `batch` (of the schema's columns), one per line.
    pub(super) fn write_batch<W: Write>(
        &mut self,
        out: &mut W,
        batch: &RecordBatch,
    ) -> io::Result<()> {
        let cells = Cells::of(batch, &self.shown)?;
        for r in 0..batch.num_rows() {
            if !self.first {
                // Aligns each row under the first: the width of ` "rows": [`.
                out.write_all(b",\n          ")?;
            }
            self.first = false;
            out.write_all(b"{")?;
            for (key, column) in self.keys.iter().zip(&cells) {
                out.write_all(key)?;
                column.write_json(out, r)?;
            }
            out.write_all(b"}")?;
        }
        Ok(())
    }

    /// Closes the document.
    pub(super) fn finish<W: Write>(self, out: &mut W) -> io::Result<()> {
        out.write_all(b"]}\n")
    }
}
