//! What changed in a source's rows between two reads, row by row: the rows added or
//! changed, and the records gone or changed.
//!
//! A row is known by its record, the pair (`source_id`, `record_id`) of its system tags
//! ([`RecordKey`], a digest of the pair), and its content by a digest of every column of
//! the enriched row, files and directories by their content ([`RowsSeen`]). Between two
//! reads, a record whose digest differs, or that is new, is *added*; a record gone, or
//! whose digest differs, is *removed*: the rows derived from it must be withdrawn
//! ([`crate::pipeline::delta`] does that by provenance).
//!
//! This is what lets a watched pipeline feed only new or changed rows. It reads a
//! source's rows and compares digests; it never runs a node and never decides what a
//! run feeds. Digests are 16 bytes (two 64-bit in-memory hashes), never persisted: two
//! different records or rows sharing one is not a practical concern.

use std::collections::{HashMap, HashSet};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::{cast, filter_record_batch};
use arrow::datatypes::{DataType, Schema};
use arrow_row::{RowConverter, SortField};

use super::Source;
use crate::error::{Error, Result};
use crate::files::{content_tokens, FileHashes, StoreUse};
use crate::hashing::arrow::RowHasher;
use crate::hashing::in_memory::{mix_bytes, PassThrough};
use crate::model::columns::{source_system_tag, RECORD_ID_TAG, SOURCE_ID_TAG};

/// A record of a source: a digest of its `source_id` and `record_id`.
pub type RecordKey = [u8; 16];

/// A set of records (their keys are digests: the set does not hash them again).
pub type RecordKeys = HashSet<RecordKey, PassThrough>;

/// A digest of a row's content.
type RowPrint = [u8; 16];

/// The key of the record (`source_id`, `record_id`).
pub fn record_key(source_id: &str, record_id: &str) -> RecordKey {
    let mut bytes = Vec::with_capacity(16 + source_id.len() + record_id.len());
    for part in [source_id, record_id] {
        bytes.extend_from_slice(&(part.len() as u64).to_le_bytes());
        bytes.extend_from_slice(part.as_bytes());
    }
    digest16(&bytes)
}

/// 16 bytes digesting `bytes`: two 64-bit in-memory hashes of different seeds, each
/// started from the length. In memory only (see [`crate::hashing::in_memory`]).
fn digest16(bytes: &[u8]) -> [u8; 16] {
    let length = bytes.len() as u64;
    let mut digest = [0u8; 16];
    digest[..8].copy_from_slice(&mix_bytes(SEEDS[0] ^ length, bytes).to_le_bytes());
    digest[8..].copy_from_slice(&mix_bytes(SEEDS[1] ^ length, bytes).to_le_bytes());
    digest
}

/// The seeds of [`digest16`]'s two halves.
const SEEDS: [u64; 2] = [0x6F72_6361_706F_6431, 0x7265_636F_7264_7332];

/// The records of a source's rows as one read saw them, each with its content's digest.
#[derive(Debug, Clone, Default)]
pub struct RowsSeen {
    /// Keys and prints are digests: the table need not hash them again.
    rows: HashMap<RecordKey, RowPrint, PassThrough>,
    /// Some record held more than one row: rows cannot be told apart by record.
    shared_record: Option<String>,
}

/// What changed between two reads of a source.
#[derive(Debug, Clone, Default)]
pub struct SourceDelta {
    /// The rows added or changed, as the source gives them (system tags and source info
    /// included); `None` when they would have held more than the bound given to
    /// [`RowsSeen::compare`] (the caller then feeds the source whole).
    pub added: Option<Vec<RecordBatch>>,
    /// How many rows were added or changed.
    pub added_rows: u64,
    /// The records gone or changed: what was derived from them is out of date.
    pub removed: RecordKeys,
    /// The source's rows now.
    pub rows: u64,
}

impl SourceDelta {
    /// True when nothing was added, changed or removed.
    pub fn is_empty(&self) -> bool {
        self.added_rows == 0 && self.removed.is_empty()
    }
}

impl RowsSeen {
    /// The first record id held by more than one row, if any (`{source_id}::{record_id}`).
    pub fn shared_record(&self) -> Option<&str> {
        self.shared_record.as_deref()
    }

    /// Reads `source` whole, batch by batch (files and directories hashed through
    /// `hashes`, and `store` when given): the rows as seen now, and what changed since
    /// `self`. The added rows are kept while they hold at most `keep_bytes` bytes.
    pub fn compare(
        &self,
        source: &Source,
        hashes: &FileHashes,
        store: Option<StoreUse<'_>>,
        keep_bytes: usize,
    ) -> Result<(RowsSeen, SourceDelta)> {
        let (source_col, record_col) = record_columns(source)?;
        let mut now = RowsSeen {
            rows: HashMap::with_capacity_and_hasher(self.rows.len(), PassThrough::default()),
            shared_record: None,
        };
        // Records of the last read found again (same content or not).
        let mut found = 0usize;
        let mut delta = SourceDelta {
            added: Some(Vec::new()),
            ..SourceDelta::default()
        };
        let mut kept_bytes = 0usize;
        let mut printer: Option<RowPrinter> = None;
        for batch in source.batches(64 * 1024) {
            let batch = batch?;
            let image = content_tokens(&batch, hashes, store)?;
            let printer = match &mut printer {
                Some(printer) => printer,
                None => printer.insert(RowPrinter::new(&image.schema())),
            };
            let prints = printer.prints(&image)?;
            let ids = string_column(&batch, source_col)?;
            let records = string_column(&batch, record_col)?;
            let mut added = Vec::with_capacity(batch.num_rows());
            for (row, digest) in prints.iter().enumerate() {
                let (sid, rid) = (ids.value(row), records.value(row));
                let key = record_key(sid, rid);
                let print = *digest;
                if now.rows.insert(key, print).is_some() && now.shared_record.is_none() {
                    now.shared_record = Some(format!("{sid}::{rid}"));
                }
                let is_new = match self.rows.get(&key) {
                    Some(old) => {
                        found += 1;
                        if *old != print {
                            delta.removed.insert(key);
                        }
                        *old != print
                    }
                    None => true,
                };
                added.push(is_new);
                if is_new {
                    delta.added_rows += 1;
                }
            }
            delta.rows += batch.num_rows() as u64;
            if let Some(kept) = &mut delta.added {
                let mask = arrow::array::BooleanArray::from(added);
                let rows = filter_record_batch(&batch, &mask)?;
                kept_bytes += rows.get_array_memory_size();
                if kept_bytes > keep_bytes {
                    delta.added = None;
                } else if rows.num_rows() > 0 {
                    kept.push(rows);
                }
            }
        }
        // Records gone: only when not every record of the last read was found again.
        if found < self.rows.len() {
            for key in self.rows.keys() {
                if !now.rows.contains_key(key) {
                    delta.removed.insert(*key);
                }
            }
        }
        Ok((now, delta))
    }
}

