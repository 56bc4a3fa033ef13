//! A file source's reader thread ([`read_ahead`]): reads the source's batches on a
//! thread of its own into a channel of one batch, so that a read that blocks (a pipe
//! waiting for its writer) never blocks the actor thread, and at most a batch or two of
//! the file are read ahead of what the source node has sent.
//!
//! The thread ends at the end of the file, after the first error (sent as the last
//! message), or as soon as the receiving node is gone. It never talks to an actor: it
//! calls the `wake` it is given after each batch it sends and once as it ends, so that
//! the node looks at the channel again instead of polling it on a timer.

use std::panic::{catch_unwind, AssertUnwindSafe};

use arrow::record_batch::RecordBatch;
use crossbeam_channel::{Receiver, Sender};
use orcapod::error::{Error, Result};
use orcapod::function::panic_message;
use orcapod::source::SourceReader;

/// Starts reading `reader` in batches of at most `max_rows` rows on a thread of its own;
/// the receiver gets the batches in order, then an error if reading failed, and is
/// disconnected at the end. `wake` is called after each batch is sent and once more
/// when the thread ends.
pub(crate) fn read_ahead(
    mut reader: SourceReader,
    max_rows: usize,
    wake: Box<dyn Fn() + Send>,
) -> Result<Receiver<Result<RecordBatch>>> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::Builder::new()
        .name("orcapod-source".to_string())
        .spawn(move || {
            read_into(&mut reader, max_rows, &tx, &*wake);
            // The end (or a failure) shows as the channel's disconnection: wake the
            // node once more after `tx` is gone.
            drop(tx);
            wake();
        })
        .map_err(|e| Error::internal(format!("cannot start a source's reader thread: {e}")))?;
    Ok(rx)
}

/// Sends `reader`'s batches (then its error, if any) into `tx`, calling `wake` after
/// each, until the end of the file, the first error, or the receiver hangs up.
fn read_into(
    reader: &mut SourceReader,
    max_rows: usize,
    tx: &Sender<Result<RecordBatch>>,
    wake: &dyn Fn(),
) {
    loop {
        let next = catch_unwind(AssertUnwindSafe(|| reader.next_batch(max_rows))).unwrap_or_else(
            |panic| {
                Err(Error::internal(format!(
                    "reading the source panicked: {}",
                    panic_message(&*panic)
                )))
            },
        );
        let last = !matches!(next, Ok(Some(_)));
        let sent = match next.transpose() {
            Some(message) => tx.send(message).is_ok(),
            None => false,
        };
        if sent {
            wake();
        }
        if last || !sent {
            return;
        }
    }
}
