//! Shared helpers for the actor runtime's tests.
#![allow(dead_code)]

use std::collections::BTreeMap;

use orcapod::model::{row_of, Datum, Stream};
use orcapod::operator::OperatorSpec;
use orcapod::source::{Source, SourceOptions};

/// Every row of a stream (all columns, provenance included) rendered and sorted: two
/// streams are equal as multisets exactly when these are equal.
pub fn multiset(stream: &Stream) -> Vec<String> {
    let mut rows = Vec::new();
    for batch in stream.batches() {
        for i in 0..batch.num_rows() {
            let (tag, packet) = row_of(stream.schema(), batch, i).unwrap();
            let info: Vec<_> = packet
                .columns()
                .iter()
                .map(|(n, _)| packet.source_info(n).cloned())
                .collect();
            rows.push(format!(
                "{:?} | {:?} | {:?} | {:?}",
                tag.columns(),
                tag.system_tags(),
                packet.columns(),
                info
            ));
        }
    }
    rows.sort();
    rows
}

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
