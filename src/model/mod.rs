//! The data model: streams of (Tag, Packet) rows held in Arrow record batches.
//!
//! A [`Stream`] is a [`StreamSchema`] plus batches. The schema knows each column's role
//! ([`ColumnRole`]): user tags, packet columns, system tags (`_tag_…`, provenance) and
//! source info (`_source_…`, one per packet column). [`ColumnConfig`] chooses which
//! hidden columns a caller sees. [`Tag`] and [`Packet`] are single-row views for the few
//! callers that need one row; [`Datum`] is a single cell.
//!
//! This module does no I/O and computes no identity hashes (see `hashing`).

mod column_config;
pub mod columns;
mod datagram;
mod datum;
pub(crate) mod schema;
mod stream;

pub use column_config::ColumnConfig;
pub use columns::ColumnRole;
pub use datagram::{Packet, Tag};
pub use datum::{array_from_datums, Datum};
pub use schema::StreamSchema;
pub(crate) use stream::pick_rows;
pub use stream::{packet_content_hashes, row_of, Stream};
