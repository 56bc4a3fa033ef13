//! Packet functions backed by an external command speaking JSON Lines.
//!
//! A [`CommandFunction`] describes a command (program and arguments, working directory)
//! and the packet schemas it reads and writes. Each [`CommandWorker`] keeps a process of
//! the command running for many packets, so interpreter start-up and model loading are
//! paid once per process, not once per packet.
//!
//! # Protocol
//!
//! For each packet the worker writes one line to the command's stdin: a JSON object of
//! the packet's columns keyed by column name (strings, numbers, booleans, null, arrays
//! for lists, `{"$bytes": "<hex>"}` for bytes, and NaN and ±infinity as Python's `json`
//! module writes them, `NaN`, `Infinity` and `-Infinity`; see
//! [`jsonl::write_request`](super::jsonl::write_request)). It reads one answer line from
//! the command's stdout: a JSON object with exactly the output keys, each read against
//! the output field's type (the bare `NaN`, `Infinity` and `-Infinity` are accepted
//! where a float is expected), or `{"$error": "message"}`, which fails that packet with
//! that message. Lines that are empty or only whitespace are ignored, so
//! `print(json.dumps(answer) + "\n")` is fine. Stdout must carry nothing else: debug
//! output goes to stderr.
//!
//! Two protocols ([`Protocol`]) pair answers with packets:
//!
//! - `jsonl` (the default) is lockstep: one request line is written, one answer line is
//!   read, then the next request. Answers are *provisional* until a settle proves them
//!   (below).
//! - `jsonl-id`: each request also carries `"$id": "<n>"` (a counter of the worker, as a
//!   JSON string, first in the object) and its answer must echo it, `$error` answers
//!   included. A missing or wrong id fails that packet and restarts the command; once
//!   the id matches, pairing is certain, so answers are final when `call` returns and
//!   the process lives for the whole run.
//!
//! ## Sessions: how plain `jsonl` answers are proven
//!
//! Under `jsonl` a line cannot say which packet it answers. A command that writes one
//! line too many for some packet (a debug line, a second answer) shifts every later
//! answer by one, and nothing in the lines shows it. Whether the extra line has already
//! arrived when an answer is read is a matter of timing, so correctness cannot rest on
//! looking for it then. It rests on counting instead: a process that, over its whole
//! life, wrote exactly one non-blank line per request did not shift anything (but for
//! the one case below). A *session* is one process's life:
//! [`settle`](FunctionWorker::settle) closes the command's stdin, reads its stdout to
//! the end (waiting up to [`SETTLE_GRACE`], then killing it) and proves the session's
//! answers only if not one more non-blank byte came. The command may exit with any
//! status after answering. The next `call` starts a fresh process.
//!
//! An extra non-blank line, whenever it is seen (already there when an answer has been
//! read, before the next request is written, or at settle), breaks the session: the
//! packet just answered fails, the process is killed, and the next settle fails every
//! provisional answer of the session; the message quotes the extra line. A line that is
//! not a JSON object with exactly the output keys (nor an `{"$error": ...}` object with
//! no other key) cannot be told from a stray line, so it fails its packet and breaks the
//! session too. Right keys with a value of the wrong type fail only that packet; the
//! session goes on.
//!
//! A process that ends by itself (exits or crashes, between packets or before
//! answering one) has its stdout read to the end too, which proves its answers just as
//! a settle does; the packet it did not answer fails. A process that had to be killed
//! (a timeout, an over-long line) cannot be read to its end: the next settle fails its
//! provisional answers with an error marked [`FunctionError::for_rerun`] (they were not
//! shown wrong; a driver computes them again, free).
//!
//! [`wants_settle`](FunctionWorker::wants_settle) is true when the session is broken or
//! its oldest provisional answer was asked for more than [`SESSION_LENGTH`] ago, so the
//! answers of slow functions still stream; drivers settle at the end of each job too. A
//! driver that calls again after a break without settling gets answers from a fresh
//! process, but the next settle fails those as well (one settle covers every answer
//! since the previous one). A driver that never settles has the lockstep worker of old:
//! one process for the whole run, answers as the command gave them, never proven.
//!
//! The one case counting cannot detect: a packet answered with two lines, followed in
//! the same session by a packet answered with none (the counts balance; the answers
//! between the two are shifted). `jsonl-id` detects that too: it makes pairing certain.
//!
//! # Time
//!
//! [`CommandFunction::with_timeout`] bounds the time one packet may take, from the
//! start of writing its request to the end of its answer line. When it expires the
//! command (its whole process group) is killed and the packet fails with a message
//! naming the timeout; if the process wrote nothing at all to stdout, the message adds
//! that it may be buffering its output (`jq --unbuffered`, `stdbuf -oL CMD`,
//! `python3 -u`, `print(..., flush=True)`). The next call starts a fresh process.
//! Without a timeout a call waits as long as the command takes.
//!
//! The worker never blocks on a pipe. It waits with `poll` on the command's stdout and
//! stdin at once, then reads or writes without blocking: it reads answers while it
//! writes a long request, and a command that stops reading its input cannot block it
//! past the deadline. It never spawns a thread. The rest of the core never sleeps and
//! never reads the clock; this module must, for its deadlines (the timeout, the settle
//! and exit graces, the session length), and sleeps a few milliseconds at a time while
//! waiting for a process to exit. All of that stays inside this module, and nothing it
//! measures enters a result or a hash.
//!
//! # Failures
//!
//! Besides `$error` answers and the protocol errors above, a packet fails when its
//! answer line is longer than [`CommandFunction::with_max_line_bytes`] (the process is
//! killed), when the command stops reading its input, and when it closes its stdout,
//! exits or crashes before answering (the message gives the exit status). A failed
//! process is replaced by a fresh one on the next call, transparently; so is one that
//! exited between packets. The command's stderr goes to a private temporary file (never
//! a pipe, so no thread drains it and a chatty command never blocks on it); a failure
//! carries what the command wrote there since the previous call (at most the last
//! [`STDERR_TAIL_BYTES`] bytes) in [`FunctionError::stderr`].
//!
//! # Processes and signals
//!
//! Each process of the command runs in its own process group, and the whole group is
//! killed (SIGKILL) on a timeout, when a session breaks, and when the worker is dropped,
//! so the children of a wrapper script go too. [`kill_all_commands`] kills the group of
//! every command this process has running (the binary calls it on SIGINT and SIGTERM).
//! On Linux the kernel also kills a command when the orcapod process dies, even by
//! SIGKILL: a parent-death signal is set in the child between fork and exec (in
//! `confine_to_parent`, the one function of the workspace allowed `unsafe` code), and
//! the child checks that its parent is still the process that started it.
//!
//! That signal fires when the *thread* that started the process exits, not only the
//! process: a worker owns its process on the thread that started it, and must be used
//! on that thread (the runtime's worker threads each start their own workers). A worker
//! moved to another thread still works, but if its first thread exits, its process is
//! killed; the packet in flight then fails as a crash and the next call starts a fresh
//! process on the new thread.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::datatypes::FieldRef;
use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::process::{Pid, Signal};

