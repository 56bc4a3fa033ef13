//! Single-row views: [`Tag`] and [`Packet`].
//!
//! These are for callers that need one row at a time (function pods, display, tests).
//! Operators never use them: they work on whole Arrow batches.

use super::datum::Datum;

/// One row's tag: user tag values plus its hidden system tags.
///
/// System tags never take part in a tag's equality of user values; they are kept apart.
#[derive(Debug, Clone, PartialEq)]
pub struct Tag {
    columns: Vec<(String, Datum)>,
    system_tags: Vec<(String, Datum)>,
}

impl Tag {
    /// A tag from its user columns and system tags.
    pub fn new(columns: Vec<(String, Datum)>, system_tags: Vec<(String, Datum)>) -> Self {
        Tag {
            columns,
            system_tags,
        }
    }

    /// The user tag columns, in schema order.
    pub fn columns(&self) -> &[(String, Datum)] {
        &self.columns
    }

    /// The system tags, in schema order.
    pub fn system_tags(&self) -> &[(String, Datum)] {
        &self.system_tags
    }

    /// The value of user tag `name`.
    pub fn get(&self, name: &str) -> Option<&Datum> {
        self.columns.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

/// One row's packet: payload values plus the source info of each column.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    columns: Vec<(String, Datum)>,
    source_info: Vec<Datum>,
}

impl Packet {
    /// A packet from its columns and their source info (aligned).
    pub fn new(columns: Vec<(String, Datum)>, source_info: Vec<Datum>) -> Self {
        debug_assert_eq!(columns.len(), source_info.len());
        Packet {
            columns,
            source_info,
        }
    }

    /// The packet columns, in schema order.
    pub fn columns(&self) -> &[(String, Datum)] {
        &self.columns
    }

    /// The value of packet column `name`.
    pub fn get(&self, name: &str) -> Option<&Datum> {
        self.columns.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// The source info of packet column `name` (a string, or a list after Batch and
    /// MergeJoin).
    pub fn source_info(&self, name: &str) -> Option<&Datum> {
        let i = self.columns.iter().position(|(n, _)| n == name)?;
        self.source_info.get(i)
    }
}
