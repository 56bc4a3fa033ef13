//! The live state of a run, for other processes: the progress file.
//!
//! sled lets one process open a database, so while `orcapod run` works, `status` and
//! `show` in another terminal cannot open it. The run therefore publishes its state in
//! a small JSON file in the database directory, [`PROGRESS_FILE`], rewritten about
//! twice a second ([`WRITE_INTERVAL`]) and at the end, each time to a temporary file
//! that is then renamed over the old one, so a reader sees a whole file, old or new,
//! never half of one. It holds the run's id, its pid (and the pid's start time, so a
//! reused pid is not mistaken for the run), when it started, its state (`running`,
//! `completed`, `failed`, `interrupted`), each node's counts, the failure if any, and
//! the path of the socket through which the run answers `show` ([`crate::remote`]).
//!
//! A reader decides as follows ([`Liveness`]): a file saying `running` whose process
//! is alive is a run in progress; one saying `running` whose process is gone is a run
//! that was killed (SIGKILL, a power cut) before it could record its end: its last
//! counts are the best knowledge there is, and whatever it flushed to the database is
//! kept and reused. The next run writes such a killed run into the run log as
//! interrupted (so the record survives the progress file being overwritten).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use orcapod::function::PacketCounts;
use orcapod::pipeline::NodeStats;
use serde::{Deserialize, Serialize};

/// The progress file's name, in the database directory.
pub const PROGRESS_FILE: &str = "run-progress.json";
/// How often a run rewrites its progress file.
pub const WRITE_INTERVAL: Duration = Duration::from_millis(500);
/// The version of the file's layout (a reader ignores a file of another version).
const FORMAT: u32 = 1;

/// What the progress file says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Progress {
    /// The layout version ([`FORMAT`]).
    pub format: u32,
    /// The pipeline's name.
    pub pipeline: String,
    /// The pipeline file, as given to `orcapod run`.
    pub file: String,
    /// The run's id, as the run log records it.
    pub run_id: String,
    /// The process running it.
    pub pid: u32,
    /// The process's start time (clock ticks after boot, from `/proc`), when known: a
    /// pid alive with another start time is another process.
    pub pid_start: Option<u64>,
    /// `actors` or `sync`.
    pub mode: String,
    /// When the run started (ISO 8601 UTC).
    pub started_at: String,
    /// When this file was written (ISO 8601 UTC) and the same in milliseconds.
    pub updated_at: String,
    pub updated_unix_ms: u64,
    /// `running`, `completed`, `failed` or `interrupted`.
    pub state: String,
    /// The signal that interrupted the run.
    pub interrupted_by: Option<String>,
    /// The failing node and the reason, for a failed run.
    pub failure: Option<FailureNote>,
    /// Where the running process answers `show` (absent once the run ended).
    pub socket: Option<PathBuf>,
    /// Every node, in pipeline order.
    pub nodes: Vec<NodeLine>,
    /// Under `orcapod run --watch` *(absent in files of older versions)*: the round and
    /// whether the process is between rounds (the last one recorded its end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch: Option<WatchNote>,
}

/// Where a watching run stands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WatchNote {
    /// The round running, or the last one run (1 is the first run).
    pub round: u64,
    /// The round has ended (and recorded its end in the run log); the sources are
    /// looked at every interval.
    pub between_rounds: bool,
}

/// Why a run failed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FailureNote {
    pub node: String,
    pub reason: String,
}

/// One node's counts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NodeLine {
    pub name: String,
    /// `source`, `operator` or `function`.
    pub kind: String,
    /// `waiting`, `running` or `ended`.
    pub state: String,
    pub rows: u64,
    pub computed: u64,
    pub cached: u64,
    pub failed: u64,
    pub retried: u64,
}

impl NodeLine {
    /// The line as run-log stats (no per-packet failures: the file does not keep them).
    pub fn stats(&self) -> NodeStats {
        NodeStats {
            node: self.name.clone(),
            rows_out: self.rows,
            counts: PacketCounts {
                cached: self.cached,
                computed: self.computed,
                failed: self.failed,
                retried: self.retried,
            },
            failures: Vec::new(),
        }
    }
}

/// What a progress file tells about the run it describes.
pub enum Liveness {
    /// The run is going on in a live process.
    Running(Progress),
    /// The file says running, but its process is gone: the run was killed.
    Killed(Progress),
    /// The run recorded its end.
    Ended,
}

/// The progress file of database `db`, if there is a readable one of this layout.
pub fn read(db: &Path) -> Option<Progress> {
    let text = std::fs::read_to_string(db.join(PROGRESS_FILE)).ok()?;
    let progress: Progress = serde_json::from_str(&text).ok()?;
    (progress.format == FORMAT).then_some(progress)
}

/// The progress file of `db` and what it says about its run.
pub fn liveness(db: &Path) -> Option<Liveness> {
    let progress = read(db)?;
    Some(if progress.state != "running" {
        Liveness::Ended
    } else if process_alive(progress.pid, progress.pid_start) {
        Liveness::Running(progress)
    } else {
        Liveness::Killed(progress)
    })
}

/// The run in progress on `db`, if any.
pub fn running(db: &Path) -> Option<Progress> {
    match liveness(db)? {
        Liveness::Running(progress) => Some(progress),
        _ => None,
    }
}

/// Writes `progress` to `db`'s progress file atomically (a temporary file renamed over
/// it).
pub fn write(db: &Path, progress: &Progress) -> std::io::Result<()> {
    let tmp = db.join(format!("{PROGRESS_FILE}.{}.tmp", std::process::id()));
    let text = serde_json::to_vec_pretty(progress).map_err(std::io::Error::other)?;
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&text)?;
    f.write_all(b"\n")?;
    drop(f);
    std::fs::rename(&tmp, db.join(PROGRESS_FILE))
}

