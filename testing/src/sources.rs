//! Small in-memory sources and operator specs the tests build their pipelines from.

use std::collections::BTreeMap;

use orcapod::model::Datum;
use orcapod::operator::OperatorSpec;
use orcapod::source::{Source, SourceOptions};

/// A source of `n` rows, row `i` being `row(i)` (column name, value), tagged by `tags`;
/// its source id is `source_id`, or the one derived from its content when `None`.
pub fn table<S: Into<String>>(
    source_id: Option<&str>,
    tags: &[&str],
    n: usize,
    row: impl Fn(usize) -> Vec<(S, Datum)>,
) -> Source {
    let rows: Vec<Vec<(String, Datum)>> = (0..n)
        .map(|i| row(i).into_iter().map(|(c, d)| (c.into(), d)).collect())
        .collect();
    let mut options = SourceOptions::tags(tags.iter().copied());
    if let Some(id) = source_id {
        options = options.with_source_id(id);
    }
    Source::from_rows(&rows, &options).unwrap()
}

/// A source `{source_id}` of `n` rows `{id: "k{i}", column: i * scale}` tagged by `id`.
pub fn keyed(source_id: &str, n: i64, column: &str, scale: i64) -> Source {
    table(Some(source_id), &["id"], n as usize, |i| {
        let i = i as i64;
        vec![
            ("id", Datum::Str(format!("k{i}"))),
            (column, Datum::Int(i * scale)),
        ]
    })
}

/// A source `{source_id}` of `n` rows `{student_id: "s{i:03}", score: i * 37 % 101}`
/// tagged by `student_id`.
pub fn scores(n: usize, source_id: &str) -> Source {
    table(Some(source_id), &["student_id"], n, |i| {
        vec![
            ("student_id", Datum::Str(format!("s{i:03}"))),
            ("score", Datum::Int((i * 37 % 101) as i64)),
        ]
    })
}

/// A source of `n` rows `{student_id: "s{i:03}", name: "n{i}"}` tagged by
/// `student_id`, with source id `source_id` (or the derived one).
pub fn names(n: usize, source_id: Option<&str>) -> Source {
    table(source_id, &["student_id"], n, |i| {
        vec![
            ("student_id", Datum::Str(format!("s{i:03}"))),
            ("name", Datum::Str(format!("n{i}"))),
        ]
    })
}

/// A source `{name}` of `n` rows `{id: "k{i % keys}", value_column: i}` tagged by `id`.
pub fn numbers(name: &str, n: usize, keys: usize, value_column: &str) -> Source {
    table(Some(name), &["id"], n, |i| {
        vec![
            ("id", Datum::Str(format!("k{}", i % keys.max(1)))),
            (value_column, Datum::Int(i as i64)),
        ]
    })
}

/// `MapPackets {old: new}`.
pub fn rename(old: &str, new: &str) -> OperatorSpec {
    OperatorSpec::MapPackets {
        name_map: BTreeMap::from([(old.to_string(), new.to_string())]),
        drop_unmapped: false,
    }
}

/// `SelectPacketColumns {columns}`, strict.
pub fn select_packets(columns: &[&str]) -> OperatorSpec {
    OperatorSpec::SelectPacketColumns {
        columns: columns.iter().map(|c| c.to_string()).collect(),
        strict: true,
    }
}
