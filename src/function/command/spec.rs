//! What a command function is: the program and its arguments, the working directory,
//! the packet schemas, and the options (version, protocol, timeout, longest answer
//! line).
//!
//! [`CommandFunction`] is a cheap, immutable value (its options are set by builders that
//! copy on write); it never starts a process itself: workers do
//! ([`CommandWorker`](super::CommandWorker)).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::FieldRef;

use crate::error::{Error, Result};

/// The default limit on the length of one answer line (64 MiB).
pub const DEFAULT_MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

/// A packet function backed by an external command speaking JSON Lines (see the
/// [module documentation](super) for the protocol).
#[derive(Debug, Clone)]
pub struct CommandFunction {
    spec: Arc<Spec>,
}

/// How answers are paired with the packets they answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// Plain JSON Lines: one answer line per packet line, in order (`jsonl`).
    #[default]
    Jsonl,
    /// Each packet carries `"$id"` and its answer must echo it (`jsonl-id`).
    JsonlId,
}

impl Protocol {
    /// The name used in pipeline files: `jsonl` or `jsonl-id`.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Jsonl => "jsonl",
            Protocol::JsonlId => "jsonl-id",
        }
    }

    /// The protocol called `name` in pipeline files.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "jsonl" => Some(Protocol::Jsonl),
            "jsonl-id" => Some(Protocol::JsonlId),
            _ => None,
        }
    }
}

/// Everything a worker needs to (re)start and talk to the command.
#[derive(Debug, Clone)]
pub(super) struct Spec {
    pub(super) name: String,
    pub(super) version: String,
    pub(super) command: Vec<String>,
    pub(super) working_dir: PathBuf,
    pub(super) input: Vec<FieldRef>,
    pub(super) output: Vec<FieldRef>,
    pub(super) max_line_bytes: usize,
    pub(super) protocol: Protocol,
    pub(super) timeout: Option<Duration>,
}

impl Spec {
    /// The command as one line of text, for messages.
    pub(super) fn command_line(&self) -> String {
        self.command
            .iter()
            .map(|a| {
                if a.is_empty() || a.contains(char::is_whitespace) {
                    format!("{a:?}")
                } else {
                    a.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl CommandFunction {
    /// A function called `name` (version `v0.0`) that runs `command` (program, then
    /// arguments) in `working_dir`, reading packets of the `input` schema and answering
    /// packets of the `output` schema.
    ///
    /// The program (`command[0]`) is used as given: a bare name is looked up on
    /// `PATH`, and a relative path is resolved in a platform-specific way (against this
    /// process's directory or `working_dir`), so callers should pass an absolute path.
    /// Relative paths in the arguments are the command's business (it runs in
    /// `working_dir`). Errors if `command` is empty.
    pub fn new(
        name: impl Into<String>,
        command: Vec<String>,
        working_dir: impl Into<PathBuf>,
        input: Vec<FieldRef>,
        output: Vec<FieldRef>,
    ) -> Result<Self> {
        let name = name.into();
        if command.is_empty() {
            return Err(Error::invalid(
                format!("command function `{name}`"),
                "the command is empty (it needs at least a program)",
            ));
        }
        Ok(CommandFunction {
            spec: Arc::new(Spec {
                name,
                version: "v0.0".into(),
                command,
                working_dir: working_dir.into(),
                input,
                output,
                max_line_bytes: DEFAULT_MAX_LINE_BYTES,
                protocol: Protocol::default(),
                timeout: None,
            }),
        })
    }

    /// Sets the version (only its major number enters the identity).
    pub fn with_version(mut self, version: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.spec).version = version.into();
        self
    }

    /// Sets the longest answer line accepted, in bytes (default
    /// [`DEFAULT_MAX_LINE_BYTES`]); a longer line fails the packet and restarts the
    /// command.
    pub fn with_max_line_bytes(mut self, max: usize) -> Self {
        Arc::make_mut(&mut self.spec).max_line_bytes = max.max(1);
        self
    }

    /// Sets how answers are paired with packets (default [`Protocol::Jsonl`]).
    pub fn with_protocol(mut self, protocol: Protocol) -> Self {
        Arc::make_mut(&mut self.spec).protocol = protocol;
        self
    }

    /// Bounds the time one packet may take, from the start of writing its request to the
    /// end of its answer line (default: unbounded). A packet that takes longer fails
    /// (the message names the timeout) and the command's process group is killed; the
    /// next call starts a fresh process.
    pub fn with_timeout(mut self, timeout: Option<Duration>) -> Self {
        Arc::make_mut(&mut self.spec).timeout = timeout;
        self
    }

    /// How answers are paired with packets.
    pub fn protocol(&self) -> Protocol {
        self.spec.protocol
    }

    /// The longest one packet may take, if bounded.
    pub fn timeout(&self) -> Option<Duration> {
        self.spec.timeout
    }

    /// The program and its arguments.
    pub fn command(&self) -> &[String] {
        &self.spec.command
    }

    /// The directory the command runs in.
    pub fn working_dir(&self) -> &Path {
        &self.spec.working_dir
    }

    /// The longest answer line accepted, in bytes.
    pub fn max_line_bytes(&self) -> usize {
        self.spec.max_line_bytes
    }

    /// Everything a worker needs (shared by the function's workers).
    pub(super) fn spec(&self) -> &Arc<Spec> {
        &self.spec
    }
}

impl fmt::Display for CommandFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.spec.name, self.spec.command_line())
    }
}
