//! The content identity of files and directories, computed from the file system.
//!
//! A file's identity is the SHA-256 of its bytes, as lowercase hex (what the reference
//! puts in place of a `pathlib.Path` value before hashing a table). A directory's is a
//! Merkle hash *(extension)*: the SHA-256 of its entries sorted by name (bytewise), each
//! written as one kind byte (`f` for a file, `d` for a directory), the entry's name, a
//! NUL byte, the entry's own hash in hex and a newline; a directory's own hash is that of
//! its entries, recursively. So a directory's identity depends on the names and contents
//! beneath it, never on where it is, its timestamps or its permissions. Symbolic links
//! are followed; anything that is neither a file nor a directory (a socket, a device) is
//! an error naming it.
//!
//! This module reads files and lists directories; it keeps nothing (the cache of file
//! hashes is `super::cache`) and never writes.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// How deep a directory walk may go: deeper is taken for a loop of symbolic links.
const MAX_DEPTH: usize = 256;

/// The bytes read at a time while hashing a file.
const READ_CHUNK: usize = 1 << 20;

/// The SHA-256 of the file at `path`, in hex, and how many bytes were read.
pub fn sha256_file(path: &Path) -> Result<(String, u64)> {
    let io_error = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = fs::File::open(path).map_err(io_error)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; READ_CHUNK];
    let mut total = 0u64;
    loop {
        let n = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_error(e)),
        };
        hasher.update(&buffer[..n]);
        total += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), total))
}

/// A directory listed recursively: its entries sorted by name; files are indices into
/// the walk's list of files, so all of them can be hashed together.
#[derive(Debug)]
pub struct DirTree {
    entries: Vec<(OsString, Entry)>,
}

#[derive(Debug)]
enum Entry {
    File(usize),
    Dir(DirTree),
}

impl DirTree {
    /// Lists `dir` recursively, appending every file found to `files`.
    pub fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<DirTree> {
        walk(dir, files, 0)
    }

    /// The Merkle hash of the tree, given the hash of each file of the walk (by index).
    pub fn merkle(&self, file_hashes: &[String]) -> String {
        let mut hasher = Sha256::new();
        for (name, entry) in &self.entries {
            let (kind, hash) = match entry {
                Entry::File(i) => (b'f', file_hashes[*i].clone()),
                Entry::Dir(tree) => (b'd', tree.merkle(file_hashes)),
            };
            hasher.update([kind]);
            hasher.update(name.as_bytes());
            hasher.update([0u8]);
            hasher.update(hash.as_bytes());
            hasher.update(b"\n");
        }
        hex::encode(hasher.finalize())
    }
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>, depth: usize) -> Result<DirTree> {
    let io_error = |path: &Path, source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    if depth > MAX_DEPTH {
        return Err(Error::invalid(
            dir.display().to_string(),
            format!("directory nested more than {MAX_DEPTH} deep (a loop of symbolic links?)"),
        ));
    }
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io_error(dir, e))? {
        names.push(entry.map_err(|e| io_error(dir, e))?.file_name());
    }
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    let mut entries = Vec::with_capacity(names.len());
    for name in names {
        let path = dir.join(&name);
        // Follows symbolic links: a link stands for what it points to.
        let meta = fs::metadata(&path).map_err(|e| io_error(&path, e))?;
        let entry = if meta.is_file() {
            files.push(path);
            Entry::File(files.len() - 1)
        } else if meta.is_dir() {
            Entry::Dir(walk(&path, files, depth + 1)?)
        } else {
            return Err(Error::invalid(
                path.display().to_string(),
                "neither a file nor a directory, so it has no content to hash",
            ));
        };
        entries.push((name, entry));
    }
    Ok(DirTree { entries })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_and_directory_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.txt");
        fs::write(&a, b"abc").unwrap();
        let (hash, read) = sha256_file(&a).unwrap();
        // SHA-256("abc").
        assert_eq!(
            hash,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(read, 3);

        let tree_hash = |root: &Path| {
            let mut files = Vec::new();
            let tree = DirTree::walk(root, &mut files).unwrap();
            let hashes: Vec<String> = files.iter().map(|f| sha256_file(f).unwrap().0).collect();
            tree.merkle(&hashes)
        };
        fs::create_dir(dir.path().join("sub")).unwrap();
        fs::write(dir.path().join("sub/b.txt"), b"b").unwrap();
        let first = tree_hash(dir.path());
        // The same names and contents elsewhere: the same hash.
        let other = tempfile::tempdir().unwrap();
        fs::write(other.path().join("a.txt"), b"abc").unwrap();
        fs::create_dir(other.path().join("sub")).unwrap();
        fs::write(other.path().join("sub/b.txt"), b"b").unwrap();
        assert_eq!(tree_hash(other.path()), first);
        // A renamed entry or an edited file: another hash.
        fs::rename(
            other.path().join("sub/b.txt"),
            other.path().join("sub/c.txt"),
        )
        .unwrap();
        assert_ne!(tree_hash(other.path()), first);
        fs::write(dir.path().join("sub/b.txt"), b"B").unwrap();
        assert_ne!(tree_hash(dir.path()), first);
        // The empty directory hashes nothing.
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(tree_hash(empty.path()), hex::encode(Sha256::digest(b"")));
    }
}
