//! Shared helpers for the actor runtime's tests.
#![allow(dead_code)]

use std::collections::BTreeMap;

use orcapod::model::Datum;
use orcapod::operator::OperatorSpec;
use orcapod::source::{Source, SourceOptions};

/// The row multiset shared with the core's integration tests.
#[path = "../../../tests/support/mod.rs"]
mod rows;
#[allow(unused_imports)] // not every test binary compares rows
pub use rows::multiset;

/// A source of `n` rows `{id: "k{i % keys}", v: i}` with tag `id` (or no tag).
pub fn numbers(name: &str, n: usize, keys: usize, value_column: &str) -> Source {
    let rows: Vec<Vec<(String, Datum)>> = (0..n)
        .map(|i| {
            vec![
                (
                    "id".to_string(),
                    Datum::Str(format!("k{}", i % keys.max(1))),
                ),
                (value_column.to_string(), Datum::Int(i as i64)),
            ]
        })
        .collect();
    Source::from_rows(&rows, &SourceOptions::tags(["id"]).with_source_id(name)).unwrap()
}

/// `MapPackets {old: new}`.
pub fn rename(old: &str, new: &str) -> OperatorSpec {
    OperatorSpec::MapPackets {
        name_map: BTreeMap::from([(old.to_string(), new.to_string())]),
        drop_unmapped: false,
    }
}
