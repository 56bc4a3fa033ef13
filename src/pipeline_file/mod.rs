//! Pipeline files: the YAML (or JSON) format that `orcapod run` reads, compiled into a
//! validated [`Pipeline`](crate::pipeline::Pipeline).
//!
//! The format is a contract (`pipeline-spec.md`): `sources:` and `nodes:` by name, in
//! any order, each node with an `op`, its inputs and its arguments (inline or under
//! `args:`), plus `pipeline`, `on_error` and `outputs`. [`PipelineFile::load`] reads a
//! file, checks it completely — unknown keys, ops and arguments, inputs that name
//! nothing, cycles, the sources' files and every schema — and returns either a
//! compiled pipeline or one [`FileError`] that names the file, the line and column,
//! and the source or node concerned.
//!
//! Loading checks the sources' files (and, for a derived source, reads the file it
//! derives from and that file's existing database) but never writes anything and never
//! starts a command: a file that fails here has changed nothing. It reads no more of a
//! source's file than it must, and never holds it whole: a CSV file's header when every
//! column's type is declared, else one pass to infer the types; an Arrow or Parquet
//! file's schema. The rows are read when the pipeline runs (see
//! [`Source`](crate::source::Source)). Paths in the file (sources,
//! command programs) are relative to the file's directory, which is also where
//! command functions run.
//!
//! Extensions beyond the contract: a source may be `{parquet: FILE, ...}`, a Parquet
//! file, with the settings of an `arrow:` source (`tags`, `source_id`,
//! `record_id_column`, `cached`, `types`), read row group by row group (see
//! [`Source::from_parquet`](crate::source::Source::from_parquet)); a source may be
//! `{derived: NODE, from: FILE}`, the stored results of a node of another pipeline file
//! (provenance kept); a source may
//! say `cached: true` (a cached source,
//! see [`PipelineBuilder::cached_source`](crate::pipeline::PipelineBuilder::cached_source)); an operator node may say
//! `cache: off|log|replay` (see [`CacheMode`](crate::pipeline::CacheMode)); `output_types` accepts `T | None` for a
//! nullable output; a function node may say `timeout` (command functions only),
//! `retries` and `protocol: jsonl|jsonl-id` (command functions only), and a top-level
//! `defaults:` mapping gives every function node a `timeout`, `retries` and
//! `max_concurrency` unless the node gives its own; a file source may say
//! `types: {column: type}` (see [`SourceOptions::types`](crate::source::SourceOptions::types)),
//! and what inferred types lost is kept as [`PipelineFile::warnings`]. `max_concurrency` is at most
//! [`MAX_CONCURRENCY`], `retries` at most [`MAX_RETRIES`]. None of these settings
//! enters any hash.
//!
//! The way in: `yaml` reads the text into a tree of `value`s (every scalar with the text
//! it was written with, every key with its position); `raw` splits the top level into
//! its known keys; `args` reads an entry's settings key by key; `compile` checks and
//! builds, reporting through `error`; `suggest` finds the "did you mean" of an unknown
//! word; `types` parses type names. What a caller holds afterwards is a `file`
//! ([`PipelineFile`]); `builtins` is the registry of functions files may name.

mod args;
mod builtins;
mod compile;
mod error;
mod file;
mod raw;
mod suggest;
mod types;
mod value;
mod yaml;

pub use args::{MAX_CONCURRENCY, MAX_RETRIES, MAX_TIMEOUT};
pub use builtins::{BuiltinFactory, BuiltinRequest, Builtins};
pub use error::{FileError, FileWarning, Subject};
pub use file::{CommandCheck, PipelineFile};
pub use types::parse_type;
pub use value::Position;
