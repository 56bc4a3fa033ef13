//! Bounded waits: the clock, deadlines, and `poll` for at most the time left.
//!
//! This is the one file of the core that reads the clock (`Instant::now`): command
//! functions must bound every wait on an external process (the packet timeout, the
//! settle and exit graces, the session length). It never sleeps: every wait is a `poll`
//! on file descriptors (pipes, a pidfd) that wakes up as soon as something happens, or
//! when the time left runs out. Nothing measured here may enter a result or a hash.

use std::io;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, Timespec};

/// Now, for deadlines and the age of provisional answers.
pub(super) fn now() -> Instant {
    Instant::now()
}

/// How long ago `since` was.
pub(super) fn elapsed(since: Instant) -> Duration {
    since.elapsed()
}

/// The deadline `after` from now.
pub(super) fn after(after: Duration) -> Instant {
    Instant::now() + after
}

/// The time left until `deadline` (`None`: no deadline), or `Err` if it passed.
pub(super) fn left(deadline: Option<Instant>) -> Result<Option<Duration>, ()> {
    match deadline {
        None => Ok(None),
        Some(d) => {
            let now = Instant::now();
            if now >= d {
                Err(())
            } else {
                Ok(Some(d - now))
            }
        }
    }
}

/// Waits until one of `fds` is ready, for at most `timeout` (`None`: without a bound;
/// waits over a day are cut to a day, callers wait again if need be). An interrupted
/// wait returns `Ok` with no descriptor ready.
pub(super) fn poll(fds: &mut [PollFd<'_>], timeout: Option<Duration>) -> io::Result<()> {
    let timeout = timeout.map(|t| {
        Timespec::try_from(t.min(Duration::from_secs(86_400))).unwrap_or(Timespec {
            tv_sec: 86_400,
            tv_nsec: 0,
        })
    });
    match rustix::event::poll(fds, timeout.as_ref()) {
        Ok(_) | Err(rustix::io::Errno::INTR) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
