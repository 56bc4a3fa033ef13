//! [`OutputWriter`]: one output written streaming, in bounded memory.
//!
//! Batches are buffered until they hold more than the memory limit; the buffer is then
//! sorted and spilled as a sorted run into a temporary directory beside the output (see
//! [`SpillDir`]). [`OutputWriter::finish`] sorts what is buffered (no spill) or merges the
//! runs, and writes every file of the format in one pass over the sorted rows. The files
//! are the same bytes whatever the memory limit, and the same as [`SortedStream`]'s
//! writers give for the same rows. This module never holds the sorted output whole when
//! it spilled, and never leaves a temporary file or directory behind.
//!
//! Rows that arrive already in the canonical order (a source read in the order of its
//! tags, through operators that keep it) need no sort: while every row so far is in
//! order, at most [`ORDERED_BUFFER`] bytes are buffered, then written as they are to the
//! files (their temporary files) and to one sorted run beside them. Memory then stays
//! flat whatever the size of the output, and `finish` has only the last rows to write.
//! Rows *nearly* in order (a function node's results, which complete a little out of
//! order) are taken the same way through a window: a row that sorts before some
//! buffered row but after every row written is still in order; the buffer, no longer
//! sorted, then grows to [`REORDER_WINDOW`] bytes, is sorted, and its smaller half is
//! written; from then on the window stays, even while rows come in order again (the
//! buffer is written half by half), so that the next late row still finds rows buffered
//! after it. Only a row sorting before a row already written breaks the order.
//! That row abandons the files begun (their temporary files are
//! removed) and ends the run, which is then merged with the others like any spilled
//! run: the run is what makes that possible, since CSV, JSON and Parquet files cannot
//! be read back as they were given. An Arrow output needs no run beside it: its one file
//! holds every column as given, so it is written once, and the first row out of order
//! ends it and moves it into the spill directory as the first run (read back by
//! [`RunReader`]), so that an output in order is written once rather than twice.
//!
//! [`SortedStream`]: super::SortedStream

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;

use super::check_output_name;
use super::format::Format;
use super::merge::merge_runs;
use super::order::{check_fields, take_rows, RowOrder, Tail};
use super::sinks::Sinks;
use super::spill::{RunReader, RunWriter, SpillDir};
use crate::error::{Error, Result};
use crate::model::StreamSchema;

/// The memory an output's buffered rows may take before they spill: 256 MiB.
pub const DEFAULT_MEMORY_LIMIT: usize = 256 * 1024 * 1024;

/// Rows per batch of sorted rows handed on (to the files, or to a run).
const SORTED_ROWS: usize = 8192;

/// At most this many runs are merged at once; more are first merged into longer runs.
const MAX_MERGE_WIDTH: usize = 64;

/// While every row is in order, the buffer is appended to the ordered run when it holds
/// more than this (or than the memory limit, if smaller): 16 MiB.
const ORDERED_BUFFER: usize = 16 * 1024 * 1024;

/// While rows are nearly in order (the buffer is not sorted, but no row sorts before a
/// row written), the buffer is sorted and its smaller half written when it holds more
/// than this (or than the memory limit, if smaller): 64 MiB. Rows may come this far
/// out of order (about half of it) without breaking the order.
const REORDER_WINDOW: usize = 64 * 1024 * 1024;

/// A streaming, memory-bounded writer of one output: batches in any order and sizes in,
/// the files of a [`Format`] out, byte-identical whatever the memory limit (see the
/// [export module docs](super)).
#[derive(Debug)]
pub struct OutputWriter {
    dir: PathBuf,
    name: String,
    schema: Arc<StreamSchema>,
    format: Format,
    memory_limit: usize,
    order: RowOrder,
    buffer: Vec<RecordBatch>,
    buffered_bytes: usize,
    rows: u64,
    spill: Option<SpillDir>,
    runs: Vec<PathBuf>,
    /// While every row so far came in the canonical order: the last one, and what was
    /// written of them; `None` once a row came out of order.
    in_order: Option<InOrder>,
}

/// The state of an output whose rows have all come in order, or nearly (see the
/// [module docs](self)).
#[derive(Debug)]
struct InOrder {
    /// Whether the buffer is sorted, rows written before it included; `tail` is then
    /// its last row.
    sorted: bool,
    /// Whether some row came out of sequence (nearly in order): the buffer then keeps
    /// its larger half whenever it is written, sorted or not, so that a row coming a
    /// little late still finds rows buffered after it rather than written.
    nearly: bool,
    tail: Tail,
    /// The last row written (no row may come before it).
    written_tail: Tail,
    /// Once rows were written: the run they were appended to (none when the files
    /// themselves can become the run, see [`Sinks::into_run`]), and the files begun.
    written: Option<(Option<RunWriter>, Sinks)>,
}

