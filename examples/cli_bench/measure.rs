//! Runs one command as a whole process and measures it: wall time (from spawning to the
//! end of `wait`) and peak resident memory (`ru_maxrss` of the command, as reported by
//! GNU time: `/usr/bin/time -f %M`, since `wait4`'s rusage is not reachable without
//! unsafe code). A run longer than its timeout, or whose resident memory passes a limit,
//! is killed (its whole process group) and reported as such, never as a measurement.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::data::BoxError;

/// GNU time, which reports the peak RSS of the command it runs.
pub const TIME: &str = "/usr/bin/time";

/// How one run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Exit status 0: `secs` and `peak_kb` are a measurement.
    Ok,
    /// A non-zero exit or a signal; the end of its stderr.
    Failed(String),
    /// Killed after the timeout (seconds).
    Timeout(f64),
    /// Killed when its resident memory passed the limit (MB).
    OverMemory(u64),
}

#[derive(Debug, Clone)]
pub struct Run {
    pub outcome: Outcome,
    pub secs: f64,
    pub peak_kb: Option<u64>,
    /// The command's standard output (kept in a file; anchors print JSON there).
    pub stdout: String,
}

/// Limits of one run.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub timeout: Duration,
    pub max_rss_mb: u64,
}

/// Fails with a hint unless GNU time is installed.
pub fn check_time() -> Result<(), BoxError> {
    let ok = Command::new(TIME)
        .args(["-f", "%M", "true"])
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if ok {
        Ok(())
    } else {
        Err(format!("{TIME} (GNU time) is needed for peak memory: apt-get install time").into())
    }
}

/// The resident memory (kB) of the command GNU time (`time_pid`) runs, if readable.
fn command_rss_kb(time_pid: u32) -> Option<u64> {
    let children =
        std::fs::read_to_string(format!("/proc/{time_pid}/task/{time_pid}/children")).ok()?;
    let child = children.split_whitespace().next()?;
    let status = std::fs::read_to_string(format!("/proc/{child}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn tail(path: &Path, bytes: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let start = text.len().saturating_sub(bytes);
    String::from_utf8_lossy(&text[start..]).trim().to_string()
}

/// Runs `program args` in `dir` under GNU time; `logs` is a directory for its output.
pub fn run(
    program: &Path,
    args: &[String],
    dir: &Path,
    logs: &Path,
    limits: Limits,
) -> Result<Run, BoxError> {
    use std::os::unix::process::CommandExt;
    std::fs::create_dir_all(logs)?;
    let time_file: PathBuf = logs.join("time.txt");
    let out_file = logs.join("stdout.txt");
    let err_file = logs.join("stderr.txt");
    let _ = std::fs::remove_file(&time_file);
    let mut command = Command::new(TIME);
    command
        .arg("-f")
        .arg("%e %M")
        .arg("-o")
        .arg(&time_file)
        .arg(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(File::create(&out_file)?)
        .stderr(File::create(&err_file)?)
        .process_group(0);
    let start = Instant::now();
    let mut child = command.spawn()?;
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let status = child.wait();
        let _ = tx.send((status, Instant::now()));
    });
    let mut killed = None;
    let (status, end) = loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(done) => break done,
            Err(mpsc::RecvTimeoutError::Disconnected) => return Err("waiter thread died".into()),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if killed.is_some() {
            continue;
        }
        let over_time = start.elapsed() > limits.timeout;
        let rss_mb = command_rss_kb(pid).unwrap_or(0) / 1024;
        if over_time || rss_mb > limits.max_rss_mb {
            killed = Some(if over_time {
                Outcome::Timeout(limits.timeout.as_secs_f64())
            } else {
                Outcome::OverMemory(limits.max_rss_mb)
            });
            if let Some(group) = rustix::process::Pid::from_raw(pid as i32) {
                let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
            }
        }
    };
    let _ = waiter.join();
    let secs = (end - start).as_secs_f64();
    let status = status?;
    // GNU time writes "Command exited with non-zero status N" before its format line.
    let peak_kb = std::fs::read_to_string(&time_file)
        .ok()
        .and_then(|t| t.lines().last().map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|m| m.parse().ok()));
    let outcome = match killed {
        Some(k) => k,
        None if status.success() => Outcome::Ok,
        None => Outcome::Failed(format!("{status}: {}", tail(&err_file, 1500))),
    };
    let stdout = std::fs::read_to_string(&out_file).unwrap_or_default();
    Ok(Run {
        outcome,
        secs,
        peak_kb,
        stdout,
    })
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

/// The total size in bytes of the files under `dir`.
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
