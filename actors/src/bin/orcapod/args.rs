//! The arguments the commands share: output and show formats, the run mode, and the
//! arguments of `orcapod run`.
//!
//! Only declarations for clap: what the arguments do is up to each command.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

// The arguments of `orcapod run` (no doc comment: the subcommand's own is its help).
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The pipeline file (YAML or JSON).
    pub file: PathBuf,
    /// The database directory (default: `.orcapod/` beside the pipeline file).
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Write each output node's rows to this directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The format of the files `--out` writes.
    #[arg(long, value_enum, default_value_t = OutFormat::Json)]
    pub format: OutFormat,
    /// How to run: on the actor runtime, or synchronously (same results).
    #[arg(long, value_enum, default_value_t = Mode::Actors)]
    pub mode: Mode,
    /// Print no result tables (the summary still goes to stderr).
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutFormat {
    Json,
    Csv,
    Arrow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    Actors,
    Sync,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    Dot,
    Mermaid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShowFormat {
    Table,
    Json,
    Csv,
}
