//! [`Canonical`]: rows gathered into batches whose arrays are rebuilt from the Arrow row
//! format, so they are a function of the values alone.
//!
//! What lies under nulls, whether a column without nulls carries a validity buffer, and
//! how the input was chunked leave no trace in a canonical batch: equal rows give equal
//! bytes when written. This module never reorders rows: it gathers them in the order
//! asked.

use arrow::array::{RecordBatch, RecordBatchOptions};
use arrow::datatypes::SchemaRef;
use arrow_row::{RowConverter, SortField};

use crate::error::Result;

/// Rebuilds rows of one schema canonically.
#[derive(Debug)]
pub(super) struct Canonical {
    schema: SchemaRef,
    converter: Option<RowConverter>,
}

impl Canonical {
    /// Canonical batches of `schema` (with that schema, metadata included).
    pub(super) fn new(schema: &SchemaRef) -> Canonical {
        Canonical {
            schema: schema.clone(),
            // Made on the first rows: a type the row format cannot hold fails only
            // when there are rows of it.
            converter: None,
        }
    }

    fn converter(&mut self) -> Result<&RowConverter> {
        if self.converter.is_none() {
            let fields = self
                .schema
                .fields()
                .iter()
                .map(|f| SortField::new(f.data_type().clone()))
                .collect();
            self.converter = Some(RowConverter::new(fields)?);
        }
        Ok(self.converter.as_ref().expect("just made"))
    }

    /// The rows of `batches` at `positions` (batch, row), in that order, as one batch.
    pub(super) fn gather(
        &mut self,
        batches: &[RecordBatch],
        positions: &[(usize, usize)],
    ) -> Result<RecordBatch> {
        if positions.is_empty() {
            return Ok(RecordBatch::new_empty(self.schema.clone()));
        }
        if self.schema.fields().is_empty() {
            return Ok(RecordBatch::try_new_with_options(
                self.schema.clone(),
                Vec::new(),
                &RecordBatchOptions::new().with_row_count(Some(positions.len())),
            )?);
        }
        let schema = self.schema.clone();
        let converter = self.converter()?;
        let encoded = batches
            .iter()
            .map(|batch| converter.convert_columns(batch.columns()))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let columns = converter.convert_rows(positions.iter().map(|&(b, r)| encoded[b].row(r)))?;
        Ok(RecordBatch::try_new(schema, columns)?)
    }

    /// Every row of `batches`, in order, as one canonical batch.
    pub(super) fn rebuild(&mut self, batches: &[RecordBatch]) -> Result<RecordBatch> {
        let positions: Vec<(usize, usize)> = batches
            .iter()
            .enumerate()
            .flat_map(|(b, batch)| (0..batch.num_rows()).map(move |r| (b, r)))
            .collect();
        self.gather(batches, &positions)
    }
}
