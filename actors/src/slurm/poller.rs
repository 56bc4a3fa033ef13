//! [`Poller`]: the one thread of a run that asks Slurm for the state of the run's array
//! tasks — one `squeue` for all of them per interval, never one call per job.
//!
//! It queries only while some node waits for tasks ([`Poller::watch`]), at least
//! [`MIN_POLL_INTERVAL`](orcapod::function::slurm::poll::MIN_POLL_INTERVAL) apart and
//! further apart when `squeue` answers slowly ([`PollInterval`]). Each answer is a new
//! *generation* of the run's task states, which the nodes' Slurm pools wait for
//! ([`Poller::wait_newer`]). It never submits, cancels nor reads a chunk.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use orcapod::function::slurm::poll::PollInterval;
use orcapod::function::slurm::status::{parse_squeue, TaskId, TaskStatus, SQUEUE_FORMAT};

/// One answer of `squeue`: the state of every task of the run it lists.
#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshot {
    /// Increases with every query (0: none yet).
    pub generation: u64,
    /// The tasks listed; meaningful only when `error` is `None`.
    pub tasks: Arc<HashMap<TaskId, TaskStatus>>,
    /// Why the last query failed, if it did.
    pub error: Option<String>,
}

#[derive(Default)]
struct State {
    snapshot: Snapshot,
    /// The names of the jobs asked about: the run's, and those of earlier runs whose
    /// chunks it waits for.
    names: Vec<String>,
    watchers: usize,
    stopped: bool,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The status poller of one run (its thread ends when the poller is dropped).
pub(crate) struct Poller {
    shared: Arc<Shared>,
}

/// A node waiting for tasks: the poller queries while one exists.
pub(crate) struct Watch {
    shared: Arc<Shared>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.shared.lock().watchers -= 1;
    }
}

impl Poller {
    /// Starts the poller of the jobs named `job_name`.
    pub(crate) fn start(job_name: &str) -> std::io::Result<Poller> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                names: vec![job_name.to_string()],
                ..State::default()
            }),
            changed: Condvar::new(),
        });
        let thread_shared = shared.clone();
        std::thread::Builder::new()
            .name("orcapod-slurm-poll".into())
            .spawn(move || poll_loop(&thread_shared))?;
        Ok(Poller { shared })
    }

    /// Asks about the jobs named `name` too (an earlier run's), from the next query on.
    pub(crate) fn add_name(&self, name: &str) {
        let mut state = self.shared.lock();
        if !state.names.iter().any(|n| n == name) {
            state.names.push(name.to_string());
        }
    }

    /// Marks a node as waiting for tasks until the [`Watch`] is dropped.
    pub(crate) fn watch(&self) -> Watch {
        let mut state = self.shared.lock();
        state.watchers += 1;
        self.shared.changed.notify_all();
        Watch {
            shared: self.shared.clone(),
        }
    }

    /// The first snapshot newer than `generation`, waiting for it at most `wait`; the
    /// latest one if none came.
    pub(crate) fn wait_newer(&self, generation: u64, wait: Duration) -> Snapshot {
        let deadline = Instant::now() + wait;
        let mut state = self.shared.lock();
        while state.snapshot.generation <= generation && !state.stopped {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        state.snapshot.clone()
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.shared.lock().stopped = true;
        self.shared.changed.notify_all();
    }
}

fn poll_loop(shared: &Shared) {
    let mut interval = PollInterval::default();
    // Whether the last query failed (its failure is said once, until one succeeds).
    let mut failing = false;
    loop {
        let names = {
            let mut state = shared.lock();
            while state.watchers == 0 && !state.stopped {
                state = shared
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if state.stopped {
                return;
            }
            state.names.join(",")
        };
        let started = Instant::now();
        let answer = query(&names);
        interval.after_query(started.elapsed());
        match (&answer, failing) {
            (Err(e), false) => eprintln!(
                "warning: {e}; orcapod keeps asking (chunks whose exit marker appears are \
                 still read)"
            ),
            (Ok(_), true) => eprintln!("squeue answers again"),
            _ => {}
        }
        failing = answer.is_err();
        {
            let mut state = shared.lock();
            let generation = state.snapshot.generation + 1;
            state.snapshot = match answer {
                Ok(tasks) => Snapshot {
                    generation,
                    tasks: Arc::new(tasks),
                    error: None,
                },
                Err(error) => Snapshot {
                    generation,
                    tasks: state.snapshot.tasks.clone(),
                    error: Some(error),
                },
            };
            shared.changed.notify_all();
            // The interval, unless the run ends first.
            let deadline = Instant::now() + interval.current();
            while !state.stopped {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                state = shared
                    .changed
                    .wait_timeout(state, deadline - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        }
    }
}

/// One `squeue` for every task of the jobs named `names` (comma-separated), ended ones
/// included.
fn query(names: &str) -> Result<HashMap<TaskId, TaskStatus>, String> {
    let output = Command::new("squeue")
        .args(["-h", "-r", "-t", "all", "-n", names, "-o", SQUEUE_FORMAT])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run squeue: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "squeue failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(parse_squeue(&String::from_utf8_lossy(&output.stdout)))
}
