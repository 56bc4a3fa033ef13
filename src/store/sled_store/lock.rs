//! Opening sled in a directory with the one-process check: a lock another process holds
//! on the directory is an error at once, naming that process (the kernel's
//! `/proc/locks`); a lock this process's own last handle still holds is waited for.
//!
//! It never sleeps: a lock still held by this process's last handle is waited for on the
//! lock itself, and a lock held by another process is an error at once.

use std::path::Path;

use crate::error::{Error, Result};
use crate::store::store_err;

/// Checks sled's lock on the database in `dir` before sled takes it (an exclusive
/// `flock` of `dir/db`, taken and released at once). A lock another process holds is an
/// error at once, naming that process, as the kernel's table of locks (`/proc/locks`)
/// lists it. When this process had the directory open (`was_open`), a lock held by no
/// other process is its own last handle letting go (its files close as its last
/// references go, maybe on another thread or a moment later): that is waited for, on
/// the lock itself. It never sleeps, reads no clock, and never waits on another process.
fn wait_for_release(dir: &Path, was_open: bool) -> Result<()> {
    use rustix::fs::{flock, FlockOperation};
    let lock_file = dir.join("db");
    let Ok(file) = std::fs::File::open(&lock_file) else {
        // No lock file: nothing holds the lock.
        return Ok(());
    };
    let cannot_wait = |e: rustix::io::Errno| {
        store_err(
            dir.display().to_string(),
            format!("cannot wait for the store's lock: {e}"),
        )
    };
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => return Ok(()),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => {}
        Err(e) => return Err(cannot_wait(e)),
    }
    if let Some(pid) = other_holder(&file) {
        return Err(store_err(
            dir.display().to_string(),
            format!(
                "the store directory is locked by another process \
                 (sled allows one process per directory): process {pid} holds the lock on \
                 {}",
                lock_file.display()
            ),
        ));
    }
    if !was_open {
        // No other process is named (no `/proc/locks` here, or it let go meanwhile):
        // sled's own attempt says what it finds.
        return Ok(());
    }
    // Held by this process's last handle, which is letting go.
    flock(&file, FlockOperation::LockExclusive).map_err(cannot_wait)
}

/// The id of a process other than this one that holds an `flock` on `file`, as the
/// kernel's table of locks (`/proc/locks`) lists it; `None` when the table names none
/// (or cannot be read).
fn other_holder(file: &std::fs::File) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let meta = file.metadata().ok()?;
    let dev = meta.dev();
    // The kernel's encoding of a device number (`MAJOR`/`MINOR` of a `dev_t`).
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    let file_id = format!("{major:02x}:{minor:02x}:{}", meta.ino());
    let table = std::fs::read_to_string("/proc/locks").ok()?;
    let me = std::process::id();
    table.lines().find_map(|line| {
        // `1: FLOCK  ADVISORY  WRITE 12345 fd:01:1234567 0 EOF`; waiters are `1: -> …`.
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            [_, "FLOCK", _, _, pid, id, ..] if *id == file_id => {
                pid.parse::<u32>().ok().filter(|&pid| pid != me)
            }
            _ => None,
        }
    })
}

/// Opens sled in `dir` after [`wait_for_release`].
pub(crate) fn open_sled(dir: &Path, was_open: bool) -> Result<sled::Db> {
    wait_for_release(dir, was_open)?;
    match sled::Config::new().path(dir).open() {
        Ok(db) => Ok(db),
        Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => {
            Err(store_err(
                dir.display().to_string(),
                format!(
                    "the store directory is locked by another process \
                     (sled allows one process per directory): {e}"
                ),
            ))
        }
        Err(e) => Err(store_err(
            dir.display().to_string(),
            format!("cannot open sled store: {e}"),
        )),
    }
}

pub(crate) fn sled_err(dir: &Path) -> impl Fn(sled::Error) -> Error + '_ {
    move |e| store_err(dir.display().to_string(), format!("sled: {e}"))
}
