//! JSON as Python's `json` module writes it: standard JSON plus the bare tokens `NaN`,
//! `Infinity` and `-Infinity`.
//!
//! A line that is standard JSON is parsed by `serde_json` alone. Otherwise a scanner
//! finds the extents of the values holding a non-finite token, and every part without
//! one is still parsed (so validated) by `serde_json`. It reads no schema: what a value
//! means is [`reply`](super::reply)'s business.

use std::ops::Range;

use serde_json::Value as Json;

use super::request::python_non_finite;

/// A value of an answer: standard JSON, or one holding Python's non-finite tokens.
#[derive(Debug, Clone)]
pub(super) enum Value {
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
    pub(super) fn text(&self) -> String {
        match self {
            Value::Json(json) => json.to_string(),
            Value::NonFinite(f) => python_non_finite(*f).to_string(),
            Value::Array(_, text) | Value::Object(text) => text.clone(),
        }
    }
}

/// The (key, value) pairs of a JSON object line (a repeated key keeps its last value,
/// as `serde_json` does), `None` if the line is valid but not an object, or the error
/// of `serde_json` if it is not valid JSON (bare non-finite tokens aside).
pub(super) fn parse_object(text: &str) -> Result<Option<Vec<(String, Value)>>, String> {
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

    /// The items of an object or array up to `close` (its opening bracket is eaten),
    /// each read by `item`, separated by commas.
    fn sequence(&mut self, close: u8, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.whitespace();
        if self.eat(close) {
            return Some(());
        }
        loop {
            item(self)?;
            self.whitespace();
            if self.eat(close) {
                return Some(());
            }
            if !self.eat(b',') {
                return None;
            }
        }
    }

    /// The node of the object or array from `start` to here: plain if none of its
    /// values holds a non-finite token (`plain`), else as `structured` builds it.
    fn node(
        &self,
        start: usize,
        plain: bool,
        structured: impl FnOnce(Range<usize>) -> Node,
    ) -> Node {
        let range = start..self.i;
        if plain {
            Node::Plain(range)
        } else {
            structured(range)
        }
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
                self.sequence(b'}', |s| {
                    s.whitespace();
                    let key = s.string()?;
                    s.whitespace();
                    if !s.eat(b':') {
                        return None;
                    }
                    entries.push((key, s.value(depth + 1)?));
                    Some(())
                })?;
                let plain = entries.iter().all(|(_, v)| matches!(v, Node::Plain(_)));
                Some(self.node(start, plain, |range| Node::Object(entries, range)))
            }
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                self.sequence(b']', |s| {
                    items.push(s.value(depth + 1)?);
                    Some(())
                })?;
                let plain = items.iter().all(|v| matches!(v, Node::Plain(_)));
                Some(self.node(start, plain, |range| Node::Array(items, range)))
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
