//! Driving the built `orcapod` binary from end-to-end tests: scratch directories, runs,
//! and assertions on the exit code with the whole output in the message.
//!
//! The binary's path is known only to the tests of the crate that builds it
//! (`env!("CARGO_BIN_EXE_orcapod")`), so they pass it in: `Orcapod::new(env!(…))`.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output};
use std::time::{Duration, Instant};

/// The `orcapod` binary at a given path.
#[derive(Clone, Copy, Debug)]
pub struct Orcapod {
    bin: &'static str,
}

impl Orcapod {
    /// The binary at `bin`.
    pub const fn new(bin: &'static str) -> Self {
        Orcapod { bin }
    }

    /// `orcapod ARGS`, to be run in `dir`.
    pub fn command(&self, dir: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(self.bin);
        command.args(args).current_dir(dir);
        command
    }

    /// Runs `orcapod ARGS` in `dir` to its end.
    pub fn output(&self, dir: &Path, args: &[&str]) -> Output {
        self.command(dir, args)
            .output()
            .expect("the orcapod binary runs")
    }

    /// Runs and asserts success, returning (stdout, stderr).
    pub fn ok(&self, dir: &Path, args: &[&str]) -> (String, String) {
        expect_success(args, &self.output(dir, args))
    }

    /// Runs and asserts exit code `code`, returning stderr.
    pub fn fails(&self, dir: &Path, args: &[&str], code: i32) -> String {
        expect_exit(args, &self.output(dir, args), code)
    }
}

/// Bytes of an output as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts that `orcapod ARGS` succeeded, returning (stdout, stderr).
pub fn expect_success(args: &[&str], out: &Output) -> (String, String) {
    assert!(
        out.status.success(),
        "orcapod {args:?} failed ({}):\n{}\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    (text(&out.stdout), text(&out.stderr))
}

/// Asserts that `orcapod ARGS` exited with `code`, returning stderr.
pub fn expect_exit(args: &[&str], out: &Output, code: i32) -> String {
    assert_eq!(
        out.status.code(),
        Some(code),
        "orcapod {args:?}: expected exit {code}:\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stderr)
}

/// A scratch directory holding `files` (name relative to it, contents).
pub fn workspace(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, contents) in files {
        std::fs::write(dir.path().join(name), contents).unwrap();
    }
    dir
}

/// Waits for `child` (started with its stderr piped) to end, at most `limit`: its exit
/// status and what it wrote to stderr. Past the limit it is killed and the test fails.
pub fn finish(mut child: Child, limit: Duration) -> (ExitStatus, String) {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            return (status, stderr);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("orcapod did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Node `node`'s `computed` count in the progress file of the run on database `db`
/// (0 while the file is missing or being rewritten).
pub fn published_computed(db: &Path, node: &str) -> u64 {
    let Ok(text) = std::fs::read_to_string(db.join("run-progress.json")) else {
        return 0;
    };
    let Ok(progress) = serde_json::from_str::<serde_json::Value>(&text) else {
        return 0;
    };
    progress["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|n| n["name"] == node)
        .and_then(|n| n["computed"].as_u64())
        .unwrap_or(0)
}
