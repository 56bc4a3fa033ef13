//! Files written by functions: the per-worker scratch directory a command is given in
//! `ORCAPOD_OUT_DIR`, and the content-addressed area of the store the files it answers
//! with are moved into.
//!
//! An [`OutputArea`] is the `files/` directory of a database: a stored file lives at
//! `files/ab/cdef…` (its SHA-256 in hex, split after two characters; the answered file's
//! extension, if any, is kept, so that `plot.svg` stays an SVG to a viewer). Each command
//! worker gets a [`Scratch`] directory under `files/.scratch/`, on the same file system,
//! named in its environment as `ORCAPOD_OUT_DIR`. A worker computes one packet at a
//! time, so [`Scratch::prepare`] empties the directory before each packet (it is fresh and
//! empty for every packet) and [`Scratch::keep`] moves the files answered from it into the
//! area once the answer came, then empties it again. A scratch directory is removed when
//! its worker goes ([`Drop`]), and [`OutputArea::open`] removes what a killed run left.
//!
//! A file is placed with a hard link, which never replaces an existing file: identical
//! content is stored once, and a file already stored is never rewritten. Its bytes and
//! its directory are synced before the answer that names it is handed on, so a stored
//! result never names a file a crash could lose. Stored files are made read-only.
//!
//! On Slurm the array task itself gives the command a fresh directory per packet and
//! sets each answer's files aside (`crate::function::slurm::script`); when the chunk is
//! read back, [`OutputArea::keep`] takes each answer's files from there ([`Answered`]),
//! and a file on another file system than the area is copied in.
//!
//! The area is process-wide ([`use_area`]): the command line sets it to its database's
//! `files/` when a run starts. Without one (a library run without it), commands get no
//! `ORCAPOD_OUT_DIR` and a file answered keeps the path answered. A file answered outside
//! the scratch directory is a reference to an existing file and keeps its path, too.
//!
//! This module never decides what is computed, and never deletes a stored file.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use arrow::datatypes::{DataType, FieldRef};

use super::digest::sha256_file;
use super::kind::{holds_paths, PathKind};
use crate::error::{Error, Result};
use crate::model::Datum;

/// The environment variable that names a command's scratch directory.
pub const OUT_DIR_VAR: &str = "ORCAPOD_OUT_DIR";

/// The directory, inside the area, that holds the workers' scratch directories.
const SCRATCH: &str = ".scratch";

/// The content-addressed directory of files written by functions: `{db}/files`.
#[derive(Debug)]
pub struct OutputArea {
    root: PathBuf,
    /// Set by [`remove_scratch`](Self::remove_scratch): no scratch directory is made
    /// after it (held while one is made, so none slips past the removal).
    closed: Mutex<bool>,
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl OutputArea {
    /// The area at `root` (created if needed, made absolute), with the scratch
    /// directories a killed run may have left removed. Only one run may use a database
    /// at a time, so no scratch directory there is in use.
    pub fn open(root: &Path) -> Result<OutputArea> {
        fs::create_dir_all(root).map_err(io_error(root))?;
        let root = fs::canonicalize(root).map_err(io_error(root))?;
        let scratch = root.join(SCRATCH);
        match fs::remove_dir_all(&scratch) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(&scratch)(e)),
        }
        Ok(OutputArea {
            root,
            closed: Mutex::new(false),
        })
    }

    /// The area's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a file of SHA-256 `hex` with extension `ext` is stored.
    pub fn path_of(&self, hex: &str, ext: Option<&str>) -> PathBuf {
        let (dir, rest) = hex.split_at(2.min(hex.len()));
        let name = match ext {
            Some(ext) => format!("{rest}.{ext}"),
            None => rest.to_string(),
        };
        self.root.join(dir).join(name)
    }

    /// Moves the file at `path` into the area; returns where it is stored. An identical
    /// file already stored stays as it is (and `path` is removed). A file on another
    /// file system (a Slurm work directory elsewhere) is copied in first.
    pub fn store(&self, path: &Path) -> Result<PathBuf> {
        let (hex, _) = sha256_file(path)?;
        let dest = self.path_of(&hex, extension(path).as_deref());
        let parent = dest.parent().expect("a stored file is inside the area");
        fs::create_dir_all(parent).map_err(io_error(parent))?;
        let file = fs::File::open(path).map_err(io_error(path))?;
        file.sync_all().map_err(io_error(path))?;
        fs::set_permissions(path, fs::Permissions::from_mode(0o444)).map_err(io_error(path))?;
        match fs::hard_link(path, &dest) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) if e.kind() == io::ErrorKind::CrossesDevices => self.copy_in(path, &dest)?,
            Err(e) => return Err(io_error(&dest)(e)),
        }
        // Synced either way: an identical file placed by another worker a moment ago
        // may not have had its directory synced yet.
        fs::File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(io_error(parent))?;
        fs::remove_file(path).map_err(io_error(path))?;
        Ok(dest)
    }

    /// Places a copy of `path` at `dest`: copied to a temporary file of the area,
    /// synced, then hard-linked into place (never replacing a file).
    fn copy_in(&self, path: &Path, dest: &Path) -> Result<()> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let parent = self.root.join(SCRATCH);
        fs::create_dir_all(&parent).map_err(io_error(&parent))?;
        let tmp = parent.join(format!("copy-{}-{n}", std::process::id()));
        let placed = fs::copy(path, &tmp)
            .and_then(|_| fs::File::open(&tmp)?.sync_all())
            .and_then(|()| fs::set_permissions(&tmp, fs::Permissions::from_mode(0o444)))
            .map_err(io_error(&tmp))
            .and_then(|()| match fs::hard_link(&tmp, dest) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
                Err(e) => Err(io_error(dest)(e)),
            });
        let _ = fs::remove_file(&tmp);
        placed
    }

    /// A new scratch directory for one worker.
    pub fn scratch(self: &Arc<Self>) -> Result<Scratch> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let parent = self.root.join(SCRATCH);
        let dir = parent.join(format!("{}-{n}", std::process::id()));
        let closed = self.closed.lock().unwrap_or_else(|e| e.into_inner());
        if *closed {
            return Err(Error::invalid(
                self.root.display().to_string(),
                "the run has ended: no packet is computed any more",
            ));
        }
        fs::create_dir_all(&parent).map_err(io_error(&parent))?;
        fs::create_dir(&dir).map_err(io_error(&dir))?;
        drop(closed);
        Ok(Scratch {
            area: Arc::clone(self),
            dir,
        })
    }

    /// Removes every scratch directory, for good (at the end of a run): no scratch
    /// directory is made afterwards, and a worker still alive finds its directory gone
    /// and fails its next packet (never stores a wrong file, never makes it again).
    pub fn remove_scratch(&self) {
        let mut closed = self.closed.lock().unwrap_or_else(|e| e.into_inner());
        *closed = true;
        let _ = fs::remove_dir_all(self.root.join(SCRATCH));
    }
}

