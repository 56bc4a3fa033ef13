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

mod csv;
mod ipc;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, LargeStringArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, FieldRef, Schema};

use crate::error::{Error, Result};
use crate::hashing::arrow::hash_batch;
use crate::hashing::identity::{self, Identity};
use crate::hashing::python_type::python_type_name;
use crate::hashing::{PATH_HASH_CHARS, SYSTEM_TAG_HASH_CHARS};
use crate::model::columns::{self, RECORD_ID_TAG, SOURCE_ID_TAG};
use crate::model::{Datum, Stream, StreamSchema};

/// How a source reads its table: which columns are tags, and how rows are identified.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceOptions {
    /// Columns that are user tags (join keys); every other column is a packet column.
    pub tag_columns: Vec<String>,
    /// The source's id in provenance strings; defaults per kind (see each constructor).
    pub source_id: Option<String>,
    /// A column whose values identify rows (`{column}={value}`); default `row_{i}`.
    pub record_id_column: Option<String>,
    /// Declared column types (name, type, nullability), in any order; other columns keep
    /// their inferred (CSV) or given type. A CSV file reads a declared column as declared
    /// (`str`, `int`, `float` or `bool`, nullable or not; see [`Source::from_csv`]);
    /// other sources must already have the declared type. A declared column that is not
    /// in the table is an error.
    pub types: Vec<Field>,
}

impl SourceOptions {
    /// Options with the given tag columns.
    pub fn tags<S: Into<String>>(tags: impl IntoIterator<Item = S>) -> Self {
        SourceOptions {
            tag_columns: tags.into_iter().map(Into::into).collect(),
            ..Default::default()
        }
    }

    /// Sets the source id.
    pub fn with_source_id(mut self, id: impl Into<String>) -> Self {
        self.source_id = Some(id.into());
        self
    }

    /// Sets the record-id column.
    pub fn with_record_id_column(mut self, column: impl Into<String>) -> Self {
        self.record_id_column = Some(column.into());
        self
    }

    /// Declares the type of `column` (replacing an earlier declaration of it).
    pub fn with_type(
        mut self,
        column: impl Into<String>,
        data_type: DataType,
        nullable: bool,
    ) -> Self {
        let field = Field::new(column, data_type, nullable);
        self.types.retain(|f| f.name() != field.name());
        self.types.push(field);
        self
    }
}

/// What reading a source lost, though the reading itself succeeded: one kind of loss in
/// one column of a CSV file whose type was inferred. Declaring the column's type in
/// [`SourceOptions::types`] removes the warning (and, declared `str`, the loss).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceWarning {
    /// The file read.
    pub file: PathBuf,
    /// The column concerned.
    pub column: String,
    /// The 1-based line of the example value, as an editor shows it.
    pub line: u64,
    /// An example value, as written in the file.
    pub value: String,
    /// What was lost.
    pub kind: WarningKind,
    /// The whole explanation (it names the column, the example and the fix), without the
    /// file and line.
    pub message: String,
}

/// The kinds of information a CSV column's inferred type can lose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WarningKind {
    /// Numbers written with leading zeros (`02134`, `007`) were read as numbers, which
    /// drops the zeros.
    LeadingZeros,
    /// Integers were read as floats: the column holds an integer beyond 64 bits, or an
    /// integer that a float cannot hold exactly (distinct values may become equal).
    RoundedToFloat,
    /// A column whose values are mostly numbers (or booleans) was read as text because of
    /// a few rows that are not, such as a repeated header line.
    TextFallback,
}

impl fmt::Display for SourceWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

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

/// Checks that a table (types normalised) has every declared column, with the declared
/// type and nullability.
fn check_declared_types(schema: &Schema, declared: &[Field], context: &str) -> Result<()> {
    for d in declared {
        let Ok(field) = schema.field_with_name(d.name()) else {
            return Err(Error::invalid(
                context,
                format!(
                    "`types` declares column `{}`, which is not in the table; columns are: {}",
                    d.name(),
                    column_list(schema)
                ),
            ));
        };
        if field.data_type() != &large_type(d.data_type()) || field.is_nullable() != d.is_nullable()
        {
            let (mut declared, mut found) = (python_type_name(d), python_type_name(field));
            if declared == found {
                declared = format!("{declared}` (Arrow `{}`)", d.data_type());
                found = format!("{found}` (Arrow `{}`)", field.data_type());
            } else {
                declared.push('`');
                found.push('`');
            }
            return Err(Error::invalid(
                context,
                format!(
                    "`types` declares column `{}` as `{declared}, but it is `{found} here; \
                     declare the type it has",
                    d.name(),
                ),
            ));
        }
    }
    Ok(())
}

fn string_field(name: &str) -> FieldRef {
    Arc::new(Field::new(name, DataType::LargeUtf8, false))
}

