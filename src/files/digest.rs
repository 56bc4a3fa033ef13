//! The content identity of files and directories, computed from the file system, as
//! the reference (orcapod 0.1.4) computes it.
//!
//! A file's identity is the SHA-256 of its bytes (the reference's `FileHasher`). A
//! directory's is the reference's Merkle hash (`BasicDirectoryHasher`, method
//! `merkle_sha256`): each entry is hashed as the SHA-256 of its kind (`file`, `dir` or
//! `symlink`), a NUL byte, its name (UTF-8 bytes), a NUL byte and then the raw SHA-256
//! of a file's bytes, the raw Merkle digest of a subdirectory, or the target of a
//! symbolic link as written (a link inside a directory is never followed); the
//! directory's digest is the SHA-256 of `directory` and a NUL byte followed by its
//! entries' digests in the bytewise order of their names. Anything that is neither a
//! file, a directory nor a link (a socket, a device) is left out, as the reference
//! leaves it out. So a directory's identity depends on the names and contents beneath
//! it, never on where it is, its timestamps or its permissions. Hashes are given in hex.
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

/// How deep a directory walk may go: deeper is taken for a loop (a bind mount of a
/// directory inside itself, say).
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
    /// A symbolic link, by its target.
    Link(OsString),
}

impl DirTree {
    /// Lists `dir` recursively, appending every file found to `files`.
    pub fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<DirTree> {
        walk(dir, files, 0)
    }

    /// The Merkle hash of the tree in hex, given the hash (hex) of each file of the
    /// walk (by index).
    pub fn merkle(&self, file_hashes: &[String]) -> Result<String> {
        Ok(hex::encode(self.digest(file_hashes)?))
    }

    fn digest(&self, file_hashes: &[String]) -> Result<[u8; 32]> {
        let mut node = Sha256::new();
        node.update(b"directory\0");
        for (name, entry) in &self.entries {
            let (kind, content): (&[u8], Vec<u8>) = match entry {
                Entry::File(i) => (b"file", raw_hash(&file_hashes[*i])?),
                Entry::Dir(tree) => (b"dir", tree.digest(file_hashes)?.to_vec()),
                Entry::Link(target) => (b"symlink", target.as_bytes().to_vec()),
            };
            let mut hasher = Sha256::new();
            hasher.update(kind);
            hasher.update([0u8]);
            hasher.update(name.as_bytes());
            hasher.update([0u8]);
            hasher.update(&content);
            node.update(hasher.finalize());
        }
        Ok(node.finalize().into())
    }
}

/// The raw bytes of a hex hash.
fn raw_hash(hex_hash: &str) -> Result<Vec<u8>> {
    hex::decode(hex_hash)
        .map_err(|e| Error::Hash(format!("the file hash {hex_hash:?} is not hex: {e}")))
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>, depth: usize) -> Result<DirTree> {
    let io_error = |path: &Path, source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    if depth > MAX_DEPTH {
        return Err(Error::invalid(
            dir.display().to_string(),
            format!("directory nested more than {MAX_DEPTH} deep (a loop?)"),
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
        // A link stands for itself (its target), never for what it points to.
        let meta = fs::symlink_metadata(&path).map_err(|e| io_error(&path, e))?;
        let entry = if meta.file_type().is_symlink() {
            Entry::Link(fs::read_link(&path).map_err(|e| io_error(&path, e))?.into())
        } else if meta.is_file() {
            files.push(path);
            Entry::File(files.len() - 1)
        } else if meta.is_dir() {
            Entry::Dir(walk(&path, files, depth + 1)?)
        } else {
            // A socket, a device or a pipe has no content: left out.
            continue;
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
            tree.merkle(&hashes).unwrap()
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
        // The empty directory hashes its header only.
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(
            tree_hash(empty.path()),
            hex::encode(Sha256::digest(b"directory\0"))
        );
        // A link counts by its target, never by what it points to; a socket not at all.
        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().join("o");
        fs::write(&target, b"1").unwrap();
        let linked = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(&target, linked.path().join("l")).unwrap();
        let with_link = tree_hash(linked.path());
        fs::write(&target, b"2").unwrap();
        assert_eq!(tree_hash(linked.path()), with_link);
        fs::remove_file(linked.path().join("l")).unwrap();
        std::os::unix::fs::symlink(outside.path(), linked.path().join("l")).unwrap();
        assert_ne!(tree_hash(linked.path()), with_link);
        fs::remove_file(linked.path().join("l")).unwrap();
        std::os::unix::fs::symlink(&target, linked.path().join("l")).unwrap();
        let _socket = std::os::unix::net::UnixListener::bind(linked.path().join("s")).unwrap();
        assert_eq!(tree_hash(linked.path()), with_link);
    }
}
