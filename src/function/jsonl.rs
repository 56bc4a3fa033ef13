//! The JSON Lines protocol of command functions, without any I/O.
//!
//! This module knows how a request line is written, how a byte stream is cut into
//! lines, and what an answer line says about its packet; it never reads, writes, waits
//! or looks at a clock. [`CommandWorker`](super::command::CommandWorker) drives it over
//! a live process's pipes; anything else that holds a command's output as bytes (e.g. a
//! file written by a batch job) can reuse it to pair answers with requests.
//!
//! - [`write_request`]: one packet as one line, a compact JSON object keyed by column
//!   (with `"$id"` first under `jsonl-id`). Values are written as [`datum_to_json`]
//!   writes them, byte for byte as `serde_json` would, except the floats JSON numbers
//!   cannot hold: they are written as Python's `json` module writes them, the bare
//!   tokens `NaN`, `Infinity` and `-Infinity`.
//! - [`LineFramer`]: bytes in, lines out. Lines that are empty or only whitespace are
//!   skipped; a line longer than the limit is an error.
//! - [`read_reply`]: one answer line against the output schema. Besides standard JSON
//!   it accepts the bare tokens `NaN`, `Infinity` and `-Infinity` (as Python writes
//!   them) where, and only where, a float is expected.
//!
//! [`datum_to_json`]: super::datum_to_json

use std::ops::Range;

use arrow::datatypes::{DataType, FieldRef};
use serde_json::Value as Json;

use super::json::{datum_from_json, type_label};
use crate::model::Datum;

/// The key of the request id under `jsonl-id`.
pub const ID_KEY: &str = "$id";

/// The key of a per-packet failure: `{"$error": "message"}`.
pub const ERROR_KEY: &str = "$error";

/// Writes the request line for one packet: a compact JSON object of its (column, value)
/// pairs in order, preceded by `"$id": id` when `id` is given, then `\n`.
///
/// Byte for byte what `serde_json` writes for the [`datum_to_json`](super::datum_to_json)
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
    if f.is_nan() {
        "NaN"
    } else if f > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
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

/// A line longer than the limit (the stream cannot be framed further).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineTooLong {
    /// The limit, in bytes (without the line ending).
    pub limit: usize,
}

/// Cuts a byte stream into lines (sans-IO: bytes are pushed in, lines taken out).
///
/// Lines end with `\n`; the line handed out excludes it (a `\r` before it is left in
/// and is JSON whitespace). Lines that are empty or only ASCII whitespace are skipped.
#[derive(Debug, Clone)]
pub struct LineFramer {
    buf: Vec<u8>,
    /// The first byte not yet handed out.
    start: usize,
    /// `buf[start..scanned]` holds no `\n`.
    scanned: usize,
    max_line_bytes: usize,
    total: u64,
}

impl LineFramer {
    /// A framer accepting lines of at most `max_line_bytes` bytes (without `\n`).
    pub fn new(max_line_bytes: usize) -> Self {
        LineFramer {
            buf: Vec::new(),
            start: 0,
            scanned: 0,
            max_line_bytes,
            total: 0,
        }
    }

    /// Appends bytes of the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && (self.start == self.buf.len() || self.start >= 64 * 1024) {
            self.buf.drain(..self.start);
            self.scanned -= self.start;
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
        self.total += bytes.len() as u64;
    }

    /// How many bytes were pushed in all.
    pub fn bytes_seen(&self) -> u64 {
        self.total
    }

    /// The next complete line that is not blank (blank ones before it are dropped), or
    /// `None` if there is none yet.
    pub fn next_line(&mut self) -> Result<Option<&[u8]>, LineTooLong> {
        loop {
            let Some(offset) = self.buf[self.scanned..].iter().position(|&b| b == b'\n') else {
                self.scanned = self.buf.len();
                if self.scanned - self.start > self.max_line_bytes {
                    return Err(LineTooLong {
                        limit: self.max_line_bytes,
                    });
                }
                return Ok(None);
            };
            let end = self.scanned + offset;
            let line = self.start..end;
            self.start = end + 1;
            self.scanned = self.start;
            if is_blank(&self.buf[line.clone()]) {
                continue;
            }
            if line.len() > self.max_line_bytes {
                return Err(LineTooLong {
                    limit: self.max_line_bytes,
                });
            }
            return Ok(Some(&self.buf[line]));
        }
    }

    /// The bytes after the last complete line (the start of a line not yet ended).
    pub fn partial(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Whether the line not yet ended holds anything but whitespace.
    pub fn partial_has_text(&self) -> bool {
        !is_blank(self.partial())
    }

    /// How many bytes were pushed and not handed out yet (blank lines included).
    pub fn pending_len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Whether anything not yet handed out (complete lines or not) is not whitespace.
    pub fn has_text(&self) -> bool {
        !is_blank(&self.buf[self.start..])
    }
}

