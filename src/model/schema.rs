//! [`StreamSchema`]: an Arrow schema whose columns each have a known role.
//!
//! Invariants kept by every constructor:
//! - columns are ordered user tags, packet columns, system tags, source info;
//! - user tag and packet names do not start with `_`; system tags start with `_tag_`;
//! - there is exactly one source-info column `_source_{p}` per packet column `p`, in the
//!   same order;
//! - names are unique.

use std::collections::HashSet;
use std::ops::Range;
use std::sync::Arc;

use arrow::datatypes::{FieldRef, Schema, SchemaRef};

use super::column_config::ColumnConfig;
use super::columns::{self, ColumnRole};
use crate::error::{Error, Result};
use crate::hashing::python_type::python_type_name;

/// The schema of a stream: an Arrow schema plus each column's role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSchema {
    arrow: SchemaRef,
    tags: usize,
    packets: usize,
    system_tags: usize,
}

impl StreamSchema {
    /// Builds a schema from its four groups of fields.
    pub fn new(
        tags: Vec<FieldRef>,
        packets: Vec<FieldRef>,
        system_tags: Vec<FieldRef>,
        source_info: Vec<FieldRef>,
    ) -> Result<Self> {
        let context = "stream schema";
        for f in tags.iter().chain(&packets) {
            if columns::is_reserved(f.name()) {
                return Err(Error::invalid(
                    context,
                    format!("column `{}` starts with `_`, which is reserved", f.name()),
                ));
            }
        }
        for f in &system_tags {
            if !f.name().starts_with(columns::SYSTEM_TAG_PREFIX) {
                return Err(Error::internal(format!(
                    "system tag `{}` does not start with `{}`",
                    f.name(),
                    columns::SYSTEM_TAG_PREFIX
                )));
            }
        }
        if source_info.len() != packets.len()
            || source_info
                .iter()
                .zip(&packets)
                .any(|(s, p)| s.name() != &columns::source_info_column(p.name()))
        {
            return Err(Error::internal(format!(
                "source-info columns {:?} do not match packet columns {:?}",
                source_info.iter().map(|f| f.name()).collect::<Vec<_>>(),
                packets.iter().map(|f| f.name()).collect::<Vec<_>>()
            )));
        }
        let (n_tags, n_packets, n_system) = (tags.len(), packets.len(), system_tags.len());
        let fields: Vec<FieldRef> = tags
            .into_iter()
            .chain(packets)
            .chain(system_tags)
            .chain(source_info)
            .collect();
        let mut seen = HashSet::new();
        for f in &fields {
            if !seen.insert(f.name().as_str()) {
                return Err(Error::invalid(
                    context,
                    format!("column `{}` appears twice", f.name()),
                ));
            }
        }
        Ok(StreamSchema {
            arrow: Arc::new(Schema::new(fields)),
            tags: n_tags,
            packets: n_packets,
            system_tags: n_system,
        })
    }

    /// Classifies the columns of an Arrow schema: the named `tag_columns` are tags,
    /// `_tag_…` columns system tags, `_source_…` columns source info, the rest packets.
    /// Returns the schema and, for each of its columns, the index of the column in
    /// `schema` that fills it (so a batch can be reordered with `project`).
    pub fn classify(schema: &Schema, tag_columns: &[String]) -> Result<(Self, Vec<usize>)> {
        let mut groups: [Vec<usize>; 3] = Default::default();
        for (i, f) in schema.fields().iter().enumerate() {
            let name = f.name();
            if tag_columns.iter().any(|t| t == name) {
                continue;
            } else if name.starts_with(columns::SYSTEM_TAG_PREFIX) {
                groups[1].push(i);
            } else if name.starts_with(columns::SOURCE_INFO_PREFIX) {
                groups[2].push(i);
            } else {
                groups[0].push(i);
            }
        }
        let mut tag_idx = Vec::with_capacity(tag_columns.len());
        for t in tag_columns {
            let i = schema.index_of(t).map_err(|_| {
                Error::invalid("stream schema", format!("tag column `{t}` is missing"))
            })?;
            tag_idx.push(i);
        }
        // Source info follows packet order; a missing one is an error.
        let mut source_idx = Vec::with_capacity(groups[0].len());
        for &p in &groups[0] {
            let wanted = columns::source_info_column(schema.field(p).name());
            let i = schema.index_of(&wanted).map_err(|_| {
                Error::invalid(
                    "stream schema",
                    format!("source-info column `{wanted}` is missing"),
                )
            })?;
            source_idx.push(i);
        }
        if source_idx.len() != groups[2].len() {
            return Err(Error::invalid(
                "stream schema",
                "there are source-info columns for columns that are not packet columns",
            ));
        }
        let pick = |idx: &[usize]| -> Vec<FieldRef> {
            idx.iter().map(|&i| schema.fields()[i].clone()).collect()
        };
        let stream_schema = StreamSchema::new(
            pick(&tag_idx),
            pick(&groups[0]),
            pick(&groups[1]),
            pick(&source_idx),
        )?;
        let order = tag_idx
            .into_iter()
            .chain(groups[0].iter().copied())
            .chain(groups[1].iter().copied())
            .chain(source_idx)
            .collect();
        Ok((stream_schema, order))
    }

