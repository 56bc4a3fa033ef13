//! [`CommandWorker`]: one process of a command at a time, restarted when needed, and
//! how its answers are paired with packets: sessions whose answers a settle proves
//! under `jsonl`, echoed ids under `jsonl-id` (see the [module documentation](super)).
//!
//! It turns what the conversation ([`Running`]) saw into a packet's result and into a
//! [`Verdict`] on the session's provisional answers; it never reads a pipe or waits
//! itself.

use std::io;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::datatypes::FieldRef;

use super::errors::{human, Verdict, STDOUT_RULE};
use super::pipe::{Running, Wait, EXIT_GRACE};
use super::process::Process;
use super::spec::{CommandFunction, Protocol, Spec};
use super::stderr::StderrFile;
use super::wait;
use crate::files::outputs::{self, Scratch, OUT_DIR_VAR};
use crate::function::jsonl::{clip, read_reply, write_request, Reply, ID_KEY};
use crate::function::{FunctionError, FunctionWorker, PacketFunction};
use crate::model::Datum;

/// How long a settle waits for the command to finish its output and exit after its
/// stdin was closed, before killing it.
pub const SETTLE_GRACE: Duration = Duration::from_secs(5);

/// Under `jsonl`, [`FunctionWorker::wants_settle`] says yes once the oldest provisional
/// answer was asked for this long ago.
pub const SESSION_LENGTH: Duration = Duration::from_secs(2);

// Implemented here rather than in `spec.rs`, so that the spec does not depend on its
// workers.
impl PacketFunction for CommandFunction {
    fn name(&self) -> &str {
        &self.spec().name
    }
    fn version(&self) -> &str {
        &self.spec().version
    }
    fn type_id(&self) -> &str {
        "command.jsonl.v0"
    }
    fn input_schema(&self) -> &[FieldRef] {
        &self.spec().input
    }
    fn output_schema(&self) -> &[FieldRef] {
        &self.spec().output
    }
    fn start_worker(&self) -> Result<Box<dyn FunctionWorker>, FunctionError> {
        Ok(Box::new(CommandWorker::start(self)?))
    }
    fn as_command(&self) -> Option<&CommandFunction> {
        Some(self)
    }
}

/// A worker of a [`CommandFunction`]: one process of the command at a time, restarted
/// when needed (see the [module documentation](super)). Dropping the worker kills its
/// process group and reaps the process.
#[derive(Debug)]
pub struct CommandWorker {
    spec: Arc<Spec>,
    process: Option<Running>,
    stderr: StderrFile,
    /// The id of the latest request (`jsonl-id`).
    last_id: u64,
    /// Why answers returned since the last settle by processes that are gone cannot be
    /// trusted or confirmed (`jsonl`).
    disproved: Option<FunctionError>,
    /// When the oldest answer not yet settled was asked for (`jsonl`).
    oldest_provisional: Option<Instant>,
    /// The scratch directory named by `ORCAPOD_OUT_DIR`, when the process has an output
    /// area ([`outputs::use_area`]): emptied before each packet, its answered files
    /// moved into the area after it.
    scratch: Option<Scratch>,
}

impl CommandWorker {
    /// Starts the command of `function`. Errors (naming the command and the OS error)
    /// if it cannot be started.
    pub fn start(function: &CommandFunction) -> Result<Self, FunctionError> {
        let spec = Arc::clone(function.spec());
        let stderr = StderrFile::create().map_err(|e| {
            FunctionError::new(format!(
                "function `{}`: cannot create a temporary file for the stderr of `{}`: {e}",
                spec.name,
                spec.command_line()
            ))
        })?;
        let scratch = match outputs::area() {
            Some(area) => Some(area.scratch().map_err(|e| {
                FunctionError::new(format!(
                    "function `{}`: cannot create its scratch directory ({OUT_DIR_VAR}): {e}",
                    spec.name
                ))
            })?),
            None => None,
        };
        let mut worker = CommandWorker {
            scratch,
            spec,
            process: None,
            stderr,
            last_id: 0,
            disproved: None,
            oldest_provisional: None,
        };
        worker.spawn()?;
        Ok(worker)
    }