use super::jsonl::{clip, read_reply, write_request, LineFramer, Reply, ID_KEY};
use super::{FunctionError, FunctionWorker, PacketFunction};
use crate::error::{Error, Result};
use crate::model::Datum;

/// The default limit on the length of one answer line (64 MiB).
pub const DEFAULT_MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

/// At most this many trailing bytes of stderr are kept in a [`FunctionError`].
pub const STDERR_TAIL_BYTES: usize = 4096;

/// How long a settle waits for the command to finish its output and exit after its
/// stdin was closed, before killing it.
pub const SETTLE_GRACE: Duration = Duration::from_secs(5);

/// Under `jsonl`, [`FunctionWorker::wants_settle`] says yes once the oldest provisional
/// answer was asked for this long ago.
pub const SESSION_LENGTH: Duration = Duration::from_secs(2);

/// Once the stderr file holds more than this after a call, it is emptied.
const STDERR_FILE_RESET_BYTES: u64 = 1024 * 1024;

/// How long a command that closed its stdout (or stopped reading its stdin) may take to
/// exit before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// While waiting for an answer, how often to check whether the command's process has
/// exited (when a process it started keeps its stdout open, no end-of-file comes).
const LEADER_CHECK: Duration = Duration::from_secs(1);

/// How much is read from the command's stdout at once.
const READ_CHUNK: usize = 64 * 1024;

/// What a command must do with its stdout, for messages.
const STDOUT_RULE: &str = "a command's stdout must carry only answers, one line per \
     packet: write debug output to stderr";

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

/// The process ids of every running command of this process (each also the id of the
/// command's process group), so that a signal handler can stop them all
/// ([`kill_all_commands`]). An id leaves the list before its process is reaped, so it
/// is never that of an unrelated process.
static LIVE_COMMANDS: std::sync::Mutex<Vec<Pid>> = std::sync::Mutex::new(Vec::new());

fn live_commands() -> std::sync::MutexGuard<'static, Vec<Pid>> {
    LIVE_COMMANDS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Kills (SIGKILL) the process group of every command process this process has started
/// and not yet reaped, for a graceful stop on SIGINT or SIGTERM: workers then see their
/// command gone, and their packets fail. Returns how many were signalled.
pub fn kill_all_commands() -> usize {
    // The lock is held while signalling: a worker takes an id out of the list (under
    // the lock) before it reaps the process, so every id signalled is still its own.
    let live = live_commands();
    live.iter().filter(|&&pid| kill_group(pid)).count()
}

/// Kills a command's process group, and the command itself should it have left its
/// group. Whether anything was signalled.
fn kill_group(pid: Pid) -> bool {
    let group = rustix::process::kill_process_group(pid, Signal::KILL).is_ok();
    let leader = rustix::process::kill_process(pid, Signal::KILL).is_ok();
    group || leader
}

/// Makes `command` start in a process group of its own and, on Linux, die when this
/// process (more exactly: the thread spawning it) dies, even by SIGKILL.
///
/// This is the one function of the workspace allowed `unsafe` code
/// (`CommandExt::pre_exec`); see the workspace `Cargo.toml`.
#[allow(unsafe_code)]
fn confine_to_parent(command: &mut Command) {
    command.process_group(0);
    #[cfg(target_os = "linux")]
    {
        let parent = rustix::process::getpid();
        // SAFETY: the closure runs in the child between fork and exec, where only
        // async-signal-safe operations are allowed. It makes two system calls through
        // rustix, `prctl(PR_SET_PDEATHSIG)` and `getppid`, which take no lock and
        // allocate nothing, and builds its error from a raw errno
        // (`io::Error::from_raw_os_error`, no allocation). It captures only a `Pid`
        // (a plain integer) and touches no memory shared with other threads.
        unsafe {
            command.pre_exec(move || {
                rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
                // The parent may have died before the signal was armed: then the
                // child was re-parented and must not run on.
                if rustix::process::getppid() != Some(parent) {
                    return Err(io::Error::from(rustix::io::Errno::SRCH));
                }
                Ok(())
            });
        }
    }
}

/// A running process of the command: the child and both ends of the conversation.
#[derive(Debug)]
struct Running {
    child: Child,
    /// The process id, also the id of its process group.
    pid: Pid,
    /// Non-blocking; `None` once closed (the command sees end-of-file).
    stdin: Option<ChildStdin>,
    /// Non-blocking.
    stdout: ChildStdout,
    framer: LineFramer,
    scratch: Vec<u8>,
    /// The most stdout may hold, unread, before the request is written.
    max_pending: usize,
    /// The command's stdout reached its end: no more bytes will ever come.
    eof: bool,
    /// The process was reaped (its id may belong to another process now).
    reaped: bool,
    /// Requests written (completely or not) to this process.
    requests: u64,
    /// Answers of this process returned by `call` and not proven yet (`jsonl`).
    provisional: usize,
}

/// How waiting for an answer ended.
enum Wait {
    /// A complete line that is not blank.
    Line(Vec<u8>),
    /// The command closed its stdout (exited, crashed) before answering, or its
    /// process exited (a process it started may still hold its stdout: then the
    /// stdout's end was not reached).
    Eof,
    /// The deadline passed.
    TimedOut,
    /// A line longer than the limit.
    TooLong(usize),
    /// The command stopped reading its input.
    WriteFailed(io::Error),
    /// The command wrote this many bytes before it had read the whole request.
    Flooded(usize),
    /// Waiting or reading failed.
    Io(io::Error),
}

/// How a process ended when its stdin was closed and its stdout read to the end.
struct Closed {
    /// The first non-blank line (or partial line) that came, clipped.
    extra: Option<String>,
    /// Why the output could not be read to its end, if it could not.
    unread: Option<String>,
    /// How it ended, e.g. "exited (exit status: 0)".
    status: String,
}