fn column_list(schema: &Schema) -> String {
    schema
        .fields()
        .iter()
        .map(|f| format!("`{}`", f.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Casts strings, binaries and lists to their large variants (recursively).
fn normalize_types(table: &RecordBatch) -> Result<RecordBatch> {
    let schema = table.schema();
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns = Vec::with_capacity(schema.fields().len());
    for (f, c) in schema.fields().iter().zip(table.columns()) {
        let target = large_type(f.data_type());
        if &target == f.data_type() {
            fields.push(f.clone());
            columns.push(c.clone());
        } else {
            // A column of only nulls becomes a nullable string column.
            let nullable = f.is_nullable() || f.data_type() == &DataType::Null;
            fields.push(Arc::new(
                f.as_ref()
                    .clone()
                    .with_data_type(target.clone())
                    .with_nullable(nullable),
            ));
            columns.push(cast(c, &target)?);
        }
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// The large variant of a type: what every orcapod stream uses. A column (or list item)
/// of type `Null` — values that were all null, so no type could be inferred — becomes a
/// string column: Arrow hashing has no encoding for `Null`, and a string is the most
/// useful guess for later rows.
pub fn large_type(data_type: &DataType) -> DataType {
    match data_type {
        DataType::Null | DataType::Utf8 | DataType::Utf8View => DataType::LargeUtf8,
        DataType::Binary | DataType::BinaryView => DataType::LargeBinary,
        DataType::List(item) | DataType::LargeList(item) => DataType::LargeList(Arc::new(
            item.as_ref()
                .clone()
                .with_data_type(large_type(item.data_type())),
        )),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;

    const STUDENTS: &str = "student_id,name,age,zip\ns1,Ann,20,02134\ns2,Bob,,10001\n";

    fn students(options: &SourceOptions) -> Result<Source> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("students.csv");
        std::fs::write(&path, STUDENTS).unwrap();
        Source::from_csv(&path, &options.clone().with_source_id("students"))
    }

    #[test]
    fn declaring_the_inferred_types_changes_no_hash_and_silences_warnings() {
        let inferred = students(&SourceOptions::tags(["student_id"])).unwrap();
        let warned: Vec<(&str, WarningKind)> = inferred
            .warnings()
            .iter()
            .map(|w| (w.column.as_str(), w.kind))
            .collect();
        assert_eq!(warned, [("zip", WarningKind::LeadingZeros)]);
        let declared = students(
            &SourceOptions::tags(["student_id"])
                .with_type("name", DataType::Utf8, false)
                .with_type("age", DataType::Int64, true)
                .with_type("zip", DataType::Int64, false),
        )
        .unwrap();
        assert_eq!(declared.warnings(), &[]);
        assert_eq!(declared.identity(), inferred.identity());
        assert_eq!(declared.stream().batches(), inferred.stream().batches());
    }

    #[test]
    fn a_declared_type_reads_the_column_as_declared() {
        let source = students(&SourceOptions::tags(["student_id"]).with_type(
            "zip",
            DataType::LargeUtf8,
            false,
        ))
        .unwrap();
        let zip = source.stream().schema().packet_fields()[2].clone();
        assert_eq!(
            (zip.name().as_str(), zip.data_type()),
            ("zip", &DataType::LargeUtf8)
        );
        let batch = &source.stream().batches()[0];
        let zips = batch
            .column_by_name("zip")
            .unwrap()
            .as_any()
            .downcast_ref::<LargeStringArray>()
            .unwrap();
        assert_eq!(zips.value(0), "02134");
    }

    #[test]
    fn other_sources_must_have_the_declared_types() {
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)])),
            vec![Arc::new(Int64Array::from(vec![1, 2]))],
        )
        .unwrap();
        let ok = SourceOptions::default().with_type("n", DataType::Int64, false);
        assert!(Source::from_record_batch(batch.clone(), &ok).is_ok());
        let message = |options: &SourceOptions| {
            Source::from_record_batch(batch.clone(), options)
                .unwrap_err()
                .to_string()
        };
        let float = SourceOptions::default().with_type("n", DataType::Float64, false);
        assert!(
            message(&float).contains("declares column `n` as `float`, but it is `int` here"),
            "{}",
            message(&float)
        );
        let nullable = SourceOptions::default().with_type("n", DataType::Int64, true);
        assert!(
            message(&nullable).contains("as `int | None`, but it is `int` here"),
            "{}",
            message(&nullable)
        );
        let narrow = SourceOptions::default().with_type("n", DataType::Int32, false);
        assert!(
            message(&narrow).contains("as `int` (Arrow `Int32`), but it is `int` (Arrow `Int64`)"),
            "{}",
            message(&narrow)
        );
        let missing = SourceOptions::default().with_type("m", DataType::Int64, false);
        assert!(
            message(&missing).contains(
                "`types` declares column `m`, which is not in the table; columns are: `n`"
            ),
            "{}",
            message(&missing)
        );
    }
}
