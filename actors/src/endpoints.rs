//! The ends of a running pipeline: what a source node emits next ([`next_source_batch`])
//! and how a collector hands rows to a subscriber ([`forward`]).
//!
//! Both work on the fields of the node's role and never wait: an empty feed or a full
//! subscriber channel is reported to the node actor, which polls again later. This
//! module must never block, reorder rows, nor send anything to an actor.

use std::collections::VecDeque;

use arrow::record_batch::RecordBatch;
use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError};

/// What a source emits next.
pub(crate) enum SourceStep {
    /// This batch (at most the maximum rows).
    Batch(RecordBatch),
    /// Nothing yet: the feed is empty but open.
    Wait,
    /// Nothing any more: the source has ended.
    Exhausted,
}

/// The next batch of a source: its fixed `batches` first, one slice of at most `max`
/// rows at a time (the rest stays in the source until credit allows), then what its
/// `feed` has received.
pub(crate) fn next_source_batch(
    batches: &mut VecDeque<RecordBatch>,
    feed: Option<&Receiver<RecordBatch>>,
    max: usize,
) -> SourceStep {
    if let Some(batch) = batches.pop_front() {
        if batch.num_rows() > max {
            batches.push_front(batch.slice(max, batch.num_rows() - max));
            SourceStep::Batch(batch.slice(0, max))
        } else {
            SourceStep::Batch(batch)
        }
    } else if let Some(rx) = feed {
        match rx.try_recv() {
            Ok(batch) => SourceStep::Batch(batch),
            Err(TryRecvError::Empty) => SourceStep::Wait,
            Err(TryRecvError::Disconnected) => SourceStep::Exhausted,
        }
    } else {
        SourceStep::Exhausted
    }
}

/// Sends the `blocked` batches to the `subscriber`, in order, as far as its channel
/// takes them; false when the channel is full (the rest stays blocked). A subscriber
/// that hung up is dropped, with what was waiting for it.
pub(crate) fn forward(
    subscriber: &mut Option<Sender<RecordBatch>>,
    blocked: &mut VecDeque<RecordBatch>,
) -> bool {
    let Some(tx) = subscriber.clone() else {
        return true;
    };
    while let Some(batch) = blocked.pop_front() {
        match tx.try_send(batch) {
            Ok(()) => {}
            Err(TrySendError::Full(batch)) => {
                blocked.push_front(batch);
                return false;
            }
            // Nobody listens any more: drop the rest, keep running.
            Err(TrySendError::Disconnected(_)) => {
                blocked.clear();
                *subscriber = None;
            }
        }
    }
    true
}
