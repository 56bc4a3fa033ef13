//! The array-based CSV and JSON writers against the old per-value ones.

use std::borrow::Cow;

use proptest::prelude::*;

use super::data::{batches, stream};
use super::oracle::{self, cell, oracle_rows, write_record};
use crate::export::cells::{datum_json, json_text};
use crate::export::{Columns, SortedStream};
use crate::model::Datum;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn csv_and_json_are_the_old_bytes((types, rows) in batches(5)) {
        let stream = stream(&types, &rows);
        let sorted = SortedStream::new(&stream).unwrap();
        let old_rows = oracle_rows(&stream);
        for columns in [Columns::TagsAndPackets, Columns::AllInfo] {
            let mut csv = Vec::new();
            sorted.write_csv(&mut csv, columns).unwrap();
            let want = oracle::csv(stream.schema(), &old_rows, columns);
            prop_assert_eq!(String::from_utf8(csv).unwrap(), String::from_utf8(want).unwrap());
            let mut json = Vec::new();
            sorted.write_json(&mut json, columns).unwrap();
            let want = oracle::json(stream.schema(), &old_rows, columns);
            prop_assert_eq!(String::from_utf8(json).unwrap(), String::from_utf8(want).unwrap());
        }
    }
}

fn line(fields: &[Option<&str>]) -> String {
    let fields: Vec<Option<Cow<str>>> = fields.iter().map(|f| f.map(Cow::from)).collect();
    let mut out = Vec::new();
    write_record(&mut out, &fields).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn the_oracle_quotes_and_encodes_as_the_contract_says() {
    assert_eq!(
        line(&[Some("a"), None, Some(""), Some("x,y"), Some(r#"say "hi""#)]),
        "a,,\"\",\"x,y\",\"say \"\"hi\"\"\"\n"
    );
    assert_eq!(line(&[None]), "\"\"\n");
    assert_eq!(line(&[Some("two\nlines")]), "\"two\nlines\"\n");
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
    let v = serde_json::json!({"a": [1, 2.5, null], "b": {"$bytes": "00ff"}, "c": []});
    assert_eq!(
        json_text(&v),
        r#"{"a": [1, 2.5, null], "b": {"$bytes": "00ff"}, "c": []}"#
    );
    assert_eq!(json_text(&datum_json(&Datum::Float(f64::NAN))), r#""NaN""#);
    assert_eq!(json_text(&datum_json(&Datum::Float(3.0))), "3.0");
}
