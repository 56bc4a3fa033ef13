//! Packet functions backed by an external command speaking JSON Lines.
//!
//! A [`CommandFunction`] describes a command (program and arguments, working directory)
//! and the packet schemas it reads and writes. Each [`CommandWorker`] starts the command
//! once and keeps it running for many packets, so interpreter start-up and model loading
//! are paid once per worker, not once per packet.
//!
//! # Protocol
//!
//! For each packet the worker writes exactly one line to the command's stdin: a JSON
//! object of the packet's columns keyed by column name (values as in
//! [`datum_to_json`]: strings, numbers, booleans, null, arrays for lists and
//! `{"$bytes": "<hex>"}` for bytes). It then reads exactly one line from the command's
//! stdout: a JSON object with exactly the output keys, each read with
//! [`datum_from_json`] against the output field's type. Anything else fails that packet
//! (and only that packet):
//!
//! - a line `{"$error": "message"}` (the failure's message is the given message);
//! - a line that is not a JSON object, not UTF-8, or longer than the line limit;
//! - a missing or extra key, a value of the wrong type, a null for a non-nullable field;
//! - more than one line written for one packet (detected when the extra data has
//!   already arrived);
//! - the command closing its stdout, exiting or crashing before it answers (the message
//!   includes the exit status).
//!
//! After a failure that leaves the conversation out of step (a crash, an over-long line,
//! extra lines) the process is discarded; the next call starts a fresh one
//! transparently. A command that exits between packets is also restarted on the next
//! call. The command's stderr goes to a private temporary file; when a packet fails,
//! what the command wrote there since the previous call (at most the last
//! [`STDERR_TAIL_BYTES`] bytes) is returned in [`FunctionError::stderr`].
//!
//! # What this module must never do
//!
//! It never spawns a thread (the runtime owns all threads) and never reads or writes
//! more than one line per call. Stderr is redirected to a file rather than a pipe
//! precisely so that no thread is needed to drain it and a chatty command can never
//! block on a full stderr pipe.
//!
//! # Blocking
//!
//! A call blocks until the command answers: a command that hangs (or that writes a huge
//! answer before reading its input) blocks its worker indefinitely; there is no
//! timeout. Dropping the worker still kills and reaps the process. Only the direct
//! child is killed: a wrapper script should `exec` the real program, which also sees
//! end-of-file on stdin when the worker goes away.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::datatypes::FieldRef;
use serde_json::Value as Json;

use super::{datum_from_json, datum_to_json, FunctionError, FunctionWorker, PacketFunction};
use crate::error::{Error, Result};
use crate::model::Datum;

/// The default limit on the length of one answer line (64 MiB).
pub const DEFAULT_MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

/// At most this many trailing bytes of stderr are kept in a [`FunctionError`].
pub const STDERR_TAIL_BYTES: usize = 4096;

/// Once the stderr file holds more than this after a call, it is emptied.
const STDERR_FILE_RESET_BYTES: u64 = 1024 * 1024;

