//! A submitted chunk ([`Chunk`]) and how it is read back ([`outcome`]): by its exit
//! marker when there is one (its whole stdout read with the pairing rules of a local
//! worker), else by what `squeue` says of its task; with the tails of its stderr and of
//! Slurm's log for failures.
//!
//! It reads a chunk's files and a snapshot it is given: it never runs a Slurm command,
//! waits, nor touches the ledger or the node.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use orcapod::files::outputs::{self, Answered, OutputArea, Outside};
use orcapod::function::command::{CommandFunction, STDERR_TAIL_BYTES};
use orcapod::function::slurm::answers::{read_answers, Answer};
use orcapod::function::slurm::chunk::{read_marker, ChunkPaths};
use orcapod::function::slurm::status::{TaskId, TaskState};
use orcapod::function::{FunctionError, PacketFunction, PacketResult};

use super::ledger::PacketRef;
use super::poller::Snapshot;

/// A task that `squeue` no longer lists (or lists as completed) without an exit marker
/// fails after this many more answers (the marker may be late on a shared filesystem).
const MARKER_GRACE_POLLS: u32 = 3;

/// A chunk submitted and not yet read back.
pub(crate) struct Chunk {
    pub paths: ChunkPaths,
    pub packets: Vec<PacketRef>,
    pub task: TaskId,
    /// Answers of `squeue` since it stopped listing the task as live, without a marker.
    pub unmarked: u32,
}

/// The results of `chunk` (of `n` packets), if it has finished: by its exit marker, else
/// by its state in `snapshot`. When the command writes files (it was given
/// `ORCAPOD_OUT_DIR`), each answer's files are moved into the output area, as a local
/// worker moves them, and the chunk's files directory is removed.
pub(crate) fn outcome(
    chunk: &mut Chunk,
    n: usize,
    command: &CommandFunction,
    snapshot: &Snapshot,
) -> Option<Vec<PacketResult>> {
    let answers = answers(chunk, n, command, snapshot)?;
    let results = match writes_files(command) {
        Some(area) => {
            let results = keep_files(&area, chunk, command, answers);
            let files = chunk.paths.files();
            if let Err(e) = std::fs::remove_dir_all(&files) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    eprintln!("warning: cannot remove {}: {e}", files.display());
                }
            }
            results
        }
        None => answers.into_iter().map(|(result, _)| result).collect(),
    };
    Some(results)
}

/// The output area the files `command` answers are moved into, when it writes files
/// on Slurm: a run with an area, and a command whose outputs hold files.
pub(crate) fn writes_files(command: &CommandFunction) -> Option<std::sync::Arc<OutputArea>> {
    outputs::area().filter(|_| outputs::outputs_hold_files(command.output_schema()))
}

/// The results of a chunk whose command wrote files: each answer's `file` values named
/// under `ORCAPOD_OUT_DIR` moved from the answer's own directory into `area`.
fn keep_files(
    area: &OutputArea,
    chunk: &Chunk,
    command: &CommandFunction,
    answers: Vec<Answer>,
) -> Vec<PacketResult> {
    let files = chunk.paths.files();
    let files = std::fs::canonicalize(&files).unwrap_or(files);
    let named = files.join("cur");
    let (job, task) = chunk.task;
    answers
        .into_iter()
        .enumerate()
        .map(|(i, (result, line))| {
            let values = result?;
            let actual = match line {
                Some(line) => files.join(line.to_string()),
                None => named.clone(),
            };
            let answered = Answered {
                named: &named,
                actual: &actual,
                outside: Outside::Visible,
            };
            area.keep(answered, command.output_schema(), values)
                .map_err(|e| {
                    FunctionError::new(format!(
                        "cannot keep the files the command wrote for packet {} of Slurm array \
                         task {job}_{task} (requests {}): {e}",
                        i + 1,
                        chunk.paths.input().display()
                    ))
                })
        })
        .collect()
}

/// The answers of `chunk` (of `n` packets), if it has finished.
fn answers(
    chunk: &mut Chunk,
    n: usize,
    command: &CommandFunction,
    snapshot: &Snapshot,
) -> Option<Vec<Answer>> {
    if let Ok(marker) = std::fs::read_to_string(chunk.paths.exit()) {
        let stderr = tail(&chunk.paths.error());
        let status = match read_marker(&marker) {
            Ok(status) => status,
            Err(message) => return Some(fail_all(n, message, stderr)),
        };
        let out = match std::fs::read(chunk.paths.output()) {
            Ok(out) => out,
            Err(e) => {
                let message = format!(
                    "cannot read the answers {}: {e}",
                    chunk.paths.output().display()
                );
                return Some(fail_all(n, message, stderr));
            }
        };
        return Some(read_answers(
            &out,
            n,
            command.output_schema(),
            command.protocol(),
            command.max_line_bytes(),
            status,
            stderr,
        ));
    }
    if snapshot.error.is_some() {
        return None;
    }
    let (job, task) = chunk.task;
    let status = snapshot.tasks.get(&chunk.task);
    match status.map(|s| s.kind()) {
        Some(TaskState::Live) => None,
        Some(TaskState::Ended) => {
            let state = status.map(|s| s.describe()).unwrap_or_default();
            let message = format!("Slurm array task {job}_{task} ended {state}");
            Some(fail_all(n, message, task_tails(chunk)))
        }
        Some(TaskState::Completed) | None => {
            chunk.unmarked += 1;
            if chunk.unmarked <= MARKER_GRACE_POLLS {
                return None;
            }
            let exit = chunk.paths.exit();
            let message = match status {
                Some(s) => format!(
                    "Slurm array task {job}_{task} ended {} but wrote no exit marker ({}); \
                     is the work directory shared with the compute nodes?",
                    s.describe(),
                    exit.display()
                ),
                None => format!(
                    "Slurm array task {job}_{task} is no longer known to Slurm and wrote no \
                     exit marker ({}); is the work directory shared with the compute nodes?",
                    exit.display()
                ),
            };
            Some(fail_all(n, message, task_tails(chunk)))
        }
    }
}

/// The tails of a chunk's stderr and of Slurm's log of its task (beside the chunk).
fn task_tails(chunk: &Chunk) -> Option<String> {
    let (job, task) = chunk.task;
    let dir = chunk.paths.stem().parent().unwrap_or(Path::new("."));
    let log = dir.join(format!("slurm-{job}_{task}.log"));
    let parts: Vec<String> = [tail(&chunk.paths.error()), tail(&log)]
        .into_iter()
        .flatten()
        .collect();
    (!parts.is_empty()).then(|| parts.join("\n"))
}

fn fail_all(n: usize, message: String, stderr: Option<String>) -> Vec<Answer> {
    let error = FunctionError {
        message,
        stderr,
        rerun: false,
    };
    (0..n).map(|_| (Err(error.clone()), None)).collect()
}

/// The last [`STDERR_TAIL_BYTES`] of a file, if it holds anything.
fn tail(path: &Path) -> Option<String> {
    let mut file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let start = len.saturating_sub(STDERR_TAIL_BYTES as u64);
    file.seek(SeekFrom::Start(start)).ok()?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes).trim().to_string();
    (!text.is_empty()).then_some(text)
}