/// Now, as ISO 8601 UTC and as milliseconds since the epoch.
pub fn now() -> (String, u64) {
    let (_, iso) = orcapod_actors::run_id_and_time();
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    (iso, ms)
}

/// Whether process `pid` is alive and, when `start` is known, is the process that
/// started then (not a later one given the same pid). A zombie (dead, not yet reaped)
/// counts as gone.
pub fn process_alive(pid: u32, start: Option<u64>) -> bool {
    let Some(id) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    match rustix::process::test_kill_process(id) {
        Ok(()) | Err(rustix::io::Errno::PERM) => {}
        Err(_) => return false,
    }
    match proc_stat(pid) {
        Some((state, started)) => state != 'Z' && start.is_none_or(|s| s == started),
        // No /proc: the signal test is all there is.
        None => true,
    }
}

/// This process's start time, as [`process_alive`] compares it.
pub fn own_start() -> Option<u64> {
    proc_stat(std::process::id()).map(|(_, start)| start)
}

/// The state letter and start time (field 22) of `/proc/PID/stat`.
fn proc_stat(pid: u32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid …`: comm may hold spaces and parentheses.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

/// A running `orcapod run`'s progress file: created when the run starts, rewritten at
/// most every [`WRITE_INTERVAL`] while it runs, and a last time when it ends.
pub struct Publisher {
    db: PathBuf,
    progress: Progress,
    last_write: Option<Instant>,
    warned: bool,
}

impl Publisher {
    /// Announces a run (writes the file at once).
    pub fn start(db: &Path, mut progress: Progress) -> Publisher {
        progress.state = "running".to_string();
        let mut publisher = Publisher {
            db: db.to_path_buf(),
            progress,
            last_write: None,
            warned: false,
        };
        publisher.write_now();
        publisher
    }

    /// New counts; written if the last write is older than [`WRITE_INTERVAL`].
    pub fn update(&mut self, nodes: Vec<NodeLine>) {
        self.progress.nodes = nodes;
        if self
            .last_write
            .is_none_or(|t| t.elapsed() >= WRITE_INTERVAL)
        {
            self.write_now();
        }
    }

    /// A new round of `--watch` starts: a run of its own (`run_id`, `started_at`).
    pub fn start_round(&mut self, run_id: &str, started_at: &str, round: u64) {
        self.progress.run_id = run_id.to_string();
        self.progress.started_at = started_at.to_string();
        self.progress.failure = None;
        self.progress.watch = Some(WatchNote {
            round,
            between_rounds: false,
        });
        self.write_now();
    }

    /// The round of `--watch` ended (and recorded its end): its last counts, and
    /// the process watching again. The state stays `running` (the process holds the
    /// database and answers `show`).
    pub fn end_round(&mut self, nodes: Vec<NodeLine>, failure: Option<FailureNote>) {
        self.progress.nodes = nodes;
        self.progress.failure = failure;
        if let Some(watch) = &mut self.progress.watch {
            watch.between_rounds = true;
        }
        self.write_now();
    }

    /// `--watch` stopped between rounds: the last round's end stands (`completed`, or
    /// `failed` with its failure), and the socket is no longer announced.
    pub fn stop_watching(&mut self) {
        self.progress.state = if self.progress.failure.is_some() {
            "failed"
        } else {
            "completed"
        }
        .to_string();
        self.progress.socket = None;
        self.write_now();
    }

    /// The run ended: the final state, counts and failure, written at once; the socket
    /// is no longer announced.
    pub fn finish(
        &mut self,
        state: &str,
        nodes: Option<Vec<NodeLine>>,
        failure: Option<FailureNote>,
        interrupted_by: Option<String>,
    ) {
        self.progress.state = state.to_string();
        if let Some(nodes) = nodes {
            self.progress.nodes = nodes;
        }
        self.progress.failure = failure;
        self.progress.interrupted_by = interrupted_by;
        self.progress.socket = None;
        self.write_now();
    }

    fn write_now(&mut self) {
        let (iso, ms) = now();
        self.progress.updated_at = iso;
        self.progress.updated_unix_ms = ms;
        self.last_write = Some(Instant::now());
        if let Err(e) = write(&self.db, &self.progress) {
            if !self.warned {
                self.warned = true;
                eprintln!(
                    "warning: cannot write the progress file in {}: {e} \
                     (`orcapod status` cannot follow this run)",
                    self.db.display()
                );
            }
        }
    }
}

/// How long ago (in words) a file written at `unix_ms` was written.
pub fn ago(unix_ms: u64) -> String {
    let (_, now) = now();
    let secs = now.saturating_sub(unix_ms) as f64 / 1000.0;
    if secs < 120.0 {
        format!("{secs:.1}s ago")
    } else {
        format!("{:.0} min ago", secs / 60.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_reused_pid_is_not_it() {
        let start = own_start();
        assert!(process_alive(std::process::id(), start));
        if let Some(start) = start {
            assert!(!process_alive(std::process::id(), Some(start + 1)));
        }
        assert!(!process_alive(0, None));
        assert!(!process_alive(u32::MAX, None));
    }

    #[test]
    fn a_reaped_child_is_gone() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let pid = child.id();
        assert!(process_alive(pid, None));
        child.kill().unwrap();
        // Dead but not reaped: a zombie is gone too.
        let deadline = Instant::now() + Duration::from_secs(5);
        while proc_stat(pid).is_some_and(|(state, _)| state != 'Z') && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(!process_alive(pid, None));
        child.wait().unwrap();
        assert!(!process_alive(pid, None));
    }
}
