//! The store layout of a pipeline: every path of the persistence table in
//! ARCHITECTURE.md ("Persistence") is built here, and nowhere else, with the column names
//! of the pipeline records. All paths are relative to the pipeline's scope (the store
//! view `store.at(&[pipeline name])`).
//!
//! | what | path |
//! |---|---|
//! | function results | `_result/{fn}/{output schema hash}/v{major}/{type id}` |
//! | function pipeline records | `{fn}/{output schema hash}/v{major}/{type id}/schema:{node pipeline hash}` |
//! | groups of pipeline records known to be stored | `_recorded/{fn}/{output schema hash}/v{major}/{type id}/schema:{node pipeline hash}` |
//! | operator `Log` rows | `{OpClass}/{operator content hash hex}/schema:{node pipeline hash}` |
//! | cached source rows | `source/node:{source content hash}` |
//! | run log | `_log/run_nodes` (older databases: `_log/runs`, still read) |
//! | Slurm submissions of a function | `_slurm/{fn}/{output schema hash}/v{major}/{type id}` |
//! | file hashes (`files::cache`) | `_files/sha256` |
//!
//! This module only names places; it must never read or write a store. A change here
//! moves stored data: it is a compatibility break, not a refactor.

use crate::error::Result;
use crate::function::FunctionUri;
use crate::hashing::ContentHash;

use super::RecordPath;

/// Column of a pipeline record holding the result's record id.
pub const PACKET_ID_COLUMN: &str = "__packet_id";
/// Column of a pipeline record (and of a logged operator row) holding the node's content
/// hash.
pub const NODE_CONTENT_HASH_COLUMN: &str = "_node_content_hash";
/// Column of a pipeline record telling whether the result was computed in this run.
pub const COMPUTED_COLUMN: &str = "__computed";
/// Column of a pipeline record (and of the entry-id hash) holding the input packet hash.
pub const INPUT_PACKET_HASH_COLUMN: &str = "__input_packet_hash";

/// Where a function node keeps its results and records in a store.
#[derive(Debug, Clone)]
pub struct FunctionPaths {
    /// Results keyed by input packet hash: `_result / uri…`.
    pub results: RecordPath,
    /// This node's records: `uri… / schema:{pipeline hash}`.
    pub records: RecordPath,
    /// The groups of this node's records known to be stored, by group key:
    /// `_recorded / uri… / schema:{pipeline hash}` (see
    /// [`PendingRecords`](super::PendingRecords)).
    pub recorded: RecordPath,
}

impl FunctionPaths {
    /// The reference's layout (inside the pipeline's scope) for the function of `pod`
    /// in the node of pipeline hash `node_pipeline_hash`.
    pub fn new(
        pod: &crate::function::FunctionPod,
        node_pipeline_hash: &ContentHash,
    ) -> Result<Self> {
        Self::of_uri(pod.uri(), node_pipeline_hash)
    }

    /// [`FunctionPaths::new`] from the function's URI.
    pub fn of_uri(uri: &FunctionUri, node_pipeline_hash: &ContentHash) -> Result<Self> {
        let uri = uri.components();
        let results = RecordPath::new(std::iter::once("_result".to_string()).chain(uri.clone()))?;
        let records = RecordPath::new(
            uri.into_iter()
                .chain(std::iter::once(format!("schema:{node_pipeline_hash}"))),
        )?;
        let recorded = RecordPath::new(
            std::iter::once("_recorded".to_string()).chain(records.components().iter().cloned()),
        )?;
        Ok(FunctionPaths {
            results,
            records,
            recorded,
        })
    }
}

/// Where an operator node in `CacheMode::Log` keeps its rows:
/// `{class}/{operator content hash hex}/schema:{node pipeline hash}`.
pub fn operator_log_path(
    class: &str,
    operator_content_hash: &ContentHash,
    node_pipeline_hash: &ContentHash,
) -> Result<RecordPath> {
    RecordPath::new([
        class.to_string(),
        operator_content_hash.hex(),
        format!("schema:{node_pipeline_hash}"),
    ])
}

/// Where a cached source keeps its rows: `source/node:{content hash string}`.
pub fn cached_source_path(source_content_hash: &ContentHash) -> Result<RecordPath> {
    RecordPath::new(["source".to_string(), format!("node:{source_content_hash}")])
}

/// Where the Slurm executor records, per input packet hash, the chunk that computes the
/// packet: `_slurm/{fn}/{output schema hash}/v{major}/{type id}` (keyed as the results
/// are, so a later run finds the chunks of an earlier one).
pub fn slurm_submissions_path(uri: &FunctionUri) -> Result<RecordPath> {
    RecordPath::new(std::iter::once("_slurm".to_string()).chain(uri.components()))
}

/// The cache of file hashes (`crate::files::cache`): one row per file version, keyed
/// `{size}:{mtime ns}:{inode}:{absolute path}`.
pub fn file_hashes_path() -> Result<RecordPath> {
    RecordPath::new(["_files", "sha256"])
}

/// The run log: one row per node per run, with the run's outcome.
pub fn run_log_path() -> Result<RecordPath> {
    RecordPath::new(["_log", "run_nodes"])
}

/// The first layout of the run log (no start time, outcome or retries), still read.
pub fn old_run_log_path() -> Result<RecordPath> {
    RecordPath::new(["_log", "runs"])
}
