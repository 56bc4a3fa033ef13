//! The Arrow IPC file of an export, and reading one back as a stream.

use std::path::Path;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use arrow::ipc::reader::FileReader;
use arrow::ipc::writer::FileWriter;

use super::chunks::Chunks;
use super::sorted::SortedStream;
use crate::error::{Error, Result};
use crate::model::{Stream, StreamSchema};

/// Schema metadata key of an exported Arrow file: the user tag column names, as a JSON
/// array of strings. (The other roles follow from the names: `_tag_…` columns are system
/// tags, `_source_…` columns source info, the rest packets.)
pub const TAG_COLUMNS_METADATA: &str = "orcapod:tag_columns";

impl SortedStream {
    /// The bytes of the Arrow IPC file: the stream's schema with
    /// [`TAG_COLUMNS_METADATA`] added to its metadata, and the rows in canonical record
    /// batches of [`CHUNK_ROWS`](super::CHUNK_ROWS) rows (one batch, empty, if there are
    /// none), every column.
    pub fn to_arrow_ipc(&self) -> Result<Vec<u8>> {
        let schema = arrow_file_schema(self.schema());
        let mut chunks = Chunks::new(schema.clone());
        let mut writer = FileWriter::try_new(Vec::new(), &schema)?;
        for chunk in chunks.push(self.batch())? {
            writer.write(&chunk)?;
        }
        for chunk in chunks.finish()? {
            writer.write(&chunk)?;
        }
        writer.finish()?;
        Ok(writer.into_inner()?)
    }
}

/// The Arrow schema of an exported file of `schema`: its fields as they are, and its
/// metadata plus [`TAG_COLUMNS_METADATA`].
pub(super) fn arrow_file_schema(schema: &StreamSchema) -> SchemaRef {
    let arrow = schema.arrow();
    let mut metadata = arrow.metadata().clone();
    let tags = serde_json::Value::from(schema.tag_names()).to_string();
    metadata.insert(TAG_COLUMNS_METADATA.to_string(), tags);
    Arc::new(Schema::new_with_metadata(arrow.fields().clone(), metadata))
}

/// Reads an Arrow file written by an export ([`Format::Arrow`](super::Format::Arrow))
/// back as a stream: tag columns from [`TAG_COLUMNS_METADATA`], every other column's
/// role from its name. The rows come back in the file's (sorted) order.
pub fn read_arrow(path: &Path) -> Result<Stream> {
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let context = path.display().to_string();
    let unreadable = |e: arrow::error::ArrowError| {
        Error::invalid(&context, format!("not a readable Arrow IPC file: {e}"))
    };
    let reader = FileReader::try_new(file, None).map_err(unreadable)?;
    let file_schema = reader.schema();
    export_stream(
        &context,
        &file_schema,
        reader.map(|b| b.map_err(unreadable)),
    )
}

/// An exported file's rows back as a stream: tag columns from the schema's
/// [`TAG_COLUMNS_METADATA`], every other column's role from its name.
pub(super) fn export_stream(
    context: &str,
    file_schema: &Schema,
    batches: impl Iterator<Item = Result<RecordBatch>>,
) -> Result<Stream> {
    let tags = file_schema
        .metadata()
        .get(TAG_COLUMNS_METADATA)
        .ok_or_else(|| {
            Error::invalid(
                context,
                format!("no `{TAG_COLUMNS_METADATA}` schema metadata: not an orcapod export"),
            )
        })?;
    let tags: Vec<String> = serde_json::from_str(tags).map_err(|e| {
        Error::invalid(
            context,
            format!("`{TAG_COLUMNS_METADATA}` is not a JSON list of names: {e}"),
        )
    })?;
    let (schema, order) = StreamSchema::classify(file_schema, &tags)?;
    let batches = batches
        .map(|batch| Ok(batch?.project(&order)?))
        .collect::<Result<Vec<_>>>()?;
    Stream::new(Arc::new(schema), batches)
}
