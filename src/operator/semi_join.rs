//! SemiJoin (under construction).

use std::sync::Arc;

use arrow::record_batch::RecordBatch;

use super::{InputInfo, Operator};
use crate::error::{Error, Result};
use crate::model::StreamSchema;

/// The running operator.
pub(super) struct SemiJoin {
    output: Arc<StreamSchema>,
}

impl SemiJoin {
    pub(super) fn new(left: &InputInfo, _right: &InputInfo) -> Result<Self> {
        let _ = SemiJoin {
            output: left.schema.clone(),
        };
        Err(Error::internal("semi_join: under construction"))
    }
}

impl Operator for SemiJoin {
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
