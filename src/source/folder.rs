//! A folder source: one row per path matching a glob, its tags read from the path by
//! a regular expression's named groups, its one packet column (`path`) the file or
//! directory itself.
//!
//! The glob is relative to a base directory (a pipeline file's); `*` and `?` stay
//! within one path component, `**` crosses any number of them, and names starting with
//! `.` are matched only by a pattern that spells the dot (so a database directory such
//! as `.orcapod/` is never listed). `files:` keeps regular files, `dirs:` directories
//! (symbolic links count as what they point to). Rows come sorted by the path relative
//! to the base, which is also each row's record id, so provenance names the file. The
//! regular expression is searched in that relative path (anchor it with `^…$` to match
//! the whole path); its named groups, in the order they open, are the tag columns
//! (strings). A path it does not match, a glob that matches nothing and a named group
//! that takes no part in a match are errors naming the pattern and the path.
//!
//! The packet value is the absolute path; its identity is the content
//! ([`crate::files`]). This module lists a directory tree and never reads a file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, LargeStringArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use regex::Regex;

use super::enrich::plan;
use super::{Rows, Source, SourceOptions};
use crate::error::{Error, Result};
use crate::files::{content_batch, file_hashes, path_array, PathKind};
use crate::hashing::arrow::hash_batch;
use crate::hashing::PATH_HASH_CHARS;
use crate::model::Stream;

/// The packet column of a folder source.
pub const FOLDER_PATH_COLUMN: &str = "path";

/// The class name of folder sources in their identity *(extension)*.
const CLASS_NAME: &str = "FolderSource";

/// What a folder source lists.
#[derive(Debug, Clone)]
pub struct FolderSpec {
    /// The directory the glob is relative to (the pipeline file's).
    pub base: PathBuf,
    /// The glob, e.g. `recordings/*/*.wav`.
    pub pattern: String,
    /// The regular expression whose named groups are the tags (searched in the path
    /// relative to `base`).
    pub matcher: String,
    /// Files or directories.
    pub kind: PathKind,
}

impl FolderSpec {
    /// The key that names the glob in a pipeline file: `files` or `dirs`.
    pub fn key(&self) -> &'static str {
        match self.kind {
            PathKind::File => "files",
            PathKind::Dir => "dirs",
        }
    }
}

