//! The Parquet file of an export, and reading one back as a stream.
//!
//! The file holds every column with the stream's Arrow schema and the same metadata the
//! Arrow file carries ([`TAG_COLUMNS_METADATA`]), in row groups of
//! [`CHUNK_ROWS`](super::CHUNK_ROWS) rows (the canonical chunks of the Arrow file), with
//! fixed writer properties: equal rows give equal bytes, run after run. This module never
//! decides row order.

use std::fs::File;
use std::path::Path;

use arrow::datatypes::SchemaRef;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::arrow_ipc::export_stream;
#[cfg(doc)]
use super::arrow_ipc::TAG_COLUMNS_METADATA;
use super::chunks::CHUNK_ROWS;
use crate::error::{Error, Result};
use crate::model::Stream;

/// A Parquet writer of an export's chunks (of `schema`, from `arrow_file_schema`) to
/// `out`: Snappy compression, one row group per chunk, a fixed `created_by`.
pub(super) fn parquet_writer<W: std::io::Write + Send>(
    out: W,
    schema: &SchemaRef,
) -> parquet::errors::Result<ArrowWriter<W>> {
    let properties = WriterProperties::builder()
        .set_max_row_group_size(CHUNK_ROWS)
        .set_compression(Compression::SNAPPY)
        .set_created_by("orcapod".to_string())
        .build();
    ArrowWriter::try_new(out, schema.clone(), Some(properties))
}

/// Reads a Parquet file written by an export ([`Format::Parquet`](super::Format::Parquet))
/// back as a stream: tag columns from [`TAG_COLUMNS_METADATA`], every other column's
/// role from its name. The rows come back in the file's (sorted) order.
pub fn read_parquet(path: &Path) -> Result<Stream> {
    let file = File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let context = path.display().to_string();
    let unreadable = |e: &dyn std::fmt::Display| {
        Error::invalid(&context, format!("not a readable Parquet file: {e}"))
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| unreadable(&e))?;
    let file_schema = builder.schema().clone();
    let reader = builder.build().map_err(|e| unreadable(&e))?;
    export_stream(
        &context,
        &file_schema,
        reader.map(|b| b.map_err(|e| unreadable(&e))),
    )
}
