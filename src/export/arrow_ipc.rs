//! The Arrow IPC file of an export, and reading one back as a stream.

use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::Schema;
use arrow::ipc::reader::FileReader;
use arrow::ipc::writer::FileWriter;

use super::sorted::SortedStream;
use crate::error::{Error, Result};
use crate::model::{Stream, StreamSchema};

/// Schema metadata key of an exported Arrow file: the user tag column names, as a JSON
/// array of strings. (The other roles follow from the names: `_tag_…` columns are system
/// tags, `_source_…` columns source info, the rest packets.)
pub const TAG_COLUMNS_METADATA: &str = "orcapod:tag_columns";

impl SortedStream {
    /// The bytes of the Arrow IPC file: the stream's schema with
    /// [`TAG_COLUMNS_METADATA`] added to its metadata, and one batch of every column.
    pub fn to_arrow_ipc(&self) -> Result<Vec<u8>> {
        let batch = self.batch();
        let mut metadata = batch.schema().metadata().clone();
        let tags = serde_json::Value::from(self.schema().tag_names()).to_string();
        metadata.insert(TAG_COLUMNS_METADATA.to_string(), tags);
        let schema = Arc::new(Schema::new_with_metadata(
            batch.schema().fields().clone(),
            metadata,
        ));
        let batch = batch.clone().with_schema(schema.clone())?;
        let mut writer = FileWriter::try_new(Vec::new(), &schema)?;
        writer.write(&batch)?;
        writer.finish()?;
        Ok(writer.into_inner()?)
    }
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
    let tags = file_schema
        .metadata()
        .get(TAG_COLUMNS_METADATA)
        .ok_or_else(|| {
            Error::invalid(
                &context,
                format!("no `{TAG_COLUMNS_METADATA}` schema metadata: not an orcapod export"),
            )
        })?;
    let tags: Vec<String> = serde_json::from_str(tags).map_err(|e| {
        Error::invalid(
            &context,
            format!("`{TAG_COLUMNS_METADATA}` is not a JSON list of names: {e}"),
        )
    })?;
    let (schema, order) = StreamSchema::classify(&file_schema, &tags)?;
    let batches = reader
        .map(|batch| Ok(batch.map_err(unreadable)?.project(&order)?))
        .collect::<Result<Vec<_>>>()?;
    Stream::new(Arc::new(schema), batches)
}
