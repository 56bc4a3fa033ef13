//! What `squeue` says of a run's array tasks: its output parsed ([`parse_squeue`]) into
//! one [`TaskStatus`] per task, and what a state means for the task's packets
//! ([`TaskState`]).
//!
//! The query is `squeue -h -r -t all -n NAME -o '%i|%T|%r'` ([`SQUEUE_FORMAT`]): one
//! line per array task (`-r`) of every job named NAME, in every state, including the
//! tasks that ended recently (for as long as the controller keeps them, `MinJobAge`).
//! Pure: it reads text it is given and never runs `squeue`.

use std::collections::HashMap;

/// `squeue`'s output format for [`parse_squeue`]: job id (`JOB_TASK` for an array
/// task), state, reason.
pub const SQUEUE_FORMAT: &str = "%i|%T|%r";

/// One array task: (job id, task index).
pub type TaskId = (u64, u32);

/// What `squeue` says of one array task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskStatus {
    /// Slurm's state name (`PENDING`, `RUNNING`, `COMPLETED`, `TIMEOUT`, …).
    pub state: String,
    /// Slurm's reason (`None`, `Resources`, `TimeLimit`, …).
    pub reason: String,
}

/// What a task's state means for its packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    /// Waiting or running: its exit marker is yet to come.
    Live,
    /// Ended by itself: its exit marker says how.
    Completed,
    /// Ended by Slurm (or failed): FAILED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, CANCELLED
    /// and the other end states; without an exit marker its packets fail with the state.
    Ended,
}

impl TaskStatus {
    /// What the state means.
    pub fn kind(&self) -> TaskState {
        match self.state.as_str() {
            "COMPLETED" => TaskState::Completed,
            "FAILED" | "TIMEOUT" | "OUT_OF_MEMORY" | "NODE_FAIL" | "CANCELLED" | "BOOT_FAIL"
            | "DEADLINE" | "PREEMPTED" | "SPECIAL_EXIT" | "REVOKED" => TaskState::Ended,
            _ => TaskState::Live,
        }
    }

    /// The state and, when it says something, the reason: `TIMEOUT (TimeLimit)`.
    pub fn describe(&self) -> String {
        if self.reason.is_empty() || self.reason == "None" {
            self.state.clone()
        } else {
            format!("{} ({})", self.state, self.reason)
        }
    }
}

/// The tasks `squeue` lists, by (job, task). A plain job (not an array) is task 0. A
/// pending array whose tasks are still folded (`12_[3-5%2]`) gives each task of the
/// range. Lines that are not of the format are skipped.
pub fn parse_squeue(text: &str) -> HashMap<TaskId, TaskStatus> {
    let mut tasks = HashMap::new();
    for line in text.lines() {
        let mut fields = line.trim().splitn(3, '|');
        let (Some(id), Some(state), reason) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        let status = TaskStatus {
            state: state.trim().to_string(),
            reason: reason.unwrap_or("").trim().to_string(),
        };
        let (job, task) = match id.split_once('_') {
            Some((job, task)) => (job, Some(task)),
            None => (id, None),
        };
        let Ok(job) = job.trim().parse::<u64>() else {
            continue;
        };
        match task {
            None => {
                tasks.insert((job, 0), status);
            }
            Some(task) => {
                for index in task_indices(task) {
                    tasks.insert((job, index), status.clone());
                }
            }
        }
    }
    tasks
}

/// `3` or `[0-4,7%2]`: the task indices it names (none when unreadable).
fn task_indices(text: &str) -> Vec<u32> {
    let text = text.trim();
    if let Ok(index) = text.parse::<u32>() {
        return vec![index];
    }
    let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) else {
        return Vec::new();
    };
    let inner = inner.split('%').next().unwrap_or("");
    let mut indices = Vec::new();
    for part in inner.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
                    if b >= a && b - a <= 1_000_000 {
                        indices.extend(a..=b);
                    }
                }
            }
            None => indices.extend(part.parse::<u32>().ok()),
        }
    }
    indices
}

/// The job id `sbatch --parsable` printed (`12345`, or `12345;cluster`).
pub fn parse_sbatch(stdout: &str) -> Option<u64> {
    let line = stdout.lines().map(str::trim).find(|l| !l.is_empty())?;
    line.split(';').next()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(state: &str, reason: &str) -> TaskStatus {
        TaskStatus {
            state: state.into(),
            reason: reason.into(),
        }
    }

    #[test]
    fn one_line_per_task_and_folded_ranges() {
        let text = "12_0|RUNNING|None\n12_1|TIMEOUT|TimeLimit\n13|PENDING|Resources\n\
                    14_[2-4,7%2]|PENDING|JobArrayTaskLimit\ngarbage\nx_1|RUNNING|None\n";
        let tasks = parse_squeue(text);
        assert_eq!(tasks[&(12, 0)], status("RUNNING", "None"));
        assert_eq!(tasks[&(12, 1)].describe(), "TIMEOUT (TimeLimit)");
        assert_eq!(tasks[&(13, 0)].kind(), TaskState::Live);
        for i in [2, 3, 4, 7] {
            assert_eq!(tasks[&(14, i)].state, "PENDING");
        }
        assert_eq!(tasks.len(), 7);
    }

    #[test]
    fn states_mean_live_completed_or_ended() {
        assert_eq!(status("PENDING", "None").kind(), TaskState::Live);
        assert_eq!(status("COMPLETING", "None").kind(), TaskState::Live);
        assert_eq!(status("COMPLETED", "None").kind(), TaskState::Completed);
        for s in [
            "FAILED",
            "TIMEOUT",
            "OUT_OF_MEMORY",
            "NODE_FAIL",
            "CANCELLED",
        ] {
            assert_eq!(status(s, "None").kind(), TaskState::Ended, "{s}");
        }
        assert_eq!(status("FAILED", "None").describe(), "FAILED");
    }

    #[test]
    fn sbatch_prints_the_job_id() {
        assert_eq!(parse_sbatch("4242\n"), Some(4242));
        assert_eq!(parse_sbatch("4242;cluster\n"), Some(4242));
        assert_eq!(parse_sbatch("Submitted batch job 1\n"), None);
    }
}
