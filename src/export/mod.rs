//! Exporting results: a stream written as JSON, CSV or Arrow IPC files, or shown as a
//! text table, in one canonical row order.
//!
//! This is the shape of what `orcapod run --out DIR --format json|csv|arrow` writes and of
//! what `orcapod show --format table|json|csv` prints (the contract in the pipeline spec,
//! "What `--out DIR --format json` writes").
//!
//! # Row order
//!
//! Every format writes the rows of a [`SortedStream`]: sorted by the user tag columns (in
//! schema order), then the packet columns (in schema order), then — to break the
//! remaining ties — the system-tag and source-info columns, comparing values with
//! [`Datum::total_cmp`](crate::model::Datum::total_cmp): None < bool < number < string <
//! bytes < list, numbers by exact value with NaN after every other number, lists element
//! by element and then by length. Rows that compare equal on every column are the same
//! row, so the files depend only on the stream's schema and its multiset of rows: the
//! same results computed in another order (the actor and the synchronous executors, or
//! batches cut differently) give byte-identical files, Arrow files included (their
//! arrays are rebuilt canonically, see [`SortedStream::batch`]).
//!
//! # Files ([`write_output`])
//!
//! For an output `name` in directory `DIR` (created if missing):
//!
//! | format | files |
//! |---|---|
//! | [`Format::Json`] | `DIR/name.json` (tags and packets), `DIR/name.all_info.json` (every column) |
//! | [`Format::Csv`] | `DIR/name.csv` (tags and packets), `DIR/name.all_info.csv` (every column) |
//! | [`Format::Arrow`] | `DIR/name.arrow`: one Arrow IPC file, every column |
//!
//! Each file is written to a temporary file in `DIR`, synced, then renamed over its final
//! name, so a reader sees the old file or the new one, never a partial one.
//!
//! ## JSON
//!
//! An object `{"tag_columns": [...], "packet_columns": [...], "rows": [...]}`; the
//! `all_info` variant adds `"system_tag_columns"` and `"source_info_columns"` after
//! `"packet_columns"`, and its rows hold those columns too. Each row is an object keyed
//! by column name, in schema order. Layout: separators `", "` and `": "` (as Python's
//! `json.dumps`), one header key per line, one row per line, aligned under the first,
//! UTF-8 (no `\u` escapes beyond what JSON requires), ending with a newline:
//!
//! ```text
//! {"tag_columns": ["student_id", "course_id"],
//!  "packet_columns": ["score"],
//!  "rows": [{"student_id": "s01", "course_id": "c1", "score": 91},
//!           {"student_id": "s01", "course_id": "c2", "score": 78}]}
//! ```
//!
//! Values: integers and finite floats are JSON numbers (a float always shows a fraction or
//! an exponent: `1.0`, `1e-7`, as Rust's shortest round-trip form), NaN and ±infinity the
//! strings `"NaN"`, `"inf"`, `"-inf"`, booleans and strings themselves, null `null`,
//! lists arrays, bytes `{"$bytes": "<lowercase hex>"}` (as in the command-function
//! protocol).
//!
//! ## CSV
//!
//! A header line of column names, then one line per row, lines ending with `\n`, fields
//! separated by `,`. A field is quoted (`"…"`, inner quotes doubled) when it is empty or
//! holds `,`, `"`, `\r` or `\n`; otherwise it is written bare. Values: null is an empty,
//! unquoted field (so the empty string is `""`; a row whose only column is null is
//! written `""` too, as Python's `csv` module does, so that it is not a blank line);
//! strings as they are; booleans `true`/`false`; integers in decimal; floats as in JSON
//! (`1.0`, `NaN`, `inf`, `-inf`, unquoted); bytes and lists as their JSON text, exactly
//! as in the JSON files (`{"$bytes": "00ff"}`, `[1, 2]`, `["a", null]`), quoted as CSV
//! requires.
//!
//! ## Arrow
//!
//! An Arrow IPC file (the random-access "file" format) holding one record batch with
//! every column — tags, packets, system tags, source info, in schema order — and the
//! stream's Arrow schema (field types, nullability and metadata as they are) plus the
//! schema metadata key [`TAG_COLUMNS_METADATA`], a JSON array of the tag column names, so
//! [`read_arrow`] gives the stream back with each column in its role. Such a file is not
//! a source file: `Source::from_arrow_ipc` rejects its `_`-prefixed columns.
//!
//! ## Text table
//!
//! [`SortedStream::render_table`]: Arrow's pretty printer over the chosen columns, nulls
//! shown as `null`, bytes in hex, lists as `[a, b]`. For people, not for parsing.
//!
//! `orcapod show` prints with [`SortedStream::write_json`], [`SortedStream::write_csv`]
//! (the same bytes as the files) or [`SortedStream::render_table`].
//!
//! # What this module never does
//!
//! It never reorders, renames or retypes columns (every listing is in schema order), never
//! drops a row or merges equal rows, never drops provenance from the `all_info` files and
//! the Arrow file, never makes output depend on the order rows arrived in, and never
//! leaves a partially written file under a final name.