/// The extension of `path` if it is a short alphanumeric one.
fn extension(path: &Path) -> Option<String> {
    let ext = path.extension()?.to_str()?;
    (!ext.is_empty() && ext.len() <= 16 && ext.chars().all(|c| c.is_ascii_alphanumeric()))
        .then(|| ext.to_string())
}

fn area_slot() -> &'static RwLock<Option<Arc<OutputArea>>> {
    static AREA: RwLock<Option<Arc<OutputArea>>> = RwLock::new(None);
    &AREA
}

/// Makes `area` the process's output area (or none): workers started from now on use it.
pub fn use_area(area: Option<Arc<OutputArea>>) {
    *area_slot().write().unwrap_or_else(|e| e.into_inner()) = area;
}

/// Whether a function with outputs `fields` may answer files it writes (a `file` or
/// `dir` column, also as list items): on Slurm, only such a command is given
/// `ORCAPOD_OUT_DIR` (and fed one packet at a time for it).
pub fn outputs_hold_files(fields: &[FieldRef]) -> bool {
    fields.iter().any(|f| holds_paths(f.data_type()))
}

/// The process's output area, if one is set.
pub fn area() -> Option<Arc<OutputArea>> {
    area_slot()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}

/// One worker's scratch directory; removed when dropped.
#[derive(Debug)]
pub struct Scratch {
    area: Arc<OutputArea>,
    dir: PathBuf,
}

impl Scratch {
    /// The directory (absolute).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Makes the directory exist and be empty, before a packet. Fails once the area's
    /// scratch directories were removed for good (the parent is never made again here).
    pub fn prepare(&self) -> Result<()> {
        match fs::remove_dir_all(&self.dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(&self.dir)(e)),
        }
        fs::create_dir(&self.dir).map_err(io_error(&self.dir))
    }

    /// After a packet's answer: moves each `file` value (of `fields`, also inside
    /// lists) that names a file under the directory into the area and answers its
    /// stored path; then empties the directory. A directory or anything but a regular
    /// file answered from under the scratch directory is an error (it would vanish
    /// with the directory).
    pub fn keep(&self, fields: &[FieldRef], values: Vec<Datum>) -> Result<Vec<Datum>> {
        let kept = self.area.keep(
            Answered {
                named: &self.dir,
                actual: &self.dir,
                outside: Outside::Reference,
            },
            fields,
            values,
        );
        let emptied = self.prepare();
        let kept = kept?;
        emptied?;
        Ok(kept)
    }
}

