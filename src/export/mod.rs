//! Exporting results: a stream written as JSON, CSV, Arrow IPC or Parquet files, or shown
//! as a text table, in one canonical row order.
//!
//! This is the shape of what `orcapod run --out DIR --format json|csv|arrow|parquet`
//! writes and of what `orcapod show --format table|json|csv` prints (the contract in the
//! pipeline spec, "What `--out DIR --format json` writes"). [`Preview`] gives the first
//! rows of an output in this order, as a table, without sorting the whole output.
//!
//! # Row order
//!
//! Every format writes the rows in one order (that of [`SortedStream`]): sorted by the
//! user tag columns (in schema order), then the packet columns (in schema order), then —
//! to break the remaining ties — the system-tag and source-info columns, comparing values
//! as [`Datum::total_cmp`](crate::model::Datum::total_cmp) does: None < bool < number <
//! string < bytes < list, numbers by exact value with NaN after every other number, lists
//! element by element and then by length. Rows that compare equal on every column are the
//! same row, so the files depend only on the stream's schema and its multiset of rows: the
//! same results computed in another order (the actor and the synchronous executors, or
//! batches cut differently) give byte-identical files, Arrow files included (their
//! arrays are rebuilt canonically, see [`SortedStream::batch`]).
//!
//! The sort is columnar: each column is keyed in the Arrow row format so that the keys'
//! byte order is exactly that order (floats as "is NaN" then IEEE total order), never a
//! per-value comparison. Rows with equal keys are equal values (but for `Float32` NaNs
//! that widen to the same `f64`), and keep the order they arrived in.
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
//! | [`Format::Parquet`] | `DIR/name.parquet`: one Parquet file, every column |
//!
//! Each file is written to a temporary file in `DIR`, synced, then renamed over its final
//! name, so a reader sees the old file or the new one, never a partial one.
//!
//! The files that `file` columns name can be copied into `DIR/files/` and named there
//! by paths relative to `DIR` ([`FileCopies`], which `orcapod run --out` applies to every
//! batch before its writer).
//!
//! [`OutputWriter`] writes an output streaming, in bounded memory: batches are buffered
//! up to a memory limit ([`DEFAULT_MEMORY_LIMIT`] for [`write_output`]), beyond which the
//! buffered rows are sorted and spilled as a run into a hidden temporary directory in
//! `DIR` (`.NAME.sort-PID-N`, removed when the writer finishes, fails or is dropped); the
//! runs are merged at the end and every file is written in one pass over the merged rows.
//! The files are byte-identical whether or not anything spilled.
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
//! An Arrow IPC file (the random-access "file" format) holding the rows in record
//! batches of [`CHUNK_ROWS`] rows (the last one fewer; an output without rows is one empty
//! batch, an output of at most [`CHUNK_ROWS`] rows one batch), each rebuilt canonically,
//! with every column — tags, packets, system tags, source info, in schema order — and the
//! stream's Arrow schema (field types, nullability and metadata as they are) plus the
//! schema metadata key [`TAG_COLUMNS_METADATA`], a JSON array of the tag column names, so
//! [`read_arrow`] gives the stream back with each column in its role. Such a file is not
//! a source file: `Source::from_arrow_ipc` rejects its `_`-prefixed columns.
//!
//! ## Parquet
//!
//! A Parquet file with every column and the same Arrow schema and metadata as the Arrow
//! file (so [`read_parquet`], or any Parquet reader that restores the Arrow schema, gives
//! the stream back with each column in its role), one row group per chunk of
//! [`CHUNK_ROWS`] rows of the Arrow file, Snappy compression and fixed writer properties
//! (`created_by` is `orcapod`): the same rows give the same bytes.
//!
//! ## Text table
//!
//! [`SortedStream::render_table`]: Arrow's pretty printer over the chosen columns, nulls
//! shown as `null`, bytes in hex, lists as `[a, b]`. For people, not for parsing.
//! [`Preview::render`] prints the first rows the way `orcapod run` shows an output
//! (Arrow's default pretty printer), keeping only those rows while the output streams by.
//!
//! `orcapod show` prints with [`SortedStream::write_json`], [`SortedStream::write_csv`]
//! (the same bytes as the files) or [`SortedStream::render_table`].
//!
//! # What this module never does
//!
//! It never reorders, renames or retypes columns (every listing is in schema order), never
//! drops a row or merges equal rows, never drops provenance from the `all_info` files and
//! the Arrow and Parquet files, never makes output depend on the order rows arrived in
//! or on the memory limit, and never leaves a partially written file under a final name
//! or a temporary file behind.

mod arrow_ipc;
mod canonical;
mod cells;
mod chunks;
mod csv;
mod files;
mod format;
mod json;
mod merge;
mod order;
mod parquet;
mod preview;
mod sinks;
mod sorted;
mod spill;
mod writer;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::model::Stream;

pub use arrow_ipc::{read_arrow, TAG_COLUMNS_METADATA};
pub use chunks::CHUNK_ROWS;
pub use files::{FileCopies, FILES_DIR};
pub use format::{Columns, Format};
pub use parquet::read_parquet;
pub use preview::Preview;
pub use sorted::SortedStream;
pub use writer::{OutputWriter, DEFAULT_MEMORY_LIMIT};

/// Writes `stream` as output `name` in `format` into directory `dir` (created if
/// missing), each file atomically (see the [module docs](self)), with an
/// [`OutputWriter`] of [`DEFAULT_MEMORY_LIMIT`]. Returns the paths written, in the order
/// of [`Format::files`].
///
/// `name` becomes part of file names: it must be non-empty and must not be `.` or `..`
/// or contain a path separator or a NUL.
pub fn write_output(
    dir: &Path,
    name: &str,
    stream: &Stream,
    format: Format,
) -> Result<Vec<PathBuf>> {
    let mut writer = OutputWriter::new(
        dir,
        name,
        stream.schema().clone(),
        format,
        DEFAULT_MEMORY_LIMIT,
    )?;
    for batch in stream.batches() {
        writer.push(batch)?;
    }
    writer.finish()
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

#[cfg(test)]
mod tests;
