//! Sources: external data turned into streams with provenance stamped on every row.
//!
//! Every source kind ([CSV](Source::from_csv), [Arrow IPC](Source::from_arrow_ipc),
//! [record batch](Source::from_record_batch), [rows](Source::from_rows)) goes through the
//! same enrichment (reference §4.1):
//!
//! 1. user columns starting with `_` are rejected (the reference silently drops them);
//! 2. tag columns and the record-id column must exist;
//! 3. `schema_hash` = the first 12 hex of the source's pipeline hash;
//! 4. the default `source_id` is the first 20 hex of the Arrow hash of the table;
//! 5. record ids are `row_{i}` or `{column}={value}`;
//! 6. each packet column `c` gets `_source_c` = `{source_id}::{record_id}::{c}`;
//! 7. two system tags are appended: `_tag_source_id::{schema_hash}` and
//!    `_tag_record_id::{schema_hash}`.
//!
//! Strings, binaries and lists are normalised to their large Arrow variants, so every
//! stream uses one representation of each type.
//!
//! Column types may be declared ([`SourceOptions::types`]): a CSV file's declared columns
//! are read exactly as declared, and every other kind of source must already have those
//! types. Where a CSV column's type is inferred, what the inference lost is reported as
//! [`SourceWarning`]s ([`Source::warnings`]).
//!
//! Here: [`Source`] and the enrichment every kind shares. Beside it: `options` (how a
//! source reads its table), `csv` and `ipc` (reading files into a record batch), `types`
//! (normalising and checking column types) and `warning` (what CSV inference lost).
//! None of them knows provenance or identity; only the enrichment here does.

mod csv;
mod ipc;
mod options;
mod types;
mod warning;

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, LargeStringArray, RecordBatch};
use arrow::datatypes::{DataType, Field, FieldRef, Schema};

use self::types::{check_declared_types, normalize_types};
use crate::error::{Error, Result};
use crate::hashing::arrow::hash_batch;
use crate::hashing::identity::{self, Identity};
use crate::hashing::{PATH_HASH_CHARS, SYSTEM_TAG_HASH_CHARS};
use crate::model::columns::{self, RECORD_ID_TAG, SOURCE_ID_TAG};
use crate::model::schema::column_list;
use crate::model::{Datum, Stream, StreamSchema};

pub use options::SourceOptions;
pub use types::large_type;
pub use warning::{SourceWarning, WarningKind};

/// A root source: an enriched stream plus its identity.
#[derive(Debug, Clone)]
pub struct Source {
    class_name: &'static str,
    source_id: String,
    stream: Stream,
    identity: Identity,
    warnings: Vec<SourceWarning>,
}

impl Source {
    /// Reads a CSV file (header row required). The default source id is the path as
    /// given.
    ///
    /// A column declared in `options.types` is read as declared: `str` keeps the text as
    /// written (`02134` stays `02134`); `int`, `float` and `bool` must parse as such; a
    /// missing value (empty, or a null marker such as `NA` for non-text types) is allowed
    /// only if the type is nullable (`T | None`; for `str | None`, only the empty value
    /// is null). A value that does not fit, or a declared column the file lacks, is an
    /// error naming the file, the line and the column. Lists and binaries cannot be
    /// declared.
    ///
    /// Other columns are inferred as the reference's reader does: integers, then
    /// booleans, then floats, else strings; a column is nullable only if it holds an
    /// empty or null-marker value. Where that loses information, a [`SourceWarning`] says
    /// so ([`Source::warnings`]).
    pub fn from_csv(path: impl AsRef<Path>, options: &SourceOptions) -> Result<Source> {
        let path = path.as_ref();
        let (table, warnings) = csv::read_csv(path, &options.types)?;
        let options = SourceOptions {
            source_id: Some(
                options
                    .source_id
                    .clone()
                    .unwrap_or_else(|| path.to_string_lossy().into_owned()),
            ),
            ..options.clone()
        };
        let mut source = Source::build("CSVSource", table, &options, &path.display().to_string())?;
        source.warnings = warnings;
        Ok(source)
    }

    /// Reads an Arrow IPC file (the "file" format). The file's schema is trusted,
    /// nullability included; the default source id is derived from the data.
    pub fn from_arrow_ipc(path: impl AsRef<Path>, options: &SourceOptions) -> Result<Source> {
        let path = path.as_ref();
        let table = ipc::read_ipc_file(path)?;
        Source::build(
            "ArrowTableSource",
            table,
            options,
            &path.display().to_string(),
        )
    }

    /// Wraps an in-memory record batch. Its schema is trusted, nullability included.
    pub fn from_record_batch(batch: RecordBatch, options: &SourceOptions) -> Result<Source> {
        Source::build("ArrowTableSource", batch, options, "record batch source")
    }

