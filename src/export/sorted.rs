//! [`SortedStream`]: a stream's rows in export order, ready to be written in any format.

use std::cmp::Ordering;
use std::sync::Arc;

use arrow::array::{RecordBatch, RecordBatchOptions};
use arrow::util::display::FormatOptions;
use arrow::util::pretty::pretty_format_batches_with_options;
use arrow_row::{RowConverter, SortField};

use super::format::Columns;
use crate::error::Result;
use crate::model::{Datum, Stream, StreamSchema};

/// A stream's rows sorted in the export order (see the [module docs](super)): by user
/// tags, then packets, then system tags and source info, each in schema order, values
/// compared with [`Datum::total_cmp`].
///
/// Holds the rows twice: as values, for JSON, CSV and callers that inspect rows, and as
/// one canonical Arrow batch, for the Arrow file and the text table.
#[derive(Debug, Clone)]
pub struct SortedStream {
    schema: Arc<StreamSchema>,
    batch: RecordBatch,
    rows: Vec<Vec<Datum>>,
}

impl SortedStream {
    /// Sorts the rows of `stream`. Fails only if a value cannot be read (an Arrow type
    /// orcapod streams do not use).
    pub fn new(stream: &Stream) -> Result<SortedStream> {
        let schema = stream.schema().clone();
        let width = schema.arrow().fields().len();
        // Every row as values, with where it comes from: (batch, row in batch).
        let mut keyed: Vec<(Vec<Datum>, usize, usize)> = Vec::with_capacity(stream.num_rows());
        for (b, batch) in stream.batches().iter().enumerate() {
            for r in 0..batch.num_rows() {
                let row = batch
                    .columns()
                    .iter()
                    .map(|column| Datum::from_array(column.as_ref(), r))
                    .collect::<Result<Vec<_>>>()?;
                keyed.push((row, b, r));
            }
        }
        keyed.sort_by(|a, b| compare_rows(&a.0, &b.0));

        let batch = if keyed.is_empty() {
            RecordBatch::new_empty(schema.arrow().clone())
        } else if width == 0 {
            RecordBatch::try_new_with_options(
                schema.arrow().clone(),
                Vec::new(),
                &RecordBatchOptions::new().with_row_count(Some(keyed.len())),
            )?
        } else {
            canonical_batch(stream, keyed.iter().map(|(_, b, r)| (*b, *r)))?
        };
        let rows = keyed.into_iter().map(|(row, _, _)| row).collect();
        Ok(SortedStream {
            schema,
            batch,
            rows,
        })
    }

    /// The stream's schema.
    pub fn schema(&self) -> &Arc<StreamSchema> {
        &self.schema
    }

    /// Number of rows.
    pub fn num_rows(&self) -> usize {
        self.rows.len()
    }

    /// The sorted rows, each with every column in schema order (user tags, packets,
    /// system tags, source info).
    pub fn rows(&self) -> &[Vec<Datum>] {
        &self.rows
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
        match columns {
            Columns::TagsAndPackets => self
                .schema
                .tag_range()
                .chain(self.schema.packet_range())
                .collect(),
            Columns::AllInfo => (0..self.schema.arrow().fields().len()).collect(),
        }
    }

    /// The rows as a text table, ending with a newline: Arrow's pretty printer, with
    /// nulls shown as `null` (so they differ from empty strings), bytes in hex, lists as
    /// `[a, b]`.
    pub fn render_table(&self, columns: Columns) -> Result<String> {
        let shown = self.batch.project(&self.column_indices(columns))?;
        let options = FormatOptions::default().with_null("null");
        Ok(format!(
            "{}\n",
            pretty_format_batches_with_options(&[shown], &options)?
        ))
    }
}

/// Rows compared column by column with [`Datum::total_cmp`].
fn compare_rows(a: &[Datum], b: &[Datum]) -> Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.total_cmp(y))
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

/// The rows of `stream` at `order` (batch, row) as one batch, every array rebuilt from
/// the Arrow row format: a function of the values only.
fn canonical_batch(
    stream: &Stream,
    order: impl Iterator<Item = (usize, usize)>,
) -> Result<RecordBatch> {
    let arrow_schema = stream.schema().arrow();
    let converter = RowConverter::new(
        arrow_schema
            .fields()
            .iter()
            .map(|f| SortField::new(f.data_type().clone()))
            .collect(),
    )?;
    let encoded = stream
        .batches()
        .iter()
        .map(|batch| converter.convert_columns(batch.columns()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let columns = converter.convert_rows(order.map(|(b, r)| encoded[b].row(r)))?;
    Ok(RecordBatch::try_new(arrow_schema.clone(), columns)?)
}
