//! Pipeline files: the YAML (or JSON) format that `orcapod run` reads, compiled into a
//! validated [`Pipeline`].
//!
//! The format is a contract (`pipeline-spec.md`): `sources:` and `nodes:` by name, in
//! any order, each node with an `op`, its inputs and its arguments (inline or under
//! `args:`), plus `pipeline`, `on_error` and `outputs`. [`PipelineFile::load`] reads a
//! file, checks it completely — unknown keys, ops and arguments, inputs that name
//! nothing, cycles, the sources' files and every schema — and returns either a
//! compiled pipeline or one [`FileError`] that names the file, the line and column,
//! and the source or node concerned.
//!
//! Loading reads the sources' files (and, for a derived source, the file it derives from
//! and that file's existing database) but never writes anything and never starts a
//! command: a file that fails here has changed nothing. Paths in the file (sources,
//! command programs) are relative to the file's directory, which is also where
//! command functions run.
//!
//! Extensions beyond the contract: a source may be `{derived: NODE, from: FILE}`, the
//! stored results of a node of another pipeline file (provenance kept); a source may
//! say `cached: true` (a cached source,
//! see [`PipelineBuilder::cached_source`]); an operator node may say
//! `cache: off|log|replay` (see [`CacheMode`]); `output_types` accepts `T | None` for a
//! nullable output; a function node may say `timeout` (command functions only),
//! `retries` and `protocol: jsonl|jsonl-id` (command functions only), and a top-level
//! `defaults:` mapping gives every function node a `timeout`, `retries` and
//! `max_concurrency` unless the node gives its own; a file source may say
//! `types: {column: type}` (see [`SourceOptions::types`](crate::source::SourceOptions::types)),
//! and what inferred types lost is kept as [`PipelineFile::warnings`]. `max_concurrency` is at most
//! [`MAX_CONCURRENCY`], `retries` at most [`MAX_RETRIES`]. None of these settings
//! enters any hash.

mod args;
mod compile;
mod raw;
mod types;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use args::{MAX_CONCURRENCY, MAX_RETRIES, MAX_TIMEOUT};
pub use raw::Position;
pub use types::parse_type;

use arrow::datatypes::FieldRef;

use crate::function::command::Protocol;
use crate::function::PacketFunction;
use crate::pipeline::{CacheMode, ErrorPolicy, Pipeline};

/// What a function node asks of a builtin.
#[derive(Debug, Clone, Copy)]
pub struct BuiltinRequest<'a> {
    /// The identity name the node gives the function (`function_name`, default the
    /// node's name).
    pub function_name: &'a str,
    /// The version the node asks for (`version`, default `v0.0`).
    pub version: &'a str,
    /// The packet columns of the node's input: what the function will be given.
    pub input: &'a [FieldRef],
}

/// Makes a builtin function for one node, or says why it cannot take that input.
pub type BuiltinFactory =
    dyn Fn(&BuiltinRequest<'_>) -> Result<Arc<dyn PacketFunction>, String> + Send + Sync;

/// Functions that pipeline files may name with `builtin: NAME`: registered by the
/// program embedding orcapod (the `orcapod` command line registers a few of its own).
#[derive(Clone, Default)]
pub struct Builtins {
    entries: BTreeMap<String, (String, Arc<BuiltinFactory>)>,
}

impl fmt::Debug for Builtins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.entries.keys()).finish()
    }
}

impl Builtins {
    /// No builtins.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `name`, described by `doc`; `factory` makes the function for one node.
    pub fn register(
        &mut self,
        name: impl Into<String>,
        doc: impl Into<String>,
        factory: impl Fn(&BuiltinRequest<'_>) -> Result<Arc<dyn PacketFunction>, String>
            + Send
            + Sync
            + 'static,
    ) -> &mut Self {
        self.entries
            .insert(name.into(), (doc.into(), Arc::new(factory)));
        self
    }

    /// Every builtin's name and description, by name.
    pub fn describe(&self) -> Vec<(&str, &str)> {
        self.entries
            .iter()
            .map(|(n, (d, _))| (n.as_str(), d.as_str()))
            .collect()
    }

    fn get(&self, name: &str) -> Option<&Arc<BuiltinFactory>> {
        self.entries.get(name).map(|(_, f)| f)
    }

    fn names(&self) -> Vec<&str> {
        self.entries.keys().map(String::as_str).collect()
    }
}

/// What a [`FileError`] is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// The file as a whole (syntax, top-level keys).
    File,
    /// A source, by name.
    Source(String),
    /// A node, by name.
    Node(String),
}

