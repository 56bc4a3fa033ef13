//! The registry of live command processes, so that a signal handler can stop them all.
//!
//! A process enters when it has been started and leaves before it is reaped (under the
//! registry's lock), so an id in the registry is never that of an unrelated process.
//! This file never starts, waits for or reaps a process.

use std::sync::{Mutex, MutexGuard, PoisonError};

use rustix::process::{Pid, Signal};

/// The process ids of every running command of this process (each also the id of the
/// command's process group), so that a signal handler can stop them all
/// ([`kill_all_commands`]). An id leaves the list before its process is reaped, so it
/// is never that of an unrelated process.
static LIVE_COMMANDS: Mutex<Vec<Pid>> = Mutex::new(Vec::new());

fn live_commands() -> MutexGuard<'static, Vec<Pid>> {
    LIVE_COMMANDS.lock().unwrap_or_else(PoisonError::into_inner)
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

/// Adds a started (not yet reaped) command process.
pub(super) fn register(pid: Pid) {
    live_commands().push(pid);
}

/// Takes a command process out, before it is reaped.
pub(super) fn unregister(pid: Pid) {
    live_commands().retain(|&p| p != pid);
}

/// Kills a command's process group, and the command itself should it have left its
/// group. Whether anything was signalled.
pub(super) fn kill_group(pid: Pid) -> bool {
    let group = rustix::process::kill_process_group(pid, Signal::KILL).is_ok();
    let leader = rustix::process::kill_process(pid, Signal::KILL).is_ok();
    group || leader
}
