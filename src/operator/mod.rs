//! Operators: pure, synchronous state machines that restructure streams.
//!
//! An operator is described by an [`OperatorSpec`] (the operator and its arguments:
//! what pipeline files name and what identity hashes cover) and built, for concrete
//! inputs, into a running [`Operator`]: push a batch on an input port, signal the end of
//! an input, take finished output batches. Building validates the inputs and predicts
//! the output schema; every batch an operator emits has exactly that schema.
//!
//! Operators never invent packet values: they select, rename, combine, filter and
//! regroup the values and provenance they are given. They never spawn, block, sleep or
//! read a clock; the synchronous executor and the actor runtime drive them the same way,
//! which is why both give the same rows.
//!
//! Streaming strategy of each operator (what an actor wrapping it can emit early):
//!
//! | operator | strategy |
//! |---|---|
//! | select/drop/map tags and packets, filter | per batch: each input batch gives an output batch at once |
//! | join (2+ inputs), merge_join | symmetric hash join: each side is indexed as it arrives and every match is emitted as soon as both rows exist |
//! | semi_join | build–probe: the right side is collected; left rows wait only until it has ended, then stream |
//! | batch (`batch_size > 0`) | accumulate and emit each full group; the partial group at the end |
//! | batch (`batch_size = 0`) | barrier: one row of everything at the end |

mod batch;
mod checks;
mod columns;
mod filter;
mod join;
mod keys;
mod semi_join;
mod spec;
mod system_tags;

use std::sync::Arc;

use arrow::record_batch::RecordBatch;

use crate::error::Result;
use crate::hashing::ContentHash;
use crate::model::StreamSchema;

pub use filter::{FilterOp, Predicate};
pub use spec::OperatorSpec;

/// What an operator knows about one of its inputs when it is built.
#[derive(Debug, Clone)]
pub struct InputInfo {
    /// The input stream's schema.
    pub schema: Arc<StreamSchema>,
    /// The input stream's pipeline hash (names extended system tags in joins).
    pub pipeline_hash: ContentHash,
}

/// A running operator: a synchronous state machine over Arrow batches.
///
/// Protocol: any number of [`push`](Operator::push) calls per port, then exactly one
/// [`finish`](Operator::finish) per port; [`take_output`](Operator::take_output) may be
/// called at any time and returns what is ready. After every port has finished, one
/// more `take_output` returns everything that remains.
pub trait Operator: Send {
    /// The schema of every batch this operator emits.
    fn output_schema(&self) -> &Arc<StreamSchema>;

    /// Accepts a batch on input `port` (its schema is that input's schema).
    fn push(&mut self, port: usize, batch: RecordBatch) -> Result<()>;

    /// Signals that input `port` has no more batches.
    fn finish(&mut self, port: usize) -> Result<()>;

    /// Takes the output batches that are ready (possibly none).
    fn take_output(&mut self) -> Vec<RecordBatch>;
}

/// Drives an operator over whole streams, one batch at a time per input in turn, and
/// collects its output: the simplest correct schedule, used by the synchronous executor.
pub fn run_to_completion(
    operator: &mut dyn Operator,
    inputs: &[&crate::model::Stream],
) -> Result<crate::model::Stream> {
    let mut out = Vec::new();
    let longest = inputs.iter().map(|s| s.batches().len()).max().unwrap_or(0);
    for i in 0..longest {
        for (port, input) in inputs.iter().enumerate() {
            if let Some(batch) = input.batches().get(i) {
                operator.push(port, batch.clone())?;
                out.extend(operator.take_output());
            }
        }
    }
    for port in 0..inputs.len() {
        operator.finish(port)?;
        out.extend(operator.take_output());
    }
    crate::model::Stream::new(operator.output_schema().clone(), out)
}
