//! The semantic hasher `semantic_v0.1`, byte-for-byte compatible with the reference.
//!
//! A [`Value`] is the Rust image of the Python object the reference hashes: primitives,
//! lists, tuples, sets, dicts, and already-computed hashes. [`hash_value`] renders it as
//! JSON text exactly as Python's `json.dumps(obj, sort_keys=True, separators=(",", ":"),
//! ensure_ascii=False)` would after the reference's structural expansion, and takes the
//! SHA-256 of the UTF-8 bytes.
//!
//! Expansion rules (reference §5.1): a list is a JSON array; a tuple is
//! `{"__type__":"tuple","items":[…]}`; a set is `{"__type__":"set","items":[…]}` with items
//! sorted by their Python `str()`; a dict is a JSON object with sorted keys; a nested
//! [`ContentHash`] is embedded as its `method:hex` string; a top-level [`ContentHash`] is
//! returned unchanged. Python's float rendering (`1e-05`, `0.0`, `NaN`) is reproduced by
//! [`python_float_repr`].
//!
//! This module must never depend on anything outside `hashing`: it is the bottom of the
//! identity chain.

use sha2::{Digest, Sha256};

use super::ContentHash;

/// The method name of the semantic hasher.
pub const SEMANTIC_METHOD: &str = "semantic_v0.1";

/// A hashable value: the Rust image of a Python object as the reference hashes it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Python `None`.
    None,
    /// Python `bool`.
    Bool(bool),
    /// Python `int`.
    Int(i64),
    /// Python `float`.
    Float(f64),
    /// Python `str`.
    Str(String),
    /// Python `list`: a JSON array.
    List(Vec<Value>),
    /// Python `tuple`: `{"__type__":"tuple","items":[…]}`.
    Tuple(Vec<Value>),
    /// Python `set`/`frozenset`: `{"__type__":"set","items":[sorted by str()]}`.
    Set(Vec<Value>),
    /// Python `dict` (insertion order irrelevant: keys are sorted when rendered).
    Dict(Vec<(String, Value)>),
    /// An already-computed hash: terminal at top level, its string form when nested.
    Hash(ContentHash),
}

impl Value {
    /// A string value.
    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }

    /// A tuple of values.
    pub fn tuple(items: impl IntoIterator<Item = Value>) -> Value {
        Value::Tuple(items.into_iter().collect())
    }

    /// A dict from string keys.
    pub fn dict<K: Into<String>>(items: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Dict(items.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<ContentHash> for Value {
    fn from(h: ContentHash) -> Self {
        Value::Hash(h)
    }
}

/// Hashes a value with `semantic_v0.1`.
pub fn hash_value(value: &Value) -> ContentHash {
    if let Value::Hash(h) = value {
        return h.clone();
    }
    hash_json_text(&to_json_text(value))
}

/// Hashes a string as the reference hashes a Python `str` (its JSON text).
pub fn hash_str(s: &str) -> ContentHash {
    hash_value(&Value::str(s))
}

fn hash_json_text(text: &str) -> ContentHash {
    ContentHash::new(SEMANTIC_METHOD, Sha256::digest(text.as_bytes()).to_vec())
}

/// The canonical JSON text of a value after structural expansion.
pub fn to_json_text(value: &Value) -> String {
    let mut out = String::new();
    write_json(&expand(value), &mut out);
    out
}

/// A JSON tree after expansion: only JSON types remain.
enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Array(Vec<Json>),
    /// Keys already sorted.
    Object(Vec<(String, Json)>),
}

fn expand(value: &Value) -> Json {
    match value {
        Value::None => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::Int(*i),
        Value::Float(f) => Json::Float(*f),
        Value::Str(s) => Json::Str(s.clone()),
        Value::Hash(h) => Json::Str(h.to_string()),
        Value::List(items) => Json::Array(items.iter().map(expand).collect()),
        Value::Tuple(items) => tagged("tuple", items.iter().map(expand).collect()),
        Value::Set(items) => {
            let mut expanded: Vec<Json> = items.iter().map(expand).collect();
            // Python: sorted(items, key=str); sort is stable.
            expanded.sort_by_cached_key(python_str);
            tagged("set", expanded)
        }
        Value::Dict(entries) => {
            let mut object: Vec<(String, Json)> = entries
                .iter()
                .map(|(k, v)| (k.clone(), expand(v)))
                .collect();
            object.sort_by(|a, b| a.0.cmp(&b.0));
            // A Python dict keeps the last value for a repeated key.
            object.dedup_by(|later, earlier| {
                if later.0 == earlier.0 {
                    std::mem::swap(later, earlier);
                    true
                } else {
                    false
                }
            });
            Json::Object(object)
        }
    }
}

fn tagged(type_name: &str, items: Vec<Json>) -> Json {
    Json::Object(vec![
        ("__type__".to_string(), Json::Str(type_name.to_string())),
        ("items".to_string(), Json::Array(items)),
    ])
}

fn write_json(json: &Json, out: &mut String) {
    match json {
        Json::Null => out.push_str("null"),
        Json::Bool(true) => out.push_str("true"),
        Json::Bool(false) => out.push_str("false"),
        Json::Int(i) => out.push_str(&i.to_string()),
        Json::Float(f) => out.push_str(&python_json_float(*f)),
        Json::Str(s) => write_json_string(s, out),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Json::Object(entries) => {
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(k, out);
                out.push(':');
                write_json(v, out);
            }
            out.push('}');
        }
    }
}