/// How long a command that closed its stdout may take to exit before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// Distinguishes the stderr files of the workers of one process.
static STDERR_FILE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A packet function backed by an external command speaking JSON Lines (see the
/// [module documentation](self) for the protocol).
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
struct Spec {
    name: String,
    version: String,
    command: Vec<String>,
    working_dir: PathBuf,
    input: Vec<FieldRef>,
    output: Vec<FieldRef>,
    max_line_bytes: usize,
    protocol: Protocol,
    timeout: Option<Duration>,
}

impl Spec {
    /// The command as one line of text, for messages.
    fn command_line(&self) -> String {
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

    /// Bounds the time one packet may take (default: unbounded). A packet that takes
    /// longer fails and the command is killed and replaced.
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
}

impl PacketFunction for CommandFunction {
    fn name(&self) -> &str {
        &self.spec.name
    }
    fn version(&self) -> &str {
        &self.spec.version
    }
    fn type_id(&self) -> &str {
        "command.jsonl.v0"
    }
    fn input_schema(&self) -> &[FieldRef] {
        &self.spec.input
    }
    fn output_schema(&self) -> &[FieldRef] {
        &self.spec.output
    }
    fn start_worker(&self) -> Result<Box<dyn FunctionWorker>, FunctionError> {
        Ok(Box::new(CommandWorker::start(self)?))
    }
}

/// A running command: the child and both ends of the conversation.
#[derive(Debug)]
struct Running {
    child: Child,
    /// `None` only while dropping (closed first so the command sees end-of-file).
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

/// The process ids of every running command of this process, so that a signal handler
/// can stop them all ([`kill_all_commands`]).
static LIVE_COMMANDS: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

fn live_commands() -> std::sync::MutexGuard<'static, Vec<u32>> {
    LIVE_COMMANDS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Kills every command process this process has started and not yet reaped (for a
/// graceful stop on SIGINT or SIGTERM: workers then see their command gone, and their
/// packets fail). Returns how many were signalled.
pub fn kill_all_commands() -> usize {
    let pids = live_commands().clone();
    pids.iter()
        .filter_map(|&pid| rustix::process::Pid::from_raw(pid as i32))
        .filter(|&pid| rustix::process::kill_process(pid, rustix::process::Signal::KILL).is_ok())
        .count()
}

impl Drop for Running {
    fn drop(&mut self) {
        let pid = self.child.id();
        live_commands().retain(|&p| p != pid);
        drop(self.stdin.take());
        // Errors mean the child already exited; waiting then just reaps it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The command's stderr, redirected to a private temporary file.
#[derive(Debug)]
struct StderrFile {
    /// Where the file was created (already unlinked on Unix, so only read elsewhere).
    #[cfg_attr(unix, allow(dead_code))]
    path: PathBuf,
    /// An append-mode handle; each child gets a duplicate as its stderr.
    writer: File,
    /// A separate handle (with its own offset) to read and truncate the file.
    reader: File,
    /// How much of the file had been seen at the end of the previous call.
    mark: u64,
}

impl StderrFile {
    fn create() -> io::Result<Self> {
        let dir = std::env::temp_dir();
        let mut attempts = 0;
        loop {
            let n = STDERR_FILE_COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!("orcapod-command-{}-{n}.stderr", std::process::id()));
            match OpenOptions::new().append(true).create_new(true).open(&path) {
                Ok(writer) => {
                    let reader = match OpenOptions::new().read(true).write(true).open(&path) {
                        Ok(r) => r,
                        Err(e) => {
                            let _ = std::fs::remove_file(&path);
                            return Err(e);
                        }
                    };
                    // On Unix the open handles keep the file alive: unlink it now so it
                    // cannot be left behind, whatever happens to this process.
                    #[cfg(unix)]
                    let _ = std::fs::remove_file(&path);
                    return Ok(StderrFile {
                        path,
                        writer,
                        reader,
                        mark: 0,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 100 => {
                    attempts += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// What was written since the previous call (its last [`STDERR_TAIL_BYTES`]
    /// bytes), or `None` if nothing was.
    fn since_mark(&mut self) -> Option<String> {
        let len = self.reader.metadata().ok()?.len();
        if len <= self.mark {
            return None;
        }
        let start = self.mark.max(len.saturating_sub(STDERR_TAIL_BYTES as u64));
        self.reader.seek(SeekFrom::Start(start)).ok()?;
        let mut bytes = Vec::new();
        (&self.reader)
            .take(len - start)
            .read_to_end(&mut bytes)
            .ok()?;
        let text = String::from_utf8_lossy(&bytes);
        Some(if start > self.mark {
            format!("[…]{text}")
        } else {
            text.into_owned()
        })
    }

    /// Marks everything written so far as seen (emptying the file once it is large).
    fn advance(&mut self) {
        let Ok(meta) = self.reader.metadata() else {
            return;
        };
        self.mark = meta.len();
        if self.mark > STDERR_FILE_RESET_BYTES && self.reader.set_len(0).is_ok() {
            self.mark = 0;
        }
    }
}

impl Drop for StderrFile {
    fn drop(&mut self) {
        // Already gone on Unix; elsewhere the file is removed here.
        #[cfg(not(unix))]
        let _ = std::fs::remove_file(&self.path);
    }
}

/// What one exchange with the command produced, before stderr is attached.
enum Outcome {
    /// The answer, converted.
    Answer(Vec<Datum>),
    /// The packet failed but the conversation is still in step: keep the process.
    Failed(String),
    /// The packet failed and the process must be discarded.
    Broken(String),
}

/// A worker of a [`CommandFunction`]: one long-lived process of the command, restarted
/// after a crash. Dropping the worker kills and reaps the process.
#[derive(Debug)]
pub struct CommandWorker {
    spec: Arc<Spec>,
    process: Option<Running>,
    stderr: StderrFile,
}

impl CommandWorker {
    /// Starts the command of `function`. Errors (naming the command and the OS error)
    /// if it cannot be started.
    pub fn start(function: &CommandFunction) -> Result<Self, FunctionError> {
        let spec = function.spec.clone();
        let stderr = StderrFile::create().map_err(|e| {
            FunctionError::new(format!(
                "function `{}`: cannot create a temporary file for the stderr of `{}`: {e}",
                spec.name,
                spec.command_line()
            ))
        })?;
        let mut worker = CommandWorker {
            spec,
            process: None,
            stderr,
        };
        worker.spawn()?;
        Ok(worker)
    }

    /// The process id of the running command, if one is running.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(|p| p.child.id())
    }

    fn spawn(&mut self) -> Result<(), FunctionError> {
        let spec = &self.spec;
        let start_error = |e: io::Error| {
            FunctionError::new(format!(
                "function `{}`: cannot start `{}` in `{}`: {e}",
                spec.name,
                spec.command_line(),
                spec.working_dir.display()
            ))
        };
        let stderr = self.stderr.writer.try_clone().map_err(start_error)?;
        let mut child = Command::new(&spec.command[0])
            .args(&spec.command[1..])
            .current_dir(&spec.working_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .map_err(start_error)?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(FunctionError::new(format!(
                "function `{}`: `{}` started without stdin/stdout pipes",
                spec.name,
                spec.command_line()
            )));
        };
        live_commands().push(child.id());
        self.process = Some(Running {
            child,
            stdin: Some(stdin),
            stdout: BufReader::new(stdout),
        });
        Ok(())
    }

    /// Makes sure a process is running, restarting the command if it is not (never
    /// started, discarded after a failure, or exited since the previous call).
    fn ensure_running(&mut self) -> Result<(), FunctionError> {
        if let Some(p) = &mut self.process {
            if matches!(p.child.try_wait(), Ok(None)) {
                return Ok(());
            }
            self.process = None;
        }
        self.spawn()
    }

    /// One exchange: writes the packet's line, reads and checks the answer line.
    fn exchange(&mut self, line: &[u8]) -> Outcome {
        let spec = Arc::clone(&self.spec);
        let Some(p) = self.process.as_mut() else {
            return Outcome::Broken("the command is not running".into());
        };
        let Some(stdin) = p.stdin.as_mut() else {
            return Outcome::Broken("the command's stdin is closed".into());
        };
        if let Err(e) = stdin.write_all(line).and_then(|()| stdin.flush()) {
            let status = finish(&mut p.child);
            return Outcome::Broken(format!(
                "command `{}` stopped reading its input ({e}); it {status}",
                spec.command_line()
            ));
        }
        let mut answer = Vec::new();
        let limit = spec.max_line_bytes as u64 + 1;
        if let Err(e) = (&mut p.stdout).take(limit).read_until(b'\n', &mut answer) {
            return Outcome::Broken(format!(
                "cannot read the answer of command `{}`: {e}",
                spec.command_line()
            ));
        }
        if answer.last() != Some(&b'\n') {
            if answer.len() as u64 >= limit {
                return Outcome::Broken(format!(
                    "command `{}` answered with a line longer than {} bytes",
                    spec.command_line(),
                    spec.max_line_bytes
                ));
            }
            let status = finish(&mut p.child);
            let partial = if answer.is_empty() {
                String::new()
            } else {
                format!(" (after a partial line of {} bytes)", answer.len())
            };
            return Outcome::Broken(format!(
                "command `{}` {status} before answering{partial}",
                spec.command_line()
            ));
        }
        if !p.stdout.buffer().is_empty() {
            return Outcome::Broken(format!(
                "command `{}` wrote more than one line for one packet",
                spec.command_line()
            ));
        }
        match parse_answer(&answer, &spec.output) {
            Ok(values) => Outcome::Answer(values),
            Err(message) => Outcome::Failed(message),
        }
    }
}

impl FunctionWorker for CommandWorker {
    fn call(&mut self, packet: &[(String, Datum)]) -> Result<Vec<Datum>, FunctionError> {
        let object: serde_json::Map<String, Json> = packet
            .iter()
            .map(|(k, v)| (k.clone(), datum_to_json(v)))
            .collect();
        let mut line = Json::Object(object).to_string().into_bytes();
        line.push(b'\n');

        if let Err(e) = self.ensure_running() {
            return Err(FunctionError {
                stderr: self.stderr.since_mark(),
                ..e
            });
        }
        let outcome = self.exchange(&line);
        let result = match outcome {
            Outcome::Answer(values) => Ok(values),
            Outcome::Failed(message) => Err(message),
            Outcome::Broken(message) => {
                // Kill and reap before reading stderr so that all of it is there.
                self.process = None;
                Err(message)
            }
        };
        let result = result.map_err(|message| FunctionError {
            message,
            stderr: self.stderr.since_mark(),
            rerun: false,
        });
        self.stderr.advance();
        result
    }
}

/// Waits for a child whose stdout or stdin closed, killing it if it does not exit
/// within [`EXIT_GRACE`]; says how it ended (e.g. "exited (exit status: 3)").
fn finish(child: &mut Child) -> String {
    let deadline = Instant::now() + EXIT_GRACE;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return describe_exit(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                return match child.wait() {
                    Ok(_) => "closed its output without exiting and was killed".into(),
                    Err(e) => format!("closed its output and could not be reaped ({e})"),
                };
            }
            Err(e) => return format!("ended in an unknown way ({e})"),
        }
    }
}

fn describe_exit(status: ExitStatus) -> String {
    if status.success() {
        format!("exited ({status})")
    } else if status.code().is_some() {
        format!("exited with a failure ({status})")
    } else {
        format!("crashed ({status})")
    }
}

/// Reads one answer line against the output schema; the error is the packet's failure
/// message.
fn parse_answer(line: &[u8], output: &[FieldRef]) -> Result<Vec<Datum>, String> {
    let text = std::str::from_utf8(line)
        .map_err(|e| format!("the command's answer is not valid UTF-8: {e}"))?;
    let json: Json = serde_json::from_str(text.trim_end()).map_err(|e| {
        format!(
            "the command's answer is not valid JSON ({e}): {}",
            clip(text)
        )
    })?;
    let Json::Object(mut object) = json else {
        return Err(format!(
            "the command's answer is not a JSON object: {}",
            clip(text)
        ));
    };
    if let Some(error) = object.get("$error") {
        return Err(match error {
            Json::String(s) => s.clone(),
            other => other.to_string(),
        });
    }
    let missing: Vec<&str> = output
        .iter()
        .map(|f| f.name().as_str())
        .filter(|k| !object.contains_key(*k))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "the command's answer lacks the output key(s) {}",
            quoted(missing.iter().copied())
        ));
    }
    let extra: Vec<&str> = object
        .keys()
        .map(String::as_str)
        .filter(|k| !output.iter().any(|f| f.name() == k))
        .collect();
    if !extra.is_empty() {
        return Err(format!(
            "the command's answer has unexpected key(s) {} (expected exactly {})",
            quoted(extra.iter().copied()),
            quoted(output.iter().map(|f| f.name().as_str()))
        ));
    }
    output
        .iter()
        .map(|field| {
            let value = object.remove(field.name()).unwrap_or(Json::Null);
            let datum = datum_from_json(&value, field.data_type())
                .map_err(|e| format!("output `{}`: {e}", field.name()))?;
            if datum == Datum::Null && !field.is_nullable() {
                return Err(format!(
                    "output `{}` is null but the field is not nullable",
                    field.name()
                ));
            }
            Ok(datum)
        })
        .collect()
}

fn quoted<'a>(keys: impl Iterator<Item = &'a str>) -> String {
    keys.map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// At most 200 characters of an answer, for messages.
fn clip(text: &str) -> String {
    let text = text.trim_end();
    match text.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

impl fmt::Display for CommandFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.spec.name, self.spec.command_line())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::{DataType, Field};

    use super::*;

    fn fields(spec: &[(&str, DataType, bool)]) -> Vec<FieldRef> {
        spec.iter()
            .map(|(n, t, null)| Arc::new(Field::new(*n, t.clone(), *null)))
            .collect()
    }

    #[test]
    fn answers_are_checked_against_the_output_schema() {
        let out = fields(&[("a", DataType::Int64, false), ("b", DataType::Utf8, true)]);
        assert_eq!(
            parse_answer(br#"{"b": null, "a": 3}"#, &out).unwrap(),
            vec![Datum::Int(3), Datum::Null]
        );
        let err = |line: &[u8]| parse_answer(line, &out).unwrap_err();
        assert_eq!(err(br#"{"$error": "boom"}"#), "boom");
        assert!(err(br#"{"a": 1}"#).contains("lacks the output key(s) `b`"));
        assert!(err(br#"{"a": 1, "b": "x", "c": 2}"#).contains("unexpected key(s) `c`"));
        assert!(err(br#"{"a": "1", "b": "x"}"#).contains("output `a`: expected int"));
        assert!(err(br#"{"a": null, "b": "x"}"#).contains("not nullable"));
        assert!(err(b"[1]").contains("not a JSON object"));
        assert!(err(b"{nope").contains("not valid JSON"));
        assert!(err(b"\xff\n").contains("not valid UTF-8"));
    }

    #[test]
    fn empty_command_is_rejected_naming_the_function() {
        let err = CommandFunction::new("f", vec![], ".", vec![], vec![]).unwrap_err();
        assert!(err.to_string().contains("`f`"), "{err}");
    }

    #[test]
    fn builders_copy_on_write() {
        let f = CommandFunction::new("f", vec!["true".into()], ".", vec![], vec![]).unwrap();
        let g = f.clone().with_version("v2.1").with_max_line_bytes(10);
        assert_eq!(f.version(), "v0.0");
        assert_eq!(g.version(), "v2.1");
        assert_eq!(g.max_line_bytes(), 10);
        assert_eq!(f.max_line_bytes(), DEFAULT_MAX_LINE_BYTES);
    }
}
