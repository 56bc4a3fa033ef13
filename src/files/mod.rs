//! Files and directories as values (`file` and `dir` columns).
//!
//! A value names a file or a directory by its path, but its identity is its content: a
//! file's is the SHA-256 of its bytes, a directory's a Merkle hash of its entries, both
//! as the reference's `orcapod.File` and `orcapod.Directory` (orcapod 0.1.4). So a
//! function's cached results survive moving or renaming the data, and editing a file
//! recomputes only what depends on it.
//!
//! - `kind`: how the values are carried in Arrow (a struct of the path).
//! - `digest`: file and directory hashes, read from the file system.
//! - `cache`: the cache of file hashes (memory and store) and its counters.
//! - `content`: a packet batch's content image, and the packet hasher built on it.
//! - `request`: values as a function sees them (absolute paths).
//! - `outputs`: files written by functions (`ORCAPOD_OUT_DIR`), moved into the store's
//!   content-addressed `files/` area.
//!
//! Nothing here decides what a node computes; the function node asks
//! [`PacketHasher`] for its input packets' hashes.

pub mod cache;
pub mod content;
pub mod digest;
pub mod kind;
pub mod outputs;
pub mod request;

pub use cache::{file_hashes, FileHashes, HashCounts, StoreUse};
pub use content::{content_batch, content_schema, content_tokens, PacketHasher};
pub use kind::{path_array, path_at, PathKind};
pub use outputs::{OutputArea, Scratch, OUT_DIR_VAR};
pub use request::function_value;
