//! [`Preview`] against the full sort, as `orcapod run` printed an output's first rows.

use arrow::util::pretty::pretty_format_batches;
use proptest::prelude::*;

use super::data::{batches, stream};
use crate::export::{Columns, Preview, SortedStream};
use crate::model::Stream;

/// What `orcapod run` printed for an output without `--out`: the sorted batch's tags and
/// packets, first `rows` rows.
fn printed(stream: &Stream, rows: usize) -> String {
    let sorted = SortedStream::new(stream).unwrap();
    let columns = sorted.column_indices(Columns::TagsAndPackets);
    let head = sorted
        .batch()
        .project(&columns)
        .unwrap()
        .slice(0, stream.num_rows().min(rows));
    pretty_format_batches(&[head]).unwrap().to_string()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn the_preview_is_the_head_of_the_sorted_output(
        (types, rows) in batches(5),
        shown in 0usize..6,
    ) {
        let stream = stream(&types, &rows);
        let mut preview = Preview::new(stream.schema().clone(), shown).unwrap();
        for batch in stream.batches() {
            preview.push(batch).unwrap();
        }
        prop_assert_eq!(preview.total_rows(), stream.num_rows() as u64);
        prop_assert_eq!(
            preview.render(Columns::TagsAndPackets).unwrap(),
            printed(&stream, shown)
        );
        let all = SortedStream::new(&stream).unwrap();
        let head = all.batch().slice(0, stream.num_rows().min(shown));
        prop_assert_eq!(
            preview.render(Columns::AllInfo).unwrap(),
            pretty_format_batches(&[head]).unwrap().to_string()
        );
    }
}
