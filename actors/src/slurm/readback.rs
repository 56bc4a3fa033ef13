//! A submitted chunk ([`Chunk`]) and how it is read back ([`outcome`]): by its exit
//! marker when there is one (its whole stdout read with the pairing rules of a local
//! worker), else by what `squeue` says of its task; with the tails of its stderr and of
//! Slurm's log for failures.
//!
//! It reads a chunk's files and a snapshot it is given: it never runs a Slurm command,
//! waits, nor touches the ledger or the node.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use orcapod::function::command::{CommandFunction, STDERR_TAIL_BYTES};
use orcapod::function::slurm::answers::read_answers;
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
/// by its state in `snapshot`.
pub(crate) fn outcome(
    chunk: &mut Chunk,
    n: usize,
    command: &CommandFunction,
    snapshot: &Snapshot,
) -> Option<Vec<PacketResult>> {
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

fn fail_all(n: usize, message: String, stderr: Option<String>) -> Vec<PacketResult> {
    let error = FunctionError {
        message,
        stderr,
        rerun: false,
    };
    (0..n).map(|_| Err(error.clone())).collect()
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
