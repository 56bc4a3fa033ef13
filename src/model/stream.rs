//! [`Stream`]: a finite, materialised sequence of (Tag, Packet) rows in Arrow batches.

use std::sync::Arc;

use arrow::array::{ArrayRef, LargeStringArray, RecordBatch};
use arrow::compute::{
    concat_batches, interleave_record_batch, lexsort_to_indices, take_record_batch, SortColumn,
};
use arrow::datatypes::{DataType, Field, Schema};

use super::column_config::ColumnConfig;
use super::columns::CONTENT_HASH_COLUMN;
use super::datagram::{Packet, Tag};
use super::datum::Datum;
use super::schema::StreamSchema;
use crate::error::{Error, Result};
use crate::files::PacketHasher;
use crate::hashing::arrow::digest_array;

/// A stream's rows: batches that all have exactly the schema's Arrow schema.
#[derive(Debug, Clone)]
pub struct Stream {
    schema: Arc<StreamSchema>,
    batches: Vec<RecordBatch>,
}

impl Stream {
    /// A stream of `batches`; each must have the schema's fields (metadata aside).
    pub fn new(schema: Arc<StreamSchema>, batches: Vec<RecordBatch>) -> Result<Self> {
        for b in &batches {
            if b.schema().fields() != schema.arrow().fields() {
                return Err(Error::internal(format!(
                    "batch schema {:?} differs from stream schema {:?}",
                    b.schema().fields(),
                    schema.arrow().fields()
                )));
            }
        }
        let batches = batches.into_iter().filter(|b| b.num_rows() > 0).collect();
        Ok(Stream { schema, batches })
    }

    /// A stream with no rows.
    pub fn empty(schema: Arc<StreamSchema>) -> Self {
        Stream {
            schema,
            batches: Vec::new(),
        }
    }

    /// The stream's schema.
    pub fn schema(&self) -> &Arc<StreamSchema> {
        &self.schema
    }

    /// The stream's batches (never empty ones).
    pub fn batches(&self) -> &[RecordBatch] {
        &self.batches
    }

    /// Total number of rows.
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// All rows as one batch with every column.
    pub fn to_batch(&self) -> Result<RecordBatch> {
        Ok(concat_batches(self.schema.arrow(), &self.batches)?)
    }

    /// The rows as a table showing the columns `config` asks for: user tags, packets,
    /// then (on request) system tags, `_content_hash`, and source info.
    pub fn as_table(&self, config: &ColumnConfig) -> Result<RecordBatch> {
        let full = self.to_batch()?;
        let mut fields: Vec<Arc<Field>> = Vec::new();
        let mut columns: Vec<ArrayRef> = Vec::new();
        let mut push = |idx: std::ops::Range<usize>| {
            for i in idx {
                fields.push(self.schema.arrow().fields()[i].clone());
                columns.push(full.column(i).clone());
            }
        };
        push(self.schema.tag_range());
        push(self.schema.packet_range());
        if config.system_tags {
            push(self.schema.system_tag_range());
        }
        if config.content_hash {
            fields.push(Arc::new(Field::new(
                CONTENT_HASH_COLUMN,
                DataType::LargeUtf8,
                false,
            )));
            columns.push(Arc::new(packet_content_hashes(&self.schema, &full)?));
        }
        if config.source_info {
            for i in self.schema.source_info_range() {
                fields.push(self.schema.arrow().fields()[i].clone());
                columns.push(full.column(i).clone());
            }
        }
        let table = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
        if !config.sort_by_tags {
            return Ok(table);
        }
        let mut keys: Vec<usize> = self.schema.tag_range().collect();
        if config.system_tags {
            keys.extend(self.schema.system_tag_range());
        }
        let sort_columns: Vec<SortColumn> = keys
            .iter()
            .map(|&i| SortColumn {
                values: full.column(i).clone(),
                options: None,
            })
            .collect();
        if sort_columns.is_empty() {
            return Ok(table);
        }
        // Like the reference, a table whose tags cannot be sorted is returned unsorted.
        match lexsort_to_indices(&sort_columns, None) {
            Ok(indices) => Ok(take_record_batch(&table, &indices)?),
            Err(_) => Ok(table),
        }
    }

