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
        writeln!(std::io::stdout().lock(), $($arg)*).map_err($crate::stdout_failure)
    }};
}

/// `print!` for results, as [`say!`].
macro_rules! say_raw {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*).map_err($crate::stdout_failure)
    }};
}

mod builtins;
mod inspect;
mod live;
mod probe;
mod remote;
mod run;
mod signals;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use orcapod::pipeline_file::{FileError, PipelineFile};

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
    Run {
        /// The pipeline file (YAML or JSON).
        file: PathBuf,
        /// The database directory (default: `.orcapod/` beside the pipeline file).
        #[arg(long)]
        db: Option<PathBuf>,
        /// Write each output node's rows to this directory.
        #[arg(long)]
        out: Option<PathBuf>,
        /// The format of the files `--out` writes.
        #[arg(long, value_enum, default_value_t = OutFormat::Json)]
        format: OutFormat,
        /// How to run: on the actor runtime, or synchronously (same results).
        #[arg(long, value_enum, default_value_t = Mode::Actors)]
        mode: Mode,
        /// Print no result tables (the summary still goes to stderr).
        #[arg(long, short)]
        quiet: bool,
    },
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OutFormat {
    Json,
    Csv,
    Arrow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    Actors,
    Sync,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum GraphFormat {
    Dot,
    Mermaid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ShowFormat {
    Table,
    Json,
    Csv,
}

/// Why a command failed, and so its exit code.
#[derive(Debug)]
enum Failure {
    /// The pipeline file or its schemas are invalid (exit 2).
    Invalid(String),
    /// The run or an I/O operation failed (exit 1).
    Failed(String),
    /// A signal interrupted the run (exit 128 + the signal's number); the message says
    /// what is stored.
    Interrupted { code: u8, message: String },
    /// Whoever read stdout stopped reading (`| head`): the command ends quietly, with
    /// success (what it had to do besides printing is done).
    StdoutClosed,
}

/// A failed write of results to stdout as a [`Failure`].
fn stdout_failure(error: std::io::Error) -> Failure {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        Failure::StdoutClosed
    } else {
        Failure::Failed(format!("cannot write the results to stdout: {error}"))
    }
}

impl Failure {
    fn message(&self) -> &str {
        match self {
            Failure::Invalid(m) | Failure::Failed(m) => m,
            Failure::Interrupted { message, .. } => message,
            Failure::StdoutClosed => "stdout was closed",
        }
    }
}

impl From<FileError> for Failure {
    fn from(e: FileError) -> Self {
        Failure::Invalid(e.to_string())
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Failed(format!("{e:#}"))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Run {
            file,
            db,
            out,
            format,
            mode,
            quiet,
        } => run::run(&run::RunArgs {
            file,
            db,
            out,
            format,
            mode,
            quiet,
        }),
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

/// Loads and checks a pipeline file without starting anything (for the commands that
/// only read: `graph`, `show`, `status`).
fn load(file: &std::path::Path) -> Result<PipelineFile, Failure> {
    Ok(PipelineFile::load(file, &builtins::registry())?)
}

/// Loads and checks a pipeline file, including that every command can start (the start
/// probe runs each command once with empty input: `run` and `validate`), and prints the
/// file's warnings on stderr.
fn load_checked(file: &std::path::Path) -> Result<PipelineFile, Failure> {
    let loaded = load(file)?;
    for warning in loaded.warnings() {
        eprintln!("warning: {warning}");
    }
    for check in loaded.commands() {
        if let Err(message) = probe::starts(check) {
            let at = loaded
                .position_of(&check.node)
                .map(|p| format!(":{}:{}", p.line, p.column))
                .unwrap_or_default();
            return Err(Failure::Invalid(format!(
                "{}{at}: node `{}`: the command cannot start: {message}",
                file.display(),
                check.node
            )));
        }
    }
    Ok(loaded)
}

/// Fails, saying what to do, when `db` exists but is not a directory (a database is a
/// directory; a missing one is created by `run`).
fn check_db_is_a_directory(db: &std::path::Path) -> Result<(), Failure> {
    if db.exists() && !db.is_dir() {
        return Err(Failure::Invalid(format!(
            "--db {}: this is a file, but a database is a directory; give a directory \
             (`run` creates it if it does not exist), or leave out --db to use `.orcapod/` \
             beside the pipeline file",
            db.display()
        )));
    }
    Ok(())
}

/// One line of the per-node tables (the run's summary, `status`): the node, its kind
/// and five counts, aligned under a header made the same way.
fn node_row(cells: [&dyn std::fmt::Display; 7]) -> String {
    let [node, kind, a, b, c, d, e] = cells;
    format!("{node:<24} {kind:<10} {a:>10} {b:>10} {c:>10} {d:>8} {e:>8}")
}

/// The header of a per-node table: seven labels, aligned as [`node_row`] aligns cells.
fn node_header(labels: [&str; 7]) -> String {
    node_row(labels.each_ref().map(|l| l as &dyn std::fmt::Display))
}

/// What a node is, in one word, for the summary and status tables.
fn kind_label(kind: &orcapod::pipeline::NodeKind) -> &'static str {
    use orcapod::pipeline::NodeKind;
    match kind {
        NodeKind::Source(_) => "source",
        NodeKind::Operator(_) => "operator",
        NodeKind::Function(_) => "function",
    }
}
