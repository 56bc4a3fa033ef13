//! Where a run's output rows go as they arrive: with `--out`, one streaming,
//! memory-bounded [`OutputWriter`] per output (sorted runs spill to a temporary
//! directory inside `--out` when an output outgrows `--memory-limit`); without it, a
//! [`Preview`] per output that keeps only the rows it will print and counts the rest;
//! with `--quiet`, only the counts. With `--out`, the files functions wrote (stored in
//! the database's `files/`) that rows name are copied into `DIR/files/` as rows arrive
//! (named by content; see [`FileCopies`]).
//!
//! Nothing is written under a final name until the run has completed and [`Outputs::finish`]
//! is called: a failed or interrupted run drops its writers, which removes what they
//! spilled. This module never runs a node and never decides when a run ends.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use crossbeam_channel::{Receiver, Select, TryRecvError};
use orcapod::export::{self, Columns, FileCopies, OutputWriter, Preview};
use orcapod::model::StreamSchema;
use orcapod::pipeline_file::PipelineFile;

use super::keeping::Keeping;
use crate::args::{OutFormat, RunArgs};
use crate::failure::Failure;

/// At most this many rows of each output are printed when there is no `--out`.
pub const SHOWN_ROWS: usize = 20;

/// What receives the rows of one output.
enum Sink {
    /// Boxed: a writer is much larger than the other sinks. The stored files the rows
    /// name are copied into `--out`'s `files/`, and the rows name the copies.
    Files(Box<OutputWriter>, FileCopies),
    Preview(Preview),
    Count(u64),
}

/// The outputs of a run, in the order the file lists them, each with its sink.
pub struct Outputs {
    names: Vec<String>,
    sinks: Vec<Sink>,
    /// Under `--watch`: which outputs take the run's rows, and the rows each ends the
    /// round with, kept for the next round.
    keeping: Option<Keeping>,
}

/// What the outputs became once the run completed.
pub enum Finished {
    /// The files written with `--out`, in output order.
    Written(Vec<PathBuf>),
    /// Per output: its name, its number of rows and the table of its first rows.
    Previews(Vec<(String, u64, String)>),
    /// `--quiet` without `--out`: nothing to show.
    Nothing,
}

impl Outputs {
    /// A sink for every output of `file`, as `args` asks.
    pub fn new(args: &RunArgs, file: &PipelineFile) -> Result<Outputs, Failure> {
        let names = file.outputs().to_vec();
        let mut sinks = Vec::with_capacity(names.len());
        for name in &names {
            let schema = output_schema(file, name)?;
            let sink =
                match &args.out {
                    Some(dir) => Sink::Files(
                        Box::new(
                            OutputWriter::new(
                                dir,
                                name,
                                schema,
                                format(args.format),
                                args.memory_limit,
                            )
                            .map_err(|e| {
                                Failure::Failed(format!("cannot write output `{name}`: {e}"))
                            })?,
                        ),
                        FileCopies::new(dir),
                    ),
                    None if args.quiet => Sink::Count(0),
                    None => Sink::Preview(Preview::new(schema, SHOWN_ROWS).map_err(|e| {
                        Failure::Failed(format!("cannot print output `{name}`: {e}"))
                    })?),
                };
            sinks.push(sink);
        }
        Ok(Outputs {
            names,
            sinks,
            keeping: None,
        })
    }

    /// Keeps every row the outputs end with in `keeping` (a watch round), and takes the
    /// run's rows only for the outputs it says.
    pub fn keep_in(&mut self, keeping: Keeping) {
        self.keeping = Some(keeping);
    }

    /// What [`Outputs::keep_in`] was given, with the rows written to it since.
    pub fn take_keeping(&mut self) -> Option<Keeping> {
        self.keeping.take()
    }

    /// The rows output `index` holds so far, when they are kept.
    pub fn kept_rows(&self, index: usize) -> Option<u64> {
        self.keeping.as_ref().map(|k| k.rows(index))
    }

    /// Takes rows of output `index` from the run.
    pub fn push(&mut self, index: usize, batch: &RecordBatch) -> Result<(), Failure> {
        if self.keeping.as_ref().is_some_and(|k| !k.takes_run(index)) {
            return Ok(());
        }
        self.push_kept(index, batch)
    }

