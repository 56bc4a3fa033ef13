//! The record of a submission, kept in the store so that a later run finds the chunks
//! of an earlier one (after the `orcapod` process was killed, its jobs go on): one row
//! per packet, keyed by the packet's input hash, naming its chunk and its place there
//! ([`Submitted`], [`submission_batch`], [`read_submissions`]).
//!
//! Rows and batches only: the driver writes and reads them (at
//! [`slurm_submissions_path`](crate::store::layout::slurm_submissions_path)).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{Array, AsArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};

use super::chunk::ChunkPaths;
use crate::error::{Error, Result};
use crate::store::Records;

/// Where one packet was submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    /// The chunk's files.
    pub chunk: ChunkPaths,
    /// The packet's place in the chunk.
    pub index: usize,
    /// The packets of the chunk.
    pub size: usize,
    /// The array job running the chunk.
    pub job: u64,
    /// The chunk's task in that array.
    pub task: u32,
    /// The job's name (what `squeue -n` asks about).
    pub job_name: String,
    /// The protocol the chunk's requests were written for (`jsonl`, `jsonl-id`).
    pub protocol: String,
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("chunk", DataType::Utf8, false),
        Field::new("index", DataType::Int64, false),
        Field::new("size", DataType::Int64, false),
        Field::new("job", DataType::Int64, false),
        Field::new("task", DataType::Int64, false),
        Field::new("job_name", DataType::Utf8, false),
        Field::new("protocol", DataType::Utf8, false),
    ]))
}

/// The rows recording `rows` (one per packet, in order).
pub fn submission_batch(rows: &[Submitted]) -> Result<RecordBatch> {
    let text = |f: &dyn Fn(&Submitted) -> String| -> Arc<dyn Array> {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
    };
    let int = |f: &dyn Fn(&Submitted) -> i64| -> Arc<dyn Array> {
        Arc::new(Int64Array::from_iter_values(rows.iter().map(f)))
    };
    Ok(RecordBatch::try_new(
        schema(),
        vec![
            text(&|r| r.chunk.stem().to_string_lossy().into_owned()),
            int(&|r| r.index as i64),
            int(&|r| r.size as i64),
            int(&|r| r.job as i64),
            int(&|r| i64::from(r.task)),
            text(&|r| r.job_name.clone()),
            text(&|r| r.protocol.clone()),
        ],
    )?)
}

/// The submissions recorded, by input packet hash.
pub fn read_submissions(records: &Records) -> Result<HashMap<String, Submitted>> {
    let batch = &records.batch;
    if batch.schema().fields() != schema().fields() {
        return Err(Error::internal(
            "the Slurm submission records have an unexpected schema",
        ));
    }
    let text = |i: usize| batch.column(i).as_string::<i32>();
    let int = |i: usize| batch.column(i).as_primitive::<Int64Type>();
    let (chunk, index, size, job, task, name, protocol) =
        (text(0), int(1), int(2), int(3), int(4), text(5), text(6));
    let mut out = HashMap::with_capacity(records.len());
    for (row, id) in records.ids.iter().enumerate() {
        out.insert(
            id.clone(),
            Submitted {
                chunk: ChunkPaths::from_stem(PathBuf::from(chunk.value(row))),
                index: usize::try_from(index.value(row)).unwrap_or(usize::MAX),
                size: usize::try_from(size.value(row)).unwrap_or(0),
                job: u64::try_from(job.value(row)).unwrap_or(0),
                task: u32::try_from(task.value(row)).unwrap_or(0),
                job_name: name.value(row).to_string(),
                protocol: protocol.value(row).to_string(),
            },
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn submissions_round_trip() {
        let rows = vec![
            Submitted {
                chunk: ChunkPaths::new(Path::new("/w/r/001-f"), 3),
                index: 1,
                size: 2,
                job: 42,
                task: 3,
                job_name: "orcapod-r".into(),
                protocol: "jsonl".into(),
            },
            Submitted {
                chunk: ChunkPaths::new(Path::new("/w/r/001-f"), 4),
                index: 0,
                size: 1,
                job: 43,
                task: 0,
                job_name: "orcapod-r".into(),
                protocol: "jsonl-id".into(),
            },
        ];
        let batch = submission_batch(&rows).unwrap();
        let records = Records {
            ids: vec!["a".into(), "b".into()],
            batch,
        };
        let read = read_submissions(&records).unwrap();
        assert_eq!(read["a"], rows[0]);
        assert_eq!(read["b"], rows[1]);
    }
}
