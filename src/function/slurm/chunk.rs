//! Chunk files: the packets one array task computes, as JSON Lines requests
//! ([`chunk_requests`]), where its files live ([`ChunkPaths`]), and what its exit marker
//! says ([`read_marker`]).
//!
//! A chunk `c000042` of a node's directory has `c000042.in` (requests), `.out` and
//! `.err` (the command's stdout and stderr), `.exit` (the command's exit status,
//! written by the batch script once stdout is complete) and, for a command whose outputs
//! hold files, the directory `.files` ([`ChunkPaths::files`]). It writes only the request
//! file ([`write_requests`], a temporary file renamed into place); it never waits.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::function::command::Protocol;
use crate::function::jsonl::write_request;
use crate::model::Datum;

/// The files of one chunk, in a node's work directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkPaths {
    stem: PathBuf,
}

impl ChunkPaths {
    /// Chunk number `index` of the directory `dir`.
    pub fn new(dir: &Path, index: u64) -> Self {
        ChunkPaths {
            stem: dir.join(format!("c{index:06}")),
        }
    }

    /// The chunk whose files start with `stem` (as [`stem`](Self::stem) gave it).
    pub fn from_stem(stem: PathBuf) -> Self {
        ChunkPaths { stem }
    }

    /// The common prefix of the chunk's files.
    pub fn stem(&self) -> &Path {
        &self.stem
    }

    fn with(&self, extension: &str) -> PathBuf {
        let mut path = self.stem.clone().into_os_string();
        path.push(extension);
        PathBuf::from(path)
    }

    /// The requests (the command's stdin).
    pub fn input(&self) -> PathBuf {
        self.with(".in")
    }

    /// The command's stdout.
    pub fn output(&self) -> PathBuf {
        self.with(".out")
    }

    /// The command's stderr.
    pub fn error(&self) -> PathBuf {
        self.with(".err")
    }

    /// The exit marker.
    pub fn exit(&self) -> PathBuf {
        self.with(".exit")
    }

    /// The directory of the files the command writes, when its outputs hold files: the
    /// task makes it fresh and empty, gives the command `{files}/cur` as
    /// `ORCAPOD_OUT_DIR`, and renames `cur` to the number of each answer line (`0`,
    /// `1`, …) once the line is read, making `cur` afresh for the next packet.
    pub fn files(&self) -> PathBuf {
        self.with(".files")
    }

    /// The scratch directory the command is given (`ORCAPOD_OUT_DIR`).
    pub fn scratch(&self) -> PathBuf {
        self.files().join("cur")
    }

    /// Where the files written for answer line `line` (0: the first) are once read.
    pub fn answer_files(&self, line: usize) -> PathBuf {
        self.files().join(line.to_string())
    }
}

/// The `$id` of request `i` of a chunk under `jsonl-id`.
pub fn request_id(i: usize) -> String {
    i.to_string()
}

/// The requests of a chunk: one line per packet, in order, each with its `$id`
/// ([`request_id`]) under `jsonl-id`.
pub fn chunk_requests(packets: &[Vec<(String, Datum)>], protocol: Protocol) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, packet) in packets.iter().enumerate() {
        let id = (protocol == Protocol::JsonlId).then(|| request_id(i));
        write_request(&mut out, packet, id.as_deref());
    }
    out
}

/// Writes a chunk's requests to its input file (a temporary file renamed into place).
pub fn write_requests(paths: &ChunkPaths, requests: &[u8]) -> std::io::Result<()> {
    let tmp = paths.with(".in.tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(requests)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, paths.input())
}

/// The exit status an exit marker holds, or what is wrong with it.
pub fn read_marker(text: &str) -> Result<i32, String> {
    let trimmed = text.trim();
    trimmed.parse::<i32>().map_err(|_| {
        format!(
            "the exit marker holds `{}`, not an exit status",
            clip(trimmed)
        )
    })
}

fn clip(text: &str) -> String {
    crate::function::jsonl::clip(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_has_its_files_beside_each_other() {
        let paths = ChunkPaths::new(Path::new("/w/n"), 42);
        assert_eq!(paths.stem(), Path::new("/w/n/c000042"));
        assert_eq!(paths.input(), Path::new("/w/n/c000042.in"));
        assert_eq!(paths.output(), Path::new("/w/n/c000042.out"));
        assert_eq!(paths.error(), Path::new("/w/n/c000042.err"));
        assert_eq!(paths.exit(), Path::new("/w/n/c000042.exit"));
        assert_eq!(paths.scratch(), Path::new("/w/n/c000042.files/cur"));
        assert_eq!(paths.answer_files(3), Path::new("/w/n/c000042.files/3"));
        assert_eq!(
            ChunkPaths::new(Path::new("/w"), 1234567).stem(),
            Path::new("/w/c1234567")
        );
    }

    #[test]
    fn requests_are_json_lines_with_ids_under_jsonl_id() {
        let packets = vec![
            vec![("x".to_string(), Datum::Int(1))],
            vec![("x".to_string(), Datum::Float(f64::NAN))],
        ];
        assert_eq!(
            chunk_requests(&packets, Protocol::Jsonl),
            b"{\"x\":1}\n{\"x\":NaN}\n".to_vec()
        );
        assert_eq!(
            chunk_requests(&packets, Protocol::JsonlId),
            b"{\"$id\":\"0\",\"x\":1}\n{\"$id\":\"1\",\"x\":NaN}\n".to_vec()
        );
    }

    #[test]
    fn markers_hold_an_exit_status() {
        assert_eq!(read_marker("0\n"), Ok(0));
        assert_eq!(read_marker("137"), Ok(137));
        assert!(read_marker("").unwrap_err().contains("not an exit status"));
        assert!(read_marker("x").is_err());
    }

    #[test]
    fn requests_are_written_whole() {
        let dir = tempfile::tempdir().unwrap();
        let paths = ChunkPaths::new(dir.path(), 3);
        write_requests(&paths, b"{}\n").unwrap();
        assert_eq!(std::fs::read(paths.input()).unwrap(), b"{}\n");
        assert!(!dir.path().join("c000003.in.tmp").exists());
    }
}