impl Source {
    /// The folder source of `spec`: one row per matching path, sorted by relative path
    /// (see the [module docs](self)). `options` gives the source id (default: the first
    /// hex of the Arrow hash of the table, files counted by content) and declared types
    /// to check; the tags are the regular expression's named groups, so
    /// `options.tag_columns` and `options.record_id_column` must be empty.
    pub fn from_folder(spec: &FolderSpec, options: &SourceOptions) -> Result<Source> {
        let context = format!("`{}: {}`", spec.key(), spec.pattern);
        if !options.tag_columns.is_empty() || options.record_id_column.is_some() {
            return Err(Error::invalid(
                &context,
                "a folder source's tags are the named groups of its `match:` expression, and \
                 its record ids the relative paths; it takes no `tags` or `record_id_column`",
            ));
        }
        let matcher = Regex::new(&spec.matcher).map_err(|e| {
            Error::invalid(
                &context,
                format!(
                    "`match: {}` is not a valid regular expression: {e}",
                    spec.matcher
                ),
            )
        })?;
        let tags: Vec<String> = matcher
            .capture_names()
            .flatten()
            .map(String::from)
            .collect();
        if tags.iter().any(|t| t == FOLDER_PATH_COLUMN) {
            return Err(Error::invalid(
                &context,
                format!("`match:` has a group named `{FOLDER_PATH_COLUMN}`, the name of the packet column; rename the group"),
            ));
        }
        let paths = list(spec, &context)?;
        let mut tag_values: Vec<Vec<String>> = vec![Vec::with_capacity(paths.len()); tags.len()];
        for (relative, _) in &paths {
            let captures = matcher.captures(relative).ok_or_else(|| {
                Error::invalid(
                    &context,
                    format!(
                        "the path `{relative}` does not match `match: {}`; change the glob \
                         to leave it out, or the expression to match it",
                        spec.matcher
                    ),
                )
            })?;
            for (values, tag) in tag_values.iter_mut().zip(&tags) {
                let value = captures.name(tag).ok_or_else(|| {
                    Error::invalid(
                        &context,
                        format!("group `{tag}` of `match: {}` takes no part in matching the path `{relative}`, so it has no value there", spec.matcher),
                    )
                })?;
                values.push(value.as_str().to_string());
            }
        }
        let mut fields: Vec<Field> = tags
            .iter()
            .map(|t| Field::new(t, DataType::LargeUtf8, false))
            .collect();
        fields.push(Field::new(FOLDER_PATH_COLUMN, spec.kind.data_type(), false));
        let mut columns: Vec<ArrayRef> = tag_values
            .into_iter()
            .map(|v| Arc::new(LargeStringArray::from(v)) as ArrayRef)
            .collect();
        let absolute: Vec<Option<String>> = paths.iter().map(|(_, a)| Some(a.clone())).collect();
        columns.push(path_array(spec.kind, &absolute));
        let table = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
        let options = SourceOptions {
            tag_columns: tags,
            ..options.clone()
        };
        let default_id = || {
            let image = content_batch(&table, file_hashes(), None)?;
            Ok(hash_batch(&image).hex_prefix(PATH_HASH_CHARS))
        };
        let (stamp, identity) = plan(CLASS_NAME, &table.schema(), &options, &context, default_id)?;
        let ids: LargeStringArray = paths.iter().map(|(r, _)| Some(r.as_str())).collect();
        let stamp = stamp.with_record_ids(ids);
        let batch = stamp.enrich(&table, 0)?;
        Ok(Source {
            class_name: CLASS_NAME,
            source_id: stamp.source_id,
            schema: stamp.schema.clone(),
            rows: Rows::Memory(Stream::new(stamp.schema, vec![batch])?),
            identity,
            warnings: Vec::new(),
        })
    }
}

/// Every path the glob matches and the kind keeps, as (relative path, absolute path),
/// sorted by relative path; none is an error (a typo must not pass as an empty
/// dataset).
fn list(spec: &FolderSpec, context: &str) -> Result<Vec<(String, String)>> {
    let out: Vec<(String, String)> = matching(spec, context)?
        .into_iter()
        .map(|(relative, absolute, _)| (relative, absolute))
        .collect();
    if out.is_empty() {
        let base = std::path::absolute(&spec.base).unwrap_or_else(|_| spec.base.clone());
        return Err(Error::invalid(
            context,
            format!(
                "the glob matches no {} under {}; check the pattern (it is relative to the \
                 pipeline file)",
                match spec.kind {
                    PathKind::File => "file",
                    PathKind::Dir => "directory",
                },
                base.display()
            ),
        ));
    }
    Ok(out)
}

/// Every path the glob matches and the kind keeps, as (relative path, absolute path,
/// metadata, links followed), sorted by relative path, possibly none (what watching a
/// folder compares). One `stat` a path.
pub(super) fn matching(
    spec: &FolderSpec,
    context: &str,
) -> Result<Vec<(String, String, std::fs::Metadata)>> {
    let base = std::path::absolute(&spec.base).map_err(|source| Error::Io {
        path: spec.base.clone(),
        source,
    })?;
    let full = base.join(&spec.pattern);
    let full = full.to_str().ok_or_else(|| {
        Error::invalid(
            context,
            format!("the directory {} is not UTF-8 text", base.display()),
        )
    })?;
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: true,
    };
    let entries = glob::glob_with(full, options)
        .map_err(|e| Error::invalid(context, format!("not a valid glob: {e}")))?;
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| Error::Io {
            path: e.path().to_path_buf(),
            source: std::io::Error::new(e.error().kind(), e.error().to_string()),
        })?;
        let Some(meta) = kept(spec.kind, &path) else {
            continue;
        };
        let relative = path.strip_prefix(&base).unwrap_or(&path);
        let (Some(relative), Some(absolute)) = (relative.to_str(), path.to_str()) else {
            return Err(Error::invalid(
                context,
                format!(
                    "the path {} is not UTF-8 text, which a value must be",
                    path.display()
                ),
            ));
        };
        out.push((relative.to_string(), absolute.to_string(), meta));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// The path's metadata (links followed) if it is of `kind`.
