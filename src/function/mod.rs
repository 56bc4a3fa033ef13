//! Packet functions: user code that computes a new packet from each input packet.
//!
//! A [`PacketFunction`] declares its identity (name, major version, type id) and its
//! input and output schemas, and starts [`FunctionWorker`]s that compute packets one at
//! a time. Workers are where the work happens: a Rust closure ([`closure`]) or a
//! long-lived external command speaking JSON Lines ([`command`]). The runtime decides
//! how many workers run at once and on which threads; this module never spawns a thread.
//!
//! Identity (reference §5.3, §7): the function's URI is
//! `(name, output schema hash string, "v{major}", type id)`; the function body is not
//! part of it, so changing a function's behaviour requires bumping its major version.

pub mod closure;
pub mod command;
mod json;
pub mod node;
mod pod;

use arrow::datatypes::FieldRef;

use crate::model::Datum;

pub use json::{
    datum_from_json, datum_to_json, datum_to_json_with, non_finite_text, NonFiniteFloats,
};
pub use pod::{FunctionPod, FunctionUri};

/// Why one packet could not be computed. Failures are per packet: under the continue
/// policy the other packets go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FunctionError {
    /// What went wrong.
    pub message: String,
    /// What the function wrote to stderr around the failure, if anything.
    pub stderr: Option<String>,
}

impl FunctionError {
    /// A failure with a message only.
    pub fn new(message: impl Into<String>) -> Self {
        FunctionError {
            message: message.into(),
            stderr: None,
        }
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
}

/// Something that computes packets, one at a time.
pub trait FunctionWorker: Send {
    /// Computes the output values (aligned with the output schema) for one input packet
    /// given as (column, value) pairs in input-schema order.
    fn call(&mut self, packet: &[(String, Datum)]) -> Result<Vec<Datum>, FunctionError>;
}

/// Runs `worker` on one packet, turning a panic of user code into a failure of that
/// packet (the panic never escapes).
pub fn call_catching_panics(
    worker: &mut dyn FunctionWorker,
    packet: &[(String, Datum)],
) -> Result<Vec<Datum>, FunctionError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| worker.call(packet))).unwrap_or_else(
        |panic| {
            Err(FunctionError::new(format!(
                "panicked: {}",
                panic_message(&*panic)
            )))
        },
    )
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
