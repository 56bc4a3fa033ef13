//! Per-batch column operators: select/drop tag or packet columns, and renames.
//!
//! Each maps every input batch to an output batch at once (no state). Packet
//! selections carry the matching `_source_…` columns along; system tags always pass
//! through unchanged (reference §6.6, §6.7).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::datatypes::FieldRef;
use arrow::record_batch::RecordBatch;

use super::{InputInfo, Operator};
use crate::error::{Error, Result};
use crate::model::columns::source_info_column;
use crate::model::StreamSchema;

/// A per-batch projection: each output column is an input column, possibly renamed.
/// Select, drop and map operators are all projections; they differ only in how they
/// compute the column list.
pub(super) struct Projection {
    output: Arc<StreamSchema>,
    /// For each output column, the input column it comes from.
    indices: Vec<usize>,
    ready: Vec<RecordBatch>,
}

impl Operator for Projection {
    fn output_schema(&self) -> &Arc<StreamSchema> {
        &self.output
    }

    fn push(&mut self, _port: usize, batch: RecordBatch) -> Result<()> {
        let columns: Vec<ArrayRef> = self
            .indices
            .iter()
            .map(|&i| batch.column(i).clone())
            .collect();
        self.ready
            .push(RecordBatch::try_new(self.output.arrow().clone(), columns)?);
        Ok(())
    }

    fn finish(&mut self, _port: usize) -> Result<()> {
        Ok(())
    }

    fn take_output(&mut self) -> Vec<RecordBatch> {
        std::mem::take(&mut self.ready)
    }
}

/// Which user columns a projection acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// The user tag columns.
    Tags,
    /// The packet columns (their source-info columns follow them).
    Packets,
}

/// Select (`keep_named`) or drop (otherwise) the named user tag or packet `columns` of
/// `input`, for the operator called `operator` (named in errors).
pub(super) fn select_columns(
    operator: &str,
    input: &InputInfo,
    role: Role,
    columns: &[String],
    strict: bool,
    keep_named: bool,
) -> Result<Projection> {
    let schema = &input.schema;
    let on_tags = role == Role::Tags;
    let present = if on_tags {
        schema.tag_names()
    } else {
        schema.packet_names()
    };
    if strict {
        let missing: Vec<&str> = columns
            .iter()
            .filter(|c| !present.contains(c))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            let kind = if on_tags { "tag" } else { "packet" };
            return Err(Error::schema(
                operator,
                format!(
                    "missing {kind} columns: {}; the input has {kind} columns: {}",
                    missing.join(", "),
                    present.join(", ")
                ),
            ));
        }
    }
    let named: HashSet<&str> = columns.iter().map(String::as_str).collect();
    let keep = |name: &str| named.contains(name) == keep_named;
    let fields = schema.arrow().fields();
    let pick = |range: std::ops::Range<usize>, filter: bool| -> Vec<usize> {
        range
            .filter(|&i| !filter || keep(fields[i].name()))
            .collect()
    };
    let tags = pick(schema.tag_range(), on_tags);
    let packets = pick(schema.packet_range(), !on_tags);
    let system_tags = pick(schema.system_tag_range(), false);
    let sources: Vec<usize> = packets
        .iter()
        .map(|&p| p - schema.packet_range().start + schema.source_info_range().start)
        .collect();
    let field_list =
        |idx: &[usize]| -> Vec<FieldRef> { idx.iter().map(|&i| fields[i].clone()).collect() };
    let output = Arc::new(StreamSchema::new(
        field_list(&tags),
        field_list(&packets),
        field_list(&system_tags),
        field_list(&sources),
    )?);
    if output.packet_fields().is_empty() {
        return Err(Error::schema(
            operator,
            "no packet column would remain; a stream needs at least one",
        ));
    }
    let indices = tags
        .into_iter()
        .chain(packets)
        .chain(system_tags)
        .chain(sources)
        .collect();
    Ok(Projection {
        output,
        indices,
        ready: Vec::new(),
    })
}

/// Rename the user tag or packet columns of `input` named in `name_map` (and drop the
/// unnamed ones when `drop_unmapped`), for the operator called `operator`.
pub(super) fn map_columns(
    operator: &str,
    input: &InputInfo,
    role: Role,
    name_map: &BTreeMap<String, String>,
    drop_unmapped: bool,
) -> Result<Projection> {
    let on_tags = role == Role::Tags;
    let schema = &input.schema;
    let fields = schema.arrow().fields();
    let (mapped_range, other_names) = if on_tags {
        (schema.tag_range(), schema.packet_names())
    } else {
        (schema.packet_range(), schema.tag_names())
    };

    let mut kept: Vec<(usize, FieldRef)> = Vec::new();
    for i in mapped_range.clone() {
        let f = &fields[i];
        match name_map.get(f.name()) {
            Some(new) => kept.push((i, Arc::new(f.as_ref().clone().with_name(new)))),
            None if drop_unmapped => {}
            None => kept.push((i, f.clone())),
        }
    }
    let mut seen: HashSet<&str> = other_names.iter().map(String::as_str).collect();
    for (_, f) in &kept {
        if !seen.insert(f.name().as_str()) {
            return Err(Error::schema(
                operator,
                format!(
                    "renaming would cause collisions: more than one column would be named `{}`",
                    f.name()
                ),
            ));
        }
    }
    if let Some(new) = name_map
        .values()
        .find(|n| crate::model::columns::is_reserved(n))
    {
        return Err(Error::schema(
            operator,
            format!("cannot rename a column to `{new}`: names starting with `_` are reserved"),
        ));
    }

    let index_list = |range: std::ops::Range<usize>| -> Vec<usize> { range.collect() };
    let (tag_idx, tag_fields, packet_idx, packet_fields): (
        Vec<usize>,
        Vec<FieldRef>,
        Vec<usize>,
        Vec<FieldRef>,
    ) = if on_tags {
        (
            kept.iter().map(|(i, _)| *i).collect(),
            kept.iter().map(|(_, f)| f.clone()).collect(),
            index_list(schema.packet_range()),
            schema.packet_fields().to_vec(),
        )
    } else {
        (
            index_list(schema.tag_range()),
            schema.tag_fields().to_vec(),
            kept.iter().map(|(i, _)| *i).collect(),
            kept.iter().map(|(_, f)| f.clone()).collect(),
        )
    };
    if packet_fields.is_empty() {
        return Err(Error::schema(
            operator,
            "no packet column would remain; a stream needs at least one",
        ));
    }
    let source_idx: Vec<usize> = packet_idx
        .iter()
        .map(|&p| p - schema.packet_range().start + schema.source_info_range().start)
        .collect();
    // Source-info columns follow their packet column's new name; values are kept.
    let source_fields: Vec<FieldRef> = source_idx
        .iter()
        .zip(&packet_fields)
        .map(|(&s, p)| {
            Arc::new(
                fields[s]
                    .as_ref()
                    .clone()
                    .with_name(source_info_column(p.name())),
            )
        })
        .collect();
    let output = Arc::new(StreamSchema::new(
        tag_fields,
        packet_fields,
        schema.system_tag_fields().to_vec(),
        source_fields,
    )?);
    let indices = tag_idx
        .into_iter()
        .chain(packet_idx)
        .chain(schema.system_tag_range())
        .chain(source_idx)
        .collect();
    Ok(Projection {
        output,
        indices,
        ready: Vec::new(),
    })
}
