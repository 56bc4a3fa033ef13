//! Hashing and identity: the only place in orcapod where hashes are computed.
//!
//! Every object has two identities (reference §5):
//! - the **content hash**, which includes data or source identity, and
//! - the **pipeline hash**, which covers schema and topology only.
//!
//! Both are semantic hashes (`semantic_v0.1`) of an *identity structure* — a [`Value`]
//! tree — built by the functions in [`identity`]. Table data is hashed with the Arrow
//! hasher (`arrow_v0.1`, [`arrow`]). Hashes must be stable across runs, processes and
//! machines and equal to the reference's, because they name system-tag columns and
//! database paths. Nothing here depends on an executor, a batch boundary or a clock.
//!
//! [`in_memory`] is the one exception to "hashes are compatibility promises": it holds
//! the hashers of in-process hash tables, whose values never leave memory.

pub mod arrow;
pub(crate) mod content_hash;
pub mod identity;
pub mod in_memory;
pub mod python_type;
pub mod semantic;

pub use content_hash::ContentHash;
pub use semantic::{hash_str, hash_value, Value};

/// Characters of a pipeline hash used in system-tag column names.
pub const SYSTEM_TAG_HASH_CHARS: usize = 12;
/// Characters of an Arrow table hash used for a default source id.
pub const PATH_HASH_CHARS: usize = 20;
