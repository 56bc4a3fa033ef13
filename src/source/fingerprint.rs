//! What a source would read, seen from the file system's metadata alone: the
//! [`Fingerprint`] that watch mode (`orcapod run --watch`) compares from one round to
//! the next to decide whether a source changed, and what changed ([`Changes`]).
//!
//! A file source's fingerprint is its file's (size, modification time in nanoseconds,
//! inode); a folder source's is the sorted list of the paths its glob matches, each with
//! the same three numbers (for `dirs:`, every file under each directory, so an edit deep
//! inside a directory is seen). These are the numbers the file-hash cache keys on
//! ([`crate::files::cache`]), so a change the cache would notice is a change here, and the
//! one edit the cache can miss (same size and inode, within one tick of the file
//! system's clock) can be missed here too.
//!
//! This module lists directories and reads metadata; it never opens a file, never waits
//! and never reads the clock (the interval between two looks is the caller's).

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::folder::matching;
use super::FolderSpec;
use crate::files::digest::DirTree;
use crate::files::PathKind;

/// What a source reads, as declared: a file, or the paths a glob matches.
#[derive(Debug, Clone)]
pub enum SourceInput {
    /// A CSV, Arrow IPC or Parquet file.
    File(PathBuf),
    /// A folder source's glob.
    Folder(FolderSpec),
}

/// The (size, modification time in nanoseconds, inode) of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    /// The size in bytes.
    pub size: u64,
    /// The modification time, in nanoseconds since the epoch.
    pub mtime_ns: i128,
    /// The inode number.
    pub inode: u64,
}

/// What a source would read now, from metadata alone ([`SourceInput::fingerprint`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fingerprint {
    /// Each path read (relative to the folder's base; a file source's one path as
    /// declared) with its stamp; a path whose metadata cannot be read is absent.
    Paths(BTreeMap<String, FileStamp>),
    /// The listing itself failed (a glob that is not valid, a path that is not UTF-8):
    /// the message, so the same failure is the same fingerprint.
    Unreadable(String),
}

/// What changed between two fingerprints of a source, by path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Paths read now and not before.
    pub added: Vec<String>,
    /// Paths read before and now, with another stamp.
    pub changed: Vec<String>,
    /// Paths read before and not now.
    pub deleted: Vec<String>,
    /// How many paths the newer fingerprint holds.
    pub now: usize,
    /// The newer fingerprint's listing failed: why.
    pub unreadable: Option<String>,
}

impl Changes {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.changed.is_empty()
            && self.deleted.is_empty()
            && self.unreadable.is_none()
    }
}

impl SourceInput {
    /// The source's fingerprint now.
    pub fn fingerprint(&self) -> Fingerprint {
        match self {
            SourceInput::File(path) => {
                let mut paths = BTreeMap::new();
                if let Some(stamp) = stamp(path) {
                    paths.insert(path.display().to_string(), stamp);
                }
                Fingerprint::Paths(paths)
            }
            SourceInput::Folder(spec) => folder_fingerprint(spec),
        }
    }
}

impl Fingerprint {
    /// What changed from `before` to `self`.
    pub fn changes_since(&self, before: &Fingerprint) -> Changes {
        let empty = BTreeMap::new();
        let (old, old_error) = match before {
            Fingerprint::Paths(p) => (p, None),
            Fingerprint::Unreadable(e) => (&empty, Some(e)),
        };
        let (new, unreadable) = match self {
            Fingerprint::Paths(p) => (p, None),
            Fingerprint::Unreadable(e) => (&empty, Some(e.clone())),
        };
        let mut changes = Changes {
            now: new.len(),
            // The same failure again is no news.
            unreadable: unreadable.filter(|e| Some(e) != old_error),
            ..Changes::default()
        };
        if self == before {
            return changes;
        }
        for (path, stamp) in new {
            match old.get(path) {
                None => changes.added.push(path.clone()),
                Some(was) if was != stamp => changes.changed.push(path.clone()),
                Some(_) => {}
            }
        }
        changes.deleted = old
            .keys()
            .filter(|p| !new.contains_key(*p))
            .cloned()
            .collect();
        changes
    }
}

/// The stamp of `path` (links followed), if its metadata can be read.
fn stamp(path: &Path) -> Option<FileStamp> {
    Some(stamp_of(&std::fs::metadata(path).ok()?))
}

fn stamp_of(meta: &std::fs::Metadata) -> FileStamp {
    FileStamp {
        size: meta.size(),
        mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        inode: meta.ino(),
    }
}

