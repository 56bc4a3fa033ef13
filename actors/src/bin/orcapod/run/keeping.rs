//! The rows each output of a watch round ends with, written as they reach it to the
//! round's kept files (Arrow IPC, one per output), and which outputs take the run's
//! rows ([`Keeping`]). [`super::delta`] makes one per round and reads the files back in
//! the next; [`super::outputs::Outputs`] writes to it. A round that does not complete
//! leaves no kept file behind.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

use arrow::array::RecordBatch;
use arrow::ipc::writer::FileWriter;
use orcapod::pipeline::delta::OutputUse;

use crate::failure::Failure;

/// The rows each output ends a round with, written as they reach it to the round's kept
/// files; and which outputs take the run's rows.
pub struct Keeping {
    dir: PathBuf,
    take_run: Vec<bool>,
    writers: Vec<Option<FileWriter<BufWriter<File>>>>,
    rows: Vec<u64>,
}

impl Keeping {
    /// Kept files in `dir` for outputs used as `uses` says.
    pub fn new(dir: PathBuf, uses: &[OutputUse]) -> Keeping {
        Keeping {
            dir,
            take_run: uses.iter().map(|u| u.take_run).collect(),
            writers: uses.iter().map(|_| None).collect(),
            rows: vec![0; uses.len()],
        }
    }

    /// Whether output `index` takes the rows the run gives it.
    pub fn takes_run(&self, index: usize) -> bool {
        self.take_run[index]
    }

    /// The rows output `index` holds so far.
    pub fn rows(&self, index: usize) -> u64 {
        self.rows[index]
    }

    /// Writes `batch`, rows output `index` ends the round with, to its kept file.
    pub fn write(&mut self, index: usize, batch: &RecordBatch) -> Result<(), Failure> {
        let path = self.path(index);
        let failed = |e: arrow::error::ArrowError| {
            Failure::Failed(format!("cannot write {}: {e}", path.display()))
        };
        if self.writers[index].is_none() {
            let file = File::create(&path)
                .map_err(|e| Failure::Failed(format!("cannot write {}: {e}", path.display())))?;
            self.writers[index] =
                Some(FileWriter::try_new(BufWriter::new(file), &batch.schema()).map_err(failed)?);
        }
        let writer = self.writers[index].as_mut().expect("made above");
        let batch = if batch.schema_ref() == writer.schema() {
            batch.clone()
        } else {
            RecordBatch::try_new(writer.schema().clone(), batch.columns().to_vec())
                .map_err(failed)?
        };
        writer.write(&batch).map_err(failed)?;
        self.rows[index] += batch.num_rows() as u64;
        Ok(())
    }

    fn path(&self, index: usize) -> PathBuf {
        self.dir.join(format!("output-{index}.arrow"))
    }

    /// Finishes the files: their directory, and each output's file, if it has rows.
    pub fn close(mut self) -> Result<(PathBuf, Vec<Option<PathBuf>>), Failure> {
        let mut kept = Vec::with_capacity(self.writers.len());
        for index in 0..self.writers.len() {
            let path = match self.writers[index].take() {
                Some(mut writer) => {
                    let path = self.path(index);
                    writer.finish().map_err(|e| {
                        Failure::Failed(format!("cannot write {}: {e}", path.display()))
                    })?;
                    Some(path)
                }
                None => None,
            };
            kept.push(path);
        }
        Ok((std::mem::take(&mut self.dir), kept))
    }
}

impl Drop for Keeping {
    /// A round that did not complete leaves no kept file behind.
    fn drop(&mut self) {
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