/// Python's `json.dumps(s, ensure_ascii=False)` for a string.
fn write_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Python's JSON rendering of a float: `repr` except for the non-finite values.
fn python_json_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_string()
    } else if f == f64::INFINITY {
        "Infinity".to_string()
    } else if f == f64::NEG_INFINITY {
        "-Infinity".to_string()
    } else {
        python_float_repr(f)
    }
}

/// Python's `repr(float)`: the shortest round-trip digits, in positional notation when
/// the decimal exponent is in `-4 ..= 15`, otherwise scientific with a signed two-digit
/// exponent (`1e-05`, `1e+16`); integral values keep a trailing `.0`.
pub fn python_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "-1.2345e-5".
    let sci = format!("{f:e}");
    let (mantissa, exponent) = sci.split_once('e').expect("`{:e}` always has an exponent");
    let exponent: i32 = exponent.parse().expect("exponent is an integer");
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    // Position of the decimal point relative to the start of `digits`.
    let decpt = exponent + 1;
    if (-3..=16).contains(&decpt) {
        let body = if decpt <= 0 {
            format!("0.{}{}", "0".repeat((-decpt) as usize), digits)
        } else if decpt as usize >= digits.len() {
            format!("{}{}.0", digits, "0".repeat(decpt as usize - digits.len()))
        } else {
            let (int_part, frac_part) = digits.split_at(decpt as usize);
            format!("{int_part}.{frac_part}")
        };
        format!("{sign}{body}")
    } else {
        let (first, rest) = digits.split_at(1);
        let mantissa = if rest.is_empty() {
            first.to_string()
        } else {
            format!("{first}.{rest}")
        };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        format!("{sign}{mantissa}e{exp_sign}{:02}", exponent.abs())
    }
}

/// Python's `str()` of an expanded value, used only to order set items.
fn python_str(json: &Json) -> String {
    match json {
        Json::Str(s) => s.clone(),
        other => python_repr(other),
    }
}