    /// The names of the outputs, in order (the index of a name is its `push` index).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Takes rows of output `index`, from the run or kept from an earlier round.
    pub fn push_kept(&mut self, index: usize, batch: &RecordBatch) -> Result<(), Failure> {
        if let Some(keeping) = &mut self.keeping {
            keeping.write(index, batch)?;
        }
        let failed = |e: orcapod::Error| {
            Failure::Failed(format!("cannot write output `{}`: {e}", self.names[index]))
        };
        match &mut self.sinks[index] {
            Sink::Files(writer, copies) => match orcapod::files::outputs::area() {
                Some(area) => {
                    let batch = copies.rewrite(batch, area.root()).map_err(failed)?;
                    writer.push(&batch).map_err(failed)
                }
                None => writer.push(batch).map_err(failed),
            },
            Sink::Preview(preview) => preview.push(batch).map_err(failed),
            Sink::Count(rows) => {
                *rows += batch.num_rows() as u64;
                Ok(())
            }
        }
    }

    /// Writes the files (or renders the previews) of a completed run.
    pub fn finish(self) -> Result<Finished, Failure> {
        let mut written = Vec::new();
        let mut previews = Vec::new();
        for (name, sink) in self.names.into_iter().zip(self.sinks) {
            match sink {
                Sink::Files(writer, _) => {
                    written.extend(writer.finish().map_err(|e| {
                        Failure::Failed(format!("cannot write output `{name}`: {e}"))
                    })?)
                }
                Sink::Preview(preview) => {
                    let table = preview.render(Columns::TagsAndPackets).map_err(|e| {
                        Failure::Failed(format!("cannot print output `{name}`: {e}"))
                    })?;
                    previews.push((name, preview.total_rows(), table));
                }
                Sink::Count(_) => {}
            }
        }
        Ok(if !written.is_empty() {
            Finished::Written(written)
        } else if !previews.is_empty() {
            Finished::Previews(previews)
        } else {
            Finished::Nothing
        })
    }
}

/// The channels through which a run on actors streams its outputs, by output index.
pub struct Subscriptions {
    receivers: Vec<Receiver<RecordBatch>>,
    /// Whether each channel may still bring rows (its sender is alive).
    open: Vec<bool>,
}

impl Subscriptions {
    pub fn new(receivers: Vec<Receiver<RecordBatch>>) -> Subscriptions {
        let open = vec![true; receivers.len()];
        Subscriptions { receivers, open }
    }

    /// Whether some output may still bring rows.
    pub fn any_open(&self) -> bool {
        self.open.contains(&true)
    }

    /// Hands every batch received within `at_most` to `outputs`, waiting for more
    /// while there is time; returns early only if every channel has closed.
    pub fn receive(&mut self, outputs: &mut Outputs, at_most: Duration) -> Result<(), Failure> {
        let deadline = Instant::now() + at_most;
        loop {
            let received = self.take_ready(outputs, deadline)?;
            let now = Instant::now();
            if now >= deadline || !self.any_open() {
                return Ok(());
            }
            if !received {
                let mut select = Select::new();
                let open: Vec<usize> = (0..self.receivers.len())
                    .filter(|&i| self.open[i])
                    .collect();
                for &i in &open {
                    select.recv(&self.receivers[i]);
                }
                if select.ready_timeout(deadline - now).is_err() {
                    return Ok(());
                }
            }
        }
    }

    /// Hands over what the channels hold now (until `deadline`); true if anything came.
    pub fn take_ready(
        &mut self,
        outputs: &mut Outputs,
        deadline: Instant,
    ) -> Result<bool, Failure> {
        let mut received = false;
        for (index, receiver) in self.receivers.iter().enumerate() {
            while self.open[index] {
                match receiver.try_recv() {
                    Ok(batch) => {
                        outputs.push(index, &batch)?;
                        received = true;
                        if Instant::now() >= deadline {
                            return Ok(received);
                        }
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => self.open[index] = false,
                }
            }
        }
        Ok(received)
    }
}

/// The schema of output `name`'s rows.
fn output_schema(file: &PipelineFile, name: &str) -> Result<Arc<StreamSchema>, Failure> {
    file.pipeline()
        .node(name)
        .map(|node| node.output_schema().clone())
        .ok_or_else(|| Failure::Failed(format!("there is no node `{name}` to output")))
}

fn format(format: OutFormat) -> export::Format {
    match format {
        OutFormat::Json => export::Format::Json,
        OutFormat::Csv => export::Format::Csv,
        OutFormat::Arrow => export::Format::Arrow,
        OutFormat::Parquet => export::Format::Parquet,
    }
}