fn folder_fingerprint(spec: &FolderSpec) -> Fingerprint {
    let context = format!("`{}: {}`", spec.key(), spec.pattern);
    let listed = match matching(spec, &context) {
        Ok(listed) => listed,
        Err(e) => return Fingerprint::Unreadable(e.to_string()),
    };
    let mut paths = BTreeMap::new();
    for (relative, absolute, meta) in listed {
        let absolute = PathBuf::from(absolute);
        match spec.kind {
            // The listing's own `stat`: no second one.
            PathKind::File => {
                paths.insert(relative, stamp_of(&meta));
            }
            PathKind::Dir => {
                // The directory itself (its entries' names), then every file under it.
                paths.insert(format!("{relative}/"), stamp_of(&meta));
                let mut files = Vec::new();
                match DirTree::walk(&absolute, &mut files) {
                    Ok(_) => {
                        for file in files {
                            let inner = file.strip_prefix(&absolute).unwrap_or(&file);
                            if let Some(stamp) = stamp(&file) {
                                paths.insert(format!("{relative}/{}", inner.display()), stamp);
                            }
                        }
                    }
                    Err(e) => return Fingerprint::Unreadable(e.to_string()),
                }
            }
        }
    }
    Fingerprint::Paths(paths)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    fn folder(base: &Path, pattern: &str, kind: PathKind) -> SourceInput {
        SourceInput::Folder(FolderSpec {
            base: base.to_path_buf(),
            pattern: pattern.into(),
            matcher: String::new(),
            kind,
        })
    }

    #[test]
    fn a_folder_fingerprint_tells_added_changed_and_deleted_paths() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("in");
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("a.txt"), "a").unwrap();
        fs::write(d.join("b.txt"), "b").unwrap();
        let input = folder(dir.path(), "in/*.txt", PathKind::File);
        let first = input.fingerprint();
        let again = input.fingerprint();
        assert!(again.changes_since(&first).is_empty());
        assert_eq!(again.changes_since(&first).now, 2);

        fs::write(d.join("c.txt"), "c").unwrap();
        fs::remove_file(d.join("a.txt")).unwrap();
        // A new size is a change, whatever the clock's granularity.
        fs::write(d.join("b.txt"), "bigger").unwrap();
        fs::write(d.join("ignored.csv"), "x").unwrap();
        let changes = input.fingerprint().changes_since(&first);
        assert_eq!(changes.added, ["in/c.txt"]);
        assert_eq!(changes.changed, ["in/b.txt"]);
        assert_eq!(changes.deleted, ["in/a.txt"]);
        assert_eq!(changes.now, 2);

        // Nothing matching is a fingerprint too (every file deleted).
        for f in ["b.txt", "c.txt"] {
            fs::remove_file(d.join(f)).unwrap();
        }
        let changes = input.fingerprint().changes_since(&first);
        assert_eq!(changes.deleted.len(), 2);
        assert_eq!(changes.now, 0);
    }

    #[test]
    fn a_directory_fingerprint_sees_a_file_deep_inside() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("runs/r1/x/y");
        fs::create_dir_all(&deep).unwrap();
        fs::write(deep.join("f"), "1").unwrap();
        let input = folder(dir.path(), "runs/*", PathKind::Dir);
        let first = input.fingerprint();
        fs::write(deep.join("f"), "12").unwrap();
        let changes = input.fingerprint().changes_since(&first);
        assert_eq!(changes.changed, ["runs/r1/x/y/f"]);
    }

    #[test]
    fn a_file_fingerprint_and_a_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        fs::write(&path, "a\n1\n").unwrap();
        let input = SourceInput::File(path.clone());
        let first = input.fingerprint();
        fs::write(&path, "a\n1\n2\n").unwrap();
        let changes = input.fingerprint().changes_since(&first);
        assert_eq!(changes.changed.len(), 1);
        fs::remove_file(&path).unwrap();
        let changes = input.fingerprint().changes_since(&first);
        assert_eq!(changes.deleted.len(), 1);
    }

    #[test]
    fn the_same_listing_failure_is_no_news() {
        let dir = tempfile::tempdir().unwrap();
        let input = folder(dir.path(), "[", PathKind::File);
        let first = input.fingerprint();
        assert!(matches!(first, Fingerprint::Unreadable(_)));
        let ok = Fingerprint::Paths(BTreeMap::new());
        assert!(first.changes_since(&ok).unreadable.is_some());
        assert!(input.fingerprint().changes_since(&first).is_empty());
    }
}
