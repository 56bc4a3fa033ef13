//! Column naming conventions (reference §1): which columns are framework-owned and how
//! system-tag and source-info columns are named.
//!
//! A stream's columns have four roles, always stored in this order:
//! user **tags**, **packet** columns, **system tags** (`_tag_…`), **source info**
//! (`_source_{packet column}`, one per packet column, in packet order).

/// Any framework-owned column starts with this; users may not name columns so.
pub const DATAGRAM_PREFIX: &str = "_";
/// Prefix of system-tag columns.
pub const SYSTEM_TAG_PREFIX: &str = "_tag_";
/// Prefix of source-info columns.
pub const SOURCE_INFO_PREFIX: &str = "_source_";
/// Base name of the source-id system tag.
pub const SOURCE_ID_TAG: &str = "_tag_source_id";
/// Base name of the record-id system tag.
pub const RECORD_ID_TAG: &str = "_tag_record_id";
/// Default name of the optional per-row packet content-hash column.
pub const CONTENT_HASH_COLUMN: &str = "_content_hash";
/// Separates blocks in system-tag names and source-info strings.
pub const BLOCK_SEPARATOR: &str = "::";
/// Separates a hash from a canonical position in a system-tag block.
pub const FIELD_SEPARATOR: &str = ":";

/// The role of a column in a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnRole {
    /// A user tag (routing / join key).
    Tag,
    /// A packet (payload) column.
    Packet,
    /// A hidden provenance tag (`_tag_…`).
    SystemTag,
    /// A hidden per-packet-column provenance string (`_source_…`).
    SourceInfo,
}

/// True for names reserved by the framework (starting with `_`).
pub fn is_reserved(name: &str) -> bool {
    name.starts_with(DATAGRAM_PREFIX)
}

/// The source-info column of a packet column.
pub fn source_info_column(packet_column: &str) -> String {
    format!("{SOURCE_INFO_PREFIX}{packet_column}")
}

/// The packet column a source-info column describes, if `name` is one.
pub fn source_info_target(name: &str) -> Option<&str> {
    name.strip_prefix(SOURCE_INFO_PREFIX)
}

/// A fresh source's system-tag column name: `{base}::{schema_hash}`.
pub fn source_system_tag(base: &str, schema_hash: &str) -> String {
    format!("{base}{BLOCK_SEPARATOR}{schema_hash}")
}

/// A system-tag name extended by a join: `{name}::{input_hash}:{position}`.
pub fn extend_system_tag(name: &str, input_hash: &str, position: usize) -> String {
    format!("{name}{BLOCK_SEPARATOR}{input_hash}{FIELD_SEPARATOR}{position}")
}

/// A system-tag column name split into its parts, for per-row canonical sorting
/// (reference §2.8): `{field}::{provenance path}:{position}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemTagName<'a> {
    /// The field type, e.g. `_tag_source_id`.
    pub field: &'a str,
    /// Everything between the field and the final `:position`.
    pub provenance_path: &'a str,
    /// The canonical input position.
    pub position: usize,
}

/// Parses a system-tag name that ends in a numeric position; `None` for fresh source
/// columns (no position) and for anything that is not a system tag.
pub fn parse_system_tag(name: &str) -> Option<SystemTagName<'_>> {
    let (rest, position) = name.rsplit_once(FIELD_SEPARATOR)?;
    if position.is_empty() || !position.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !rest.starts_with(SYSTEM_TAG_PREFIX) {
        return None;
    }
    let (field, provenance_path) = rest.split_once(BLOCK_SEPARATOR)?;
    Some(SystemTagName {
        field,
        provenance_path,
        position: position.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_tag_names_parse_into_field_path_and_position() {
        let name = extend_system_tag("_tag_source_id::39d4ba8d2d69", "39d4ba8d2d69", 0);
        assert_eq!(name, "_tag_source_id::39d4ba8d2d69::39d4ba8d2d69:0");
        let parsed = parse_system_tag(&name).unwrap();
        assert_eq!(parsed.field, "_tag_source_id");
        assert_eq!(parsed.provenance_path, "39d4ba8d2d69::39d4ba8d2d69");
        assert_eq!(parsed.position, 0);
        assert_eq!(parse_system_tag("_tag_source_id::39d4ba8d2d69"), None);
        assert_eq!(parse_system_tag("x::a:1"), None);
    }
}
