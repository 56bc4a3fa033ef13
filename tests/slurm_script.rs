//! The batch script of a Slurm array run by `bash` itself, as one array task (no Slurm
//! needed): a command whose outputs hold files gets `ORCAPOD_OUT_DIR` fresh and empty
//! for each packet, and each answer's files are set aside under the answer's number.
//!
//! Fails if the directory is shared between the packets of a task, if an answer's files
//! are not where the answer's number says, or if a command that ends early loses the
//! answers it gave or its exit status.

use std::path::Path;
use std::process::Command;

use orcapod::function::slurm::chunk::{write_requests, ChunkPaths};
use orcapod::function::slurm::script::batch_script;

/// Answers `{"f": <its file>, "seen": <entries in ORCAPOD_OUT_DIR before writing>}`,
/// writing the packet's `x` into `$ORCAPOD_OUT_DIR/x.txt`; ends with status 3 on `x` = 0.
const COMMAND: &str = r#"import json, os, sys
out = os.environ['ORCAPOD_OUT_DIR']
for line in sys.stdin:
    p = json.loads(line)
    if p['x'] == 0:
        sys.exit(3)
    seen = len(os.listdir(out))
    path = os.path.join(out, 'x.txt')
    with open(path, 'w') as f:
        f.write(str(p['x']))
    print(json.dumps({'f': path, 'seen': seen}), flush=True)
"#;

/// Runs array task 0 of a script over one chunk of requests `xs`; returns the chunk.
fn run_task(dir: &Path, xs: &[i64]) -> ChunkPaths {
    std::fs::write(dir.join("cmd.py"), COMMAND).unwrap();
    let chunk = ChunkPaths::new(dir, 0);
    let requests: String = xs.iter().map(|x| format!("{{\"x\":{x}}}\n")).collect();
    write_requests(&chunk, requests.as_bytes()).unwrap();
    let command = ["python3".to_string(), "cmd.py".to_string()];
    let script = dir.join("s.sh");
    std::fs::write(
        &script,
        batch_script(&command, dir, std::slice::from_ref(&chunk), true),
    )
    .unwrap();
    let status = Command::new("bash")
        .arg(&script)
        .env("SLURM_ARRAY_TASK_ID", "0")
        .status()
        .unwrap();
    let marker = std::fs::read_to_string(chunk.exit()).unwrap();
    assert_eq!(
        status.code().map(|c| c.to_string()),
        Some(marker.trim().into())
    );
    chunk
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn each_packet_gets_a_fresh_directory_and_its_files_are_set_aside_by_answer() {
    let dir = tempfile::tempdir().unwrap();
    let chunk = run_task(dir.path(), &[7, 8, 9]);
    assert_eq!(read(&chunk.exit()).trim(), "0");
    let named = chunk.scratch().join("x.txt").display().to_string();
    let expected: String = (0..3)
        .map(|_| format!("{{\"f\": \"{named}\", \"seen\": 0}}\n"))
        .collect();
    assert_eq!(read(&chunk.output()), expected);
    for (line, x) in [(0, "7"), (1, "8"), (2, "9")] {
        assert_eq!(read(&chunk.answer_files(line).join("x.txt")), x);
    }
    assert_eq!(std::fs::read_dir(chunk.scratch()).unwrap().count(), 0);
}

#[test]
fn a_command_that_ends_early_keeps_its_answers_and_its_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    let chunk = run_task(dir.path(), &[5, 6, 0, 4]);
    assert_eq!(read(&chunk.exit()).trim(), "3");
    assert_eq!(read(&chunk.output()).lines().count(), 2);
    assert_eq!(read(&chunk.answer_files(1).join("x.txt")), "6");
    assert!(!chunk.answer_files(2).exists());
}
