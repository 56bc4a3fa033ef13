//! [`Preview`]: the first rows of an output in the export order, kept while the output
//! streams by, without sorting (or holding) the whole output.
//!
//! After each batch it keeps only the best `rows` rows (the batch and the rows kept so
//! far, sorted, cut to `rows`), so memory is bounded by `rows` plus one batch; ties keep
//! arrival order, as the full sort does, so the rows kept are exactly the first `rows`
//! rows of the sorted output. This module never writes files.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::util::pretty::pretty_format_batches;

use super::canonical::Canonical;
use super::format::Columns;
use super::order::{check_fields, take_rows, RowOrder};
use crate::error::Result;
use crate::files::kind::paths_as_text;
use crate::model::StreamSchema;

/// The first rows of an output in the export order.
#[derive(Debug)]
pub struct Preview {
    schema: Arc<StreamSchema>,
    rows: usize,
    order: RowOrder,
    best: Option<RecordBatch>,
    total: u64,
}

impl Preview {
    /// A preview of the first `rows` rows of an output of `schema`.
    pub fn new(schema: Arc<StreamSchema>, rows: usize) -> Result<Preview> {
        let order = RowOrder::new(schema.arrow())?;
        Ok(Preview {
            schema,
            rows,
            order,
            best: None,
            total: 0,
        })
    }

    /// Takes rows of the output (in any order, batches of any size, with the schema's
    /// fields).
    pub fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        check_fields(batch, self.schema.arrow())?;
        self.total += batch.num_rows() as u64;
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let candidates: Vec<RecordBatch> = self.best.iter().chain([batch]).cloned().collect();
        let mut positions = self.order.sorted_positions(&candidates)?;
        positions.truncate(self.rows);
        self.best = Some(take_rows(self.schema.arrow(), &candidates, &positions)?);
        Ok(())
    }

    /// Rows taken so far.
    pub fn total_rows(&self) -> u64 {
        self.total
    }

    /// The first rows (at most the number asked) as a text table of `columns`: Arrow's
    /// pretty printer over the canonical batch of those rows, as `orcapod run` prints
    /// an output (no newline at the end).
    pub fn render(&self, columns: Columns) -> Result<String> {
        let batch = match &self.best {
            Some(best) => {
                let positions: Vec<(usize, usize)> = (0..best.num_rows()).map(|r| (0, r)).collect();
                Canonical::new(self.schema.arrow())
                    .gather(std::slice::from_ref(best), &positions)?
            }
            None => RecordBatch::new_empty(self.schema.arrow().clone()),
        };
        let shown = paths_as_text(&batch.project(&columns.indices(&self.schema))?)?;
        Ok(pretty_format_batches(&[shown])?.to_string())
    }
}
