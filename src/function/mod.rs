//! Packet functions: user code that computes a new packet from each input packet.
//!
//! A [`PacketFunction`] declares its identity (name, major version, type id) and its
//! input and output schemas, and starts [`FunctionWorker`]s that compute packets one at
//! a time. Workers are where the work happens: a Rust closure ([`closure`]) or a
//! long-lived external command speaking JSON Lines ([`command`]; the protocol itself,
//! without any I/O, is in [`jsonl`]). The runtime decides how many workers run at once
//! and on which threads; this module never spawns a thread.
//!
//! Identity (reference §5.3, §7): the function's URI is
//! `(name, output schema hash string, "v{major}", type id)`; the function body is not
//! part of it, so changing a function's behaviour requires bumping its major version.

pub mod closure;
pub mod command;
mod emit;
mod failure;
mod job;
pub(crate) use job::source_info_columns;
mod json;
pub mod jsonl;
mod known;
pub mod node;
mod pod;
mod prepare;
mod recording;
pub mod runner;
pub mod slurm;
mod stored;

use arrow::datatypes::FieldRef;

use crate::model::Datum;

pub use closure::{ClosureFunction, PacketClosure};
pub use command::{kill_all_commands, CommandFunction, CommandWorker, Protocol};
pub(crate) use failure::packet_failed;
pub use failure::{MissingResults, PacketCounts, PacketFailure};
pub use job::{Completed, Job, PacketBuffer, PacketResult};
pub use json::{
    datum_from_json, datum_to_json, datum_to_json_with, non_finite_text, NonFiniteFloats,
};
pub use node::FunctionNode;
pub use pod::{FunctionPod, FunctionUri, MAX_CONCURRENCY};
pub use prepare::PushPreparer;
pub use runner::{JobEnd, JobRunner, RunnerHost, MAX_RERUNS};
pub use stored::PreparedPush;

/// Why one packet could not be computed. Failures are per packet: under the continue
/// policy the other packets go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FunctionError {
    /// What went wrong.
    pub message: String,
    /// What the function wrote to stderr around the failure, if anything.
    pub stderr: Option<String>,
    /// The packet was not shown to be computed wrongly: its answer was lost or could not
    /// be confirmed because of *another* packet (e.g. the command was killed when a later
    /// packet of the same session timed out). A driver may compute it again at once,
    /// without counting a retry.
    pub rerun: bool,
}

impl FunctionError {
    /// A failure with a message only.
    pub fn new(message: impl Into<String>) -> Self {
        FunctionError {
            message: message.into(),
            stderr: None,
            rerun: false,
        }
    }

    /// The same failure, marked as free to compute again (see [`FunctionError::rerun`]).
    pub fn for_rerun(mut self) -> Self {
        self.rerun = true;
        self
    }
}

/// A function from one packet to one packet, with a declared identity and schemas.
pub trait PacketFunction: Send + Sync {
    /// The canonical function name (part of the identity).
    fn name(&self) -> &str;

    /// The version, e.g. `v1.2`; only the major number enters the identity.
    fn version(&self) -> &str;

    /// The kind of function (part of the identity), e.g. `rust.closure.v0`.
    fn type_id(&self) -> &str;

    /// The parameters: one field per input packet column (a nullable field accepts
    /// nulls).
    fn input_schema(&self) -> &[FieldRef];

    /// The output packet columns, in order.
    fn output_schema(&self) -> &[FieldRef];

    /// Starts a worker. A worker computes one packet at a time; the runtime may start
    /// several (up to a node's `max_concurrency`) and call them from different threads.
    fn start_worker(&self) -> Result<Box<dyn FunctionWorker>, FunctionError>;

    /// The command, when this function is a command function (which an executor other
    /// than this process's threads, such as Slurm, can run elsewhere).
    fn as_command(&self) -> Option<&CommandFunction> {
        None
    }
}

/// Something that computes packets, one at a time.
///
/// # Provisional answers
///
/// Some workers cannot prove, when `call` returns, that an answer belongs to the packet
/// it was returned for: a command speaking plain JSON Lines may still write an extra
/// line that shows every later answer to be out of step. Their answers are
/// *provisional* until [`settle`](FunctionWorker::settle) proves them (or disproves them
/// all). A driver must never store or emit an answer before the `settle` that follows
/// it has returned `Ok`. Workers whose answers are certain (closures, commands speaking
/// `jsonl-id`) keep the defaults: `settle` always succeeds and `wants_settle` is always
/// true, so their results flow one by one.
pub trait FunctionWorker: Send {
    /// Computes the output values (aligned with the output schema) for one input packet
    /// given as (column, value) pairs in input-schema order. An `Ok` is provisional
    /// until the next successful [`settle`](FunctionWorker::settle).
    fn call(&mut self, packet: &[(String, Datum)]) -> Result<Vec<Datum>, FunctionError>;

    /// Proves every answer `call` returned since the previous settle (`Ok`), or
    /// disproves them all: then each of those packets fails with the returned error,
    /// and none of their answers may be stored. Failures `call` returned stay failures
    /// either way.
    fn settle(&mut self) -> Result<(), FunctionError> {
        Ok(())
    }

    /// Whether the driver should settle now rather than after more packets (e.g. the
    /// provisional answers have waited long enough). Drivers always settle at the end
    /// of a job as well.
    fn wants_settle(&self) -> bool {
        true
    }
}

/// The first retry of a packet waits this long; each further retry waits twice as long.
pub const RETRY_BACKOFF_START: std::time::Duration = std::time::Duration::from_secs(1);

/// No retry waits longer than this.
pub const RETRY_BACKOFF_MAX: std::time::Duration = std::time::Duration::from_secs(60);

/// How long to wait before retry number `retry` (1 for the first retry) of a packet:
/// 1 s, doubling, capped at 60 s.
pub fn retry_backoff(retry: u32) -> std::time::Duration {
    let doublings = retry.saturating_sub(1).min(16);
    RETRY_BACKOFF_START
        .saturating_mul(1u32 << doublings)
        .min(RETRY_BACKOFF_MAX)
}

/// Runs `worker` on one packet, turning a panic of user code into a failure of that
/// packet (the panic never escapes).
pub(crate) fn call_catching_panics(
    worker: &mut dyn FunctionWorker,
    packet: &[(String, Datum)],
) -> Result<Vec<Datum>, FunctionError> {
    catching_panics("panicked", || worker.call(packet))
}

/// Runs `f` (user code), turning a panic into a failure whose message is `what`, a colon
/// and the panic's message (the panic never escapes).
pub(crate) fn catching_panics<T>(
    what: &str,
    f: impl FnOnce() -> Result<T, FunctionError>,
) -> Result<T, FunctionError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        Err(FunctionError::new(format!(
            "{what}: {}",
            panic_message(&*panic)
        )))
    })
}

/// The message of a caught panic.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::retry_backoff;

    #[test]
    fn backoff_doubles_from_one_second_and_is_capped_at_a_minute() {
        let waits: Vec<u64> = (1..=8).map(|r| retry_backoff(r).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(retry_backoff(u32::MAX), Duration::from_secs(60));
    }
}
