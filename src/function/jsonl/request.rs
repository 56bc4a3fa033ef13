//! Request lines: one packet as one compact JSON object, written byte for byte as
//! `serde_json` would, but for the floats JSON numbers cannot hold, written as Python's
//! `json` module writes them (`NaN`, `Infinity`, `-Infinity`).
//!
//! It only appends bytes to a buffer: it never writes to a pipe.

use crate::function::json::by_non_finite;
use crate::model::Datum;

/// The key of the request id under `jsonl-id`.
pub const ID_KEY: &str = "$id";

/// The key of a per-packet failure: `{"$error": "message"}`.
pub const ERROR_KEY: &str = "$error";

/// Writes the request line for one packet: a compact JSON object of its (column, value)
/// pairs in order, preceded by `"$id": id` when `id` is given, then `\n`.
///
/// Byte for byte what `serde_json` writes for the [`datum_to_json`](crate::function::datum_to_json)
/// image of the packet, except that NaN and ±infinity are written `NaN`, `Infinity`
/// and `-Infinity` (Python's `json` module reads them back as floats) instead of `null`.
pub fn write_request(out: &mut Vec<u8>, packet: &[(String, Datum)], id: Option<&str>) {
    out.push(b'{');
    let mut first = true;
    if let Some(id) = id {
        write_json_str(out, ID_KEY);
        out.push(b':');
        write_json_str(out, id);
        first = false;
    }
    for (key, value) in packet {
        if !first {
            out.push(b',');
        }
        first = false;
        write_json_str(out, key);
        out.push(b':');
        write_datum(out, value);
    }
    out.extend_from_slice(b"}\n");
}

/// The token Python's `json` module writes for a float that is not finite.
pub fn python_non_finite(f: f64) -> &'static str {
    by_non_finite(f, ["NaN", "Infinity", "-Infinity"])
}

fn write_json_str(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(&mut *out, s).expect("writing a JSON string to a vector cannot fail");
}

fn write_datum(out: &mut Vec<u8>, datum: &Datum) {
    match datum {
        Datum::Null => out.extend_from_slice(b"null"),
        Datum::Bool(true) => out.extend_from_slice(b"true"),
        Datum::Bool(false) => out.extend_from_slice(b"false"),
        Datum::Int(i) => {
            serde_json::to_writer(&mut *out, i).expect("writing an integer to a vector cannot fail")
        }
        Datum::Float(f) if f.is_finite() => serde_json::to_writer(&mut *out, f)
            .expect("writing a finite float to a vector cannot fail"),
        Datum::Float(f) => out.extend_from_slice(python_non_finite(*f).as_bytes()),
        Datum::Str(s) => write_json_str(out, s),
        Datum::Bytes(b) => {
            out.extend_from_slice(b"{\"$bytes\":\"");
            out.extend_from_slice(hex::encode(b).as_bytes());
            out.extend_from_slice(b"\"}");
        }
        Datum::List(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_datum(out, item);
            }
            out.push(b']');
        }
    }
}