    /// The process id of the running command, if one is running.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(|p| p.process.id())
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
        let mut command = Command::new(&spec.command[0]);
        command
            .args(&spec.command[1..])
            .current_dir(&spec.working_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr));
        if let Some(scratch) = &self.scratch {
            command.env(OUT_DIR_VAR, scratch.dir());
        }
        let (process, stdin, stdout) = Process::spawn(&mut command).map_err(start_error)?;
        self.process = Some(Running::new(process, stdin, stdout, spec.max_line_bytes));
        Ok(())
    }

    /// Discards the running process (killing its group unless it was reaped), judging
    /// its provisional answers by `verdict`.
    fn discard(&mut self, verdict: Verdict) {
        let Some(process) = self.process.take() else {
            return;
        };
        if self.spec.protocol != Protocol::Jsonl || process.provisional == 0 {
            return;
        }
        let Some(error) = verdict.into_error() else {
            return;
        };
        // The first reason is kept, unless it leaves the answers free to compute again
        // and this one does not.
        match &self.disproved {
            Some(first) if !first.rerun || error.rerun => {}
            _ => self.disproved = Some(error),
        }
    }

    /// Before a request: ends a process that ended or broke the protocol since the
    /// previous call, so that the request goes to a fresh one.
    fn check_between_packets(&mut self) {
        let Some(p) = self.process.as_mut() else {
            return;
        };
        if p.requests == 0 {
            // Anything a fresh process wrote will be read as its first answer.
            return;
        }
        let read = p.read_available();
        let jsonl = self.spec.protocol == Protocol::Jsonl;
        if jsonl && p.framer.has_text() {
            let line = p.take_text().unwrap_or_default();
            let message = format!(
                "command `{}` wrote a line after answering a packet: `{line}`; {STDOUT_RULE}",
                self.spec.command_line()
            );
            self.discard(Verdict::Disproved(message));
        } else if read.is_err() || p.eof || p.process.exited() {
            let verdict = p
                .close(EXIT_GRACE)
                .verdict(&self.spec.command_line(), "after answering a packet");
            self.discard(verdict);
        }
    }

    /// One exchange; the error is the packet's failure message (stderr not attached).
    fn exchange(&mut self, packet: &[(String, Datum)]) -> std::result::Result<Vec<Datum>, String> {
        let spec = Arc::clone(&self.spec);
        let jsonl = spec.protocol == Protocol::Jsonl;
        let id = match spec.protocol {
            Protocol::Jsonl => None,
            Protocol::JsonlId => {
                if packet.iter().any(|(k, _)| k == ID_KEY) {
                    return Err(format!(
                        "the packet has a column `{ID_KEY}`, which protocol `jsonl-id` \
                         uses for the packet's id: rename the column or use protocol \
                         `jsonl`"
                    ));
                }
                self.last_id += 1;
                Some(self.last_id.to_string())
            }
        };
        let mut request = Vec::with_capacity(64 + 16 * packet.len());
        write_request(&mut request, packet, id.as_deref());

        let asked = wait::now();
        let deadline = spec.timeout.map(|t| asked + t);
        let command = spec.command_line();
        let p = self
            .process
            .as_mut()
            .ok_or_else(|| format!("command `{command}` is not running"))?;
        p.requests += 1;
        match p.exchange(&request, deadline) {
            Wait::Line(line) => {
                let reply = read_reply(&line, &spec.output, id.as_deref());
                if let Reply::NotAnAnswer(why) = reply {
                    let message = format!(
                        "command `{command}` wrote a line that is not an answer: `{}` \
                         ({why}); {STDOUT_RULE}{}",
                        clip(&line),
                        if jsonl {
                            " (or use protocol `jsonl-id`, whose answers echo the \
                             packet's `$id`)"
                        } else {
                            ""
                        }
                    );
                    self.discard(Verdict::Disproved(message.clone()));
                    return Err(message);
                }
                if jsonl {
                    // Another line already there shows the pairing is off: which of the
                    // two answers this packet cannot be told.
                    let read = p.read_available();
                    if p.framer.has_text() {
                        let extra = p.take_text().unwrap_or_default();
                        let message = format!(
                            "command `{command}` wrote more than one line for one packet \
                             (`{}`, then `{extra}`); {STDOUT_RULE}",
                            clip(&line)
                        );
                        self.discard(Verdict::Disproved(message.clone()));
                        return Err(message);
                    }
                    if let Err(e) = read {
                        let message = format!("cannot read from command `{command}`: {e}");
                        self.discard(Verdict::Unconfirmed(message.clone()));
                        return Err(message);
                    }
                }
                match reply {
                    Reply::Values(values) => {
                        if jsonl {
                            p.provisional += 1;
                            self.oldest_provisional.get_or_insert(asked);
                        }
                        Ok(values)
                    }
                    Reply::Failed(message) => Err(message),
                    Reply::NotAnAnswer(_) => unreachable!("handled above"),
                }
            }
            Wait::Eof => {
                let partial = p.framer.partial().len();
                let ended = p.eof;
                let status = p.process.finish(wait::after(EXIT_GRACE));
                let partial = if partial == 0 {
                    String::new()
                } else {
                    format!(" (after a partial line of {partial} bytes)")
                };
                if ended {
                    // Its stdout ended after one line per earlier request: proven.
                    self.discard(Verdict::Proven);
                    Err(format!(
                        "command `{command}` closed its output before answering{partial}; it \
                         {status}"
                    ))
                } else {
                    self.discard(Verdict::Unconfirmed(format!(
                        "command `{command}` exited before answering a later packet, and a \
                         process it started, which held its stdout, was killed"
                    )));
                    Err(format!(
                        "command `{command}` {status} before answering{partial}; a process it \
                         started still held its stdout and was killed"
                    ))
                }
            }
            Wait::TimedOut => {
                let wrote_nothing = p.framer.bytes_seen() == 0;
                p.process.kill();
                let timeout = human(spec.timeout.unwrap_or_default());
                self.discard(Verdict::Unconfirmed(format!(
                    "command `{command}` was killed when a later packet timed out \
                     (timeout: {timeout})"
                )));
                let hint = if wrote_nothing {
                    ". It had written nothing at all to stdout: if it buffers its output, \
                     make it flush each answer (`jq --unbuffered`, `stdbuf -oL CMD`, \
                     `python3 -u` or `print(..., flush=True)`)"
                } else {
                    ""
                };
                Err(format!(
                    "no answer from command `{command}` within {timeout} (timeout: \
                     {timeout}); the command was killed{hint}"
                ))
            }
            Wait::TooLong(limit) => {
                p.process.kill();
                self.discard(Verdict::Unconfirmed(format!(
                    "command `{command}` was killed when it answered a later packet with \
                     an over-long line"
                )));
                Err(format!(
                    "command `{command}` answered with a line longer than {limit} bytes; it \
                     was killed"
                ))
            }
            Wait::Flooded(bytes) => {
                p.process.kill();
                let message = format!(
                    "command `{command}` wrote {bytes} bytes to stdout before it had read \
                     the whole packet; it was killed; {STDOUT_RULE}"
                );
                self.discard(Verdict::Disproved(message.clone()));
                Err(message)
            }
            Wait::WriteFailed(e) => {
                let closed = p.close(EXIT_GRACE);
                let message = format!(
                    "command `{command}` stopped reading its input ({e}); it {}",
                    closed.status
                );
                self.discard(closed.verdict(&command, "after answering a packet"));
                Err(message)
            }
            Wait::Io(e) => {
                p.process.kill();
                let message = format!("cannot talk to command `{command}`: {e}");
                self.discard(Verdict::Unconfirmed(message.clone()));
                Err(message)
            }
        }
    }

    /// Attaches what the command wrote to stderr since the previous call.
    fn with_stderr(&mut self, message: String, rerun: bool) -> FunctionError {
        FunctionError {
            message,
            stderr: self.stderr.since_mark(),
            rerun,
        }
    }
}

