//! [`SortedStream`]: a stream's rows in export order, ready to be written in any format.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::util::display::FormatOptions;
use arrow::util::pretty::pretty_format_batches_with_options;

use super::canonical::Canonical;
use super::format::Columns;
use super::order::RowOrder;
use crate::error::Result;
use crate::files::kind::paths_as_text;
use crate::model::{Datum, Stream, StreamSchema};

/// A stream's rows sorted in the export order (see the [module docs](super)): by user
/// tags, then packets, then system tags and source info, each in schema order, values
/// compared as [`Datum::total_cmp`] does.
///
/// Holds the rows once, as one canonical Arrow batch (see [`SortedStream::batch`]); the
/// sort itself is columnar (the Arrow row format), never a per-cell comparison.
#[derive(Debug, Clone)]
pub struct SortedStream {
    schema: Arc<StreamSchema>,
    batch: RecordBatch,
}

impl SortedStream {
    /// Sorts the rows of `stream`. Fails only if a value cannot be read (an Arrow type
    /// orcapod streams do not use).
    pub fn new(stream: &Stream) -> Result<SortedStream> {
        let schema = stream.schema().clone();
        let positions = RowOrder::new(schema.arrow())?.sorted_positions(stream.batches())?;
        let batch = Canonical::new(schema.arrow()).gather(stream.batches(), &positions)?;
        Ok(SortedStream { schema, batch })
    }

    /// The stream's schema.
    pub fn schema(&self) -> &Arc<StreamSchema> {
        &self.schema
    }

    /// Number of rows.
    pub fn num_rows(&self) -> usize {
        self.batch.num_rows()
    }

    /// The sorted rows as values, each with every column in schema order (user tags,
    /// packets, system tags, source info). Made on each call: for inspecting rows,
    /// not for bulk work.
    pub fn rows(&self) -> Vec<Vec<Datum>> {
        (0..self.batch.num_rows())
            .map(|r| {
                self.batch
                    .columns()
                    .iter()
                    .map(|column| {
                        Datum::from_array(column.as_ref(), r)
                            .expect("sorting read every value of the stream")
                    })
                    .collect()
            })
            .collect()
    }

    /// The sorted rows as one batch with every column and the stream's Arrow schema.
    ///
    /// Its arrays are rebuilt from the values alone (through the Arrow row format), so
    /// what lies under nulls, whether a column without nulls carries a validity buffer,
    /// and how the input was chunked leave no trace in it: equal row multisets give
    /// equal bytes when written.
    pub fn batch(&self) -> &RecordBatch {
        &self.batch
    }

    /// Indices (into the schema) of the columns `columns` shows, in schema order.
    pub fn column_indices(&self, columns: Columns) -> Vec<usize> {
        columns.indices(&self.schema)
    }

    /// The rows as a text table, ending with a newline: Arrow's pretty printer, with
    /// nulls shown as `null` (so they differ from empty strings), bytes in hex, lists as
    /// `[a, b]`, files and directories as their paths.
    pub fn render_table(&self, columns: Columns) -> Result<String> {
        let shown = paths_as_text(&self.batch.project(&self.column_indices(columns))?)?;
        let options = FormatOptions::default().with_null("null");
        Ok(format!(
            "{}\n",
            pretty_format_batches_with_options(&[shown], &options)?
        ))
    }
}