mod arrow_ipc;
mod canonical;
mod cells;
mod csv;
mod format;
mod json;
mod order;
mod sorted;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};
use crate::model::Stream;

pub use arrow_ipc::{read_arrow, TAG_COLUMNS_METADATA};
pub use format::{Columns, Format};
pub use sorted::SortedStream;

/// Writes `stream` as output `name` in `format` into directory `dir` (created if
/// missing), each file atomically (see the [module docs](self)). Returns the paths
/// written, in the order of [`Format::files`].
///
/// `name` becomes part of file names: it must be non-empty and must not be `.` or `..`
/// or contain a path separator or a NUL.
pub fn write_output(
    dir: &Path,
    name: &str,
    stream: &Stream,
    format: Format,
) -> Result<Vec<PathBuf>> {
    check_output_name(name)?;
    let sorted = SortedStream::new(stream)?;
    fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut written = Vec::new();
    for (file_name, columns) in format.files(name) {
        let path = dir.join(&file_name);
        let mut bytes = Vec::new();
        let rendered = match format {
            Format::Json => sorted.write_json(&mut bytes, columns),
            Format::Csv => sorted.write_csv(&mut bytes, columns),
            Format::Arrow => {
                bytes = sorted.to_arrow_ipc()?;
                Ok(())
            }
        };
        rendered.map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        write_atomically(&path, &bytes)?;
        written.push(path);
    }
    Ok(written)
}

/// The longest output name, in bytes: with `.all_info.arrow` and the temporary file's
/// affixes, a file name stays under the 255 bytes file systems allow.
pub const MAX_OUTPUT_NAME: usize = 200;

/// Why `name` cannot name the files of an output in a directory, if it cannot: it
/// must not be empty, `.` or `..`, hold a path separator or a control character, or be
/// longer than [`MAX_OUTPUT_NAME`] bytes.
pub fn output_name_problem(name: &str) -> Option<String> {
    if name.is_empty() || name == "." || name == ".." {
        Some("it must be a file name, not empty, `.` or `..`".to_string())
    } else if name.contains(['/', '\\']) {
        Some("it may not contain `/` or `\\`".to_string())
    } else if name.chars().any(char::is_control) {
        Some("it may not contain control characters".to_string())
    } else if name.len() > MAX_OUTPUT_NAME {
        Some(format!(
            "it is {} bytes long, more than the {MAX_OUTPUT_NAME} a file name allows here",
            name.len()
        ))
    } else {
        None
    }
}

/// Fails unless `name` can name the files of an output (see [`output_name_problem`]).
pub fn check_output_name(name: &str) -> Result<()> {
    match output_name_problem(name) {
        Some(why) => Err(Error::invalid(
            format!("output `{name}`"),
            format!("an output is written to files named after it, so {why}"),
        )),
        None => Ok(()),
    }
}

/// Distinguishes the temporary files of concurrent writes in one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` through a temporary file beside it: created, written and
/// synced, then renamed over `path` (and, on Unix, the directory synced). On failure the
/// temporary file is removed and the error names `path`.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let io_error = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let (Some(dir), Some(file_name)) = (path.parent(), path.file_name()) else {
        return Err(Error::internal(format!(
            "export path {} has no directory or file name",
            path.display()
        )));
    };
    let temp = dir.join(format!(
        ".{}.{}-{}.tmp",
        file_name.to_string_lossy(),
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        })
        .and_then(|()| fs::rename(&temp, path));
    if let Err(source) = written {
        // The write already failed; a temporary file that cannot be removed either
        // changes nothing about what to report.
        let _ = fs::remove_file(&temp);
        return Err(io_error(source));
    }
    sync_dir(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })
}

/// Makes a rename in `dir` durable (Unix; elsewhere renames are left to the OS).
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