    /// The whole Arrow schema, every column included.
    pub fn arrow(&self) -> &SchemaRef {
        &self.arrow
    }

    /// Index range of the user tag columns.
    pub fn tag_range(&self) -> Range<usize> {
        0..self.tags
    }
    /// Index range of the packet columns.
    pub fn packet_range(&self) -> Range<usize> {
        self.tags..self.tags + self.packets
    }
    /// Index range of the system-tag columns.
    pub fn system_tag_range(&self) -> Range<usize> {
        let start = self.tags + self.packets;
        start..start + self.system_tags
    }
    /// Index range of the source-info columns.
    pub fn source_info_range(&self) -> Range<usize> {
        let start = self.tags + self.packets + self.system_tags;
        start..start + self.packets
    }

    /// The user tag fields.
    pub fn tag_fields(&self) -> &[FieldRef] {
        &self.arrow.fields()[self.tag_range()]
    }
    /// The packet fields.
    pub fn packet_fields(&self) -> &[FieldRef] {
        &self.arrow.fields()[self.packet_range()]
    }
    /// The system-tag fields.
    pub fn system_tag_fields(&self) -> &[FieldRef] {
        &self.arrow.fields()[self.system_tag_range()]
    }
    /// The source-info fields (aligned with [`packet_fields`](Self::packet_fields)).
    pub fn source_info_fields(&self) -> &[FieldRef] {
        &self.arrow.fields()[self.source_info_range()]
    }

    /// Names of the user tag columns.
    pub fn tag_names(&self) -> Vec<String> {
        names(self.tag_fields())
    }
    /// Names of the packet columns.
    pub fn packet_names(&self) -> Vec<String> {
        names(self.packet_fields())
    }
    /// Names of the system-tag columns.
    pub fn system_tag_names(&self) -> Vec<String> {
        names(self.system_tag_fields())
    }

    /// The role of column `i`.
    pub fn role(&self, i: usize) -> ColumnRole {
        if self.tag_range().contains(&i) {
            ColumnRole::Tag
        } else if self.packet_range().contains(&i) {
            ColumnRole::Packet
        } else if self.system_tag_range().contains(&i) {
            ColumnRole::SystemTag
        } else {
            ColumnRole::SourceInfo
        }
    }

    /// The columns a [`ColumnConfig`] shows, in output order (tags, packets, system tags,
    /// source info; the content-hash column is not part of a stream schema).
    pub fn visible_columns(&self, config: &ColumnConfig) -> Vec<usize> {
        let mut out: Vec<usize> = self.tag_range().chain(self.packet_range()).collect();
        if config.system_tags {
            out.extend(self.system_tag_range());
        }
        if config.source_info {
            out.extend(self.source_info_range());
        }
        out
    }

    /// A readable one-line description: `tags {id: str} | packets {x: int}`.
    pub fn describe(&self) -> String {
        let show = |fields: &[FieldRef]| {
            fields
                .iter()
                .map(|f| format!("{}: {}", f.name(), python_type_name(f)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "tags {{{}}} | packets {{{}}}",
            show(self.tag_fields()),
            show(self.packet_fields())
        )
    }
}

fn names(fields: &[FieldRef]) -> Vec<String> {
    fields.iter().map(|f| f.name().clone()).collect()
}

/// The names of `schema`'s columns in backquotes, comma-separated, for messages that
/// list the columns a user may choose from.
pub(crate) fn column_list(schema: &Schema) -> String {
    schema
        .fields()
        .iter()
        .map(|f| format!("`{}`", f.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use arrow::datatypes::{DataType, Field};

    use super::*;

    fn f(name: &str) -> FieldRef {
        Arc::new(Field::new(name, DataType::Int64, false))
    }

    #[test]
    fn classify_orders_columns_by_role() {
        let schema = Schema::new(vec![
            f("_source_x"),
            f("x"),
            f("_tag_source_id::abc"),
            f("id"),
        ]);
        let (s, order) = StreamSchema::classify(&schema, &["id".to_string()]).unwrap();
        assert_eq!(order, vec![3, 1, 2, 0]);
        assert_eq!(s.tag_names(), vec!["id"]);
        assert_eq!(s.packet_names(), vec!["x"]);
        assert_eq!(s.system_tag_names(), vec!["_tag_source_id::abc"]);
        assert_eq!(s.source_info_fields()[0].name(), "_source_x");
        assert_eq!(s.role(2), ColumnRole::SystemTag);
    }

    #[test]
    fn missing_source_info_and_reserved_names_are_rejected() {
        let schema = Schema::new(vec![f("x")]);
        assert!(StreamSchema::classify(&schema, &[]).is_err());
        assert!(StreamSchema::new(vec![f("_x")], vec![], vec![], vec![]).is_err());
        assert!(StreamSchema::new(vec![f("x")], vec![], vec![f("y")], vec![]).is_err());
    }
}