impl Closed {
    /// What the end of the process says about its provisional answers; `command` is
    /// the command line, for messages.
    fn verdict(self, command: &str, after: &str) -> Verdict {
        match (self.extra, self.unread) {
            (Some(line), _) => Verdict::Disproved(format!(
                "command `{command}` wrote a line {after}: `{line}`; {STDOUT_RULE}"
            )),
            (None, Some(why)) => {
                Verdict::Unconfirmed(format!("the output of command `{command}` {why}"))
            }
            (None, None) => Verdict::Proven,
        }
    }
}

impl Running {
    /// The time left until `deadline` (`None`: no deadline), or `Err` if it passed.
    fn left(deadline: Option<Instant>) -> Result<Option<Duration>, ()> {
        match deadline {
            None => Ok(None),
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    Err(())
                } else {
                    Ok(Some(d - now))
                }
            }
        }
    }

    /// Waits until stdout is readable (or closed) or, if `write`, stdin writable (or
    /// closed), for at most `timeout`. Returns (stdout ready, stdin ready).
    fn poll(&self, write: bool, timeout: Option<Duration>) -> io::Result<(bool, bool)> {
        // Longer waits are cut to a day (callers wait again if need be).
        let timeout = timeout.map(|t| {
            Timespec::try_from(t.min(Duration::from_secs(86_400))).unwrap_or(Timespec {
                tv_sec: 86_400,
                tv_nsec: 0,
            })
        });
        let stdin = self.stdin.as_ref().filter(|_| write);
        let mut fds = Vec::with_capacity(2);
        fds.push(PollFd::new(&self.stdout, PollFlags::IN));
        if let Some(stdin) = stdin {
            fds.push(PollFd::new(stdin, PollFlags::OUT));
        }
        match rustix::event::poll(&mut fds, timeout.as_ref()) {
            Ok(_) => Ok((
                !fds[0].revents().is_empty(),
                fds.get(1).is_some_and(|f| !f.revents().is_empty()),
            )),
            Err(rustix::io::Errno::INTR) => Ok((false, false)),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads once from stdout without blocking: whether anything (bytes or the end)
    /// came.
    fn read_some(&mut self) -> io::Result<bool> {
        match self.stdout.read(&mut self.scratch) {
            Ok(0) => {
                self.eof = true;
                Ok(true)
            }
            Ok(n) => {
                self.framer.push(&self.scratch[..n]);
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// Reads what stdout holds now, without waiting; stops early once something that
    /// is not whitespace came (and after a few chunks of whitespace).
    fn read_available(&mut self) -> io::Result<()> {
        for _ in 0..16 {
            if self.eof || self.framer.has_text() || !self.read_some()? {
                break;
            }
        }
        Ok(())
    }

    /// The first line (complete or not) that is not blank among what was read, if any.
    fn take_text(&mut self) -> Option<String> {
        match self.framer.next_line() {
            Ok(Some(line)) => return Some(clip(line)),
            Err(e) => return Some(format!("(a line longer than {} bytes)", e.limit)),
            Ok(None) => {}
        }
        // No complete line (or one too long to take): the start of one.
        self.framer
            .partial_has_text()
            .then(|| format!("{}…", clip(self.framer.partial())))
    }

    /// Writes `request` and waits for the next non-blank line, until `deadline`.
    fn exchange(&mut self, request: &[u8], deadline: Option<Instant>) -> Wait {
        let mut written = 0;
        loop {
            // A line counts once the request is written: a line-oriented command cannot
            // have answered before (lines are taken in order either way).
            if written == request.len() || self.eof {
                match self.framer.next_line() {
                    Ok(Some(line)) => return Wait::Line(line.to_vec()),
                    Ok(None) => {}
                    Err(e) => return Wait::TooLong(e.limit),
                }
                if self.eof {
                    return Wait::Eof;
                }
            }
            let Ok(timeout) = Self::left(deadline) else {
                return Wait::TimedOut;
            };
            let writing = written < request.len();
            // Wake up now and then to see whether the command's process has exited
            // while a process it started still holds its stdout open.
            let timeout = Some(timeout.map_or(LEADER_CHECK, |t| t.min(LEADER_CHECK)));
            let (readable, writable) = match self.poll(writing, timeout) {
                Ok(ready) => ready,
                Err(e) => return Wait::Io(e),
            };
            if !readable && !writable && self.exited() {
                if let Err(e) = self.read_available() {
                    return Wait::Io(e);
                }
                if written == request.len() {
                    match self.framer.next_line() {
                        Ok(Some(line)) => return Wait::Line(line.to_vec()),
                        Ok(None) => {}
                        Err(e) => return Wait::TooLong(e.limit),
                    }
                }
                return Wait::Eof;
            }
            if writable {
                let Some(stdin) = self.stdin.as_mut() else {
                    return Wait::WriteFailed(io::ErrorKind::BrokenPipe.into());
                };
                match stdin.write(&request[written..]) {
                    Ok(n) => written += n,
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                        ) => {}
                    Err(e) => return Wait::WriteFailed(e),
                }
            }
            if readable {
                if let Err(e) = self.read_some() {
                    return Wait::Io(e);
                }
                if written < request.len() && self.framer.pending_len() > self.max_pending {
                    // A command that writes this much before reading its whole request
                    // cannot be answering it.
                    return Wait::Flooded(self.framer.pending_len());
                }
            }
        }
    }

    /// Whether the command's own process has exited (it is not reaped: its id stays
    /// reserved).
    fn exited(&self) -> bool {
        use rustix::process::{WaitId, WaitIdOptions};
        matches!(
            rustix::process::waitid(
                WaitId::Pid(self.pid),
                WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT,
            ),
            Ok(Some(_))
        )
    }

    /// Takes the process out of the registry, kills its group and reaps it; says how it
    /// ended (if it had already exited, its own status).
    fn kill(&mut self) -> String {
        if self.reaped {
            return "was already reaped".into();
        }
        live_commands().retain(|&p| p != self.pid);
        kill_group(self.pid);
        self.reaped = true;
        match self.child.wait() {
            Ok(status) => describe_exit(status),
            Err(e) => format!("could not be reaped ({e})"),
        }
    }

    /// Waits until `deadline` for the command's process to exit, then kills what is
    /// left of its group and reaps it; says how it ended.
    fn finish(&mut self, deadline: Instant) -> String {
        let mut nap = Duration::from_millis(1);
        while !self.exited() {
            if Instant::now() >= deadline {
                self.kill();
                return "did not exit and was killed".into();
            }
            std::thread::sleep(nap);
            nap = (nap * 2).min(Duration::from_millis(20));
        }
        self.kill()
    }

    /// Closes stdin and reads stdout to its end, stopping at the first non-blank byte;
    /// then ends the process. A command that has not closed its stdout by `grace` is
    /// killed, and what it wrote before is still read (for at most [`EXIT_GRACE`] more,
    /// in case a process that left its group holds the pipe).
    fn close(&mut self, grace: Duration) -> Closed {
        drop(self.stdin.take());
        let mut deadline = Instant::now() + grace;
        let mut killed = false;
        let mut unread = None;
        let extra = loop {
            if let Err(e) = self.read_available() {
                unread = Some(format!("could not be read to its end ({e})"));
                break None;
            }
            if self.framer.has_text() {
                break self.take_text();
            }
            if self.eof {
                break None;
            }
            let timeout = match Self::left(Some(deadline)) {
                Ok(timeout) => timeout,
                Err(()) if !killed => {
                    self.kill();
                    killed = true;
                    deadline = Instant::now() + EXIT_GRACE;
                    continue;
                }
                Err(()) => {
                    unread = Some(
                        "did not end even after the command was killed (a process it \
                         started, outside its process group, holds it)"
                            .into(),
                    );
                    break None;
                }
            };
            if let Err(e) = self.poll(false, timeout) {
                unread = Some(format!("could not be waited for ({e})"));
                break None;
            }
        };
        let status = if killed {
            "did not exit and was killed".into()
        } else if extra.is_some() || unread.is_some() {
            self.kill()
        } else {
            self.finish(deadline)
        };
        Closed {
            extra,
            unread,
            status,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        drop(self.stdin.take());
        // Already reaped: nothing left to kill (and the id may be another's now).
        if !self.reaped {
            self.kill();
        }
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

/// How the end of a process bears on its provisional answers (`jsonl`).
enum Verdict {
    /// Its stdout was read to the end and held nothing more: its answers stand.
    Proven,
    /// It was killed before its stdout could be read to the end: its answers are
    /// unconfirmed (the message says why), and free to compute again.
    Unconfirmed(String),
    /// It wrote something that is not one answer per packet (the message says what):
    /// its answers cannot be trusted.
    Disproved(String),
}

/// A worker of a [`CommandFunction`]: one process of the command at a time, restarted
/// when needed (see the [module documentation](self)). Dropping the worker kills its
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
            last_id: 0,
            disproved: None,
            oldest_provisional: None,
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
        let mut command = Command::new(&spec.command[0]);
        command
            .args(&spec.command[1..])
            .current_dir(&spec.working_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr));
        confine_to_parent(&mut command);
        let mut child = command.spawn().map_err(start_error)?;
        let pid = Pid::from_child(&child);
        let pipes = match (child.stdin.take(), child.stdout.take()) {
            (Some(stdin), Some(stdout)) => rustix::io::ioctl_fionbio(&stdin, true)
                .and_then(|()| rustix::io::ioctl_fionbio(&stdout, true))
                .map(|()| (stdin, stdout))
                .map_err(io::Error::from),
            _ => Err(io::Error::other("started without stdin/stdout pipes")),
        };
        let (stdin, stdout) = match pipes {
            Ok(pipes) => pipes,
            Err(e) => {
                kill_group(pid);
                let _ = child.wait();
                return Err(start_error(e));
            }
        };
        live_commands().push(pid);
        self.process = Some(Running {
            child,
            pid,
            stdin: Some(stdin),
            stdout,
            framer: LineFramer::new(spec.max_line_bytes),
            scratch: vec![0; READ_CHUNK],
            max_pending: spec.max_line_bytes.saturating_add(READ_CHUNK),
            eof: false,
            reaped: false,
            requests: 0,
            provisional: 0,
        });
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
        let error = match verdict {
            Verdict::Proven => return,
            Verdict::Unconfirmed(why) => FunctionError::new(format!(
                "the answer could not be confirmed: {why}; it can be computed again"
            ))
            .for_rerun(),
            Verdict::Disproved(why) => FunctionError::new(format!(
                "the answer was withdrawn, as it may belong to another packet: {why}"
            )),
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
        } else if read.is_err() || p.eof || p.exited() {
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

        let asked = Instant::now();
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
                let status = p.finish(Instant::now() + EXIT_GRACE);
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
                p.kill();
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
                p.kill();
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
                p.kill();
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
                p.kill();
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
        let result = self
            .exchange(packet)
            .map_err(|message| self.with_stderr(message, false));
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
                        .is_some_and(|t| t.elapsed() >= SESSION_LENGTH)
            }
        }
    }
}

/// A duration as a person writes it: `500ms`, `1s`, `1.5s`, `5m`, `2h`.
fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms % 1000 != 0 {
        format!("{}s", d.as_secs_f64())
    } else {
        let s = d.as_secs();
        if s % 3600 == 0 {
            format!("{}h", s / 3600)
        } else if s % 60 == 0 {
            format!("{}m", s / 60)
        } else {
            format!("{s}s")
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

    fn field(name: &str, data_type: DataType) -> FieldRef {
        Arc::new(Field::new(name, data_type, false))
    }

    fn ints(names: &[&str]) -> Vec<FieldRef> {
        names.iter().map(|n| field(n, DataType::Int64)).collect()
    }

    /// A command function running `argv` in the temporary directory.
    fn command(argv: &[&str], input: Vec<FieldRef>, output: Vec<FieldRef>) -> CommandFunction {
        CommandFunction::new(
            "test",
            argv.iter().map(|a| a.to_string()).collect(),
            std::env::temp_dir(),
            input,
            output,
        )
        .unwrap()
    }

    /// A Python loop over request lines: `body` computes `answer` from `d` and `x`
    /// (= `d["x"]`) and may write with `out` (write and flush).
    fn python(body: &str) -> Vec<String> {
        let script = format!(
            "import json, os, sys, time\n\
             def out(text):\n    sys.stdout.write(text)\n    sys.stdout.flush()\n\
             while True:\n    line = sys.stdin.readline()\n    if not line:\n        break\n    \
             d = json.loads(line)\n    x = d.get('x')\n{}\n",
            body.lines()
                .map(|l| format!("    {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        vec!["python3".into(), "-c".into(), script]
    }

    /// `{x: int} -> {y: int}` computed by a Python loop (see [`python`]).
    fn py_xy(body: &str) -> CommandFunction {
        let argv = python(body);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        command(&argv, ints(&["x"]), ints(&["y"]))
    }

    fn x(value: i64) -> Vec<(String, Datum)> {
        vec![("x".to_string(), Datum::Int(value))]
    }

    fn y(worker: &mut CommandWorker, value: i64) -> Result<i64, FunctionError> {
        worker.call(&x(value)).map(|out| match out[..] {
            [Datum::Int(y)] => y,
            ref other => panic!("{other:?}"),
        })
    }

    /// Whether a process is gone (a zombie counts as gone: it is dead, and this test
    /// process may not be the one to reap it).
    fn dead(pid: u32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        }
    }

    fn wait_until_dead(pid: u32, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if dead(pid) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        dead(pid)
    }

    #[test]
    fn empty_command_is_rejected_naming_the_function() {
        let err = CommandFunction::new("f", vec![], ".", vec![], vec![]).unwrap_err();
        assert!(err.to_string().contains("`f`"), "{err}");
    }

    #[test]
    fn builders_copy_on_write() {
        let f = CommandFunction::new("f", vec!["true".into()], ".", vec![], vec![]).unwrap();
        let g = f
            .clone()
            .with_version("v2.1")
            .with_max_line_bytes(10)
            .with_protocol(Protocol::JsonlId)
            .with_timeout(Some(Duration::from_secs(3)));
        assert_eq!(f.version(), "v0.0");
        assert_eq!(g.version(), "v2.1");
        assert_eq!(g.max_line_bytes(), 10);
        assert_eq!(f.max_line_bytes(), DEFAULT_MAX_LINE_BYTES);
        assert_eq!((f.protocol(), f.timeout()), (Protocol::Jsonl, None));
        assert_eq!(
            (g.protocol(), g.timeout()),
            (Protocol::JsonlId, Some(Duration::from_secs(3)))
        );
    }

    #[test]
    fn durations_are_written_as_people_write_them() {
        let cases = [
            (500, "500ms"),
            (1000, "1s"),
            (1500, "1.5s"),
            (90_000, "90s"),
        ];
        for (ms, text) in cases {
            assert_eq!(human(Duration::from_millis(ms)), text);
        }
        assert_eq!(human(Duration::from_secs(300)), "5m");
        assert_eq!(human(Duration::from_secs(7200)), "2h");
    }

    #[test]
    fn blank_lines_after_answers_are_ignored_and_settle_proves_the_answers() {
        // The common idiom: print(json.dumps(answer) + "\n") writes a blank line after
        // each answer. Whitespace-only lines are blank too.
        let f = py_xy("print(json.dumps({'y': 2 * x}) + '\\n' + ' \\t\\r\\n', flush=True)");
        let mut worker = CommandWorker::start(&f).unwrap();
        let first = worker.pid();
        for i in 0..6 {
            assert_eq!(y(&mut worker, i).unwrap(), 2 * i, "packet {i}");
        }
        assert!(!worker.wants_settle());
        assert_eq!(worker.settle(), Ok(()));
        // The session is over: the next call has a fresh process, and answers again.
        assert_eq!(y(&mut worker, 10).unwrap(), 20);
        assert_ne!(worker.pid(), first);
        assert_eq!(worker.settle(), Ok(()));
        // A settle without answers since the previous one keeps the fresh process.
        worker.settle().unwrap();
        let fresh = worker.call(&x(1)).map(|_| worker.pid()).unwrap();
        worker.settle().unwrap();
        assert_eq!(worker.settle(), Ok(()));
        assert!(fresh.is_some());
    }

    #[test]
    fn a_stray_json_line_before_an_answer_fails_the_packet_and_the_session() {
        let f = py_xy(
            "if x == 2:\n    out(json.dumps({'debug': 'about to answer'}) + '\\n')\n\
             out(json.dumps({'y': 2 * x}) + '\\n')",
        );
        let mut worker = CommandWorker::start(&f).unwrap();
        assert_eq!(y(&mut worker, 1).unwrap(), 2);
        let err = y(&mut worker, 2).unwrap_err();
        for part in [
            r#"{"debug": "about to answer"}"#,
            "not an answer",
            "stdout must carry only answers, one line per packet",
            "debug output to stderr",
            "jsonl-id",
        ] {
            assert!(err.message.contains(part), "{part}: {}", err.message);
        }
        assert!(!err.rerun);
        assert!(worker.wants_settle());
        // A driver that goes on without settling gets a right answer from a fresh
        // process, but the settle fails every answer since the previous settle.
        assert_eq!(y(&mut worker, 3).unwrap(), 6);
        let err = worker.settle().unwrap_err();
        assert!(err.message.contains("withdrawn"), "{}", err.message);
        assert!(err.message.contains("about to answer"), "{}", err.message);
        assert!(!err.rerun);
        assert!(!worker.wants_settle());
        // The next session is clean.
        assert_eq!(y(&mut worker, 4).unwrap(), 8);
        assert_eq!(worker.settle(), Ok(()));
    }

    #[test]
    fn a_stray_line_after_an_answer_fails_the_session() {
        // Written with the answer (so already there when the answer is read) or a
        // moment later (so only seen before the next request or at settle).
        for writes in [
            "out(json.dumps({'y': 2 * x}) + '\\n' + json.dumps({'debug': x}) + '\\n')",
            "out(json.dumps({'y': 2 * x}) + '\\n')\ntime.sleep(0.1)\n\
             out(json.dumps({'debug': x}) + '\\n')",
        ] {
            let f = py_xy(&format!(
                "if x == 2:\n{}\nelse:\n    out(json.dumps({{'y': 2 * x}}) + '\\n')",
                writes
                    .lines()
                    .map(|l| format!("    {l}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ));
            let mut worker = CommandWorker::start(&f).unwrap();
            let answers: Vec<_> = (1..=3).map(|i| (i, y(&mut worker, i))).collect();
            for (i, answer) in &answers {
                if let Ok(value) = answer {
                    assert_eq!(*value, 2 * i, "{writes}");
                }
            }
            assert!(
                answers.iter().any(|(_, a)| a.is_err()),
                "{writes}: {answers:?}"
            );
            let err = worker.settle().unwrap_err();
            assert!(err.message.contains(r#"{"debug": 2}"#), "{}", err.message);
            assert!(!err.rerun);
        }
        // At the end of a session, seen only by settle.
        let f = py_xy(
            "out(json.dumps({'y': 2 * x}) + '\\n')\nif x == 2:\n    time.sleep(0.1)\n    \
             out('debug: done\\n')",
        );
        let mut worker = CommandWorker::start(&f).unwrap();
        assert_eq!(y(&mut worker, 1).unwrap(), 2);
        assert_eq!(y(&mut worker, 2).unwrap(), 4);
        let err = worker.settle().unwrap_err();
        assert!(
            err.message.contains("after its last answer: `debug: done`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn two_answers_for_one_packet_never_settle_whatever_the_timing() {
        // Packet 2 is answered twice: in one write, or in two writes apart, so that the
        // second may be read as the answer to packet 3 (and so on): settle must fail.
        for writes in [
            "out(json.dumps({'y': 2 * x}) + '\\n' + json.dumps({'y': 2 * x}) + '\\n')",
            "out(json.dumps({'y': 2 * x}) + '\\n')\ntime.sleep(0.2)\n\
             out(json.dumps({'y': 2 * x}) + '\\n')",
        ] {
            let f = py_xy(&format!(
                "if x == 2:\n{}\nelse:\n    out(json.dumps({{'y': 2 * x}}) + '\\n')",
                writes
                    .lines()
                    .map(|l| format!("    {l}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ));
            for pause in [Duration::ZERO, Duration::from_millis(300)] {
                let mut worker = CommandWorker::start(&f).unwrap();
                let mut wrong = 0;
                for i in 1..=5 {
                    if let Ok(value) = y(&mut worker, i) {
                        wrong += usize::from(value != 2 * i);
                    }
                    if i == 2 {
                        std::thread::sleep(pause);
                    }
                }
                let err = worker.settle().unwrap_err();
                assert!(
                    err.message.contains("withdrawn") && err.message.contains("{\"y\": "),
                    "{writes}, {pause:?} ({wrong} wrong): {}",
                    err.message
                );
            }
        }
    }

    #[test]
    fn a_value_of_the_wrong_type_fails_only_its_packet() {
        let f = py_xy("out(json.dumps({'y': 'two' if x == 2 else 2 * x}) + '\\n')");
        let mut worker = CommandWorker::start(&f).unwrap();
        let pid = worker.pid();
        assert_eq!(y(&mut worker, 1).unwrap(), 2);
        let err = y(&mut worker, 2).unwrap_err();
        assert!(
            err.message.contains("output `y`: expected int"),
            "{}",
            err.message
        );
        assert_eq!(y(&mut worker, 3).unwrap(), 6);
        assert_eq!(worker.pid(), pid);
        assert_eq!(worker.settle(), Ok(()));
    }

    #[test]
    fn jsonl_id_pairs_answers_by_id_and_keeps_its_process() {
        let f = py_xy(
            "assert list(d)[0] == '$id' and isinstance(d['$id'], str)\n\
             out(json.dumps({'y': 2 * x, '$id': d['$id']}) + '\\n\\n')",
        )
        .with_protocol(Protocol::JsonlId);
        let mut worker = CommandWorker::start(&f).unwrap();
        let pid = worker.pid();
        for i in 0..5 {
            assert_eq!(y(&mut worker, i).unwrap(), 2 * i);
            assert!(worker.wants_settle());
            assert_eq!(worker.settle(), Ok(()));
        }
        assert_eq!(worker.pid(), pid, "the process lives on");
    }

    #[test]
    fn jsonl_id_fails_a_packet_with_a_wrong_or_missing_id_and_restarts() {
        let f = py_xy(
            "i = str(int(d['$id']) + 1) if x == 2 else d['$id']\n\
             out(json.dumps({'y': 2 * x, '$id': i}) + '\\n')\n\
             if x == 4:\n    out(json.dumps({'y': 0}) + '\\n')",
        )
        .with_protocol(Protocol::JsonlId);
        let mut worker = CommandWorker::start(&f).unwrap();
        let pid = worker.pid();
        assert_eq!(y(&mut worker, 1).unwrap(), 2);
        let err = y(&mut worker, 2).unwrap_err();
        assert!(
            err.message
                .contains("`$id` is \"3\" where \"2\" was expected"),
            "{}",
            err.message
        );
        assert_ne!(worker.pid(), pid, "restarted");
        assert_eq!(y(&mut worker, 3).unwrap(), 6);
        // A stray line after an answer: that answer is certain, the next packet reads
        // the stray line and fails.
        assert_eq!(y(&mut worker, 4).unwrap(), 8);
        let err = y(&mut worker, 5).unwrap_err();
        assert!(err.message.contains("has no `$id`"), "{}", err.message);
        assert_eq!(y(&mut worker, 6).unwrap(), 12);
        assert_eq!(worker.settle(), Ok(()));
    }

    #[test]
    fn a_hanging_command_times_out_is_killed_and_replaced() {
        // A background child shares the command's process group: it goes too.
        let f = py_xy(
            "if x == 0:\n    import subprocess\n    \
             c = subprocess.Popen(['sleep', '60'])\n    \
             out(json.dumps({'y': c.pid}) + '\\n')\nelif x == 1:\n    time.sleep(60)\n\
             else:\n    out(json.dumps({'y': 2 * x}) + '\\n')",
        )
        .with_timeout(Some(Duration::from_secs(2)));
        let mut worker = CommandWorker::start(&f).unwrap();
        let pid = worker.pid().unwrap();
        let grandchild = y(&mut worker, 0).unwrap() as u32;
        let started = Instant::now();
        let err = y(&mut worker, 1).unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert!(
            err.message
                .contains("within 2s (timeout: 2s); the command was killed"),
            "{}",
            err.message
        );
        // It had answered before: no buffering hint.
        assert!(!err.message.contains("--unbuffered"), "{}", err.message);
        assert!(dead(pid), "the command");
        assert!(
            wait_until_dead(grandchild, Duration::from_secs(2)),
            "its child"
        );
        // The next call has a new process.
        assert_eq!(y(&mut worker, 2).unwrap(), 4);
        assert_ne!(worker.pid(), Some(pid));
        // The answer of packet 0 could not be confirmed: free to compute again.
        assert!(worker.wants_settle());
        let err = worker.settle().unwrap_err();
        assert!(err.rerun, "{err:?}");
        assert!(err.message.contains("timed out"), "{}", err.message);
    }

    #[test]
    fn a_command_that_answers_nothing_gets_the_buffering_hint() {
        // A shell script (quick to start, so that the fresh process of the last call
        // answers within the timeout even on a loaded machine) that hangs on packet 1.
        let f = command(
            &[
                "sh",
                "-c",
                r#"while read -r line; do
                     case "$line" in
                       *'"x":1}'*) sleep 60 ;;
                       *) echo '{"y": 4}' ;;
                     esac
                   done"#,
            ],
            ints(&["x"]),
            ints(&["y"]),
        )
        .with_timeout(Some(Duration::from_millis(500)));
        let mut worker = CommandWorker::start(&f).unwrap();
        let started = Instant::now();
        let err = y(&mut worker, 1).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(3));
        for part in [
            "timeout: 500ms",
            "written nothing at all to stdout",
            "`jq --unbuffered`",
            "`stdbuf -oL CMD`",
            "`python3 -u`",
            "`print(..., flush=True)`",
        ] {
            assert!(err.message.contains(part), "{part}: {}", err.message);
        }
        // Nothing was provisional.
        assert_eq!(worker.settle(), Ok(()));
        // The next call has a fresh process.
        assert_eq!(y(&mut worker, 2).unwrap(), 4);
        assert_eq!(worker.settle(), Ok(()));
    }

    #[test]
    fn block_buffered_tools_time_out_with_the_hint() {
        // awk and jq buffer their output when it is a pipe: the answer never comes.
        for argv in [
            &["awk", "{ print \"{\\\"y\\\": 1}\" }"][..],
            &["jq", "-c", "{y: .x}"][..],
        ] {
            let f = command(argv, ints(&["x"]), ints(&["y"]))
                .with_timeout(Some(Duration::from_millis(500)));
            let mut worker = CommandWorker::start(&f).unwrap();
            let started = Instant::now();
            let err = y(&mut worker, 1).unwrap_err();
            assert!(started.elapsed() < Duration::from_secs(3), "{argv:?}");
            assert!(
                err.message.contains("--unbuffered"),
                "{argv:?}: {}",
                err.message
            );
        }
        // Unbuffered, jq answers, and exits at the end of its input: settle proves it.
        let f = command(
            &["jq", "--unbuffered", "-c", "{y: (.x * 2)}"],
            ints(&["x"]),
            ints(&["y"]),
        )
        .with_timeout(Some(Duration::from_secs(5)));
        let mut worker = CommandWorker::start(&f).unwrap();
        for i in 0..3 {
            assert_eq!(y(&mut worker, i).unwrap(), 2 * i);
        }
        assert_eq!(worker.settle(), Ok(()));
    }

    #[test]
    fn a_command_that_never_reads_its_input_cannot_block_the_worker() {
        // A request far larger than a pipe holds, to a command that never reads it.
        let f = command(
            &["sleep", "60"],
            vec![field("s", DataType::Utf8)],
            ints(&["y"]),
        )
        .with_timeout(Some(Duration::from_millis(500)));
        let mut worker = CommandWorker::start(&f).unwrap();
        let started = Instant::now();
        let err = worker
            .call(&[("s".into(), Datum::Str("x".repeat(4 << 20)))])
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(3));
        assert!(err.message.contains("timeout: 500ms"), "{}", err.message);
    }

    #[test]
    fn long_requests_and_answers_cross_in_pieces() {
        let argv = python("out(json.dumps({'n': len(d['s']), 'echo': d['s']}) + '\\n')");
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let f = command(
            &argv,
            vec![field("s", DataType::Utf8)],
            vec![field("n", DataType::Int64), field("echo", DataType::Utf8)],
        )
        .with_timeout(Some(Duration::from_secs(20)));
        let mut worker = CommandWorker::start(&f).unwrap();
        let text: String = (0..3_000_000)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let out = worker
            .call(&[("s".into(), Datum::Str(text.clone()))])
            .unwrap();
        assert_eq!(out, vec![Datum::Int(3_000_000), Datum::Str(text)]);
        assert_eq!(worker.settle(), Ok(()));
    }

    #[test]
    fn non_finite_floats_round_trip_through_python() {
        let float_list = DataType::LargeList(Arc::new(Field::new("item", DataType::Float64, true)));
        let argv = python(
            "out(json.dumps({'y': d['f'], 'r': repr(d['f']), 'ys': d['fs'], \
             'rs': [repr(v) for v in d['fs']]}) + '\\n')",
        );
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let f = command(
            &argv,
            vec![
                field("f", DataType::Float64),
                field("fs", float_list.clone()),
            ],
            vec![
                field("y", DataType::Float64),
                field("r", DataType::Utf8),
                field("ys", float_list),
                field(
                    "rs",
                    DataType::LargeList(Arc::new(Field::new("item", DataType::Utf8, true))),
                ),
            ],
        );
        let mut worker = CommandWorker::start(&f).unwrap();
        let specials = [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.1,
            -0.0,
            12345.5,
        ];
        for v in specials {
            let list = Datum::List(specials.iter().map(|&s| Datum::Float(s)).collect());
            let out = worker
                .call(&[("f".into(), Datum::Float(v)), ("fs".into(), list)])
                .unwrap();
            let same = |a: &Datum, b: f64| match a {
                Datum::Float(a) => a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                _ => false,
            };
            assert!(same(&out[0], v), "{v}: {:?}", out[0]);
            let python_repr = |v: f64| match v {
                v if v.is_nan() => "nan".to_string(),
                f64::INFINITY => "inf".into(),
                f64::NEG_INFINITY => "-inf".into(),
                v if v == 0.0 && v.is_sign_negative() => "-0.0".into(),
                v => format!("{v:?}"),
            };
            assert_eq!(
                out[1],
                Datum::Str(python_repr(v)),
                "Python read {v} as a float"
            );
            let Datum::List(ys) = &out[2] else { panic!() };
            assert!(ys.iter().zip(specials).all(|(a, b)| same(a, b)), "{ys:?}");
            let Datum::List(rs) = &out[3] else { panic!() };
            let expected: Vec<Datum> = specials
                .iter()
                .map(|&s| Datum::Str(python_repr(s)))
                .collect();
            assert_eq!(rs, &expected);
        }
        assert_eq!(worker.settle(), Ok(()));
    }

    #[test]
    fn a_crash_fails_its_packet_and_its_stdout_proves_the_earlier_answers() {
        let f = py_xy(
            "if x == 2:\n    sys.stderr.write('giving up\\n')\n    sys.exit(3)\n\
             out(json.dumps({'y': 2 * x}) + '\\n')",
        );
        let mut worker = CommandWorker::start(&f).unwrap();
        assert_eq!(y(&mut worker, 1).unwrap(), 2);
        let err = y(&mut worker, 2).unwrap_err();
        assert!(err.message.contains("exit status: 3"), "{}", err.message);
        assert_eq!(err.stderr.as_deref(), Some("giving up\n"));
        assert_eq!(y(&mut worker, 3).unwrap(), 6);
        // The crashed process's stdout ended after one line per request: proven.
        assert_eq!(worker.settle(), Ok(()));
    }

    #[test]
    fn a_command_may_exit_with_a_failure_after_answering() {
        let f = command(
            &["sh", "-c", "read line; echo '{\"y\": 7}'; exit 4"],
            ints(&["x"]),
            ints(&["y"]),
        );
        let mut worker = CommandWorker::start(&f).unwrap();
        assert_eq!(y(&mut worker, 1).unwrap(), 7);
        assert_eq!(worker.settle(), Ok(()));
    }

    #[test]
    fn settle_kills_a_command_that_ignores_the_end_of_its_input() {
        let f = command(
            &["sh", "-c", "read line; echo '{\"y\": 7}'; exec sleep 60"],
            ints(&["x"]),
            ints(&["y"]),
        );
        let mut worker = CommandWorker::start(&f).unwrap();
        let pid = worker.pid().unwrap();
        assert_eq!(y(&mut worker, 1).unwrap(), 7);
        let started = Instant::now();
        assert_eq!(worker.settle(), Ok(()));
        let waited = started.elapsed();
        assert!(waited >= SETTLE_GRACE && waited < SETTLE_GRACE + Duration::from_secs(3));
        assert!(dead(pid));
    }

    #[test]
    fn a_session_asks_to_be_settled_after_a_while() {
        let f = py_xy("out(json.dumps({'y': 2 * x}) + '\\n')");
        let mut worker = CommandWorker::start(&f).unwrap();
        assert!(!worker.wants_settle(), "nothing to settle");
        assert_eq!(y(&mut worker, 1).unwrap(), 2);
        assert!(!worker.wants_settle());
        std::thread::sleep(SESSION_LENGTH + Duration::from_millis(50));
        assert!(worker.wants_settle());
        assert_eq!(worker.settle(), Ok(()));
        assert!(!worker.wants_settle());
    }

    #[test]
    fn a_packet_cannot_carry_the_id_key_under_jsonl_id() {
        let f = command(&["cat"], ints(&["$id"]), ints(&["y"])).with_protocol(Protocol::JsonlId);
        let mut worker = CommandWorker::start(&f).unwrap();
        let err = worker.call(&[("$id".into(), Datum::Int(1))]).unwrap_err();
        assert!(err.message.contains("column `$id`"), "{}", err.message);
    }

    /// Runs the test `name` alone in a child process of this test binary, with `mode`
    /// in the environment; returns the child (its stdout piped).
    fn run_alone(name: &str, mode: &str) -> Child {
        Command::new(std::env::current_exe().unwrap())
            .args([name, "--exact", "--test-threads=1", "--nocapture"])
            .env("ORCAPOD_COMMAND_TEST_MODE", mode)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn mode() -> Option<String> {
        std::env::var("ORCAPOD_COMMAND_TEST_MODE").ok()
    }

    const KILL_ALL: &str =
        "function::command::tests::kill_all_commands_kills_busy_commands_and_their_groups";

    #[test]
    fn kill_all_commands_kills_busy_commands_and_their_groups() {
        if mode().as_deref() != Some("kill-all") {
            // It kills every command of this process: run it in a process of its own,
            // so that the commands of tests running beside it are left alone.
            let child = run_alone(KILL_ALL, "kill-all");
            let out = child.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{stdout}");
            assert!(stdout.contains("1 passed"), "{stdout}");
            return;
        }
        // A command busy computing, with a child of its own, and an idle one.
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("child");
        let f = py_xy(&format!(
            "import subprocess\nc = subprocess.Popen(['sleep', '60'])\n\
             open({:?} + '.tmp', 'w').write(str(c.pid))\nos.rename({:?} + '.tmp', {:?})\n\
             while True:\n    pass",
            marker.display().to_string(),
            marker.display().to_string(),
            marker.display().to_string(),
        ));
        let idle = CommandWorker::start(&f).unwrap();
        let idle_pid = idle.pid().unwrap();
        let mut busy = CommandWorker::start(&f).unwrap();
        let busy_pid = busy.pid().unwrap();
        let waiting_for = marker.clone();
        let killer = std::thread::spawn(move || {
            // Once the command is busy (its child started), from another thread.
            let deadline = Instant::now() + Duration::from_secs(20);
            while !waiting_for.exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            (kill_all_commands(), Instant::now())
        });
        let err = y(&mut busy, 1).unwrap_err();
        let returned = Instant::now();
        let (killed, killed_at) = killer.join().unwrap();
        assert_eq!(killed, 2);
        assert!(
            returned.duration_since(killed_at) < Duration::from_secs(2),
            "the call returned {:?} after the kill",
            returned.duration_since(killed_at)
        );
        assert!(err.message.contains("signal: 9"), "{}", err.message);
        let grandchild: u32 = std::fs::read_to_string(&marker).unwrap().parse().unwrap();
        assert!(dead(busy_pid));
        assert!(
            wait_until_dead(grandchild, Duration::from_secs(2)),
            "its child"
        );
        assert!(
            wait_until_dead(idle_pid, Duration::from_secs(2)),
            "the idle one"
        );
        drop(idle);
        // The worker goes on with a fresh process.
        assert!(busy.pid().is_none());
    }

    const ORPHAN: &str =
        "function::command::tests::commands_die_with_the_process_that_started_them";

    #[test]
    fn commands_die_with_the_process_that_started_them() {
        if mode().as_deref() != Some("orphan") {
            // A child process starts a command, says its pid, and is killed (SIGKILL:
            // no handler, no destructor runs): the kernel must kill the command.
            let mut child = run_alone(ORPHAN, "orphan");
            let mut stdout = child.stdout.take().unwrap();
            let mut seen = Vec::new();
            let mut buf = [0u8; 256];
            let pid: u32 = loop {
                let n = stdout.read(&mut buf).unwrap();
                assert!(n > 0, "{}", String::from_utf8_lossy(&seen));
                seen.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&seen);
                if let Some(rest) = text.split("command pid ").nth(1) {
                    if let Some((pid, _)) = rest.split_once('\n') {
                        break pid.parse().unwrap();
                    }
                }
            };
            assert!(!dead(pid));
            child.kill().unwrap();
            child.wait().unwrap();
            assert!(
                wait_until_dead(pid, Duration::from_secs(2)),
                "{pid} outlived its parent"
            );
            return;
        }
        // A command that would outlive its parent: it never reads its input, so it
        // does not end when its stdin closes.
        let f = command(&["sleep", "60"], ints(&["x"]), ints(&["y"]));
        let worker = CommandWorker::start(&f).unwrap();
        println!("command pid {}", worker.pid().unwrap());
        std::thread::sleep(Duration::from_secs(60));
        drop(worker);
    }
}
