//! Helpers shared by the integration tests, examples and benchmarks of the workspace:
//! comparing streams row by row ([`multiset`]), one-letter values ([`datums`]), small sources ([`sources`]), running a
//! pipeline on either executor ([`runs`]), record batches for the stores ([`batches`]),
//! and driving the built `orcapod` binary ([`cli`]).
//!
//! This crate depends on `orcapod`, so it must only be used from integration tests,
//! examples and benchmarks, never from unit tests inside `src/`: there its types would
//! be those of another build of the crate.

pub mod batches;
pub mod cli;
pub mod datums;
pub mod rows;
pub mod runs;
pub mod sources;

pub use rows::multiset;