/// Where the files a packet's answer names are, for [`OutputArea::keep`].
#[derive(Debug, Clone, Copy)]
pub struct Answered<'a> {
    /// The scratch directory the command was given (`ORCAPOD_OUT_DIR`), absolute.
    pub named: &'a Path,
    /// Where the files written there are now: `named` itself, or the directory it was
    /// renamed to once the packet was answered (on Slurm, where the next packet gets
    /// a fresh directory under the same name).
    pub actual: &'a Path,
    /// What a file answered outside `named` must be.
    pub outside: Outside,
}

/// What a `file` value answered outside the scratch directory must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outside {
    /// Anything: a reference, kept as answered (its hash, later, finds a missing file).
    Reference,
    /// A regular file this process sees (the command ran elsewhere), else an error.
    Visible,
}

impl OutputArea {
    /// After a packet's answer: moves each `file` value (of `fields`, also inside
    /// lists) that names a file under `answered.named` into the area, from where it
    /// now is (`answered.actual`), and answers its stored path. A directory or
    /// anything but a regular file answered from under the scratch directory, or a
    /// file answered there that is missing, is an error naming the column and the path.
    pub fn keep(
        &self,
        answered: Answered<'_>,
        fields: &[FieldRef],
        values: Vec<Datum>,
    ) -> Result<Vec<Datum>> {
        fields
            .iter()
            .zip(values)
            .map(|(f, v)| self.keep_value(answered, f.name(), f.data_type(), v))
            .collect()
    }

    fn keep_value(
        &self,
        answered: Answered<'_>,
        column: &str,
        data_type: &DataType,
        value: Datum,
    ) -> Result<Datum> {
        match (value, data_type) {
            (Datum::Str(path), t) if PathKind::of(t).is_some() => {
                let resolved = resolve(Path::new(&path));
                let Ok(relative) = resolved.strip_prefix(answered.named) else {
                    return self.outside(answered.outside, column, t, path);
                };
                let now = answered.actual.join(relative);
                let meta = fs::symlink_metadata(&now).map_err(|e| {
                    Error::invalid(
                        format!("output `{column}`"),
                        format!("{path} was answered under {OUT_DIR_VAR} but is not there ({e})"),
                    )
                })?;
                if PathKind::of(t) != Some(PathKind::File) || !meta.is_file() {
                    return Err(Error::invalid(
                        format!("output `{column}`"),
                        format!(
                            "{path} is under {OUT_DIR_VAR} but is not a regular file answered \
                             for a `file` column: only files written there are kept (a \
                             directory or a link would vanish with the scratch directory)"
                        ),
                    ));
                }
                let stored = self.store(&now)?;
                Ok(Datum::Str(stored.to_string_lossy().into_owned()))
            }
            (Datum::List(items), DataType::List(item) | DataType::LargeList(item)) => {
                Ok(Datum::List(
                    items
                        .into_iter()
                        .map(|d| self.keep_value(answered, column, item.data_type(), d))
                        .collect::<Result<_>>()?,
                ))
            }
            (other, _) => Ok(other),
        }
    }

    /// A value answered outside the scratch directory.
    fn outside(&self, rule: Outside, column: &str, t: &DataType, path: String) -> Result<Datum> {
        let visible = match (rule, PathKind::of(t)) {
            (Outside::Reference, _) => true,
            (Outside::Visible, Some(PathKind::File)) => Path::new(&path).is_file(),
            (Outside::Visible, _) => Path::new(&path).is_dir(),
        };
        if !visible {
            return Err(Error::invalid(
                format!("output `{column}`"),
                format!(
                    "{path} is outside {OUT_DIR_VAR} and not found here: a file the command \
                     wrote must be under {OUT_DIR_VAR} to be kept, and one it names elsewhere \
                     must be on storage this machine sees"
                ),
            ));
        }
        Ok(Datum::Str(path))
    }
}

