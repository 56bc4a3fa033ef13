//! [`ColumnConfig`]: which hidden columns a caller sees (reference §2.9).

/// Which hidden columns to include when a stream is turned into a table.
///
/// The default shows user tags and packet columns only. `all_info` shows everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnConfig {
    /// Include system-tag (`_tag_…`) columns.
    pub system_tags: bool,
    /// Include source-info (`_source_…`) columns.
    pub source_info: bool,
    /// Include a per-row packet content-hash column (`_content_hash`).
    pub content_hash: bool,
    /// Sort rows by the user tag columns (then by system tags if they are shown).
    pub sort_by_tags: bool,
}

impl ColumnConfig {
    /// Every hidden column (system tags, source info, content hash).
    pub fn all_info() -> Self {
        ColumnConfig {
            system_tags: true,
            source_info: true,
            content_hash: true,
            sort_by_tags: false,
        }
    }

    /// User columns plus system tags: what schemas are predicted with.
    pub fn with_system_tags() -> Self {
        ColumnConfig {
            system_tags: true,
            ..Default::default()
        }
    }
}