/// Whether a line is empty or only ASCII whitespace.
pub fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

/// At most 200 characters of a line, for messages (invalid UTF-8 shown lossily).
pub fn clip(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// What one answer line says about the packet it is paired with.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// The output values, in output-schema order.
    Values(Vec<Datum>),
    /// The packet failed, and the line is recognisably its answer (pairing holds): an
    /// `{"$error": ...}` object, or the output keys with a value of the wrong type.
    Failed(String),
    /// The line cannot be told from a stray line (a protocol error): not a JSON object,
    /// not exactly the output keys, or (under `jsonl-id`) a missing or wrong `$id`. The
    /// message says what is wrong with it (not what the line was: see [`clip`]).
    NotAnAnswer(String),
}

/// Reads one answer line against the output schema.
///
/// With `id` (protocol `jsonl-id`) the answer must carry `"$id": id` (a JSON string):
/// a missing or different id is [`Reply::NotAnAnswer`]; once the id matches, pairing is
/// certain, so wrong keys are [`Reply::Failed`]. Without `id` (plain `jsonl`) only an
/// object with exactly the output keys, or exactly the key `$error`, is an answer.
pub fn read_reply(line: &[u8], output: &[FieldRef], id: Option<&str>) -> Reply {
    let text = match std::str::from_utf8(line) {
        Ok(text) => text,
        Err(e) => return Reply::NotAnAnswer(format!("the line is not valid UTF-8 ({e})")),
    };
    let mut entries = match parse_object(text) {
        Ok(Some(entries)) => entries,
        Ok(None) => return Reply::NotAnAnswer("the line is not a JSON object".into()),
        Err(e) => return Reply::NotAnAnswer(format!("the line is not valid JSON ({e})")),
    };
    if let Some(expected) = id {
        let Some(at) = entries.iter().position(|(k, _)| k == ID_KEY) else {
            return Reply::NotAnAnswer(format!(
                "the answer has no `{ID_KEY}` (expected \"{expected}\")"
            ));
        };
        let (_, got) = entries.remove(at);
        if !matches!(&got, Value::Json(Json::String(s)) if s == expected) {
            return Reply::NotAnAnswer(format!(
                "the answer's `{ID_KEY}` is {} where \"{expected}\" was expected",
                got.text()
            ));
        }
    }
    if let Some((_, error)) = entries.iter().find(|(k, _)| k == ERROR_KEY) {
        if id.is_some() || entries.len() == 1 {
            return Reply::Failed(match error {
                Value::Json(Json::String(s)) => s.clone(),
                other => other.text(),
            });
        }
        return Reply::NotAnAnswer(format!("an `{ERROR_KEY}` answer must have no other key"));
    }
    let missing: Vec<&str> = output
        .iter()
        .map(|f| f.name().as_str())
        .filter(|k| !entries.iter().any(|(e, _)| e == k))
        .collect();
    let extra: Vec<&str> = entries
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !output.iter().any(|f| f.name() == k))
        .collect();
    if !missing.is_empty() || !extra.is_empty() {
        let mut problems = Vec::new();
        if !missing.is_empty() {
            problems.push(format!(
                "the answer lacks the output key(s) {}",
                quoted(missing.iter().copied())
            ));
        }
        if !extra.is_empty() {
            problems.push(format!(
                "the answer has unexpected key(s) {}",
                quoted(extra.iter().copied())
            ));
        }
        let message = format!(
            "{} (expected exactly {})",
            problems.join(" and "),
            quoted(output.iter().map(|f| f.name().as_str()))
        );
        return if id.is_some() {
            Reply::Failed(message)
        } else {
            Reply::NotAnAnswer(message)
        };
    }
    let values: Result<Vec<Datum>, String> = output
        .iter()
        .map(|field| {
            let value = entries
                .iter()
                .find(|(k, _)| k == field.name())
                .map(|(_, v)| v)
                .expect("every output key is present");
            let datum = datum_from_value(value, field.data_type())
                .map_err(|e| format!("output `{}`: {e}", field.name()))?;
            if datum == Datum::Null && !field.is_nullable() {
                return Err(format!(
                    "output `{}` is null but the field is not nullable",
                    field.name()
                ));
            }
            Ok(datum)
        })
        .collect();
    match values {
        Ok(values) => Reply::Values(values),
        Err(message) => Reply::Failed(message),
    }
}

