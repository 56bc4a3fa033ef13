//! Sources as declared: reading a source entry's settings into a [`SourceDecl`] (a CSV,
//! Arrow or Parquet file with its options, the files or directories a glob matches, or
//! the stored results of a node of another file)
//! before any file is touched. Loading the rows is the driver's, once every entry has
//! been read.

use std::path::{Path, PathBuf};

use arrow::datatypes::Field;

use crate::files::PathKind;
use crate::pipeline_file::args::Args;
use crate::pipeline_file::raw::Entry;
use crate::pipeline_file::types::parse_type;
use crate::pipeline_file::value::{self, describe, Mapping, Problem, Value};
use crate::source::{FolderSpec, SourceOptions};

/// A source as declared, not yet loaded.
pub(super) struct SourceDecl {
    pub(super) entry: Entry,
    pub(super) kind: SourceKind,
    pub(super) cached: bool,
}

/// Where a source's rows come from.
pub(super) enum SourceKind {
    /// A CSV, Arrow IPC or Parquet file.
    File {
        path: PathBuf,
        format: FileFormat,
        options: SourceOptions,
    },
    /// The files or directories a glob matches *(extension)*.
    Folder {
        spec: FolderSpec,
        options: SourceOptions,
    },
    /// The stored results of node `node` of the pipeline file `from`, in database `db`
    /// (default: that file's own).
    Derived {
        node: String,
        from: PathBuf,
        db: Option<PathBuf>,
    },
}

/// The kinds of file a source may read, by the key naming the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FileFormat {
    Csv,
    Arrow,
    Parquet,
}

/// The keys of a derived source.
const DERIVED_KEYS: &[&str] = &["derived", "from", "db"];

/// The keys of a folder source.
const FOLDER_KEYS: &[&str] = &["files", "dirs", "match", "source_id", "cached"];

/// The keys a source may have.
const SOURCE_KEYS: &[&str] = &[
    "csv",
    "arrow",
    "parquet",
    "files",
    "dirs",
    "match",
    "tags",
    "source_id",
    "record_id_column",
    "cached",
    "derived",
    "from",
    "db",
    "types",
];

pub(super) fn read_source(entry: &Entry, dir: &Path) -> Result<SourceDecl, Problem> {
    let mut args = Args::new(entry.body.clone());
    args.only(SOURCE_KEYS, "a source")?;
    if let Some(node) = args.string("derived")? {
        let from = args.string("from")?.ok_or(
            "a derived source needs `from: other_pipeline.yaml`, the file declaring the node",
        )?;
        let db = args.string("db")?.map(|d| dir.join(d));
        args.finish(DERIVED_KEYS)?;
        return Ok(SourceDecl {
            entry: entry.clone(),
            kind: SourceKind::Derived {
                node,
                from: dir.join(from),
                db,
            },
            cached: false,
        });
    }
    let files = args.string("files")?;
    let dirs = args.string("dirs")?;
    if files.is_some() || dirs.is_some() {
        let (pattern, kind) = match (files, dirs) {
            (Some(f), None) => (f, PathKind::File),
            (None, Some(d)) => (d, PathKind::Dir),
            _ => return Err("give either `files` or `dirs`, not both".into()),
        };
        let matcher = args.string("match")?.unwrap_or_default();
        let source_id = args
            .string("source_id")?
            .unwrap_or_else(|| entry.name.clone());
        let cached = args.bool("cached", false)?;
        args.finish(FOLDER_KEYS)?;
        return Ok(SourceDecl {
            entry: entry.clone(),
            kind: SourceKind::Folder {
                spec: FolderSpec {
                    base: dir.to_path_buf(),
                    pattern,
                    matcher,
                    kind,
                },
                options: SourceOptions::default().with_source_id(source_id),
            },
            cached,
        });
    }
    let csv = args.string("csv")?;
    let arrow = args.string("arrow")?;
    let parquet = args.string("parquet")?;
    let (file, format) =
        match (csv, arrow, parquet) {
            (Some(c), None, None) => (c, FileFormat::Csv),
            (None, Some(a), None) => (a, FileFormat::Arrow),
            (None, None, Some(p)) => (p, FileFormat::Parquet),
            (Some(_), Some(_), None) => return Err("give either `csv` or `arrow`, not both".into()),
            (None, None, None) => return Err(
                "needs a file (`csv: path/to/file.csv`, `arrow: path/to/file.arrow` or `parquet: \
             path/to/file.parquet`), a folder (`files: data/*/*.wav`, `dirs: runs/*`) or a \
             node (`derived: NODE, from: other_pipeline.yaml`)"
                    .into(),
            ),
            _ => return Err("give one of `csv`, `arrow` and `parquet`, not several".into()),
        };
    let tags = args.strings(&["tags"])?.unwrap_or_default();
    let source_id = args
        .string("source_id")?
        .unwrap_or_else(|| entry.name.clone());
    let record_id_column = args.string("record_id_column")?;
    let cached = args.bool("cached", false)?;
    let types = column_types(args.mapping("types")?)?;
    // A file source takes every key but those of a derived or folder source.
    let file_keys: Vec<&str> = SOURCE_KEYS
        .iter()
        .copied()
        .filter(|k| !DERIVED_KEYS.contains(k) && !["files", "dirs", "match"].contains(k))
        .collect();
    args.finish(&file_keys)?;
    let mut options = SourceOptions::tags(tags).with_source_id(source_id);
    if let Some(c) = record_id_column {
        options = options.with_record_id_column(c);
    }
    options.types = types;
    Ok(SourceDecl {
        entry: entry.clone(),
        kind: SourceKind::File {
            path: dir.join(file),
            format,
            options,
        },
        cached,
    })
}

/// A source's `types: {column: type}`, in the spelling of `output_types`. Which types a
/// CSV column may take is the source's to say.
fn column_types(types: Option<Mapping>) -> Result<Vec<Field>, Problem> {
    types
        .unwrap_or_default()
        .fields
        .into_iter()
        .map(
            |value::Field {
                 key: column,
                 at,
                 value,
             }| match value {
                Value::String(name) => parse_type(&name)
                    .map(|(data_type, nullable)| Field::new(column.clone(), data_type, nullable))
                    .map_err(|e| {
                        Problem::at(at, format!("`types` gives column `{column}` an {e}"))
                    }),
                other => Err(Problem::at(
                    at,
                    format!(
                        "`types` maps `{column}` to {}, expected a type name (str, int, float or \
                     bool, followed by `| None` if values may be missing)",
                        describe(&other)
                    ),
                )),
            },
        )
        .collect()
}
