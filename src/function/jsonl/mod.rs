//! The JSON Lines protocol of command functions, without any I/O.
//!
//! This module knows how a request line is written, how a byte stream is cut into
//! lines, and what an answer line says about its packet; it never reads, writes, waits
//! or looks at a clock. [`CommandWorker`](super::command::CommandWorker) drives it over
//! a live process's pipes; anything else that holds a command's output as bytes (e.g. a
//! file written by a batch job) can reuse it to pair answers with requests.
//!
//! - [`write_request`]: one packet as one line, a compact JSON object keyed by column
//!   (with `"$id"` first under `jsonl-id`). Values are written as [`datum_to_json`]
//!   writes them, byte for byte as `serde_json` would, except the floats JSON numbers
//!   cannot hold: they are written as Python's `json` module writes them, the bare
//!   tokens `NaN`, `Infinity` and `-Infinity`.
//! - [`LineFramer`]: bytes in, lines out. Lines that are empty or only whitespace are
//!   skipped; a line longer than the limit is an error.
//! - [`read_reply`]: one answer line against the output schema. Besides standard JSON
//!   it accepts the bare tokens `NaN`, `Infinity` and `-Infinity` (as Python writes
//!   them) where, and only where, a float is expected.
//!
//!
//! Files: `request.rs` (request lines), `framer.rs` (lines of a byte stream),
//! `reply.rs` (answer lines read against the output schema) and `python_json.rs`
//! (JSON with Python's non-finite tokens, which `reply.rs` reads).
//!
//! [`datum_to_json`]: super::datum_to_json

mod framer;
mod python_json;
mod reply;
mod request;

pub use framer::{clip, is_blank, LineFramer, LineTooLong};
pub use reply::{read_reply, reply_id, Reply};
pub use request::{python_non_finite, write_request, ERROR_KEY, ID_KEY};

#[cfg(test)]
mod tests;
