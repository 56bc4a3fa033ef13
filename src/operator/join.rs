//! Join and MergeJoin (under construction).

use std::sync::Arc;

use arrow::record_batch::RecordBatch;

use super::{InputInfo, Operator};
use crate::error::{Error, Result};
use crate::model::StreamSchema;

/// The running join.
pub(super) struct Join {
    output: Arc<StreamSchema>,
}

impl Join {
    pub(super) fn new(inputs: &[InputInfo]) -> Result<Self> {
        let _ = Join {
            output: inputs[0].schema.clone(),
        };
        Err(Error::internal("join: under construction"))
    }
}

impl Operator for Join {
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

/// The running merge join.
pub(super) struct MergeJoin {
    output: Arc<StreamSchema>,
}

impl MergeJoin {
    pub(super) fn new(inputs: &[InputInfo]) -> Result<Self> {
        let _ = MergeJoin {
            output: inputs[0].schema.clone(),
        };
        Err(Error::internal("merge_join: under construction"))
    }
}

impl Operator for MergeJoin {
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
