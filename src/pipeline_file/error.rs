//! What loading a pipeline file reports: a [`FileError`] that stops it, or a
//! [`FileWarning`] that does not; both name the file, the position and the source or
//! node concerned ([`Subject`]). Only the reports and their text; finding what is wrong
//! is the compiler's job.

use std::fmt;
use std::path::PathBuf;

use super::value::Position;

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
        write_report(f, &self.file, self.position, &self.subject, &self.message)?;
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
        write_report(f, &self.file, self.position, &self.subject, &self.message)
    }
}

/// `file:line:column: node `name`: message`, leaving out what is unknown.
fn write_report(
    f: &mut fmt::Formatter<'_>,
    file: &std::path::Path,
    position: Option<Position>,
    subject: &Subject,
    message: &str,
) -> fmt::Result {
    write!(f, "{}", file.display())?;
    if let Some(p) = position.filter(|p| p.line > 0) {
        write!(f, ":{}", p.line)?;
        if p.column > 0 {
            write!(f, ":{}", p.column)?;
        }
    }
    match subject {
        Subject::File => {}
        Subject::Source(name) => write!(f, ": source `{name}`")?,
        Subject::Node(name) => write!(f, ": node `{name}`")?,
    }
    write!(f, ": {message}")
}