/// Digests of whole rows: of each row in the Arrow row format, or, for a type that
/// format cannot hold, of the row's Arrow hash.
enum RowPrinter {
    Rows(RowConverter),
    Hashed(RowHasher),
}

impl RowPrinter {
    fn new(schema: &Schema) -> RowPrinter {
        let fields = schema
            .fields()
            .iter()
            .map(|f| SortField::new(f.data_type().clone()))
            .collect();
        match RowConverter::new(fields) {
            Ok(converter) => RowPrinter::Rows(converter),
            Err(_) => RowPrinter::Hashed(RowHasher::new(schema)),
        }
    }

    fn prints(&mut self, batch: &RecordBatch) -> Result<Vec<RowPrint>> {
        Ok(match self {
            RowPrinter::Rows(converter) => {
                let rows = converter.convert_columns(batch.columns())?;
                rows.iter().map(|row| digest16(row.as_ref())).collect()
            }
            RowPrinter::Hashed(hasher) => hasher
                .hash_row_digests(batch)
                .iter()
                .map(|digest| digest16(digest))
                .collect(),
        })
    }
}

/// The indices of a source's `_tag_source_id` and `_tag_record_id` columns.
fn record_columns(source: &Source) -> Result<(usize, usize)> {
    let find = |base: &str| {
        let name = source_system_tag(base, &source.schema_hash());
        source
            .schema()
            .arrow()
            .index_of(&name)
            .map_err(|_| Error::internal(format!("a source's rows have no `{name}` column")))
    };
    Ok((find(SOURCE_ID_TAG)?, find(RECORD_ID_TAG)?))
}

/// Column `index` of `batch` as (large) strings; a null reads as empty.
pub(crate) fn string_column(
    batch: &RecordBatch,
    index: usize,
) -> Result<arrow::array::LargeStringArray> {
    let column = batch.column(index);
    let column = match column.data_type() {
        DataType::LargeUtf8 => column.clone(),
        _ => cast(column, &DataType::LargeUtf8)?,
    };
    Ok(column.as_string::<i64>().clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::file_hashes;
    use crate::model::Datum;
    use crate::source::SourceOptions;

    fn source(rows: &[(&str, i64)]) -> Source {
        let rows: Vec<Vec<(String, Datum)>> = rows
            .iter()
            .map(|(k, x)| {
                vec![
                    ("k".to_string(), Datum::Str(k.to_string())),
                    ("x".to_string(), Datum::Int(*x)),
                ]
            })
            .collect();
        let options = SourceOptions::tags(["k"])
            .with_source_id("S")
            .with_record_id_column("k");
        Source::from_rows(&rows, &options).unwrap()
    }

    fn keys(delta: &SourceDelta) -> Vec<String> {
        let mut rows = Vec::new();
        for batch in delta.added.as_ref().unwrap() {
            let k = string_column(batch, 0).unwrap();
            rows.extend((0..k.len()).map(|i| k.value(i).to_string()));
        }
        rows
    }

    #[test]
    fn a_second_read_finds_the_rows_added_changed_and_removed() {
        let (seen, first) = RowsSeen::default()
            .compare(
                &source(&[("a", 1), ("b", 2), ("c", 3)]),
                file_hashes(),
                None,
                usize::MAX,
            )
            .unwrap();
        assert_eq!((first.added_rows, first.rows), (3, 3));
        assert!(first.removed.is_empty());

        let (_, second) = seen
            .compare(
                &source(&[("a", 1), ("b", 20), ("d", 4)]),
                file_hashes(),
                None,
                usize::MAX,
            )
            .unwrap();
        assert_eq!(keys(&second), ["b", "d"]);
        let removed: RecordKeys = [record_key("S", "k=b"), record_key("S", "k=c")]
            .into_iter()
            .collect();
        assert_eq!(second.removed, removed);
        assert_eq!(second.rows, 3);
    }

    #[test]
    fn an_unchanged_read_finds_nothing_and_a_bound_drops_the_rows() {
        let rows = [("a", 1), ("b", 2)];
        let (seen, _) = RowsSeen::default()
            .compare(&source(&rows), file_hashes(), None, usize::MAX)
            .unwrap();
        let (_, same) = seen
            .compare(&source(&rows), file_hashes(), None, 0)
            .unwrap();
        assert!(same.is_empty());
        let (_, fresh) = RowsSeen::default()
            .compare(&source(&rows), file_hashes(), None, 0)
            .unwrap();
        assert_eq!(fresh.added_rows, 2);
        assert!(fresh.added.is_none());
    }
}
