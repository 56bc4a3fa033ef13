//! Batch (under construction).

use std::sync::Arc;

use arrow::record_batch::RecordBatch;

use super::{InputInfo, Operator};
use crate::error::{Error, Result};
use crate::model::StreamSchema;

/// The running operator.
pub(super) struct Batch {
    output: Arc<StreamSchema>,
}

impl Batch {
    pub(super) fn new(input: &InputInfo, _batch_size: usize, _drop: bool) -> Result<Self> {
        let _ = Batch {
            output: input.schema.clone(),
        };
        Err(Error::internal("batch: under construction"))
    }
}

impl Operator for Batch {
    fn output_schema(&self) -> &Arc<StreamSchema> {
        &self.output
    }
    fn push(&mut self, _port: usize, _batch: RecordBatch) -> Result<()> {
        Err(Error::internal("under construction"))
    }
    fn finish(&mut self, _port: usize) -> Result<()> {
        Ok(())
    }
    fn take_output(&mut self) -> Vec<RecordBatch> {
        Vec::new()
    }
}