fn python_repr(json: &Json) -> String {
    match json {
        Json::Null => "None".to_string(),
        Json::Bool(true) => "True".to_string(),
        Json::Bool(false) => "False".to_string(),
        Json::Int(i) => i.to_string(),
        Json::Float(f) => python_float_repr(*f),
        Json::Str(s) => python_str_repr(s),
        Json::Array(items) => {
            let inner: Vec<String> = items.iter().map(python_repr).collect();
            format!("[{}]", inner.join(", "))
        }
        Json::Object(entries) => {
            let inner: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{}: {}", python_str_repr(k), python_repr(v)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
    }
}

/// Python's `repr(str)` for the common cases (quote choice and basic escapes).
fn python_str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::new();
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
// The reference's sample file hashes 3.14159 and -2.71828 literally: they are data here.
#[allow(clippy::approx_constant)]
mod tests {
    use super::*;

    fn hex(v: &Value) -> String {
        hash_value(v).hex()
    }

    #[test]
    fn float_repr_matches_python() {
        let cases = [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (0.1, "0.1"),
            (3.14159, "3.14159"),
            (1e-05, "1e-05"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123456789.125, "123456789.125"),
            (2.5e-07, "2.5e-07"),
            (1.5e300, "1.5e+300"),
            (-2.71828, "-2.71828"),
        ];
        for (f, expected) in cases {
            assert_eq!(python_float_repr(f), expected, "repr of {f}");
        }
        assert_eq!(python_json_float(f64::NAN), "NaN");
    }

    #[test]
    fn json_text_is_compact_sorted_and_tagged() {
        let v = Value::dict([
            (
                "b",
                Value::List(vec![Value::Int(1), Value::Float(2.5), "s".into()]),
            ),
            ("a", Value::None),
            ("t", Value::tuple([Value::Bool(true)])),
        ]);
        assert_eq!(
            to_json_text(&v),
            r#"{"a":null,"b":[1,2.5,"s"],"t":{"__type__":"tuple","items":[true]}}"#
        );
        assert_eq!(to_json_text(&"é\n\u{1}".into()), "\"é\\n\\u0001\"");
    }

    /// Values and hashes produced by the reference implementation.
    #[test]
    fn golden_values_from_the_reference() {
        let cases: Vec<(Value, &str)> = vec![
            (
                Value::None,
                "74234e98afe7498fb5daf1f36ac2d78acc339464f950703b8c019892f982b90b",
            ),
            (
                Value::Bool(true),
                "b5bea41b6c623f7c09f1bf24dcae58ebab3c0cdd90ad966bc43a45b44867e12b",
            ),
            (
                Value::Bool(false),
                "fcbcf165908dd18a9e49f7ff27810176db8e9f63b4352213741664245224f8aa",
            ),
            (
                Value::Int(0),
                "5feceb66ffc86f38d952786c6d696c79c2dbc239dd4e91b46729d73a27fb57e9",
            ),
            (
                Value::Int(1),
                "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b",
            ),
            (
                Value::Int(-1),
                "1bad6b8cf97131fceab8543e81f7757195fbb1d36b376ee994ad1cf17699c464",
            ),
            (
                Value::Int(42),
                "73475cb40a568e8da8a045ced110137e159f890ac4da883b6b17dc651b3a8049",
            ),
            (
                Value::Float(3.14159),
                "c0740dd25c9de39b9c8d5ab452e8b69bcc0bf86f2a60ed7e527e79d0a3035852",
            ),
            (
                Value::Float(-2.71828),
                "43dc3d0d4b9e9bb2a2dfcf9696b0d49fe1f4fa10ac48586ef40e0b037f9ebcfe",
            ),
            (
                Value::Float(0.0),
                "8aed642bf5118b9d3c859bd4be35ecac75b6e873cce34e7b6f554b06f75550d7",
            ),
            (
                "".into(),
                "12ae32cb1ec02d01eda3581b127c1fee3b0dc53572ed6baf239721a03d82e126",
            ),
            (
                "hello".into(),
                "5aa762ae383fbb727af3c7a36d4940a5b8c40a989452d2304fc958ff3f354e7a",
            ),
            (
                "Hello, World!".into(),
                "cc82ebbcf8b60a5821d1c51c72cd79380ecea47de343ccb3b158938a2b3bf764",
            ),
            (
                "Special chars: !@#$%^&*()".into(),
                "bbfa5afce2bf76f5520f0acafbb986c6da70dc507717450af24f91e8d01832c9",
            ),
            (
                "Unicode: 你好, Привет, こんにちは".into(),
                "2dd7db78b058c582953d493cc25b725d3cd7671c246c30440cebb5effc7c9e91",
            ),
            // bytes hash as their lowercase hex string
            (
                "68656c6c6f".into(),
                "7375513f6d0b5271db377b03ad832f51966a263f2ceb70a747b17c076b273ede",
            ),
            (
                Value::List(vec![]),
                "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945",
            ),
            (
                Value::List(vec![1.into(), 2.into(), 3.into()]),
                "a615eeaee21de5179de080de8c3052c8da901138406ba71c38c032845f7d54f4",
            ),
            (
                Value::List(vec!["a".into(), "b".into(), "c".into()]),
                "fa1844c2988ad15ab7b49e0ece09684500fad94df916859fb9a43ff85f5bb477",
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(hex(&value), expected, "hash of {value:?}");
        }
    }

    #[test]
    fn golden_prefixes_from_the_reference() {
        let cases: Vec<(Value, &str)> = vec![
            (
                Value::List(vec![1.into(), "a".into(), true.into()]),
                "8554b19db94b8f9b",
            ),
            (Value::Set(vec![]), "469289aca5c121cc"),
            (
                Value::Set(vec![3.into(), 1.into(), 2.into()]),
                "d1ff6a34712272cb",
            ),
            (
                Value::Set(vec!["c".into(), "a".into(), "b".into()]),
                "dc64a5a5142e9849",
            ),
            (Value::Tuple(vec![]), "095502da3bf5c96b"),
            (
                Value::tuple([1.into(), 2.into(), 3.into()]),
                "41ad6c92bc0c7ab5",
            ),
            (Value::Dict(vec![]), "44136fa355b3678a"),
            (Value::dict([("a", 1.into())]), "015abd7f5cc57a2d"),
            (
                Value::dict([("b", 2.into()), ("a", 1.into())]),
                "43258cff783fe703",
            ),
            (
                Value::dict([("b", 1.into()), ("a", 2.into())]),
                "d3626ac30a87e6f7",
            ),
            (
                Value::dict([("nested", Value::dict([("a", 1.into()), ("b", 2.into())]))]),
                "635b42bee92bc9e7",
            ),
            (
                Value::dict([(
                    "users",
                    Value::List(vec![
                        Value::dict([("name", "Alice".into()), ("age", 30.into())]),
                        Value::dict([("name", "Bob".into()), ("age", 25.into())]),
                    ]),
                )]),
                "32c13fff89d73e61",
            ),
            ("Join".into(), "295ca933"),
        ];
        for (value, expected) in cases {
            assert!(
                hex(&value).starts_with(expected),
                "hash of {value:?}: {}",
                hex(&value)
            );
        }
    }

    #[test]
    fn a_top_level_hash_is_terminal_and_a_nested_one_is_its_string() {
        let h = hash_str("x");
        assert_eq!(hash_value(&Value::Hash(h.clone())), h);
        assert_eq!(
            to_json_text(&Value::List(vec![Value::Hash(h.clone())])),
            format!("[\"{h}\"]")
        );
    }
}