/// `path` with its directory resolved (links, `..`) as far as it exists, the rest and
/// the name as written: where the answered entry is (a link itself, not its target),
/// even when its directory does not exist any more.
fn resolve(path: &Path) -> PathBuf {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return path.to_path_buf();
    };
    let mut base = dir;
    let mut rest = vec![name];
    loop {
        if let Ok(real) = fs::canonicalize(base) {
            return rest.iter().rev().fold(real, |p, c| p.join(c));
        }
        match (base.parent(), base.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name);
                base = parent;
            }
            _ => return path.to_path_buf(),
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::Field;

    use super::*;

    fn area() -> (tempfile::TempDir, Arc<OutputArea>) {
        let tmp = tempfile::tempdir().unwrap();
        let area = Arc::new(OutputArea::open(&tmp.path().join("files")).unwrap());
        (tmp, area)
    }

    fn file_field() -> Vec<FieldRef> {
        vec![Arc::new(Field::new(
            "plot",
            PathKind::File.data_type(),
            true,
        ))]
    }

    #[test]
    fn identical_files_are_stored_once_under_their_hash() {
        let (_tmp, area) = area();
        let scratch = area.scratch().unwrap();
        let mut stored = Vec::new();
        for _ in 0..2 {
            scratch.prepare().unwrap();
            assert_eq!(fs::read_dir(scratch.dir()).unwrap().count(), 0);
            let file = scratch.dir().join("sub").join("plot.svg");
            fs::create_dir_all(file.parent().unwrap()).unwrap();
            fs::write(&file, "<svg/>").unwrap();
            fs::write(scratch.dir().join("left-over"), "x").unwrap();
            let values = vec![Datum::Str(file.display().to_string())];
            let kept = scratch.keep(&file_field(), values).unwrap();
            stored.push(kept);
            assert_eq!(fs::read_dir(scratch.dir()).unwrap().count(), 0);
        }
        assert_eq!(stored[0], stored[1]);
        let Datum::Str(path) = &stored[0][0] else {
            panic!("{stored:?}")
        };
        let hex = sha256_file(Path::new(path)).unwrap().0;
        assert_eq!(Path::new(path), area.path_of(&hex, Some("svg")));
        assert!(path.ends_with(&format!("/{}/{}.svg", &hex[..2], &hex[2..])));
        let dir = scratch.dir().to_path_buf();
        drop(scratch);
        assert!(!dir.exists());
    }

    #[test]
    fn files_outside_the_scratch_directory_keep_their_path_and_directories_fail() {
        let (tmp, area) = area();
        let scratch = area.scratch().unwrap();
        let outside = tmp.path().join("data.csv");
        fs::write(&outside, "a").unwrap();
        let value = Datum::Str(outside.display().to_string());
        let kept = scratch.keep(&file_field(), vec![value.clone()]).unwrap();
        assert_eq!(kept, vec![value]);
        assert!(outside.exists());
        fs::create_dir(scratch.dir().join("d")).unwrap();
        let dir = Datum::Str(scratch.dir().join("d").display().to_string());
        let err = scratch.keep(&file_field(), vec![dir]).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }

    #[test]
    fn answers_read_back_later_take_their_files_from_where_they_were_set_aside() {
        let (tmp, area) = area();
        let root = fs::canonicalize(tmp.path()).unwrap();
        let named = root.join("c.files/cur");
        let actual = root.join("c.files/0");
        fs::create_dir_all(actual.join("sub")).unwrap();
        fs::create_dir_all(&named).unwrap();
        fs::write(actual.join("sub/a.txt"), "a").unwrap();
        let answered = Answered {
            named: &named,
            actual: &actual,
            outside: Outside::Visible,
        };
        let keep = |path: &Path| {
            let value = Datum::Str(path.display().to_string());
            area.keep(answered, &file_field(), vec![value])
        };
        let kept = keep(&named.join("sub/a.txt")).unwrap();
        let Datum::Str(stored) = &kept[0] else {
            panic!("{kept:?}")
        };
        assert_eq!(fs::read_to_string(stored).unwrap(), "a");
        assert!(!actual.join("sub/a.txt").exists());
        let err = keep(&named.join("sub/a.txt")).unwrap_err().to_string();
        assert!(err.contains("but is not there"), "{err}");
        let err = keep(&root.join("elsewhere.txt")).unwrap_err().to_string();
        assert!(
            err.contains("is outside ORCAPOD_OUT_DIR and not found"),
            "{err}"
        );
        fs::write(root.join("elsewhere.txt"), "e").unwrap();
        let value = Datum::Str(root.join("elsewhere.txt").display().to_string());
        assert_eq!(keep(&root.join("elsewhere.txt")).unwrap(), vec![value]);
    }

    #[test]
    fn no_scratch_directory_is_made_after_they_were_removed() {
        let (_tmp, area) = area();
        let scratch = area.scratch().unwrap();
        area.remove_scratch();
        assert!(scratch.prepare().is_err());
        assert!(area.scratch().is_err());
        assert!(!area.root().join(SCRATCH).exists());
    }

    #[test]
    fn opening_an_area_removes_scratch_directories_left_behind() {
        let (tmp, area) = area();
        let scratch = area.scratch().unwrap();
        fs::write(scratch.dir().join("x"), "x").unwrap();
        std::mem::forget(scratch);
        OutputArea::open(&tmp.path().join("files")).unwrap();
        assert!(!tmp.path().join("files").join(SCRATCH).exists());
    }
}
