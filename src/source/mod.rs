//! Sources: external data turned into streams with provenance stamped on every row.
//!
//! Every source kind ([CSV](Source::from_csv), [Arrow IPC](Source::from_arrow_ipc),
//! [Parquet](Source::from_parquet), [record batch](Source::from_record_batch),
//! [rows](Source::from_rows)) goes through the same enrichment (reference §4.1):
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
//! A source keeps its rows in memory (record batches, rows, stored results) or, for a
//! file (CSV, Arrow IPC, Parquet), only what loading it checked: its columns and their
//! types, its identity and a way to read its rows. The rows of a file are read when
//! they are asked for, in batches of a bounded size ([`Source::batches`],
//! [`Source::reader`]), with provenance stamped on each batch; [`Source::stream`] reads
//! them all. Loading reads no more of a file than it must: a CSV file's header when every
//! column's type is declared, else one pass to infer the types (counts, not values); an
//! Arrow or Parquet file's schema, and one pass to hash the table when no source id is
//! given. Errors found only while reading (a malformed line, a value that does not fit
//! its type, a file changed since it was loaded) name the file and, for CSV, the line.
//!
//! Here: [`Source`] and its constructors. Beside it: `enrich` (the enrichment every kind
//! shares: identity, schema, provenance per batch), `stamp` (the provenance columns'
//! text, written column by column), `reader` (rows batch by batch),
//! `file` (a file as loaded), `raw` (a file's rows before provenance), `csv`, `ipc` and
//! `parquet` (reading each kind of file), `options` (how a source reads its table),
//! `types` (normalising and checking column types), `warning` (what CSV inference
//! lost), `folder` (folder sources) and `fingerprint` (what a source would read, from
//! metadata alone: what watch mode compares), and `delta` (what changed in a source's
//! rows between two reads, row by row: what a watch round feeds). Only `enrich` knows provenance and identity (`stamp` only writes the text it
//! is given).

mod csv;
pub mod delta;
mod enrich;
mod file;
mod fingerprint;
mod folder;
mod ipc;
mod options;
mod parquet;
mod raw;
mod reader;
mod stamp;
mod types;
mod warning;

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::compute::concat_batches;
use arrow::datatypes::{Field, Schema};

use self::enrich::{plan, Stamp};
use self::file::{FileKind, SourceFile};
use self::reader::FileRows;
use self::types::normalize_types;
use crate::error::{Error, Result};
use crate::files::{content_batch, file_hashes};
use crate::hashing::arrow::hash_batch;
use crate::hashing::identity::Identity;
use crate::hashing::{PATH_HASH_CHARS, SYSTEM_TAG_HASH_CHARS};
use crate::model::{Datum, Stream, StreamSchema};

pub use delta::{record_key, RecordKey, RecordKeys, RowsSeen, SourceDelta};
pub use fingerprint::{Changes, FileStamp, Fingerprint, SourceInput};
pub use folder::{FolderSpec, FOLDER_PATH_COLUMN};
pub use options::SourceOptions;
pub use reader::{Batches, SourceReader};
pub use types::large_type;
pub use warning::{SourceWarning, WarningKind};

/// A root source: its enriched schema, its identity, and its rows (in memory, or a file
/// read when they are asked for).
#[derive(Debug, Clone)]
pub struct Source {
    class_name: &'static str,
    source_id: String,
    schema: Arc<StreamSchema>,
    rows: Rows,
    identity: Identity,
    warnings: Vec<SourceWarning>,
}

/// Where a source's enriched rows are.
#[derive(Debug, Clone)]
enum Rows {
    Memory(Stream),
    File(Arc<FileRows>),
}

impl Source {
    /// Loads a CSV file (header row required). The default source id is the path as
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
    ///
    /// When every column is declared, only the header is read here, and the rows only
    /// when they are asked for, from the same open file (so the file may be a pipe); a
    /// value that does not fit is then an error of that read. Otherwise the file is read
    /// once here to infer the types (and check the declared columns), and again for the
    /// rows.
    pub fn from_csv(path: impl AsRef<Path>, options: &SourceOptions) -> Result<Source> {
        let path = path.as_ref();
        let (csv, warnings) = csv::open_csv(path, &options.types)?;
        let table = csv.schema().clone();
        let options = SourceOptions {
            source_id: Some(
                options
                    .source_id
                    .clone()
                    .unwrap_or_else(|| path.to_string_lossy().into_owned()),
            ),
            ..options.clone()
        };
        let file = SourceFile::new(path, FileKind::Csv(Box::new(csv)))?;
        let mut source = Source::from_file("CSVSource", file, table, &options)?;
        source.warnings = warnings;
        Ok(source)
    }

