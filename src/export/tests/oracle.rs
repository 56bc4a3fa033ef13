//! The old row writers, kept as oracles: the CSV and JSON text of rows of values, cell by
//! cell through `Datum` (as the export wrote them before writing from arrays).

use std::borrow::Cow;
use std::io::{self, Write};

use arrow::array::RecordBatch;
use serde_json::{Map, Value as Json};

use super::data::oracle_positions;
use crate::export::cells::{datum_json, json_text, write_json_value};
use crate::export::json::JsonRows;
use crate::export::Columns;
use crate::function::non_finite_text;
use crate::model::{Datum, Stream, StreamSchema};

/// The rows of `stream` as values, sorted as the export did before.
pub fn oracle_rows(stream: &Stream) -> Vec<Vec<Datum>> {
    let batches: &[RecordBatch] = stream.batches();
    oracle_positions(batches)
        .unwrap()
        .into_iter()
        .map(|(b, r)| {
            batches[b]
                .columns()
                .iter()
                .map(|c| Datum::from_array(c.as_ref(), r).unwrap())
                .collect()
        })
        .collect()
}

/// The old CSV text of `rows`.
pub fn csv(schema: &StreamSchema, rows: &[Vec<Datum>], columns: Columns) -> Vec<u8> {
    let mut out = Vec::new();
    let shown = columns.indices(schema);
    let fields = schema.arrow().fields();
    let header: Vec<Option<Cow<str>>> = shown
        .iter()
        .map(|&c| Some(Cow::from(fields[c].name().as_str())))
        .collect();
    write_record(&mut out, &header).unwrap();
    for row in rows {
        let record: Vec<Option<Cow<str>>> = shown.iter().map(|&c| cell(&row[c])).collect();
        write_record(&mut out, &record).unwrap();
    }
    out
}

/// The text of a value in a CSV cell; `None` for null.
pub fn cell(datum: &Datum) -> Option<Cow<'_, str>> {
    Some(match datum {
        Datum::Null => return None,
        Datum::Str(s) => Cow::from(s.as_str()),
        Datum::Float(f) if !f.is_finite() => Cow::from(non_finite_text(*f)),
        other => Cow::from(json_text(&datum_json(other))),
    })
}

/// One line: fields separated by `,`, null fields empty, others quoted when needed.
pub fn write_record<W: Write>(out: &mut W, fields: &[Option<Cow<str>>]) -> io::Result<()> {
    if let [None] = fields {
        return out.write_all(b"\"\"\n");
    }
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        if let Some(text) = field {
            let needs_quotes = text.is_empty() || text.contains([',', '"', '\r', '\n']);
            if needs_quotes {
                out.write_all(b"\"")?;
                out.write_all(text.replace('"', "\"\"").as_bytes())?;
                out.write_all(b"\"")?;
            } else {
                out.write_all(text.as_bytes())?;
            }
        }
    }
    out.write_all(b"\n")
}

/// The old JSON document of `rows`.
pub fn json(schema: &StreamSchema, rows: &[Vec<Datum>], columns: Columns) -> Vec<u8> {
    let mut out = Vec::new();
    // The header is as it was: only the rows' writing changed.
    JsonRows::new(&mut out, schema, columns).unwrap();
    let shown = columns.indices(schema);
    let fields = schema.arrow().fields();
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            out.write_all(b",\n          ").unwrap();
        }
        let object: Map<String, Json> = shown
            .iter()
            .map(|&c| (fields[c].name().clone(), datum_json(&row[c])))
            .collect();
        write_json_value(&mut out, &Json::Object(object)).unwrap();
    }
    out.write_all(b"]}\n").unwrap();
    out
}
