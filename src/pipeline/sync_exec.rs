//! The synchronous, pull-based executor: the reference model for the actor runtime.
//!
//! Asking for a node's output computes (once) the outputs it depends on and nothing
//! else. Operators are driven with [`run_to_completion`], whole streams at a time. This
//! executor must stay simple enough to be obviously correct: the actor runtime is
//! tested against it.

use std::collections::HashMap;

use super::{NodeKind, Pipeline};
use crate::error::{Error, Result};
use crate::model::Stream;
use crate::operator::run_to_completion;

/// Runs a pipeline in the calling thread, memoising every node's output.
#[derive(Debug)]
pub struct SyncExecutor<'p> {
    pipeline: &'p Pipeline,
    outputs: HashMap<usize, Stream>,
}

impl<'p> SyncExecutor<'p> {
    /// An executor over `pipeline` that has computed nothing yet.
    pub fn new(pipeline: &'p Pipeline) -> Self {
        SyncExecutor {
            pipeline,
            outputs: HashMap::new(),
        }
    }

    /// The output of the node called `name`, computing what it needs.
    pub fn output(&mut self, name: &str) -> Result<&Stream> {
        let index = self.pipeline.index_of(name).ok_or_else(|| Error::Plan {
            pipeline: self.pipeline.name().to_string(),
            message: format!("there is no node `{name}`"),
        })?;
        self.compute(index)?;
        Ok(&self.outputs[&index])
    }

    /// Computes every node and returns all outputs by node name.
    pub fn run_all(mut self) -> Result<HashMap<String, Stream>> {
        for index in 0..self.pipeline.nodes().len() {
            self.compute(index)?;
        }
        let pipeline = self.pipeline;
        Ok(self
            .outputs
            .into_iter()
            .map(|(i, s)| (pipeline.nodes()[i].name().to_string(), s))
            .collect())
    }

    fn compute(&mut self, index: usize) -> Result<()> {
        if self.outputs.contains_key(&index) {
            return Ok(());
        }
        let node = &self.pipeline.nodes()[index];
        // Inputs come before their readers, so this recursion is bounded by the depth.
        for &input in node.inputs() {
            self.compute(input)?;
        }
        let stream = match node.kind() {
            NodeKind::Source(source) => source.stream().clone(),
            NodeKind::Operator(_) => {
                let mut operator = self
                    .pipeline
                    .instantiate(index)?
                    .ok_or_else(|| Error::internal("an operator node built no operator"))?;
                let inputs: Vec<&Stream> = node.inputs().iter().map(|i| &self.outputs[i]).collect();
                run_to_completion(operator.as_mut(), &inputs).map_err(|e| e.at_node(node.name()))?
            }
        };
        self.outputs.insert(index, stream);
        Ok(())
    }
}
