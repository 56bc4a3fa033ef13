//! The CSV text of an export (quoting and value encoding: see the [module docs](super)).

use std::borrow::Cow;
use std::io::{self, BufWriter, Write};

use super::format::Columns;
use super::json::{datum_json, json_text};
use super::sorted::SortedStream;
use crate::function::non_finite_text;
use crate::model::Datum;

impl SortedStream {
    /// Writes the CSV text (see the [module docs](crate::export)): a header line, then one line
    /// per row.
    pub fn write_csv<W: Write>(&self, out: W, columns: Columns) -> io::Result<()> {
        let mut out = BufWriter::new(out);
        write_table(&mut out, self, columns)?;
        out.flush()
    }
}

/// Writes the header line, then one line per row.
fn write_table<W: Write>(out: &mut W, sorted: &SortedStream, columns: Columns) -> io::Result<()> {
    let shown = sorted.column_indices(columns);
    let fields = sorted.schema().arrow().fields();
    let header: Vec<Option<Cow<str>>> = shown
        .iter()
        .map(|&c| Some(Cow::from(fields[c].name().as_str())))
        .collect();
    write_record(out, &header)?;
    for row in sorted.rows() {
        let record: Vec<Option<Cow<str>>> = shown.iter().map(|&c| cell(&row[c])).collect();
        write_record(out, &record)?;
    }
    Ok(())
}

/// The text of a value in a CSV cell; `None` for null.
fn cell(datum: &Datum) -> Option<Cow<'_, str>> {
    Some(match datum {
        Datum::Null => return None,
        Datum::Str(s) => Cow::from(s.as_str()),
        Datum::Float(f) if !f.is_finite() => Cow::from(non_finite_text(*f)),
        other => Cow::from(json_text(&datum_json(other))),
    })
}

/// One line: fields separated by `,`, null fields empty, others quoted when needed.
fn write_record<W: Write>(out: &mut W, fields: &[Option<Cow<str>>]) -> io::Result<()> {
    if let [None] = fields {
        // A lone empty field would be a blank line, which CSV readers skip.
        return out.write_all(b"\"\"\n");
    }
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        if let Some(text) = field {
            write_field(out, text)?;
        }
    }
    out.write_all(b"\n")
}

fn write_field<W: Write>(out: &mut W, text: &str) -> io::Result<()> {
    let needs_quotes = text.is_empty() || text.contains([',', '"', '\r', '\n']);
    if !needs_quotes {
        return out.write_all(text.as_bytes());
    }
    out.write_all(b"\"")?;
    out.write_all(text.replace('"', "\"\"").as_bytes())?;
    out.write_all(b"\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(fields: &[Option<&str>]) -> String {
        let fields: Vec<Option<Cow<str>>> = fields.iter().map(|f| f.map(Cow::from)).collect();
        let mut out = Vec::new();
        write_record(&mut out, &fields).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn quoting_tells_null_from_empty_and_escapes_quotes() {
        assert_eq!(
            line(&[Some("a"), None, Some(""), Some("x,y"), Some(r#"say "hi""#)]),
            "a,,\"\",\"x,y\",\"say \"\"hi\"\"\"\n"
        );
        assert_eq!(line(&[None]), "\"\"\n");
        assert_eq!(line(&[Some("two\nlines")]), "\"two\nlines\"\n");
    }

    #[test]
    fn cells_encode_values() {
        let text = |d: Datum| cell(&d).map(Cow::into_owned);
        assert_eq!(text(Datum::Null), None);
        assert_eq!(text(Datum::Bool(true)).as_deref(), Some("true"));
        assert_eq!(text(Datum::Float(2.0)).as_deref(), Some("2.0"));
        assert_eq!(
            text(Datum::Float(f64::NEG_INFINITY)).as_deref(),
            Some("-inf")
        );
        assert_eq!(
            text(Datum::Bytes(vec![0, 255])).as_deref(),
            Some(r#"{"$bytes": "00ff"}"#)
        );
        assert_eq!(
            text(Datum::List(vec![Datum::Str("a".into()), Datum::Null])).as_deref(),
            Some(r#"["a", null]"#)
        );
    }
}
