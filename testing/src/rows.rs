//! Comparing streams by their rows, provenance included, whatever their batching and
//! order.

use orcapod::model::{row_of, Stream};

/// Every row of a stream — user tags, system tags, packets and source info — rendered
/// and sorted: two streams hold the same rows, provenance included, exactly when these
/// are equal.
pub fn multiset(stream: &Stream) -> Vec<String> {
    let mut rows = Vec::new();
    for batch in stream.batches() {
        for i in 0..batch.num_rows() {
            let (tag, packet) = row_of(stream.schema(), batch, i).expect("a readable row");
            let info: Vec<_> = packet
                .columns()
                .iter()
                .map(|(n, _)| packet.source_info(n).cloned())
                .collect();
            rows.push(format!(
                "{:?} {:?} {:?} {info:?}",
                tag.columns(),
                tag.system_tags(),
                packet.columns()
            ));
        }
    }
    rows.sort();
    rows
}
