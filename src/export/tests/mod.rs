//! Unit tests of the export module: the columnar sort and writers against the old
//! per-value ones, on random streams.

mod data;
mod oracle;
mod order;
mod output;
mod preview;
mod writers;

use super::*;

#[test]
fn output_names_cannot_escape_the_directory() {
    for bad in ["", ".", "..", "a/b", "a\\b", "../x"] {
        assert!(check_output_name(bad).is_err(), "{bad:?}");
    }
    check_output_name("graded.v2").unwrap();
}
