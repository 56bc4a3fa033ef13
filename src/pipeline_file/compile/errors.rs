//! How the compiler reports: every problem becomes one [`FileError`] naming the file,
//! the position, and the source or node concerned. A YAML error keeps the parser's
//! snippet; an error from building the pipeline is pinned to the declaration of the node
//! (or source) it names. Only wording and placing; deciding what is wrong is elsewhere.

use std::path::Path;

use crate::error::Error;
use crate::pipeline::join_node_function;
use crate::pipeline_file::error::{FileError, Subject};
use crate::pipeline_file::raw::Entry;
use crate::pipeline_file::value::{Position, Problem};

/// Reports problems with the file at hand.
pub(super) struct Reporter<'a> {
    pub(super) file: &'a Path,
}

impl Reporter<'_> {
    pub(super) fn error(
        &self,
        position: Option<Position>,
        subject: Subject,
        message: String,
    ) -> FileError {
        FileError {
            file: self.file.to_path_buf(),
            position,
            subject,
            message,
            snippet: None,
        }
    }
    pub(super) fn at_source(&self, entry: &Entry, problem: impl Into<Problem>) -> FileError {
        self.at_entry(entry, Subject::Source(entry.name.clone()), problem.into())
    }
    pub(super) fn at_node(&self, entry: &Entry, problem: impl Into<Problem>) -> FileError {
        self.at_entry(entry, Subject::Node(entry.name.clone()), problem.into())
    }
    /// A problem of an entry, where the problem says or else where the entry starts.
    fn at_entry(&self, entry: &Entry, subject: Subject, problem: Problem) -> FileError {
        let at = problem.at.unwrap_or(entry.position);
        self.error(Some(at), subject, problem.message)
    }
    /// An error about one key of a node, at the line where the key is written.
    pub(super) fn at_node_key(&self, entry: &Entry, key: &str, message: String) -> FileError {
        self.error(
            Some(entry.position_of(key)),
            Subject::Node(entry.name.clone()),
            message,
        )
    }
}

/// A YAML error as a [`FileError`]: position, the parser's message, and its snippet
/// with the file's name in place of `<input>`.
pub(super) fn syntax_error(file: &Path, text: &str, e: &serde_saphyr::Error) -> FileError {
    if let Some(error) = overlong_key(file, text) {
        return error;
    }
    let rendered = e.to_string();
    let mut lines = rendered.lines();
    let first = lines.next().unwrap_or_default();
    let message = first.strip_prefix("error: ").unwrap_or(first).to_string();
    // "line 3 column 5: message" → "message" (the position goes in front).
    let message = match message.split_once(": ") {
        Some((head, rest)) if head.starts_with("line ") && head.contains(" column ") => {
            rest.to_string()
        }
        _ => message,
    };
    let snippet: Vec<String> = lines
        .map(|l| l.replace("<input>", &file.display().to_string()))
        .collect();
    let position = e.location().map(|l| Position {
        line: u32::try_from(l.line()).unwrap_or(u32::MAX),
        column: u32::try_from(l.column()).unwrap_or(u32::MAX),
    });
    FileError {
        file: file.to_path_buf(),
        position,
        subject: Subject::File,
        message: if position.is_none() && message.is_empty() {
            rendered.clone()
        } else {
            message
        },
        snippet: (!snippet.is_empty()).then(|| snippet.join("\n").into()),
    }
}

/// YAML allows a plain key of at most 1024 characters; a longer one makes the file
/// unreadable with a message about mapping starts. Said plainly instead.
fn overlong_key(file: &Path, text: &str) -> Option<FileError> {
    const YAML_KEY_LIMIT: usize = 1024;
    text.lines().enumerate().find_map(|(i, line)| {
        let key = line.trim_start().trim_start_matches("- ");
        let (key, _) = key.split_once(':')?;
        let length = key.trim_end().chars().count();
        (length > YAML_KEY_LIMIT).then(|| FileError {
            file: file.to_path_buf(),
            position: Some(Position {
                line: u32::try_from(i + 1).unwrap_or(u32::MAX),
                column: u32::try_from(line.len() - line.trim_start().len() + 1).unwrap_or(u32::MAX),
            }),
            subject: Subject::File,
            message: format!(
                "a key of {length} characters: YAML reads keys of at most {YAML_KEY_LIMIT} \
                 characters, and a source or node name is at most {} bytes; use a shorter name",
                crate::export::MAX_OUTPUT_NAME
            ),
            snippet: None,
        })
    })
}

/// A build error pinned to the node or source it names: `node` finds a node's entry,
/// `source` a source's. An implicit `{node}.join` is its function node's.
pub(super) fn build_error<'e>(
    report: &Reporter,
    error: Error,
    node: impl Fn(&str) -> Option<&'e Entry>,
    source: impl Fn(&str) -> Option<&'e Entry>,
) -> FileError {
    if let Error::Node {
        node: name,
        source: inner,
    } = &error
    {
        let owner = join_node_function(name)
            .filter(|n| node(n).is_some())
            .unwrap_or(name);
        if let Some(entry) = node(owner) {
            return report.at_node(entry, inner.to_string());
        }
        if let Some(entry) = source(owner) {
            return report.at_source(entry, inner.to_string());
        }
    }
    report.error(None, Subject::File, error.to_string())
}

/// The error inside an `Error::Node` for `name`, as text.
pub(super) fn unwrap_node(error: Error, name: &str) -> String {
    match error {
        Error::Node { node, source } if node == name => source.to_string(),
        other => other.to_string(),
    }
}
