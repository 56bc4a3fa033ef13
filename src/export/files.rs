//! The files functions wrote, copied beside an output: what `--out DIR` does with
//! `file` columns.
//!
//! [`FileCopies::rewrite`] copies each file a `file` column names that is stored in the
//! database's content-addressed area (a file a function wrote, see
//! [`outputs`](crate::files::outputs)) into `DIR/files/`, named by its content
//! (`{sha256}` plus its extension, as the area names it: identical files are copied
//! once and a name never changes meaning), and gives back the batch with those values
//! replaced by the copies' paths relative to `DIR` (`files/ab12….svg`), so the written
//! JSON, CSV, Arrow or Parquet files name files inside `DIR` and the directory can be
//! moved or shared as a whole. Other file values (input data, files a function named
//! outside its scratch directory) keep their absolute paths and are not copied: they
//! exist anyway, and may be large. `dir` columns keep their paths.
//!
//! A copy is written to a temporary name in `DIR/files/` and renamed into place; an
//! existing copy is never rewritten. A value naming a file that is gone (a stored file
//! deleted by hand) is an error that says so, never a value naming nothing.
//! This module never writes anywhere but `DIR/files/`.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch};

use crate::error::{Error, Result};
use crate::files::kind::{path_array, path_strings, PathKind};

/// The directory, inside `--out`, that holds the copies.
pub const FILES_DIR: &str = "files";

/// Copies the files of an output's `file` columns into `DIR/files/`; see the module
/// documentation.
#[derive(Debug)]
pub struct FileCopies {
    out: PathBuf,
    /// Source path to the copy's relative path, for files already copied.
    copied: HashMap<String, String>,
}

impl FileCopies {
    /// Copies into `out/files/`.
    pub fn new(out: &Path) -> FileCopies {
        FileCopies {
            out: out.to_path_buf(),
            copied: HashMap::new(),
        }
    }

    /// `batch` with every `file` value stored under `area` (the content-addressed area's
    /// directory) replaced by its copy's relative path (copying the file first). A
    /// batch without `file` columns is returned as it is.
    pub fn rewrite(&mut self, batch: &RecordBatch, area: &Path) -> Result<RecordBatch> {
        let schema = batch.schema();
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        let mut changed = false;
        for (field, column) in schema.fields().iter().zip(columns.iter_mut()) {
            if PathKind::of(field.data_type()) != Some(PathKind::File) {
                continue;
            }
            let paths = path_strings(column.as_ref())?;
            let mut copies: Vec<Option<String>> = Vec::with_capacity(paths.len());
            for i in 0..paths.len() {
                copies.push(if !paths.is_valid(i) {
                    None
                } else if Path::new(paths.value(i)).starts_with(area) {
                    Some(self.copy(field.name(), paths.value(i))?)
                } else {
                    Some(paths.value(i).to_string())
                });
            }
            *column = path_array(PathKind::File, &copies);
            changed = true;
        }
        if !changed {
            return Ok(batch.clone());
        }
        Ok(RecordBatch::try_new(Arc::clone(&schema), columns)?)
    }

    /// Copies the file at `path` (once) and answers its copy's path relative to `DIR`.
    fn copy(&mut self, column: &str, path: &str) -> Result<String> {
        if let Some(copy) = self.copied.get(path) {
            return Ok(copy.clone());
        }
        let source = Path::new(path);
        if !source.is_file() {
            return Err(Error::invalid(
                format!("column `{column}`"),
                format!(
                    "the file {path} is gone (a stored result's file deleted by hand?); \
                     the results that name it cannot be copied. Remove the database (or \
                     the node's results) and run again to compute it anew"
                ),
            ));
        }
        // The area names a file `ab/cdef…[.ext]`: its copy is `abcdef…[.ext]`.
        let name = match (
            source.parent().and_then(Path::file_name),
            source.file_name(),
        ) {
            (Some(dir), Some(file)) => {
                format!("{}{}", dir.to_string_lossy(), file.to_string_lossy())
            }
            _ => {
                return Err(Error::internal(format!(
                    "{path} is not a stored file's path"
                )))
            }
        };
        let dir = self.out.join(FILES_DIR);
        let dest = dir.join(&name);
        if !dest.is_file() {
            let io = |p: &Path| {
                let p = p.to_path_buf();
                move |source| Error::Io { path: p, source }
            };
            fs::create_dir_all(&dir).map_err(io(&dir))?;
            let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
            fs::copy(source, &tmp).map_err(io(source))?;
            fs::rename(&tmp, &dest).map_err(io(&dest))?;
        }
        let relative = format!("{FILES_DIR}/{name}");
        self.copied.insert(path.to_string(), relative.clone());
        Ok(relative)
    }
}

#[cfg(test)]
mod tests {
    use arrow::datatypes::{Field, Schema};

    use super::*;
    use crate::files::path_at;

    #[test]
    fn stored_files_are_copied_by_content_name_and_named_relative_to_the_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let area = tmp.path().join("files");
        fs::create_dir_all(area.join("ab")).unwrap();
        let a = area.join("ab").join("cdef.svg");
        let b = tmp.path().join("input.svg");
        fs::write(&a, "<svg/>").unwrap();
        fs::write(&b, "<svg/>").unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new(
            "plot",
            PathKind::File.data_type(),
            true,
        )]));
        let a = a.display().to_string();
        let b = b.display().to_string();
        let column = path_array(PathKind::File, &[Some(a.as_str()), Some(&b), None]);
        let batch = RecordBatch::try_new(schema, vec![column]).unwrap();
        let out = tmp.path().join("out");
        let rewritten = FileCopies::new(&out).rewrite(&batch, &area).unwrap();
        let col = rewritten.column(0);
        let first = path_at(col.as_ref(), 0).unwrap();
        assert_eq!(first, "files/abcdef.svg");
        assert_eq!(
            path_at(col.as_ref(), 1),
            Some(b.clone()),
            "not stored: not copied"
        );
        assert!(col.is_null(2));
        assert_eq!(fs::read_to_string(out.join(&first)).unwrap(), "<svg/>");
        assert_eq!(fs::read_dir(out.join(FILES_DIR)).unwrap().count(), 1);

        fs::remove_file(&a).unwrap();
        let err = FileCopies::new(&out).rewrite(&batch, &area).unwrap_err();
        assert!(err.to_string().contains("is gone"), "{err}");
    }
}
