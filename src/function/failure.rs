//! What a function node reports about its packets: per-node counts
//! ([`PacketCounts`]), failed packets ([`PacketFailure`]) and, in lookup-only mode, what
//! it could not serve ([`MissingResults`]); and the error a failed packet becomes under
//! fail-fast ([`packet_failed`]).
//!
//! Plain values only: this module never computes, stores or decides a policy.

use super::FunctionError;
use crate::error::Error;
use crate::model::Datum;

/// A packet whose computation failed.
#[derive(Debug, Clone, PartialEq)]
pub struct PacketFailure {
    /// The input packet's content hash.
    pub input_hash: String,
    /// The user tags of the first row carrying the packet.
    pub tag: Vec<(String, Datum)>,
    /// What went wrong.
    pub error: FunctionError,
}

impl PacketFailure {
    /// The failure as a fail-fast error of function `function`.
    pub fn to_error(&self, function: &str) -> Error {
        packet_failed(function, self)
    }
}

/// Per-node packet counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PacketCounts {
    /// Rows served from stored or earlier results.
    pub cached: u64,
    /// Packets computed in this run.
    pub computed: u64,
    /// Packets that failed (after their retries).
    pub failed: u64,
    /// Retries: packets computed again after a failed attempt (each attempt counts).
    pub retried: u64,
}

/// What a lookup-only function node could not serve: packets without a stored result
/// (never computed, or failed), and the input rows that carried them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MissingResults {
    /// Distinct input packets with no stored result.
    pub packets: u64,
    /// Input rows dropped because their packet has no stored result.
    pub rows: u64,
}

/// The error for a failed packet under fail-fast.
pub(crate) fn packet_failed(function: &str, failure: &PacketFailure) -> Error {
    let tag = if failure.tag.is_empty() {
        String::new()
    } else {
        let parts: Vec<String> = failure
            .tag
            .iter()
            .map(|(k, v)| format!("{k}={}", v.python_str()))
            .collect();
        format!(" ({})", parts.join(", "))
    };
    let stderr = match &failure.error.stderr {
        Some(s) if !s.trim().is_empty() => format!("\nstderr:\n{}", s.trim_end()),
        _ => String::new(),
    };
    Error::PacketFailed {
        function: function.to_string(),
        tag,
        message: failure.error.message.clone(),
        stderr,
    }
}