impl OutputWriter {
    /// A writer of output `name` of `schema` in `format` into `dir`, spilling when its
    /// buffered batches take more than `memory_limit` bytes. Checks the name (see
    /// [`check_output_name`]) and creates `dir` if missing.
    pub fn new(
        dir: &Path,
        name: &str,
        schema: Arc<StreamSchema>,
        format: Format,
        memory_limit: usize,
    ) -> Result<OutputWriter> {
        check_output_name(name)?;
        let order = RowOrder::new(schema.arrow())?;
        fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(OutputWriter {
            dir: dir.to_path_buf(),
            name: name.to_string(),
            schema,
            format,
            memory_limit,
            order,
            buffer: Vec::new(),
            buffered_bytes: 0,
            rows: 0,
            spill: None,
            runs: Vec::new(),
            in_order: Some(InOrder {
                sorted: true,
                nearly: false,
                tail: Tail::default(),
                written_tail: Tail::default(),
                written: None,
            }),
        })
    }

    /// Adds rows of the output (batches may come in any order and of any size; they
    /// must have the schema's fields).
    pub fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        check_fields(batch, self.schema.arrow())?;
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.rows += batch.num_rows() as u64;
        let in_order = match &mut self.in_order {
            Some(state) => {
                if state.sorted && self.order.continues(&mut state.tail, batch)? {
                    true
                } else if self.order.none_before(&state.written_tail, batch)? {
                    state.sorted = false;
                    state.nearly = true;
                    true
                } else {
                    false
                }
            }
            None => false,
        };
        if !in_order {
            self.end_in_order()?;
        }
        self.buffered_bytes += batch.get_array_memory_size();
        self.buffer.push(batch.clone());
        let window = match &self.in_order {
            Some(state) if state.sorted && !state.nearly => Some(ORDERED_BUFFER),
            Some(_) => Some(REORDER_WINDOW),
            None => None,
        };
        match window {
            Some(window) if self.buffered_bytes > self.memory_limit.min(window) => {
                self.write_in_order(false)?;
            }
            None if self.buffered_bytes > self.memory_limit => self.spill_buffer()?,
            _ => {}
        }
        Ok(())
    }

    /// Sorts the buffer, if it is not sorted, and gives back the rows to write: all of
    /// them if `all` or if every row so far came in sequence, else the smaller half, the
    /// rest staying buffered (sorted).
    fn take_sorted(&mut self, all: bool) -> Result<Vec<RecordBatch>> {
        let state = self.in_order.as_mut().expect("rows are in order");
        if state.sorted && (all || !state.nearly) {
            self.buffered_bytes = 0;
            state.written_tail = state.tail.clone();
            return Ok(std::mem::take(&mut self.buffer));
        }
        let positions = self.order.sorted_positions(&self.buffer)?;
        let split = if all {
            positions.len()
        } else {
            positions.len() / 2
        };
        let schema = self.schema.arrow();
        let sorted = |part: &[(usize, usize)]| {
            part.chunks(SORTED_ROWS)
                .map(|p| take_rows(schema, &self.buffer, p))
                .collect::<Result<Vec<_>>>()
        };
        let (out, kept) = (sorted(&positions[..split])?, sorted(&positions[split..])?);
        if let Some(last) = out.last() {
            state.written_tail = self.order.tail_of(last)?;
        }
        state.tail = match kept.last() {
            Some(last) => self.order.tail_of(last)?,
            None => state.written_tail.clone(),
        };
        state.sorted = true;
        self.buffered_bytes = kept.iter().map(|b| b.get_array_memory_size()).sum();
        self.buffer = kept;
        Ok(out)
    }

    /// Writes the buffer (rows in order; if not sorted, its smaller half unless `all`)
    /// to the files and appends it to the run beside them, beginning both the first
    /// time.
    fn write_in_order(&mut self, all: bool) -> Result<()> {
        let rows = self.take_sorted(all)?;
        let state = self.in_order.as_mut().expect("rows are in order");
        let (run, files) = match &mut state.written {
            Some(written) => written,
            None => {
                let run = if self.format == Format::Arrow {
                    None
                } else {
                    let spill = spill_dir(&mut self.spill, &self.dir, &self.name)?;
                    Some(spill.start_run(self.schema.arrow())?)
                };
                let files = Sinks::create(&self.dir, &self.name, &self.schema, self.format)?;
                state.written.insert((run, files))
            }
        };
        for batch in rows {
            if let Some(run) = run {
                run.write(&batch)?;
            }
            files.write(&batch)?;
        }
        Ok(())
    }

    /// A row came out of order (or had before): the files begun are abandoned (or, for
    /// an Arrow output, become the run), and the rows written so far, with those
    /// buffered, become the first run, to be merged with the rest.
    fn end_in_order(&mut self) -> Result<()> {
        if self.in_order.as_ref().is_none_or(|s| s.written.is_none()) {
            // Nothing written: the buffer is sorted when it spills.
            self.in_order = None;
            return Ok(());
        }
        let rows = self.take_sorted(true)?;
        let Some(InOrder {
            written: Some((run, mut files)),
            ..
        }) = self.in_order.take()
        else {
            return Err(Error::internal("an output's files begun were lost"));
        };
        let run = match run {
            Some(mut run) => {
                for batch in rows {
                    run.write(&batch)?;
                }
                run.finish()?
            }
            None => {
                for batch in rows {
                    files.write(&batch)?;
                }
                files.into_run(spill_dir(&mut self.spill, &self.dir, &self.name)?)?
            }
        };
        self.runs.push(run);
        Ok(())
    }

    /// Rows pushed so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Sorted runs spilled to disk so far.
    pub fn spilled_runs(&self) -> usize {
        let written_in_order = self.in_order.as_ref().and_then(|s| s.written.as_ref());
        self.runs.len() + usize::from(written_in_order.is_some())
    }

    /// Writes the files (see the [module docs](super)); returns their paths, in the
    /// order of [`Format::files`]. The spill directory is removed in any case.
    pub fn finish(mut self) -> Result<Vec<PathBuf>> {
        if self.in_order.is_some() {
            let rows = self.take_sorted(true)?;
            let state = self.in_order.take().expect("rows are in order");
            // The run beside the files was only there in case a row came out of order.
            let mut files = match state.written {
                Some((_run, files)) => files,
                None => Sinks::create(&self.dir, &self.name, &self.schema, self.format)?,
            };
            for batch in &rows {
                files.write(batch)?;
            }
            return files.finish();
        }
        if self.runs.is_empty() {
            let positions = self.order.sorted_positions(&self.buffer)?;
            let mut sinks = Sinks::create(&self.dir, &self.name, &self.schema, self.format)?;
            for part in positions.chunks(SORTED_ROWS) {
                sinks.write(&take_rows(self.schema.arrow(), &self.buffer, part)?)?;
            }
            sinks.finish()
        } else {
            self.spill_buffer()?;
            self.narrow_runs()?;
            let readers = open_runs(&self.runs)?;
            let mut sinks = Sinks::create(&self.dir, &self.name, &self.schema, self.format)?;
            merge_runs(self.schema.arrow(), &self.order, readers, &mut |b| {
                sinks.write(&b)
            })?;
            sinks.finish()
        }
    }

    /// Sorts the buffered rows and writes them as a new run.
    fn spill_buffer(&mut self) -> Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let positions = self.order.sorted_positions(&self.buffer)?;
        let spill = spill_dir(&mut self.spill, &self.dir, &self.name)?;
        let (schema, buffer) = (self.schema.arrow(), &self.buffer);
        let batches = positions
            .chunks(SORTED_ROWS)
            .map(|part| take_rows(schema, buffer, part));
        self.runs.push(spill.write_run(schema, batches)?);
        self.buffer.clear();
        self.buffered_bytes = 0;
        Ok(())
    }

    /// Merges the earliest runs into one until at most [`MAX_MERGE_WIDTH`] are left
    /// (the merged run takes their place, so runs stay in arrival order).
    fn narrow_runs(&mut self) -> Result<()> {
        while self.runs.len() > MAX_MERGE_WIDTH {
            let spill = self
                .spill
                .as_mut()
                .expect("runs live in the spill directory");
            let first: Vec<PathBuf> = self.runs.drain(..MAX_MERGE_WIDTH).collect();
            let mut run = spill.start_run(self.schema.arrow())?;
            merge_runs(
                self.schema.arrow(),
                &self.order,
                open_runs(&first)?,
                &mut |b| run.write(&b),
            )?;
            self.runs.insert(0, run.finish()?);
            for path in first {
                // Only to free disk early; the directory goes at the end anyway.
                let _ = fs::remove_file(path);
            }
        }
        Ok(())
    }
}

/// The spill directory of output `name` in `dir`, created at its first use.
fn spill_dir<'a>(
    spill: &'a mut Option<SpillDir>,
    dir: &Path,
    name: &str,
) -> Result<&'a mut SpillDir> {
    match spill {
        Some(spill) => Ok(spill),
        None => Ok(spill.insert(SpillDir::create(dir, name)?)),
    }
}

fn open_runs(paths: &[PathBuf]) -> Result<Vec<RunReader>> {
    paths.iter().map(|p| RunReader::open(p)).collect()
}
