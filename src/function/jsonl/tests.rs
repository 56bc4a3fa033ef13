//! Unit tests of the JSON Lines protocol: request bytes, and answers read against the
//! output schema (Python's non-finite tokens included).

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, FieldRef};
use serde_json::Value as Json;

use super::*;
use crate::function::datum_to_json;
use crate::model::Datum;

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
