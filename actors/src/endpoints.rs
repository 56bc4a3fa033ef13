//! The ends of a running pipeline: what a source node emits next ([`next_source_batch`])
//! and how a collector hands rows to a subscriber ([`forward`]).
//!
//! Both work on the fields of the node's role and never wait: an empty feed, a file
//! source whose next batch is not read yet, or a full subscriber channel is reported to
//! the node actor, which polls again later (a file source's reader wakes it instead).
//! A file source is read on its own thread ([`read_ahead`]), started at its first pull,
//! one batch ahead. This module must never block, reorder rows, nor send anything to
//! an actor.

use std::collections::VecDeque;

use arrow::record_batch::RecordBatch;
use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError};
use orcapod::source::SourceReader;

use crate::source_thread::read_ahead;

/// Where a source's rows come from.
pub(crate) enum SourceRows {
    /// Rows in memory, sliced on the actor's thread (never blocks).
    Memory(SourceReader),
    /// A file, read on a thread of its own once the first batch is asked for.
    File {
        reader: Option<SourceReader>,
        read: Option<Receiver<orcapod::error::Result<RecordBatch>>>,
    },
    /// A live feed ([`RunOptions::feed`](crate::RunOptions::feed)).
    Fed(Receiver<RecordBatch>),
}

impl SourceRows {
    /// The rows of a source node: its `feed` if it is fed, else what `reader` reads.
    pub(crate) fn new(reader: SourceReader, feed: Option<Receiver<RecordBatch>>) -> SourceRows {
        match feed {
            Some(feed) => SourceRows::Fed(feed),
            None if reader.reads_file() => SourceRows::File {
                reader: Some(reader),
                read: None,
            },
            None => SourceRows::Memory(reader),
        }
    }
}

/// What a source emits next.
pub(crate) enum SourceStep {
    /// This batch (at most the maximum rows).
    Batch(RecordBatch),
    /// Nothing yet: the feed is empty but open, or the file's next batch is being read.
    Wait,
    /// Nothing any more: the source has ended.
    Exhausted,
    /// Reading the source failed (the file and, for CSV, the line are named).
    Failed(String),
}

/// The next batch of a source, of at most `max` rows (the rest stays in the source, or
/// in its file, until credit allows).
///
/// A file source's thread is started at the first call, with the `wake` it calls after
/// each batch it sends and when it ends: a file source that answered
/// [`SourceStep::Wait`] needs no polling.
pub(crate) fn next_source_batch(
    rows: &mut SourceRows,
    max: usize,
    wake: impl FnOnce() -> Box<dyn Fn() + Send>,
) -> SourceStep {
    let received = match rows {
        SourceRows::Memory(reader) => {
            return match reader.next_batch(max) {
                Ok(Some(batch)) => SourceStep::Batch(batch),
                Ok(None) => SourceStep::Exhausted,
                Err(e) => SourceStep::Failed(e.to_string()),
            }
        }
        SourceRows::Fed(rx) => rx.try_recv().map(Ok),
        SourceRows::File { reader, read } => {
            if let Some(reader) = reader.take() {
                match read_ahead(reader, max, wake()) {
                    Ok(rx) => *read = Some(rx),
                    Err(e) => return SourceStep::Failed(e.to_string()),
                }
            }
            match read {
                Some(rx) => rx.try_recv(),
                None => Err(TryRecvError::Disconnected),
            }
        }
    };
    match received {
        Ok(Ok(batch)) => SourceStep::Batch(batch),
        Ok(Err(e)) => SourceStep::Failed(e.to_string()),
        Err(TryRecvError::Empty) => SourceStep::Wait,
        Err(TryRecvError::Disconnected) => SourceStep::Exhausted,
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
