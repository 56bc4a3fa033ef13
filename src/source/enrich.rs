//! The enrichment every source shares (reference §4.1), split in two: [`plan`] checks a
//! table's columns against the options and decides the source's identity and enriched
//! schema once, from the column types alone; [`Stamp::enrich`] then stamps provenance on
//! any batch of the table's rows, given the position of its first row, so a table read
//! in batches gets exactly the rows, values and record ids a whole read gets.
//!
//! Never reads a file; the default source id is the caller's to compute (it may need a
//! pass over the data), and is asked for only once every column check has passed.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, LargeStringArray, RecordBatch};
use arrow::datatypes::{DataType, Field, FieldRef, Schema};

use super::options::SourceOptions;
use super::stamp;
use super::types::check_declared_types;
use crate::error::{Error, Result};
use crate::hashing::identity::{self, Identity};
use crate::hashing::SYSTEM_TAG_HASH_CHARS;
use crate::model::columns::{self, RECORD_ID_TAG, SOURCE_ID_TAG};
use crate::model::schema::column_list;
use crate::model::StreamSchema;

/// How the rows of one source get their provenance: which columns of the (normalised)
/// table become tags and packets, the source id, and how rows are identified.
#[derive(Debug, Clone)]
pub(super) struct Stamp {
    /// The enriched schema.
    pub(super) schema: Arc<StreamSchema>,
    pub(super) source_id: String,
    /// The table's schema (types normalised), which every batch must have.
    pub(super) table: Arc<Schema>,
    /// Positions in the table of the tag columns, then of the packet columns.
    columns: Vec<usize>,
    /// How rows are identified.
    record_id: RecordId,
    packet_names: Vec<String>,
}

/// Checks `table` (the schema of a source's table, types normalised) against `options`
/// and decides the source's identity and [`Stamp`]. `default_id` gives the source id
/// when the options give none; it is called only once every check has passed.
pub(super) fn plan(
    class_name: &'static str,
    table: &Arc<Schema>,
    options: &SourceOptions,
    context: &str,
    default_id: impl FnOnce() -> Result<String>,
) -> Result<(Stamp, Identity)> {
    check_declared_types(table, &options.types, context)?;
    for f in table.fields() {
        if columns::is_reserved(f.name()) {
            return Err(Error::invalid(
                context,
                format!(
                    "column `{}` starts with `_`, which is reserved for orcapod's own columns; rename it",
                    f.name()
                ),
            ));
        }
    }
    let mut tag_fields: Vec<FieldRef> = Vec::new();
    let mut positions = Vec::new();
    for t in &options.tag_columns {
        let index = table.index_of(t).map_err(|_| {
            Error::invalid(
                context,
                format!(
                    "tag column `{t}` not found; columns are: {}",
                    column_list(table)
                ),
            )
        })?;
        tag_fields.push(table.fields()[index].clone());
        positions.push(index);
    }
    let mut packet_fields: Vec<FieldRef> = Vec::new();
    for (index, f) in table.fields().iter().enumerate() {
        if !options.tag_columns.contains(f.name()) {
            packet_fields.push(f.clone());
            positions.push(index);
        }
    }
    if packet_fields.is_empty() {
        return Err(Error::invalid(
            context,
            "every column is a tag column; a source needs at least one packet column",
        ));
    }
    let record_id = match &options.record_id_column {
        None => RecordId::Position,
        Some(c) => {
            let index = table.index_of(c).map_err(|_| {
                Error::invalid(
                    context,
                    format!(
                        "record_id_column `{c}` not found; columns are: {}",
                        column_list(table)
                    ),
                )
            })?;
            RecordId::Column(c.clone(), index)
        }
    };

    let source_id = match &options.source_id {
        Some(id) if id.is_empty() => {
            return Err(Error::invalid(context, "source_id may not be empty"))
        }
        Some(id) => id.clone(),
        None => default_id()?,
    };
    let identity = identity::root_source(class_name, &tag_fields, &packet_fields, &source_id)?;
    let schema_hash = identity.pipeline.hex_prefix(SYSTEM_TAG_HASH_CHARS);
    let system_tag_fields = vec![
        string_field(&columns::source_system_tag(SOURCE_ID_TAG, &schema_hash)),
        string_field(&columns::source_system_tag(RECORD_ID_TAG, &schema_hash)),
    ];
    let source_info_fields = packet_fields
        .iter()
        .map(|f| string_field(&columns::source_info_column(f.name())))
        .collect();
    let packet_names = packet_fields.iter().map(|f| f.name().clone()).collect();
    let schema = Arc::new(StreamSchema::new(
        tag_fields,
        packet_fields,
        system_tag_fields,
        source_info_fields,
    )?);
    let stamp = Stamp {
        schema,
        source_id,
        table: table.clone(),
        columns: positions,
        record_id,
        packet_names,
    };
    Ok((stamp, identity))
}

impl Stamp {
    /// The same stamp, identifying row `i` of the table by `ids[i]` (text that must name
    /// the row uniquely within the source, as a relative path does).
    pub(super) fn with_record_ids(mut self, ids: LargeStringArray) -> Stamp {
        self.record_id = RecordId::Given(Arc::new(ids));
        self
    }

    /// The enriched rows of `batch` (rows of the table, types normalised), whose first
    /// row is row `offset` of the table: record ids are `row_{offset + i}` or
    /// `{column}={value}`, each packet column `c` gets `_source_c` =
    /// `{source_id}::{record_id}::{c}`, and the two system tags are appended.
    pub(super) fn enrich(&self, batch: &RecordBatch, offset: usize) -> Result<RecordBatch> {
        if batch.schema().fields() != self.table.fields() {
            return Err(Error::internal(format!(
                "a batch of source `{}` has columns {:?}, its table {:?}",
                self.source_id,
                batch.schema().fields(),
                self.table.fields()
            )));
        }
        let rows = batch.num_rows();
        let record_ids = match &self.record_id {
            RecordId::Position => stamp::row_numbers(offset, rows),
            RecordId::Column(c, index) => stamp::column_values(c, batch.column(*index).as_ref())?,
            RecordId::Given(ids) if offset + rows <= ids.len() => ids.slice(offset, rows),
            RecordId::Given(ids) => {
                return Err(Error::internal(format!(
                    "source `{}` has {} record ids, asked for rows {offset}..{}",
                    self.source_id,
                    ids.len(),
                    offset + rows
                )))
            }
        };
        let mut out: Vec<ArrayRef> = self
            .columns
            .iter()
            .map(|&i| batch.column(i).clone())
            .collect();
        let source_info: Vec<ArrayRef> = self
            .packet_names
            .iter()
            .map(|name| stamp::source_info(&self.source_id, &record_ids, name))
            .collect();
        out.push(stamp::repeated(&self.source_id, rows));
        out.push(Arc::new(record_ids));
        out.extend(source_info);
        Ok(RecordBatch::try_new(self.schema.arrow().clone(), out)?)
    }
}

/// How a source's rows are identified.
#[derive(Debug, Clone)]
enum RecordId {
    /// `row_{i}`.
    Position,
    /// `{column}={value}`, by the column's name and position.
    Column(String, usize),
    /// Given, one per row of the table (a folder source's relative paths).
    Given(Arc<LargeStringArray>),
}

fn string_field(name: &str) -> FieldRef {
    Arc::new(Field::new(name, DataType::LargeUtf8, false))
}
