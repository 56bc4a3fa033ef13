//! A compiled pipeline file ([`PipelineFile`]) and what it tells its caller: the
//! pipeline, where each name is declared, the commands to check before a run and the
//! warnings to show. Read-only once compiled; made only by the compiler.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::FileWarning;
use super::value::Position;
use crate::function::command::Protocol;
use crate::pipeline::{ErrorPolicy, Pipeline};
use crate::source::SourceInput;

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

/// A pipeline file, read, checked and compiled ([`PipelineFile::load`]).
#[derive(Debug, Clone)]
pub struct PipelineFile {
    pub(super) path: PathBuf,
    pub(super) dir: PathBuf,
    pub(super) display_name: Option<String>,
    pub(super) description: Option<String>,
    pub(super) on_error: ErrorPolicy,
    pub(super) outputs: Vec<String>,
    pub(super) pipeline: Pipeline,
    pub(super) positions: HashMap<String, Position>,
    pub(super) commands: Vec<CommandCheck>,
    pub(super) warnings: Vec<FileWarning>,
    pub(super) inputs: Vec<(String, SourceInput)>,
}

impl PipelineFile {
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

    /// What each source reading files reads (file and folder sources, by name, in
    /// declaration order; a derived source reads a database, not listed): what watch
    /// mode fingerprints.
    pub fn inputs(&self) -> &[(String, SourceInput)] {
        &self.inputs
    }

    /// The default database: `.orcapod/` beside the pipeline file.
    pub fn default_db(&self) -> PathBuf {
        self.dir.join(".orcapod")
    }

    /// This file over `pipeline`, which must be this file's pipeline with some sources
    /// yielding other rows ([`Pipeline::with_source_rows`]): what a watch round that
    /// feeds only what changed runs. Positions, outputs and commands stay this file's.
    pub fn with_pipeline(&self, pipeline: Pipeline) -> PipelineFile {
        PipelineFile {
            pipeline,
            ..self.clone()
        }
    }
}