    /// Builds a source from rows of named values; column types are inferred and a
    /// column is nullable only if it holds a null. Every row must have the same
    /// columns, in any order (the first row's order is kept).
    pub fn from_rows(rows: &[Vec<(String, Datum)>], options: &SourceOptions) -> Result<Source> {
        let context = "rows source";
        let names: Vec<String> = match rows.first() {
            Some(first) => first.iter().map(|(n, _)| n.clone()).collect(),
            None => return Err(Error::invalid(context, "no rows and therefore no columns")),
        };
        let mut fields = Vec::with_capacity(names.len());
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(names.len());
        for name in &names {
            let values = rows
                .iter()
                .enumerate()
                .map(|(i, row)| {
                    if row.len() != names.len() {
                        return Err(Error::invalid(
                            context,
                            format!(
                                "row {i} has {} columns, the first row {}",
                                row.len(),
                                names.len()
                            ),
                        ));
                    }
                    row.iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, v)| v.clone())
                        .ok_or_else(|| {
                            Error::invalid(context, format!("row {i} has no column `{name}`"))
                        })
                })
                .collect::<Result<Vec<Datum>>>()?;
            let data_type = Datum::infer_type(&values)?;
            let nullable = values.contains(&Datum::Null);
            columns.push(crate::model::array_from_datums(name, &data_type, &values)?);
            fields.push(Field::new(name, data_type, nullable));
        }
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
        Source::build("DictSource", batch, options, context)
    }

    /// A source over an already enriched stream (system tags and source info kept), with
    /// a given identity: what a node's stored results become (`DerivedSource`).
    pub fn from_stream(
        class_name: &'static str,
        source_id: String,
        stream: Stream,
        identity: Identity,
    ) -> Result<Source> {
        Ok(Source {
            class_name,
            source_id,
            stream,
            identity,
            warnings: Vec::new(),
        })
    }

    /// The common enrichment of every source kind.
    fn build(
        class_name: &'static str,
        table: RecordBatch,
        options: &SourceOptions,
        context: &str,
    ) -> Result<Source> {
        let table = normalize_types(&table)?;
        let schema = table.schema();
        check_declared_types(&schema, &options.types, context)?;
        for f in schema.fields() {
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
        for t in &options.tag_columns {
            let field = schema.field_with_name(t).map_err(|_| {
                Error::invalid(
                    context,
                    format!(
                        "tag column `{t}` not found; columns are: {}",
                        column_list(&schema)
                    ),
                )
            })?;
            tag_fields.push(Arc::new(field.clone()));
        }
        let packet_fields: Vec<FieldRef> = schema
            .fields()
            .iter()
            .filter(|f| !options.tag_columns.contains(f.name()))
            .cloned()
            .collect();
        if packet_fields.is_empty() {
            return Err(Error::invalid(
                context,
                "every column is a tag column; a source needs at least one packet column",
            ));
        }

        let source_id = match &options.source_id {
            Some(id) if id.is_empty() => {
                return Err(Error::invalid(context, "source_id may not be empty"))
            }
            Some(id) => id.clone(),
            None => hash_batch(&table).hex_prefix(PATH_HASH_CHARS),
        };
        let identity = identity::root_source(class_name, &tag_fields, &packet_fields, &source_id)?;
        let schema_hash = identity.pipeline.hex_prefix(SYSTEM_TAG_HASH_CHARS);

        let record_ids: Vec<String> = match &options.record_id_column {
            None => (0..table.num_rows()).map(|i| format!("row_{i}")).collect(),
            Some(c) => {
                let idx = schema.index_of(c).map_err(|_| {
                    Error::invalid(
                        context,
                        format!(
                            "record_id_column `{c}` not found; columns are: {}",
                            column_list(&schema)
                        ),
                    )
                })?;
                let column = table.column(idx);
                (0..table.num_rows())
                    .map(|i| {
                        Ok(format!(
                            "{c}={}",
                            Datum::from_array(column.as_ref(), i)?.python_str()
                        ))
                    })
                    .collect::<Result<_>>()?
            }
        };
        let tokens: Vec<String> = record_ids
            .iter()
            .map(|r| format!("{source_id}{}{r}", columns::BLOCK_SEPARATOR))
            .collect();

        let string_column =
            |values: Vec<String>| -> ArrayRef { Arc::new(LargeStringArray::from(values)) };
        let mut columns: Vec<ArrayRef> = Vec::new();
        for f in tag_fields.iter().chain(&packet_fields) {
            columns.push(table.column(schema.index_of(f.name())?).clone());
        }
        let system_tag_fields = vec![
            string_field(&columns::source_system_tag(SOURCE_ID_TAG, &schema_hash)),
            string_field(&columns::source_system_tag(RECORD_ID_TAG, &schema_hash)),
        ];
        columns.push(string_column(vec![source_id.clone(); table.num_rows()]));
        columns.push(string_column(record_ids));
        let mut source_info_fields = Vec::new();
        for f in &packet_fields {
            source_info_fields.push(string_field(&columns::source_info_column(f.name())));
            columns.push(string_column(
                tokens
                    .iter()
                    .map(|t| format!("{t}{}{}", columns::BLOCK_SEPARATOR, f.name()))
                    .collect(),
            ));
        }
        let stream_schema = Arc::new(StreamSchema::new(
            tag_fields,
            packet_fields,
            system_tag_fields,
            source_info_fields,
        )?);
        let batch = RecordBatch::try_new(stream_schema.arrow().clone(), columns)?;
        Ok(Source {
            class_name,
            source_id,
            stream: Stream::new(stream_schema, vec![batch])?,
            identity,
            warnings: Vec::new(),
        })
    }

    /// The reference's class name for this kind of source (part of the identity).
    pub fn class_name(&self) -> &'static str {
        self.class_name
    }

    /// The id used in provenance strings.
    pub fn source_id(&self) -> &str {
        &self.source_id
    }

    /// The enriched rows.
    pub fn stream(&self) -> &Stream {
        &self.stream
    }

    /// The content and pipeline hashes.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The 12-hex schema hash in this source's system-tag names.
    pub fn schema_hash(&self) -> String {
        self.identity.pipeline.hex_prefix(SYSTEM_TAG_HASH_CHARS)
    }

    /// What reading the source lost (CSV type inference), in column order; empty for
    /// other kinds of source.
    pub fn warnings(&self) -> &[SourceWarning] {
        &self.warnings
    }
}

fn string_field(name: &str) -> FieldRef {
    Arc::new(Field::new(name, DataType::LargeUtf8, false))
}

#[cfg(test)]
mod tests;