fn quoted<'a>(keys: impl Iterator<Item = &'a str>) -> String {
    keys.map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A value of an answer: standard JSON, or one holding Python's non-finite tokens.
#[derive(Debug, Clone)]
enum Value {
    /// Standard JSON.
    Json(Json),
    /// `NaN`, `Infinity` or `-Infinity`.
    NonFinite(f64),
    /// An array holding a non-finite token somewhere (its items, and its text).
    Array(Vec<Value>, String),
    /// An object holding a non-finite token somewhere (no field type takes it; its text).
    Object(String),
}

impl Value {
    /// The value as it was written (for messages).
    fn text(&self) -> String {
        match self {
            Value::Json(json) => json.to_string(),
            Value::NonFinite(f) => python_non_finite(*f).to_string(),
            Value::Array(_, text) | Value::Object(text) => text.clone(),
        }
    }
}

/// A value read as a value of `data_type`: [`datum_from_json`] for standard JSON, and
/// non-finite tokens only where a float is expected.
fn datum_from_value(value: &Value, data_type: &DataType) -> Result<Datum, String> {
    match (value, data_type) {
        (Value::Json(json), _) => datum_from_json(json, data_type),
        (Value::NonFinite(f), t) if t.is_floating() => Ok(Datum::Float(*f)),
        (Value::Array(items, _), DataType::List(item) | DataType::LargeList(item)) => items
            .iter()
            .map(|i| datum_from_value(i, item.data_type()))
            .collect::<Result<_, _>>()
            .map(Datum::List),
        (other, t) => Err(format!("expected {}, got {}", type_label(t), other.text())),
    }
}

/// The (key, value) pairs of a JSON object line (a repeated key keeps its last value,
/// as `serde_json` does), `None` if the line is valid but not an object, or the error
/// of `serde_json` if it is not valid JSON (bare non-finite tokens aside).
fn parse_object(text: &str) -> Result<Option<Vec<(String, Value)>>, String> {
    let error = match serde_json::from_str::<Json>(text) {
        Ok(Json::Object(map)) => {
            return Ok(Some(
                map.into_iter().map(|(k, v)| (k, Value::Json(v))).collect(),
            ))
        }
        Ok(_) => return Ok(None),
        Err(e) => e.to_string(),
    };
    // Not standard JSON: maybe Python's non-finite tokens. Scan the structure; the
    // parts without such tokens are parsed (and so validated) by serde_json.
    let mut scanner = Scanner {
        s: text.as_bytes(),
        i: 0,
    };
    let node = scanner.value(0);
    scanner.whitespace();
    let Some(node) = node.filter(|_| scanner.i == text.len()) else {
        return Err(error);
    };
    match node {
        Node::Plain(_) => Err(error),
        Node::NonFinite(_) | Node::Array(..) => Ok(None),
        Node::Object(entries, _) => {
            let mut out: Vec<(String, Value)> = Vec::with_capacity(entries.len());
            for (key, node) in entries {
                let key = parse_key(text, key)?;
                let value = to_value(text, node)?;
                match out.iter_mut().find(|(k, _)| *k == key) {
                    Some(slot) => slot.1 = value,
                    None => out.push((key, value)),
                }
            }
            Ok(Some(out))
        }
    }
}

fn parse_key(text: &str, range: Range<usize>) -> Result<String, String> {
    serde_json::from_str::<String>(text.get(range).ok_or("a key is not valid text")?)
        .map_err(|e| e.to_string())
}

fn to_value(text: &str, node: Node) -> Result<Value, String> {
    let slice = |r: Range<usize>| text.get(r).ok_or_else(|| "not valid text".to_string());
    Ok(match node {
        Node::Plain(r) => Value::Json(serde_json::from_str(slice(r)?).map_err(|e| e.to_string())?),
        Node::NonFinite(f) => Value::NonFinite(f),
        Node::Array(items, r) => Value::Array(
            items
                .into_iter()
                .map(|n| to_value(text, n))
                .collect::<Result<_, _>>()?,
            slice(r)?.to_string(),
        ),
        Node::Object(entries, r) => {
            for (key, node) in entries {
                parse_key(text, key)?;
                to_value(text, node)?;
            }
            Value::Object(slice(r)?.to_string())
        }
    })
}

/// A JSON value's extent in a line, as far as a non-finite token inside matters.
enum Node {
    /// No non-finite token inside (to be parsed by serde_json).
    Plain(Range<usize>),
    NonFinite(f64),
    Array(Vec<Node>, Range<usize>),
    /// Keys (string literals) and values.
    Object(Vec<(Range<usize>, Node)>, Range<usize>),
}

/// Nesting deeper than this is rejected (as serde_json does).
const MAX_DEPTH: usize = 128;

/// Finds the extents of JSON values; validates only the structure (brackets, commas,
/// colons, string ends): scalars are validated by serde_json afterwards.
struct Scanner<'a> {
    s: &'a [u8],
    i: usize,
}

