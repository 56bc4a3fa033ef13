//! One running process's conversation: a request written and its answer read over
//! non-blocking pipes, with a deadline, and the end of the process's output read
//! when its input is closed.
//!
//! It never blocks on a pipe: it waits with `poll` on stdout and stdin at once, then
//! reads or writes what it can, so it reads answers while it writes a long request and
//! a command that stops reading cannot block it past the deadline. It cuts the output
//! into lines ([`LineFramer`]) but does not read them as answers: what a line means is
//! the worker's business.

use std::io::{self, Read, Write};
use std::process::{ChildStdin, ChildStdout};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};

use super::errors::{Verdict, STDOUT_RULE};
use super::process::Process;
use super::wait;
use crate::function::jsonl::{clip, LineFramer};

/// How long a command that closed its stdout (or stopped reading its stdin) may take to
/// exit before it is killed.
pub(super) const EXIT_GRACE: Duration = Duration::from_secs(2);

/// While waiting for an answer, how often to check whether the command's process has
/// exited (when a process it started keeps its stdout open, no end-of-file comes).
const LEADER_CHECK: Duration = Duration::from_secs(1);

/// How much is read from the command's stdout at once.
const READ_CHUNK: usize = 64 * 1024;

/// A running process of the command and both ends of the conversation.
#[derive(Debug)]
pub(super) struct Running {
    /// Non-blocking; `None` once closed (the command sees end-of-file).
    stdin: Option<ChildStdin>,
    /// The process itself: dropped after stdin is closed (killed with its group and
    /// reaped unless it was already).
    pub(super) process: Process,
    /// Non-blocking.
    stdout: ChildStdout,
    pub(super) framer: LineFramer,
    scratch: Vec<u8>,
    /// The most stdout may hold, unread, before the request is written.
    max_pending: usize,
    /// The command's stdout reached its end: no more bytes will ever come.
    pub(super) eof: bool,
    /// Requests written (completely or not) to this process.
    pub(super) requests: u64,
    /// Answers of this process returned by `call` and not proven yet (`jsonl`).
    pub(super) provisional: usize,
}

/// How waiting for an answer ended.
pub(super) enum Wait {
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
pub(super) struct Closed {
    /// The first non-blank line (or partial line) that came, clipped.
    extra: Option<String>,
    /// Why the output could not be read to its end, if it could not.
    unread: Option<String>,
    /// How it ended, e.g. "exited (exit status: 0)".
    pub(super) status: String,
}

impl Closed {
    /// What the end of the process says about its provisional answers; `command` is
    /// the command line, for messages.
    pub(super) fn verdict(self, command: &str, after: &str) -> Verdict {
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
    /// The conversation with a freshly started `process`, whose answer lines may be
    /// `max_line_bytes` long.
    pub(super) fn new(
        process: Process,
        stdin: ChildStdin,
        stdout: ChildStdout,
        max_line_bytes: usize,
    ) -> Self {
        Running {
            stdin: Some(stdin),
            process,
            stdout,
            framer: LineFramer::new(max_line_bytes),
            scratch: vec![0; READ_CHUNK],
            max_pending: max_line_bytes.saturating_add(READ_CHUNK),
            eof: false,
            requests: 0,
            provisional: 0,
        }
    }

    /// Waits until stdout is readable (or closed) or, if `write`, stdin writable (or
    /// closed), for at most `timeout`. Returns (stdout ready, stdin ready).
    fn poll(&self, write: bool, timeout: Option<Duration>) -> io::Result<(bool, bool)> {
        let stdin = self.stdin.as_ref().filter(|_| write);
        let mut fds = Vec::with_capacity(2);
        fds.push(PollFd::new(&self.stdout, PollFlags::IN));
        if let Some(stdin) = stdin {
            fds.push(PollFd::new(stdin, PollFlags::OUT));
        }
        wait::poll(&mut fds, timeout)?;
        Ok((
            !fds[0].revents().is_empty(),
            fds.get(1).is_some_and(|f| !f.revents().is_empty()),
        ))
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
    pub(super) fn read_available(&mut self) -> io::Result<()> {
        for _ in 0..16 {
            if self.eof || self.framer.has_text() || !self.read_some()? {
                break;
            }
        }
        Ok(())
    }

    /// The first line (complete or not) that is not blank among what was read, if any.
    pub(super) fn take_text(&mut self) -> Option<String> {
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
    pub(super) fn exchange(&mut self, request: &[u8], deadline: Option<Instant>) -> Wait {
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
            let Ok(timeout) = wait::left(deadline) else {
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
            if !readable && !writable && self.process.exited() {
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

    /// Closes stdin and reads stdout to its end, stopping at the first non-blank byte;
    /// then ends the process. A command that has not closed its stdout by `grace` is
    /// killed, and what it wrote before is still read (for at most [`EXIT_GRACE`] more,
    /// in case a process that left its group holds the pipe).
    pub(super) fn close(&mut self, grace: Duration) -> Closed {
        drop(self.stdin.take());
        let mut deadline = wait::after(grace);
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
            let timeout = match wait::left(Some(deadline)) {
                Ok(timeout) => timeout,
                Err(()) if !killed => {
                    self.process.kill();
                    killed = true;
                    deadline = wait::after(EXIT_GRACE);
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
            self.process.kill()
        } else {
            self.process.finish(deadline)
        };
        Closed {
            extra,
            unread,
            status,
        }
    }
}
