//! The text of exported values (see the [module docs](super) for the encodings), written
//! straight from Arrow arrays.
//!
//! Booleans, integers, floats and strings are written from their arrays with no
//! intermediate value; bytes and lists (rare, and nested) go through one [`Datum`] per
//! cell. Floats use serde_json's own float formatting, so a float cell is the same text
//! JSON serialization of the value gives. This module never quotes a CSV field itself
//! (see [`write_field`]) and never decides row order.

use std::io::{self, Write};

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, LargeStringArray,
    RecordBatch, StringArray,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use serde::Serialize;
use serde_json::ser::Formatter;
use serde_json::Value as Json;

use crate::files::kind::{path_strings, PathKind};
use crate::function::{datum_to_json_with, non_finite_text, NonFiniteFloats};
use crate::model::Datum;

/// One column of a batch, ready to have its cells written.
pub(super) enum Cells {
    Null,
    Bool(BooleanArray),
    Int(Int64Array),
    Float(Float64Array),
    Str(StringArray),
    LargeStr(LargeStringArray),
    /// Bytes, lists and `UInt64` (which may not fit a `Datum`): one `Datum` per cell.
    Other(ArrayRef),
}

impl Cells {
    /// The cells of `array`.
    pub(super) fn new(array: &ArrayRef) -> io::Result<Cells> {
        use DataType as T;
        let widened = |to: &DataType| cast(array, to).map_err(io::Error::other);
        Ok(match array.data_type() {
            T::Null => Cells::Null,
            T::Boolean => Cells::Bool(array.as_boolean().clone()),
            T::Int64 => Cells::Int(array.as_primitive::<Int64Type>().clone()),
            T::Int8 | T::Int16 | T::Int32 | T::UInt8 | T::UInt16 | T::UInt32 => {
                Cells::Int(widened(&T::Int64)?.as_primitive::<Int64Type>().clone())
            }
            T::Float64 => Cells::Float(array.as_primitive::<Float64Type>().clone()),
            T::Float32 => Cells::Float(widened(&T::Float64)?.as_primitive::<Float64Type>().clone()),
            T::Utf8 => Cells::Str(array.as_string::<i32>().clone()),
            T::LargeUtf8 => Cells::LargeStr(array.as_string::<i64>().clone()),
            // A file or directory is written as its path.
            t if PathKind::of(t).is_some() => {
                Cells::LargeStr(path_strings(array.as_ref()).map_err(io::Error::other)?)
            }
            _ => Cells::Other(array.clone()),
        })
    }

    /// The cells of the columns `shown` of `batch`.
    pub(super) fn of(batch: &RecordBatch, shown: &[usize]) -> io::Result<Vec<Cells>> {
        shown.iter().map(|&c| Cells::new(batch.column(c))).collect()
    }

    /// Whether row `r` is null.
    pub(super) fn is_null(&self, r: usize) -> bool {
        match self {
            Cells::Null => true,
            Cells::Bool(a) => a.is_null(r),
            Cells::Int(a) => a.is_null(r),
            Cells::Float(a) => a.is_null(r),
            Cells::Str(a) => a.is_null(r),
            Cells::LargeStr(a) => a.is_null(r),
            Cells::Other(a) => a.is_null(r),
        }
    }

    /// Row `r`'s value in a CSV field; nothing for null.
    pub(super) fn write_csv<W: Write>(&self, out: &mut W, r: usize) -> io::Result<()> {
        if self.is_null(r) {
            return Ok(());
        }
        match self {
            Cells::Str(a) => write_field(out, a.value(r)),
            Cells::LargeStr(a) => write_field(out, a.value(r)),
            Cells::Float(a) if !a.value(r).is_finite() => {
                out.write_all(non_finite_text(a.value(r)).as_bytes())
            }
            Cells::Other(a) => match read(a, r)? {
                Datum::Null => Ok(()),
                datum => write_field(out, &json_text(&datum_json(&datum))),
            },
            _ => self.write_scalar(out, r),
        }
    }

    /// Row `r`'s value as JSON.
    pub(super) fn write_json<W: Write>(&self, out: &mut W, r: usize) -> io::Result<()> {
        if self.is_null(r) {
            return out.write_all(b"null");
        }
        match self {
            Cells::Str(a) => write_json_str(out, a.value(r)),
            Cells::LargeStr(a) => write_json_str(out, a.value(r)),
            Cells::Float(a) if !a.value(r).is_finite() => {
                write_json_str(out, non_finite_text(a.value(r)))
            }
            Cells::Other(a) => write_json_value(out, &datum_json(&read(a, r)?)),
            _ => self.write_scalar(out, r),
        }
    }

    /// A boolean, integer or finite float: the same text in CSV and JSON.
    fn write_scalar<W: Write>(&self, out: &mut W, r: usize) -> io::Result<()> {
        match self {
            Cells::Bool(a) => out.write_all(if a.value(r) { b"true" } else { b"false" }),
            Cells::Int(a) => Spaced.write_i64(out, a.value(r)),
            Cells::Float(a) => Spaced.write_f64(out, a.value(r)),
            _ => Err(io::Error::other("not a scalar cell")),
        }
    }
}

fn read(array: &ArrayRef, r: usize) -> io::Result<Datum> {
    Datum::from_array(array.as_ref(), r).map_err(io::Error::other)
}

/// A CSV field: quoted (inner quotes doubled) when empty or holding `,`, `"`, `\r` or
/// `\n`, bare otherwise.
pub(super) fn write_field<W: Write>(out: &mut W, text: &str) -> io::Result<()> {
    let needs_quotes = text.is_empty() || text.contains([',', '"', '\r', '\n']);
    if !needs_quotes {
        return out.write_all(text.as_bytes());
    }
    out.write_all(b"\"")?;
    out.write_all(text.replace('"', "\"\"").as_bytes())?;
    out.write_all(b"\"")
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

/// `value` as JSON with Python's default separators.
pub(super) fn write_json_value<W: Write>(out: &mut W, value: &Json) -> io::Result<()> {
    let mut serializer = serde_json::Serializer::with_formatter(out, Spaced);
    value.serialize(&mut serializer).map_err(io::Error::from)
}

/// A JSON string (quoted and escaped as serde_json does).
pub(super) fn write_json_str<W: Write>(out: &mut W, text: &str) -> io::Result<()> {
    let mut serializer = serde_json::Serializer::with_formatter(out, Spaced);
    text.serialize(&mut serializer).map_err(io::Error::from)
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
