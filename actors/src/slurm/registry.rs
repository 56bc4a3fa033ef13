//! The Slurm jobs this process submitted and that may still run, so that they can all
//! be cancelled at once ([`cancel_all_jobs`]: on SIGINT, SIGTERM, or when a run ends
//! early).
//!
//! A job enters when `sbatch` has accepted it and leaves when none of its array tasks
//! is waited for any more. This file only runs `scancel`; it never submits nor polls.

use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};

static LIVE_JOBS: Mutex<Vec<u64>> = Mutex::new(Vec::new());

fn live_jobs() -> MutexGuard<'static, Vec<u64>> {
    LIVE_JOBS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Adds a submitted job.
pub(crate) fn register(job: u64) {
    live_jobs().push(job);
}

/// Takes a job out: nothing of it is waited for any more.
pub(crate) fn unregister(job: u64) {
    live_jobs().retain(|&j| j != job);
}

/// Cancels `jobs` with one `scancel`; an error says why it could not.
pub(crate) fn scancel(jobs: &[u64]) -> Result<(), String> {
    if jobs.is_empty() {
        return Ok(());
    }
    let output = Command::new("scancel")
        .args(jobs.iter().map(u64::to_string))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run scancel: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "scancel failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Cancels (with one `scancel`) every Slurm job this process submitted that may still
/// run, and forgets them. Returns how many were cancelled, or why `scancel` failed.
pub fn cancel_all_jobs() -> Result<usize, String> {
    let jobs: Vec<u64> = std::mem::take(&mut *live_jobs());
    scancel(&jobs).map(|()| jobs.len())
}