/// Why a pipeline file is invalid: the file, where, what, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    /// The pipeline file, as given.
    pub file: PathBuf,
    /// Where in the file, when known.
    pub position: Option<Position>,
    /// The source or node concerned.
    pub subject: Subject,
    /// What is wrong.
    pub message: String,
    /// The offending lines, rendered with a caret (YAML syntax errors).
    pub snippet: Option<Box<str>>,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(p) = self.position.filter(|p| p.line > 0) {
            write!(f, ":{}", p.line)?;
            if p.column > 0 {
                write!(f, ":{}", p.column)?;
            }
        }
        match &self.subject {
            Subject::File => {}
            Subject::Source(name) => write!(f, ": source `{name}`")?,
            Subject::Node(name) => write!(f, ": node `{name}`")?,
        }
        write!(f, ": {}", self.message)?;
        if let Some(snippet) = &self.snippet {
            write!(f, "\n{snippet}")?;
        }
        Ok(())
    }
}

impl std::error::Error for FileError {}

/// Something a valid pipeline file should know, but that does not stop it: for now,
/// what a CSV source's inferred types lost (see [`crate::source::SourceWarning`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileWarning {
    /// The pipeline file, as given.
    pub file: PathBuf,
    /// Where in the file (the source's or node's declaration), when known.
    pub position: Option<Position>,
    /// The source or node concerned.
    pub subject: Subject,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for FileWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(p) = self.position.filter(|p| p.line > 0) {
            write!(f, ":{}", p.line)?;
            if p.column > 0 {
                write!(f, ":{}", p.column)?;
            }
        }
        match &self.subject {
            Subject::File => {}
            Subject::Source(name) => write!(f, ": source `{name}`")?,
            Subject::Node(name) => write!(f, ": node `{name}`")?,
        }
        write!(f, ": {}", self.message)
    }
}

/// A command function's command, for callers that want to check it starts before a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandCheck {
    /// The function node.
    pub node: String,
    /// The program (resolved against the file's directory when it is a relative path)
    /// and its arguments.
    pub command: Vec<String>,
    /// Where the command runs: the pipeline file's directory.
    pub working_dir: PathBuf,
    /// The longest one packet may take (`timeout`, else `defaults.timeout`), if bounded.
    pub timeout: Option<Duration>,
    /// How answers are paired with packets (`protocol`).
    pub protocol: Protocol,
}

/// A pipeline file, read, checked and compiled.
#[derive(Debug, Clone)]
pub struct PipelineFile {
    path: PathBuf,
    dir: PathBuf,
    display_name: Option<String>,
    description: Option<String>,
    on_error: ErrorPolicy,
    outputs: Vec<String>,
    pipeline: Pipeline,
    positions: HashMap<String, Position>,
    commands: Vec<CommandCheck>,
    warnings: Vec<FileWarning>,
}

impl PipelineFile {
    /// Reads, checks and compiles the pipeline file at `path`, with `builtins` available
    /// to function nodes.
    pub fn load(path: impl AsRef<Path>, builtins: &Builtins) -> Result<PipelineFile, FileError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| FileError {
            file: path.to_path_buf(),
            position: None,
            subject: Subject::File,
            message: format!("cannot read the pipeline file: {e}"),
            snippet: None,
        })?;
        Self::parse(&text, path, builtins)
    }

    /// Checks and compiles `text` as if read from `path` (which locates relative paths
    /// and names the file in messages).
    pub fn parse(text: &str, path: &Path, builtins: &Builtins) -> Result<PipelineFile, FileError> {
        compile::compile(text, path, builtins)
    }

    /// The pipeline file, as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory holding the file: where relative paths start.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `name:` (a display name), if given.
    pub fn display_name(&self) -> Option<&str> {
        self.display_name.as_deref()
    }

    /// `description:`, if given.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The error policy (`on_error:`).
    pub fn on_error(&self) -> ErrorPolicy {
        self.on_error
    }

    /// The nodes `--out` writes: `outputs:`, or every sink node.
    pub fn outputs(&self) -> &[String] {
        &self.outputs
    }

    /// The compiled pipeline.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// Where a source or node is declared (an implicit `{node}.join` maps to its
    /// function node).
    pub fn position_of(&self, name: &str) -> Option<Position> {
        self.positions.get(name).copied()
    }

    /// The commands of command-function nodes, in pipeline order.
    pub fn commands(&self) -> &[CommandCheck] {
        &self.commands
    }

    /// What loading found that does not stop the file (what the sources' inferred types
    /// lost), in source order: for the caller to show.
    pub fn warnings(&self) -> &[FileWarning] {
        &self.warnings
    }

    /// The default database: `.orcapod/` beside the pipeline file.
    pub fn default_db(&self) -> PathBuf {
        self.dir.join(".orcapod")
    }
}

/// The cache mode spelled in a file.
fn cache_mode(text: &str) -> Result<CacheMode, String> {
    match text {
        "off" => Ok(CacheMode::Off),
        "log" => Ok(CacheMode::Log),
        "replay" => Ok(CacheMode::Replay),
        other => Err(format!(
            "unknown cache mode `{other}` (expected off, log or replay)"
        )),
    }
}
