//! orcapod: reproducible, content-addressed data pipelines over Arrow — the pure core.
//!
//! Data flows as (Tag, Packet) rows in Arrow record batches ([`model`]). Sources
//! ([`source`]) stamp provenance on every row; identity hashing ([`hashing`]) gives every
//! object a content hash and a pipeline hash compatible with the reference Python
//! implementation. Results are written out ([`export`]) as JSON, CSV or Arrow files in one
//! canonical row order.
//!
//! This crate never spawns a thread, never blocks on a channel and never reads a clock:
//! the actor runtime (`orcapod-actors`) drives it.

#![warn(missing_docs)]

pub mod error;
pub mod exec;
pub mod export;
pub mod files;
pub mod function;
pub mod hashing;
pub mod model;
pub mod operator;
pub mod pipeline;
pub mod pipeline_file;
pub mod source;
pub mod store;

pub use error::{Error, Result};
pub use hashing::ContentHash;
