//! `orcapod`: run, check, draw and inspect pipeline files.
//!
//! The commands and the exit codes are a contract (`pipeline-spec.md`): 0 success; 1
//! the run failed (a node failed under the fail-fast policy, or an I/O error); 2 the
//! file or its schemas are invalid — and then nothing ran and nothing was written;
//! 130 and 143: `run` was interrupted by SIGINT or SIGTERM (what it computed is stored).
//! Results go to stdout; progress, summaries and errors go to stderr.
//!
//! Only `run` and `validate` start the file's commands (the start probe); `graph`,
//! `show` and `status` only read.

/// `println!` for results: a failed write to stdout is a [`Failure`], and a reader that
/// went away (`orcapod validate | head -1`) ends the command quietly.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*).map_err($crate::failure::stdout_failure)
    }};
}

/// `print!` for results, as [`say!`].
macro_rules! say_raw {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*).map_err($crate::failure::stdout_failure)
    }};
}

mod args;
mod builtins;
mod failure;
mod inspect;
mod live;
mod loading;
mod probe;
mod remote;
mod run;
mod signals;
mod table;
mod warnings;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::args::{GraphFormat, RunArgs, ShowFormat};
use crate::failure::Failure;

/// Reproducible, content-addressed data pipelines.
#[derive(Debug, Parser)]
#[command(
    name = "orcapod",
    version,
    about = "Reproducible, content-addressed data pipelines: run, check, draw and inspect pipeline files"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate, compile and run a pipeline file; a re-run reuses stored results.
    Run(RunArgs),
    /// Check the file and every schema without running anything.
    Validate {
        /// The pipeline file.
        file: PathBuf,
    },
    /// Print the pipeline's DAG.
    Graph {
        /// The pipeline file.
        file: PathBuf,
        /// DOT (Graphviz) or Mermaid.
        #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
        format: GraphFormat,
    },
    /// Print a node's rows as the pipeline gives them now, from the current sources and
    /// the stored function results, without running anything (also while a run is in
    /// progress); rows whose function results are missing are left out and counted.
    Show {
        /// The pipeline file.
        file: PathBuf,
        /// The node (or source) to show.
        node: String,
        /// The database directory (default: `.orcapod/` beside the pipeline file).
        #[arg(long)]
        db: Option<PathBuf>,
        /// How to print the rows.
        #[arg(long, value_enum, default_value_t = ShowFormat::Table)]
        format: ShowFormat,
        /// Also print system tags and source info.
        #[arg(long)]
        all_info: bool,
        /// Print every result ever stored at the node's path instead (a function node's
        /// results of every run, old source values included; an operator node's
        /// `cache: log` rows).
        #[arg(long)]
        all_stored: bool,
    },
    /// How the last run ended and, per node: rows, cache hits, computed, failed, retried,
    /// and when it last ran. While a run is in progress: its live progress.
    Status {
        /// The pipeline file.
        file: PathBuf,
        /// The database directory (default: `.orcapod/` beside the pipeline file).
        #[arg(long)]
        db: Option<PathBuf>,
    },
    /// List the built-in functions pipeline files can name with `builtin:`.
    Builtins,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Run(args) => run::run(&args),
        Command::Validate { file } => inspect::validate(&file),
        Command::Graph { file, format } => inspect::graph(&file, format),
        Command::Show {
            file,
            node,
            db,
            format,
            all_info,
            all_stored,
        } => inspect::show(&file, &node, db.as_deref(), format, all_info, all_stored),
        Command::Status { file, db } => inspect::status(&file, db.as_deref()),
        Command::Builtins => builtins::registry()
            .describe()
            .into_iter()
            .try_for_each(|(name, doc)| say!("{name}\n    {}", doc.replace('\n', "\n    "))),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Invalid(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Failed(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
        Err(Failure::Interrupted { code, message }) => {
            eprintln!("{message}");
            ExitCode::from(code)
        }
        Err(Failure::StdoutClosed) => ExitCode::SUCCESS,
    }
}