impl FunctionWorker for CommandWorker {
    fn call(&mut self, packet: &[(String, Datum)]) -> Result<Vec<Datum>, FunctionError> {
        self.check_between_packets();
        if self.process.is_none() {
            if let Err(e) = self.spawn() {
                let e = self.with_stderr(e.message, e.rerun);
                self.stderr.advance();
                return Err(e);
            }
        }
        if let Some(scratch) = &self.scratch {
            if let Err(e) = scratch.prepare() {
                return Err(FunctionError::new(format!(
                    "cannot empty the scratch directory ({OUT_DIR_VAR}) before the packet: {e}"
                )));
            }
        }
        let result = self
            .exchange(packet)
            .and_then(|values| match &self.scratch {
                Some(scratch) => scratch
                    .keep(&self.spec.output, values)
                    .map_err(|e| format!("cannot keep the files the command wrote: {e}")),
                None => Ok(values),
            });
        let result = result.map_err(|message| self.with_stderr(message, false));
        self.stderr.advance();
        result
    }

    /// Under `jsonl`, ends the session: closes the command's stdin, reads its stdout to
    /// the end (up to [`SETTLE_GRACE`], then kills it) and proves the answers returned
    /// since the previous settle only if nothing but whitespace came and no earlier
    /// process of the session broke the protocol or was killed. Under `jsonl-id` the
    /// answers are certain: always `Ok`, and the process lives on.
    fn settle(&mut self) -> Result<(), FunctionError> {
        if self.spec.protocol != Protocol::Jsonl {
            return Ok(());
        }
        self.oldest_provisional = None;
        if let Some(p) = self.process.as_mut().filter(|p| p.requests > 0) {
            let verdict = p
                .close(SETTLE_GRACE)
                .verdict(&self.spec.command_line(), "after its last answer");
            self.discard(verdict);
        }
        let result = match self.disproved.take() {
            Some(e) => Err(self.with_stderr(e.message, e.rerun)),
            None => Ok(()),
        };
        self.stderr.advance();
        result
    }

    /// Always under `jsonl-id`; under `jsonl`, once the session is broken or its oldest
    /// provisional answer was asked for [`SESSION_LENGTH`] ago.
    fn wants_settle(&self) -> bool {
        match self.spec.protocol {
            Protocol::JsonlId => true,
            Protocol::Jsonl => {
                self.disproved.is_some()
                    || self
                        .oldest_provisional
                        .is_some_and(|t| wait::elapsed(t) >= SESSION_LENGTH)
            }
        }
    }
}
