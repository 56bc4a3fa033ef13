//! A function node as its actor drives it: rows go in and their jobs to the worker pool
//! ([`push`]), and after each step the actor takes what the node has settled
//! ([`take_step`]): rows for the consumers, writes for the store, failed packets.
//!
//! These functions only move values between the [`FunctionNode`] state machine, its
//! [`Pool`] and the actor: they must never send a message, apply the error policy
//! (the actor does) nor write to the store.

use arrow::record_batch::RecordBatch;
use orcapod::function::FunctionNode;
use orcapod::function::PacketFailure;

use crate::messages::StoreWrites;
use crate::pools::Pool;

/// What one step of a function node hands out.
pub(crate) struct StepOutput {
    /// Rows for the consumers.
    pub outputs: Vec<RecordBatch>,
    /// Results with the records naming them, to be stored together (the records are
    /// keyed, a hash per row, on the store-writer thread); none when nothing is new.
    pub writes: Option<StoreWrites>,
    /// Packets that failed for good since the last step.
    pub failures: Vec<PacketFailure>,
    /// The function's name, for the error of a failed packet.
    pub function: String,
}

/// Pushes `batch` into the node; the jobs it makes go to `pool` (once started).
pub(crate) fn push(
    state: &mut FunctionNode,
    pool: Option<&mut Pool>,
    batch: RecordBatch,
) -> orcapod::Result<()> {
    let jobs = state.push(batch)?;
    if let Some(pool) = pool {
        pool.dispatch(jobs);
    }
    Ok(())
}

/// Takes what the node settled since the last step. The failures are taken even when
/// taking the rest fails.
pub(crate) fn take_step(state: &mut FunctionNode) -> orcapod::Result<StepOutput> {
    let taken = state
        .take_output()
        .and_then(|outputs| Ok((outputs, state.take_writes_deferred()?)));
    let failures = state.take_failures();
    let function = state.pod().uri().name.clone();
    let (outputs, (writes, records)) = taken?;
    let writes = StoreWrites {
        writes,
        records,
        owners: Vec::new(),
    };
    Ok(StepOutput {
        outputs,
        writes: (!writes.is_empty()).then_some(writes),
        failures,
        function,
    })
}
