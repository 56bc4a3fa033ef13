//! Does a command function's command start? Run it with no input and see.
//!
//! A JSON-Lines command given an empty stdin reads end-of-file and exits 0. One that
//! cannot start (a missing script, a syntax error, a bad interpreter) exits non-zero at
//! once; its stderr says why. One still running after a moment has started, and is
//! stopped. The probe never sends a packet. It gets an empty temporary directory as
//! `ORCAPOD_OUT_DIR`, as a run gives it (removed after the probe).

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use orcapod::pipeline_file::CommandCheck;

/// An empty temporary directory, removed when dropped.
struct ProbeDir(PathBuf);

impl ProbeDir {
    fn create() -> std::io::Result<ProbeDir> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("orcapod-probe-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(ProbeDir(dir))
    }
}

impl Drop for ProbeDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How long a command may take to show it started.
const PATIENCE: Duration = Duration::from_secs(5);

/// `Ok` if the command starts; else what went wrong, with its stderr.
pub fn starts(check: &CommandCheck) -> Result<(), String> {
    let out_dir = ProbeDir::create()
        .map_err(|e| format!("cannot create a temporary directory for the probe: {e}"))?;
    let mut child = Command::new(&check.command[0])
        .args(&check.command[1..])
        .current_dir(&check.working_dir)
        .env(orcapod::files::OUT_DIR_VAR, &out_dir.0)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("`{}`: {e}", check.command.join(" ")))?;
    drop(child.stdin.take()); // end of input at once
    let deadline = Instant::now() + PATIENCE;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
                let mut stderr = String::new();
                if let Some(mut pipe) = child.stderr.take() {
                    let _ = pipe.read_to_string(&mut stderr);
                }
                let stderr = stderr.trim();
                let tail: String = stderr
                    .chars()
                    .rev()
                    .take(2000)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                return Err(format!(
                    "`{}` exited with {status} on empty input{}",
                    check.command.join(" "),
                    if tail.is_empty() {
                        String::new()
                    } else {
                        format!("; its stderr:\n{tail}")
                    }
                ));
            }
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Ok(());
            }
            Err(e) => return Err(format!("cannot wait for `{}`: {e}", check.command[0])),
        }
    }
}
