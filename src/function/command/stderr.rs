//! The command's stderr, redirected to a private temporary file.
//!
//! A file, never a pipe: nothing has to drain it (no thread), and a chatty command can
//! never block on it. The file is unlinked as soon as it is open (on Unix), so it is
//! never left behind. A failure carries what was written since the previous call, at
//! most its last [`STDERR_TAIL_BYTES`] bytes.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// At most this many trailing bytes of stderr are kept in a
/// [`FunctionError`](crate::function::FunctionError).
pub const STDERR_TAIL_BYTES: usize = 4096;

/// Once the stderr file holds more than this after a call, it is emptied.
const STDERR_FILE_RESET_BYTES: u64 = 1024 * 1024;

/// Distinguishes the stderr files of the workers of one process.
static STDERR_FILE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The command's stderr, redirected to a private temporary file.
#[derive(Debug)]
pub(super) struct StderrFile {
    /// Where the file was created (already unlinked on Unix, so only read elsewhere).
    #[cfg_attr(unix, allow(dead_code))]
    path: PathBuf,
    /// An append-mode handle; each child gets a duplicate as its stderr.
    pub(super) writer: File,
    /// A separate handle (with its own offset) to read and truncate the file.
    reader: File,
    /// How much of the file had been seen at the end of the previous call.
    mark: u64,
}

impl StderrFile {
    pub(super) fn create() -> io::Result<Self> {
        let dir = std::env::temp_dir();
        let mut attempts = 0;
        loop {
            let n = STDERR_FILE_COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!("orcapod-command-{}-{n}.stderr", std::process::id()));
            match OpenOptions::new().append(true).create_new(true).open(&path) {
                Ok(writer) => {
                    let reader = match OpenOptions::new().read(true).write(true).open(&path) {
                        Ok(r) => r,
                        Err(e) => {
                            let _ = std::fs::remove_file(&path);
                            return Err(e);
                        }
                    };
                    // On Unix the open handles keep the file alive: unlink it now so it
                    // cannot be left behind, whatever happens to this process.
                    #[cfg(unix)]
                    let _ = std::fs::remove_file(&path);
                    return Ok(StderrFile {
                        path,
                        writer,
                        reader,
                        mark: 0,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 100 => {
                    attempts += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// What was written since the previous call (its last [`STDERR_TAIL_BYTES`]
    /// bytes), or `None` if nothing was.
    pub(super) fn since_mark(&mut self) -> Option<String> {
        let len = self.reader.metadata().ok()?.len();
        if len <= self.mark {
            return None;
        }
        let start = self.mark.max(len.saturating_sub(STDERR_TAIL_BYTES as u64));
        self.reader.seek(SeekFrom::Start(start)).ok()?;
        let mut bytes = Vec::new();
        (&self.reader)
            .take(len - start)
            .read_to_end(&mut bytes)
            .ok()?;
        let text = String::from_utf8_lossy(&bytes);
        Some(if start > self.mark {
            format!("[…]{text}")
        } else {
            text.into_owned()
        })
    }

    /// Marks everything written so far as seen (emptying the file once it is large).
    pub(super) fn advance(&mut self) {
        let Ok(meta) = self.reader.metadata() else {
            return;
        };
        self.mark = meta.len();
        if self.mark > STDERR_FILE_RESET_BYTES && self.reader.set_len(0).is_ok() {
            self.mark = 0;
        }
    }
}

impl Drop for StderrFile {
    fn drop(&mut self) {
        // Already gone on Unix; elsewhere the file is removed here.
        #[cfg(not(unix))]
        let _ = std::fs::remove_file(&self.path);
    }
}