    /// Loads an Arrow IPC file (the "file" format). The file's schema is trusted,
    /// nullability included; the default source id is derived from the data (one pass
    /// over the file, batch by batch). Its rows are read when they are asked for.
    pub fn from_arrow_ipc(path: impl AsRef<Path>, options: &SourceOptions) -> Result<Source> {
        let path = path.as_ref();
        let table = ipc::schema(path)?;
        let file = SourceFile::new(path, FileKind::Ipc)?;
        Source::from_file("ArrowTableSource", file, table, options)
    }

    /// Loads a Parquet file, read row group by row group. The schema the Arrow reader
    /// gives is trusted, nullability included (types normalised as for every source);
    /// the default source id is derived from the data as for an Arrow table (one pass
    /// over the file). Its rows are read when they are asked for.
    pub fn from_parquet(path: impl AsRef<Path>, options: &SourceOptions) -> Result<Source> {
        let path = path.as_ref();
        let table = parquet::schema(path)?;
        let file = SourceFile::new(path, FileKind::Parquet)?;
        Source::from_file("ArrowTableSource", file, table, options)
    }

    /// A source over `file`, whose table (types normalised) has the schema `table`.
    fn from_file(
        class_name: &'static str,
        file: SourceFile,
        table: Arc<Schema>,
        options: &SourceOptions,
    ) -> Result<Source> {
        let context = file.path.display().to_string();
        let default_id = || {
            let hash = raw::hash_table(&table, file.open()?)?;
            Ok(hash.hex_prefix(PATH_HASH_CHARS))
        };
        let (stamp, identity) = plan(class_name, &table, options, &context, default_id)?;
        Ok(Source {
            class_name,
            source_id: stamp.source_id.clone(),
            schema: stamp.schema.clone(),
            rows: Rows::File(Arc::new(FileRows { stamp, file })),
            identity,
            warnings: Vec::new(),
        })
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
            schema: stream.schema().clone(),
            rows: Rows::Memory(stream),
            identity,
            warnings: Vec::new(),
        })
    }

    /// The common enrichment of an in-memory table: its rows, stamped at once.
    fn build(
        class_name: &'static str,
        table: RecordBatch,
        options: &SourceOptions,
        context: &str,
    ) -> Result<Source> {
        let table = normalize_types(&table)?;
        // Files and directories count by content.
        let default_id = || {
            let image = content_batch(&table, file_hashes(), None)?;
            Ok(hash_batch(&image).hex_prefix(PATH_HASH_CHARS))
        };
        let (stamp, identity): (Stamp, Identity) =
            plan(class_name, &table.schema(), options, context, default_id)?;
        let batch = stamp.enrich(&table, 0)?;
        Ok(Source {
            class_name,
            source_id: stamp.source_id,
            schema: stamp.schema.clone(),
            rows: Rows::Memory(Stream::new(stamp.schema, vec![batch])?),
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

    /// The schema of the enriched rows.
    pub fn schema(&self) -> &Arc<StreamSchema> {
        &self.schema
    }

    /// True when the rows are read from a file when asked for (false: in memory).
    pub fn reads_file(&self) -> bool {
        matches!(self.rows, Rows::File(_))
    }

    /// The enriched rows, from the first, batch by batch.
    pub fn reader(&self) -> SourceReader {
        match &self.rows {
            Rows::Memory(stream) => SourceReader::from_batches(stream.batches().to_vec()),
            Rows::File(file) => SourceReader::from_file(file.clone()),
        }
    }

    /// The enriched rows as batches of at most `max_rows` rows (never empty ones), a file
    /// read as they are asked for; record ids continue from batch to batch, so the
    /// batches together are exactly [`Source::stream`]'s rows.
    pub fn batches(&self, max_rows: usize) -> Batches {
        Batches::new(self.reader(), max_rows)
    }

    /// Every enriched row, read whole (a file in one batch): for callers that need the
    /// whole table at once.
    pub fn stream(&self) -> Result<Stream> {
        match &self.rows {
            Rows::Memory(stream) => Ok(stream.clone()),
            Rows::File(_) => {
                let batches = self.batches(usize::MAX).collect::<Result<Vec<_>>>()?;
                let whole = match batches.len() {
                    0 | 1 => batches,
                    _ => vec![concat_batches(self.schema.arrow(), &batches)?],
                };
                Stream::new(self.schema.clone(), whole)
            }
        }
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

#[cfg(test)]
mod tests;
