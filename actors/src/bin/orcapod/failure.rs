//! Why a command failed, and so its exit code (the contract in `pipeline-spec.md`).
//!
//! Only `main` turns a [`Failure`] into a message and an exit code; the commands return
//! one and never exit themselves.

use orcapod::pipeline_file::FileError;

/// Why a command failed, and so its exit code.
#[derive(Debug)]
pub enum Failure {
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
pub fn stdout_failure(error: std::io::Error) -> Failure {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        Failure::StdoutClosed
    } else {
        Failure::Failed(format!("cannot write the results to stdout: {error}"))
    }
}

impl Failure {
    pub fn message(&self) -> &str {
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
