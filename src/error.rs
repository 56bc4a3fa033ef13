//! The core's typed errors.
//!
//! One enum for the whole pure core, classified by who must act on it: the user (bad
//! input, bad schema, bad pipeline), the environment (I/O), or us (`Internal`, a bug).
//! Expected outcomes such as "no rows" are values, never errors. Messages are lowercase,
//! without a trailing period, and name the file, node, column and line where one is known.

use std::path::PathBuf;

/// Result alias used across the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every error the pure core can return.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// A CSV file is malformed.
    #[error("{path}:{line}: {message}")]
    Csv {
        /// The file concerned.
        path: PathBuf,
        /// 1-based line number in the file.
        line: u64,
        /// What is wrong.
        message: String,
    },

    /// Input data or arguments do not fit what a source or operator expects.
    #[error("{context}: {message}")]
    InvalidInput {
        /// What was being built (a source name, an operator, a file).
        context: String,
        /// What is wrong.
        message: String,
    },

    /// Streams given to an operator or function do not have compatible schemas.
    #[error("{operator}: {message}")]
    Schema {
        /// The operator (or node) that rejected its inputs.
        operator: String,
        /// What is wrong.
        message: String,
    },

    /// A pipeline is malformed (unknown input, cycle, duplicate name).
    #[error("pipeline `{pipeline}`: {message}")]
    Plan {
        /// The pipeline's name.
        pipeline: String,
        /// What is wrong.
        message: String,
    },

    /// A node of a pipeline failed to build or run.
    #[error("node `{node}`: {source}")]
    Node {
        /// The node's name (its label).
        node: String,
        /// What went wrong there.
        #[source]
        source: Box<Error>,
    },

    /// A function failed on a packet (under the fail-fast policy).
    #[error("function `{function}` failed on a packet{tag}: {message}{stderr}")]
    PacketFailed {
        /// The function's name.
        function: String,
        /// The packet's tags, rendered for the message (may be empty).
        tag: String,
        /// What went wrong.
        message: String,
        /// The function's stderr, rendered for the message (may be empty).
        stderr: String,
    },

    /// A value cannot be hashed by the semantic hasher.
    #[error("cannot hash: {0}")]
    Hash(String),

    /// A record store (see `store`) rejected an operation or failed: an invalid record
    /// path, a batch whose schema differs from the one fixed for its path, a locked or
    /// unreadable store directory.
    #[error("store `{path}`: {message}")]
    Store {
        /// The record path concerned (`a/b/c`), or the store's directory when the error is
        /// about the store as a whole.
        path: String,
        /// What is wrong.
        message: String,
    },

    /// An Arrow kernel failed.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),

    /// The run was stopped on request (e.g. SIGINT) before it finished; what was
    /// computed before that is stored.
    #[error("the run was cancelled")]
    Cancelled,

    /// A bug in orcapod: please report it.
    #[error("internal error (this is a bug in orcapod, please report it): {0}")]
    Internal(String),
}

impl Error {
    /// Shorthand for [`Error::InvalidInput`].
    pub fn invalid(context: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidInput {
            context: context.into(),
            message: message.into(),
        }
    }

    /// Shorthand for [`Error::Schema`].
    pub fn schema(operator: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Schema {
            operator: operator.into(),
            message: message.into(),
        }
    }

    /// Wraps an error with the name of the node where it happened.
    pub fn at_node(self, node: impl Into<String>) -> Self {
        Error::Node {
            node: node.into(),
            source: Box::new(self),
        }
    }

    /// Shorthand for [`Error::Internal`].
    pub fn internal(message: impl Into<String>) -> Self {
        Error::Internal(message.into())
    }
}
