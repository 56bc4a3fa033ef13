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
//! [`settle`] closes the command's stdin, reads its stdout to the end (waiting up to
//! [`SETTLE_GRACE`], then killing it) and proves the session's answers only if not one
//! more non-blank byte came. The command may exit with any
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
//! provisional answers with an error marked [`FunctionError::for_rerun`]
//! (they were not shown wrong; a driver computes them again, free).
//!
//! [`wants_settle`] is true when the session is broken or
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
//! past the deadline. It never spawns a thread and never sleeps: waiting for a process
//! to exit is a `poll` on its pidfd, bounded like every other wait. The rest of the core
//! never reads the clock; this module must, for its deadlines (the timeout, the settle
//! and exit graces, the session length), and reads it only in `wait.rs`. Nothing it
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
//!
//! # Files
//!
//! - `spec.rs`: [`CommandFunction`] and [`Protocol`], what a command is (program,
//!   schemas, options);
//! - `worker.rs`: [`CommandWorker`], one process at a time, its sessions under `jsonl`
//!   and its ids under `jsonl-id`;
//! - `pipe.rs`: one running process's conversation: the request written and the
//!   answer read over non-blocking pipes, with deadlines;
//! - `process.rs`: the process itself: spawning it in its own group with the
//!   parent-death signal, waiting for its exit, killing and reaping it;
//! - `registry.rs`: the live commands, for [`kill_all_commands`];
//! - `stderr.rs`: the command's stderr in a private temporary file;
//! - `wait.rs`: the clock, deadlines and `poll` with the time left;
//! - `errors.rs`: the texts of failures shared by the files above.
//!
//! [`settle`]: crate::function::FunctionWorker::settle
//! [`wants_settle`]: crate::function::FunctionWorker::wants_settle
//! [`FunctionError::for_rerun`]: crate::function::FunctionError::for_rerun
//! [`FunctionError::stderr`]: crate::function::FunctionError::stderr

mod errors;
mod pipe;
mod process;
mod registry;
mod spec;
mod stderr;
mod wait;
mod worker;

pub use registry::kill_all_commands;
pub use spec::{CommandFunction, Protocol, DEFAULT_MAX_LINE_BYTES};
pub use stderr::STDERR_TAIL_BYTES;
pub use worker::{CommandWorker, SESSION_LENGTH, SETTLE_GRACE};