impl Scanner<'_> {
    fn whitespace(&mut self) {
        while matches!(self.s.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.s.get(self.i) == Some(&byte) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn string(&mut self) -> Option<Range<usize>> {
        let start = self.i;
        if !self.eat(b'"') {
            return None;
        }
        loop {
            match *self.s.get(self.i)? {
                b'\\' => self.i += 2,
                b'"' => {
                    self.i += 1;
                    return Some(start..self.i);
                }
                _ => self.i += 1,
            }
        }
    }

    fn token(&mut self, token: &[u8], value: f64) -> Option<Node> {
        if !self.s[self.i..].starts_with(token) {
            return None;
        }
        self.i += token.len();
        // `NaNx` or `Infinity1` is not a token.
        if self.s.get(self.i).is_some_and(u8::is_ascii_alphanumeric) {
            return None;
        }
        Some(Node::NonFinite(value))
    }

    fn value(&mut self, depth: usize) -> Option<Node> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.whitespace();
        let start = self.i;
        match *self.s.get(self.i)? {
            b'{' => {
                self.i += 1;
                let mut entries = Vec::new();
                self.whitespace();
                if !self.eat(b'}') {
                    loop {
                        self.whitespace();
                        let key = self.string()?;
                        self.whitespace();
                        if !self.eat(b':') {
                            return None;
                        }
                        entries.push((key, self.value(depth + 1)?));
                        self.whitespace();
                        if self.eat(b'}') {
                            break;
                        }
                        if !self.eat(b',') {
                            return None;
                        }
                    }
                }
                let range = start..self.i;
                Some(
                    if entries.iter().all(|(_, v)| matches!(v, Node::Plain(_))) {
                        Node::Plain(range)
                    } else {
                        Node::Object(entries, range)
                    },
                )
            }
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                self.whitespace();
                if !self.eat(b']') {
                    loop {
                        items.push(self.value(depth + 1)?);
                        self.whitespace();
                        if self.eat(b']') {
                            break;
                        }
                        if !self.eat(b',') {
                            return None;
                        }
                    }
                }
                let range = start..self.i;
                Some(if items.iter().all(|v| matches!(v, Node::Plain(_))) {
                    Node::Plain(range)
                } else {
                    Node::Array(items, range)
                })
            }
            b'"' => self.string().map(Node::Plain),
            b'N' => self.token(b"NaN", f64::NAN),
            b'I' => self.token(b"Infinity", f64::INFINITY),
            b'-' if self.s[self.i..].starts_with(b"-I") => {
                self.token(b"-Infinity", f64::NEG_INFINITY)
            }
            b'-' | b'0'..=b'9' => {
                while matches!(
                    self.s.get(self.i),
                    Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                ) {
                    self.i += 1;
                }
                Some(Node::Plain(start..self.i))
            }
            b't' | b'f' | b'n' => {
                while self.s.get(self.i).is_some_and(u8::is_ascii_alphabetic) {
                    self.i += 1;
                }
                Some(Node::Plain(start..self.i))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::Field;

    use super::*;
    use crate::function::datum_to_json;

    fn fields(spec: &[(&str, DataType, bool)]) -> Vec<FieldRef> {
        spec.iter()
            .map(|(n, t, null)| Arc::new(Field::new(*n, t.clone(), *null)))
            .collect()
    }

    fn float_list() -> DataType {
        DataType::LargeList(Arc::new(Field::new("item", DataType::Float64, true)))
    }

    fn request(packet: &[(&str, Datum)], id: Option<&str>) -> String {
        let packet: Vec<(String, Datum)> = packet
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let mut out = Vec::new();
        write_request(&mut out, &packet, id);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn requests_are_byte_identical_to_serde_json_for_finite_values() {
        let values = [
            Datum::Null,
            Datum::Bool(true),
            Datum::Bool(false),
            Datum::Int(0),
            Datum::Int(i64::MIN),
            Datum::Int(i64::MAX),
            Datum::Float(0.1),
            Datum::Float(-0.0),
            Datum::Float(1.0),
            Datum::Float(1e300),
            Datum::Float(1.5e-310),
            Datum::Float(123456789.125),
            Datum::Str(String::new()),
            Datum::Str("tab\t \"quote\" back\\slash \u{1} \u{7f} é 😀 / </".into()),
            Datum::Bytes(vec![]),
            Datum::Bytes(vec![0, 1, 254, 255]),
            Datum::List(vec![]),
            Datum::List(vec![
                Datum::Int(1),
                Datum::Null,
                Datum::List(vec![Datum::Str("x".into())]),
            ]),
        ];
        let packet: Vec<(String, Datum)> = values
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("k{i} \"é\""), v.clone()))
            .collect();
        let expected: serde_json::Map<String, Json> = packet
            .iter()
            .map(|(k, v)| (k.clone(), datum_to_json(v)))
            .collect();
        let mut out = Vec::new();
        write_request(&mut out, &packet, None);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("{}\n", Json::Object(expected))
        );
        assert_eq!(request(&[], None), "{}\n");
    }

    #[test]
    fn requests_write_non_finite_floats_as_python_does_and_the_id_first() {
        assert_eq!(
            request(
                &[
                    ("a", Datum::Float(f64::NAN)),
                    (
                        "b",
                        Datum::List(vec![
                            Datum::Float(f64::INFINITY),
                            Datum::Float(f64::NEG_INFINITY),
                            Datum::Float(2.5),
                        ])
                    ),
                ],
                Some("17"),
            ),
            "{\"$id\":\"17\",\"a\":NaN,\"b\":[Infinity,-Infinity,2.5]}\n"
        );
    }

    #[test]
    fn the_framer_skips_blank_lines_and_keeps_partial_ones() {
        let mut f = LineFramer::new(100);
        let first: &[u8] = b"\n  \r\n{\"a\":1}\r\n\n\t\n{\"a\"";
        f.push(first);
        assert_eq!(f.next_line().unwrap(), Some(&b"{\"a\":1}\r"[..]));
        assert_eq!(f.next_line().unwrap(), None);
        assert_eq!(f.partial(), b"{\"a\"");
        assert!(f.partial_has_text());
        f.push(b":2}\n   ");
        assert_eq!(f.next_line().unwrap(), Some(&b"{\"a\":2}"[..]));
        assert_eq!(f.next_line().unwrap(), None);
        assert!(!f.partial_has_text());
        assert_eq!(f.bytes_seen(), (first.len() + 7) as u64);
    }

    #[test]
    fn the_framer_rejects_lines_over_the_limit_complete_or_not() {
        let mut f = LineFramer::new(4);
        f.push(b"1234\n12345\n");
        assert_eq!(f.next_line().unwrap(), Some(&b"1234"[..]));
        assert_eq!(f.next_line(), Err(LineTooLong { limit: 4 }));
        let mut f = LineFramer::new(4);
        f.push(b"1234");
        assert_eq!(f.next_line().unwrap(), None);
        f.push(b"5");
        assert_eq!(f.next_line(), Err(LineTooLong { limit: 4 }));
    }

    #[test]
    fn the_framer_copes_with_many_small_pushes() {
        let mut f = LineFramer::new(1 << 20);
        let mut lines = 0;
        for i in 0..50_000 {
            f.push(format!("{{\"i\":{i}}}").as_bytes());
            f.push(b"\n");
            while let Some(line) = f.next_line().unwrap() {
                assert_eq!(line, format!("{{\"i\":{i}}}").as_bytes());
                lines += 1;
            }
        }
        assert_eq!(lines, 50_000);
        assert!(f.buf.len() < 200_000, "{}", f.buf.len());
    }

    #[test]
    fn replies_are_checked_against_the_output_schema() {
        let out = fields(&[("a", DataType::Int64, false), ("b", DataType::Utf8, true)]);
        let reply = |line: &str| read_reply(line.as_bytes(), &out, None);
        assert_eq!(
            reply(r#"{"b": null, "a": 3}"#),
            Reply::Values(vec![Datum::Int(3), Datum::Null])
        );
        assert_eq!(reply(r#"{"$error": "boom"}"#), Reply::Failed("boom".into()));
        assert_eq!(reply(r#"{"$error": 3}"#), Reply::Failed("3".into()));
        let failed = |line: &str, expected: &str| match reply(line) {
            Reply::Failed(m) => assert!(m.contains(expected), "{line}: {m}"),
            other => panic!("{line}: {other:?}"),
        };
        failed(r#"{"a": "1", "b": "x"}"#, "output `a`: expected int");
        failed(r#"{"a": null, "b": "x"}"#, "not nullable");
        let stray = |line: &[u8], expected: &str| match read_reply(line, &out, None) {
            Reply::NotAnAnswer(m) => assert!(m.contains(expected), "{line:?}: {m}"),
            other => panic!("{line:?}: {other:?}"),
        };
        stray(br#"{"a": 1}"#, "lacks the output key(s) `b`");
        stray(br#"{"a": 1, "b": "x", "c": 2}"#, "unexpected key(s) `c`");
        stray(br#"{"debug": "x"}"#, "expected exactly `a`, `b`");
        stray(br#"{"$error": "x", "a": 1}"#, "no other key");
        stray(b"[1]", "not a JSON object");
        stray(b"NaN", "not a JSON object");
        stray(b"{nope", "not valid JSON");
        stray(b"loading model...", "not valid JSON");
        stray(b"\xff", "not valid UTF-8");
    }

    #[test]
    fn replies_under_jsonl_id_must_echo_the_id() {
        let out = fields(&[("a", DataType::Int64, false)]);
        let reply = |line: &str| read_reply(line.as_bytes(), &out, Some("7"));
        assert_eq!(
            reply(r#"{"a": 3, "$id": "7"}"#),
            Reply::Values(vec![Datum::Int(3)])
        );
        assert_eq!(
            reply(r#"{"$id": "7", "$error": "no"}"#),
            Reply::Failed("no".into())
        );
        // Once the id matches, wrong keys fail the packet without breaking pairing.
        assert!(matches!(reply(r#"{"$id": "7", "b": 1}"#), Reply::Failed(_)));
        let stray = |line: &str, expected: &str| match reply(line) {
            Reply::NotAnAnswer(m) => assert!(m.contains(expected), "{line}: {m}"),
            other => panic!("{line}: {other:?}"),
        };
        stray(r#"{"a": 3}"#, "has no `$id`");
        stray(
            r#"{"a": 3, "$id": "6"}"#,
            "is \"6\" where \"7\" was expected",
        );
        stray(r#"{"a": 3, "$id": 7}"#, "is 7 where");
        stray(r#"{"$error": "x"}"#, "has no `$id`");
    }

    #[test]
    fn python_non_finite_tokens_are_read_only_where_a_float_is_expected() {
        let out = fields(&[
            ("f", DataType::Float64, false),
            ("fs", float_list(), false),
            ("s", DataType::Utf8, false),
        ]);
        let reply = |line: &str| read_reply(line.as_bytes(), &out, None);
        let Reply::Values(values) =
            reply(r#"{"f": NaN, "fs": [Infinity, -Infinity, 1.5, null], "s": "NaN, Infinity"}"#)
        else {
            panic!()
        };
        assert!(matches!(values[0], Datum::Float(f) if f.is_nan()));
        assert_eq!(
            values[1],
            Datum::List(vec![
                Datum::Float(f64::INFINITY),
                Datum::Float(f64::NEG_INFINITY),
                Datum::Float(1.5),
                Datum::Null
            ])
        );
        // The string is untouched, tokens inside it included.
        assert_eq!(values[2], Datum::Str("NaN, Infinity".into()));

        // A token where no float is expected fails the packet (pairing holds).
        let failed = |line: &str, expected: &str| match reply(line) {
            Reply::Failed(m) => assert!(m.contains(expected), "{line}: {m}"),
            other => panic!("{line}: {other:?}"),
        };
        failed(
            r#"{"f": 1, "fs": [], "s": NaN}"#,
            "output `s`: expected str, got NaN",
        );
        let out_int = fields(&[
            ("i", DataType::Int64, false),
            ("f", DataType::Float64, true),
        ]);
        match read_reply(br#"{"i": Infinity, "f": NaN}"#, &out_int, None) {
            Reply::Failed(m) => {
                assert!(m.contains("output `i`: expected int, got Infinity"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        match read_reply(br#"{"i": [NaN], "f": 1}"#, &out_int, None) {
            Reply::Failed(m) => assert!(m.contains("expected int, got [NaN]"), "{m}"),
            other => panic!("{other:?}"),
        }
        match read_reply(br#"{"i": {"x": NaN}, "f": 1}"#, &out_int, None) {
            Reply::Failed(m) => assert!(m.contains(r#"got {"x": NaN}"#), "{m}"),
            other => panic!("{other:?}"),
        }
        // Only Python's spellings, as whole tokens.
        for bad in [
            r#"{"f": nan, "fs": [], "s": ""}"#,
            r#"{"f": inf, "fs": [], "s": ""}"#,
            r#"{"f": -NaN, "fs": [], "s": ""}"#,
            r#"{"f": +Infinity, "fs": [], "s": ""}"#,
            r#"{"f": NaNa, "fs": [], "s": ""}"#,
            r#"{"f": Infinity1, "fs": [], "s": ""}"#,
            r#"{"f": NaN, "fs": [], "s": "unterminated}"#,
            r#"{"f": NaN, "fs": [], "s": 01}"#,
            r#"{"f": NaN, "fs": [1,], "s": ""}"#,
            r#"{"f": NaN "fs": [], "s": ""}"#,
            r#"{"f": NaN, "fs": [], "s": ""} x"#,
            r#"{"f": NaN, "fs": [], "s": "\q"}"#,
            r#"{"f": NaN, "fs": [], "s": ""}}"#,
            r#"{"f": NaN, "fs": [], "s": {"a": NaN, "b": tru}}"#,
        ] {
            match reply(bad) {
                Reply::NotAnAnswer(m) => assert!(m.contains("not valid JSON"), "{bad}: {m}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        // A repeated key keeps its last value, as serde_json does for standard JSON.
        let out_f = fields(&[("f", DataType::Float64, false)]);
        assert_eq!(
            read_reply(br#"{"f": NaN, "f": 2.0}"#, &out_f, None),
            read_reply(br#"{"f": 1.0, "f": 2.0}"#, &out_f, None)
        );
        assert_eq!(
            read_reply(br#"{"f": 1.0, "f": -Infinity}"#, &out_f, None),
            Reply::Values(vec![Datum::Float(f64::NEG_INFINITY)])
        );
        // Keys with escapes are decoded.
        assert_eq!(
            read_reply(br#"{"\u0066": Infinity}"#, &out_f, None),
            Reply::Values(vec![Datum::Float(f64::INFINITY)])
        );
        // Under jsonl-id too.
        assert_eq!(
            read_reply(br#"{"$id": "3", "f": Infinity}"#, &out_f, Some("3")),
            Reply::Values(vec![Datum::Float(f64::INFINITY)])
        );
    }

    #[test]
    fn clip_keeps_two_hundred_characters() {
        assert_eq!(clip(b"  short \n"), "short");
        let long = "é".repeat(300);
        let clipped = clip(long.as_bytes());
        assert_eq!(clipped.chars().count(), 201);
        assert!(clipped.ends_with('…'));
        assert_eq!(clip(b"\xffx"), "\u{fffd}x");
    }
}