fn kept(kind: PathKind, path: &Path) -> Option<std::fs::Metadata> {
    let meta = std::fs::metadata(path).ok()?;
    let keep = match kind {
        PathKind::File => meta.is_file(),
        PathKind::Dir => meta.is_dir(),
    };
    keep.then_some(meta)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::model::ColumnConfig;

    fn spec(base: &Path, pattern: &str, matcher: &str, kind: PathKind) -> FolderSpec {
        FolderSpec {
            base: base.to_path_buf(),
            pattern: pattern.into(),
            matcher: matcher.into(),
            kind,
        }
    }

    #[test]
    fn one_row_per_path_tags_from_named_groups() {
        let dir = tempfile::tempdir().unwrap();
        for (subject, session) in [("s2", "1"), ("s1", "2"), ("s1", "1")] {
            let d = dir.path().join("rec").join(subject);
            fs::create_dir_all(&d).unwrap();
            fs::write(d.join(format!("{session}.wav")), subject).unwrap();
        }
        fs::create_dir_all(dir.path().join(".orcapod/x")).unwrap();
        let options = SourceOptions::default().with_source_id("rec");
        let source = Source::from_folder(
            &spec(
                dir.path(),
                "rec/*/*.wav",
                r"rec/(?P<subject>[^/]+)/(?P<session>\d+)\.wav$",
                PathKind::File,
            ),
            &options,
        )
        .unwrap();
        let schema = source.schema();
        let names: Vec<&str> = schema
            .arrow()
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        assert_eq!(&names[..3], ["subject", "session", "path"]);
        let table = source
            .stream()
            .unwrap()
            .as_table(&ColumnConfig::all_info())
            .unwrap();
        let text = arrow::util::pretty::pretty_format_batches(&[table])
            .unwrap()
            .to_string();
        assert!(text.contains("rec::rec/s1/1.wav::path"), "{text}");
        let rows: Vec<(String, String)> = (0..3)
            .map(|i| {
                let batch = source.stream().unwrap().to_batch().unwrap();
                let col = |c: usize| {
                    crate::model::Datum::from_array(batch.column(c).as_ref(), i)
                        .unwrap()
                        .python_str()
                };
                (col(0), col(2))
            })
            .collect();
        assert_eq!(rows[0].0, "s1");
        assert!(rows[0].1.ends_with("rec/s1/1.wav"), "{rows:?}");
        assert!(rows[2].1.ends_with("rec/s2/1.wav"), "{rows:?}");

        // A path the expression does not match is named.
        let err = Source::from_folder(
            &spec(
                dir.path(),
                "rec/**/*.wav",
                r"rec/(?P<subject>s2)/",
                PathKind::File,
            ),
            &options,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("rec/s1/1.wav"), "{err}");
        // A glob matching nothing is an error.
        let err = Source::from_folder(&spec(dir.path(), "nope/*", "x", PathKind::File), &options)
            .unwrap_err()
            .to_string();
        assert!(err.contains("matches no file"), "{err}");
        // Directories.
        let dirs = Source::from_folder(
            &spec(dir.path(), "rec/*", r"rec/(?P<subject>.+)", PathKind::Dir),
            &options,
        )
        .unwrap();
        assert_eq!(dirs.stream().unwrap().num_rows(), 2);
    }
}
