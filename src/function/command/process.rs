//! One process of a command: started in a process group of its own with the
//! parent-death signal, watched for its exit, killed with its group and reaped.
//!
//! A [`Process`] is in the [registry](super::registry) from its start until just
//! before it is reaped, and is always reaped: dropping it kills its group first. It
//! never sleeps: waiting for the exit is a `poll` on the process's pidfd, bounded by a
//! deadline. It knows nothing of pipes or of the protocol.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, ChildStdout, Command};
use std::time::Instant;

use rustix::process::{Pid, Signal};

use super::errors::describe_exit;
use super::registry::{kill_group, register, unregister};

/// A started process of a command, not yet reaped or reaped by [`Process::kill`].
#[derive(Debug)]
pub(super) struct Process {
    child: Child,
    /// The process id, also the id of its process group.
    pid: Pid,
    /// The process was reaped (its id may belong to another process now).
    reaped: bool,
}

impl Process {
    /// Starts `command` (whose stdin and stdout must be piped) in a process group of its
    /// own with the parent-death signal, and registers it; returns it with its pipes,
    /// both non-blocking.
    pub(super) fn spawn(command: &mut Command) -> io::Result<(Process, ChildStdin, ChildStdout)> {
        confine_to_parent(command);
        let mut child = command.spawn()?;
        let pid = Pid::from_child(&child);
        let pipes = match (child.stdin.take(), child.stdout.take()) {
            (Some(stdin), Some(stdout)) => rustix::io::ioctl_fionbio(&stdin, true)
                .and_then(|()| rustix::io::ioctl_fionbio(&stdout, true))
                .map(|()| (stdin, stdout))
                .map_err(io::Error::from),
            _ => Err(io::Error::other("started without stdin/stdout pipes")),
        };
        let (stdin, stdout) = match pipes {
            Ok(pipes) => pipes,
            Err(e) => {
                kill_group(pid);
                let _ = child.wait();
                return Err(e);
            }
        };
        register(pid);
        let process = Process {
            child,
            pid,
            reaped: false,
        };
        Ok((process, stdin, stdout))
    }

    /// The process id.
    pub(super) fn id(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process has exited (it is not reaped: its id stays reserved).
    pub(super) fn exited(&self) -> bool {
        use rustix::process::{WaitId, WaitIdOptions};
        matches!(
            rustix::process::waitid(
                WaitId::Pid(self.pid),
                WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT,
            ),
            Ok(Some(_))
        )
    }

    /// Takes the process out of the registry, kills its group and reaps it; says how it
    /// ended (if it had already exited, its own status).
    pub(super) fn kill(&mut self) -> String {
        if self.reaped {
            return "was already reaped".into();
        }
        unregister(self.pid);
        kill_group(self.pid);
        self.reaped = true;
        match self.child.wait() {
            Ok(status) => describe_exit(status),
            Err(e) => format!("could not be reaped ({e})"),
        }
    }

    /// Waits until `deadline` for the process to exit, then kills what is left of its
    /// group and reaps it; says how it ended.
    pub(super) fn finish(&mut self, deadline: Instant) -> String {
        if !self.wait_for_exit(deadline) {
            self.kill();
            return "did not exit and was killed".into();
        }
        self.kill()
    }

    /// Waits until the process has exited (true) or `deadline` has passed (false),
    /// polling its pidfd (Linux); without one, only an exit that already happened
    /// counts, as waiting would mean napping.
    fn wait_for_exit(&self, deadline: Instant) -> bool {
        if self.exited() {
            return true;
        }
        #[cfg(target_os = "linux")]
        {
            use rustix::event::{PollFd, PollFlags};
            use rustix::process::{pidfd_open, PidfdFlags};
            // The process is not reaped, so its id (and the pidfd) is still its own.
            if let Ok(pidfd) = pidfd_open(self.pid, PidfdFlags::empty()) {
                while !self.exited() {
                    let Ok(timeout) = super::wait::left(Some(deadline)) else {
                        return false;
                    };
                    let mut fds = [PollFd::new(&pidfd, PollFlags::IN)];
                    if super::wait::poll(&mut fds, timeout).is_err() {
                        return self.exited();
                    }
                }
                return true;
            }
        }
        let _ = deadline;
        self.exited()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // Already reaped: nothing left to kill (and the id may be another's now).
        if !self.reaped {
            self.kill();
        }
    }
}

/// Makes `command` start in a process group of its own and, on Linux, die when this
/// process (more exactly: the thread spawning it) dies, even by SIGKILL.
///
/// This is the one function of the workspace allowed `unsafe` code
/// (`CommandExt::pre_exec`); see the workspace `Cargo.toml`.
#[allow(unsafe_code)]
fn confine_to_parent(command: &mut Command) {
    command.process_group(0);
    #[cfg(target_os = "linux")]
    {
        let parent = rustix::process::getpid();
        // SAFETY: the closure runs in the child between fork and exec, where only
        // async-signal-safe operations are allowed. It makes two system calls through
        // rustix, `prctl(PR_SET_PDEATHSIG)` and `getppid`, which take no lock and
        // allocate nothing, and builds its error from a raw errno
        // (`io::Error::from_raw_os_error`, no allocation). It captures only a `Pid`
        // (a plain integer) and touches no memory shared with other threads.
        unsafe {
            command.pre_exec(move || {
                rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
                // The parent may have died before the signal was armed: then the
                // child was re-parented and must not run on.
                if rustix::process::getppid() != Some(parent) {
                    return Err(io::Error::from(rustix::io::Errno::SRCH));
                }
                Ok(())
            });
        }
    }
}