    /// Every row as a (Tag, Packet) pair; for callers that need single rows.
    pub fn rows(&self) -> Result<Vec<(Tag, Packet)>> {
        let mut out = Vec::with_capacity(self.num_rows());
        for batch in &self.batches {
            for row in 0..batch.num_rows() {
                out.push(row_of(&self.schema, batch, row)?);
            }
        }
        Ok(out)
    }
}

/// The rows `picks` takes from `batches` (`(batch index, row)` pairs), in order: a
/// batch itself when they are all its rows in order (no copy, and nothing of the batch
/// held that the result does not use), else copied.
pub(crate) fn pick_rows(batches: &[&RecordBatch], picks: &[(usize, usize)]) -> Result<RecordBatch> {
    if let Some(&(slot, _)) = picks.first() {
        let whole = batches[slot];
        let in_order = picks
            .iter()
            .enumerate()
            .all(|(i, &(s, r))| s == slot && r == i);
        if in_order && whole.num_rows() == picks.len() {
            return Ok(whole.clone());
        }
    }
    Ok(interleave_record_batch(batches, picks)?)
}

/// Reads row `row` of `batch` (which has `schema`) as a (Tag, Packet) pair.
pub fn row_of(schema: &StreamSchema, batch: &RecordBatch, row: usize) -> Result<(Tag, Packet)> {
    let read = |range: std::ops::Range<usize>| -> Result<Vec<(String, Datum)>> {
        range
            .map(|i| {
                Ok((
                    schema.arrow().field(i).name().clone(),
                    Datum::from_array(batch.column(i).as_ref(), row)?,
                ))
            })
            .collect()
    };
    let tag = Tag::new(read(schema.tag_range())?, read(schema.system_tag_range())?);
    let source_info = read(schema.source_info_range())?
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    let packet = Packet::new(read(schema.packet_range())?, source_info);
    Ok((tag, packet))
}

/// The content hash of each row's packet: the Arrow hash of a one-row table of the
/// packet columns (no tags, no source info), as `arrow_v0.1:hex` strings.
pub fn packet_content_hashes(
    schema: &StreamSchema,
    batch: &RecordBatch,
) -> Result<LargeStringArray> {
    let packet_idx: Vec<usize> = schema.packet_range().collect();
    // Files and directories count by content (hashed through the process's cache).
    let packets = batch.project(&packet_idx)?;
    let digests = PacketHasher::new(&packets.schema()).hash_row_digests(&packets, None)?;
    Ok(digest_array(digests.iter()))
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, Int64Array};

    use super::*;

    fn ints(values: &[i64]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(values.to_vec()))]).unwrap()
    }

    fn values(batch: &RecordBatch) -> Vec<i64> {
        let column = batch
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        column.values().to_vec()
    }

    #[test]
    fn rows_picked_are_the_batch_itself_only_when_they_are_all_its_rows_in_order() {
        let (a, b) = (ints(&[1, 2, 3]), ints(&[4, 5]));
        let whole = pick_rows(&[&a, &b], &[(0, 0), (0, 1), (0, 2)]).unwrap();
        assert_eq!(values(&whole), vec![1, 2, 3]);
        assert!(
            whole.column(0).to_data().ptr_eq(&a.column(0).to_data()),
            "not copied"
        );
        for picks in [
            vec![(0, 1), (0, 0), (0, 2)],
            vec![(0, 0), (0, 1)],
            vec![(0, 0), (1, 1), (0, 2)],
            vec![(1, 0), (1, 1), (1, 0)],
        ] {
            let picked = pick_rows(&[&a, &b], &picks).unwrap();
            let want: Vec<i64> = picks
                .iter()
                .map(|&(s, r)| {
                    [&a, &b][s]
                        .column(0)
                        .as_any()
                        .downcast_ref::<Int64Array>()
                        .unwrap()
                        .value(r)
                })
                .collect();
            assert_eq!(values(&picked), want, "{picks:?}");
        }
    }
}
