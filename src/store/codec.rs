//! Byte encodings of the sled store's keys and small values: the catalog of layout 4
//! (format marker, counters, path entries, batch entries) and, for migration, the keys
//! and values of layout 2 (batches and their ids inside sled).
//!
//! Every key starts with [`VERSION`] then a one-byte tag; integers are big-endian so that
//! sled's byte order is numeric order. See `sled_store` for the layout table. It only
//! encodes and decodes bytes.

use std::io::Cursor;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;

use crate::error::{Error, Result};

/// Layout version: the first byte of every key.
pub(crate) const VERSION: u8 = 1;

/// Tag of metadata keys (format marker, counters).
pub(crate) const TAG_META: u8 = 0x00;
/// Tag of layout 2's data keys: one Arrow IPC stream per added batch.
pub(crate) const TAG_BATCH: u8 = 0x10;
/// Tag of layout 2's id keys: the record ids of one added batch.
pub(crate) const TAG_IDS: u8 = 0x20;
/// Tag of path keys: full path → (path number, schema).
pub(crate) const TAG_PATH: u8 = 0x30;
/// Tag of the batch entries (layouts 3 and 4): one per batch (its file, rows, length, ...).
pub(crate) const TAG_ENTRY: u8 = 0x40;

/// The format marker's key.
pub(crate) fn format_key() -> Vec<u8> {
    let mut k = vec![VERSION, TAG_META];
    k.extend_from_slice(b"format");
    k
}

/// The format marker's value (layout 4).
pub(crate) const FORMAT_VALUE: &[u8] = b"orcapod-store/4";

/// The format marker of layout 3: layout 4 without derived ids (`batch_file`), so its
/// files are layout-4 files; the marker is moved to layout 4 when the store is opened,
/// so that a build of layout 3 refuses the store rather than misread a derived id.
pub(crate) const LAYOUT_3: &[u8] = b"orcapod-store/3";

/// The format marker of layout 2 (migrated on open).
pub(crate) const LAYOUT_2: &[u8] = b"orcapod-store/2";

/// The key of the next free path number.
pub(crate) fn next_path_key() -> Vec<u8> {
    let mut k = vec![VERSION, TAG_META];
    k.extend_from_slice(b"next_path");
    k
}

/// `[VERSION, TAG_PATH, path utf-8 with '/' separators]`.
pub(crate) fn path_key(path: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + path.len());
    k.push(VERSION);
    k.push(TAG_PATH);
    k.extend_from_slice(path.as_bytes());
    k
}

/// The prefix of all path keys.
pub(crate) fn path_key_prefix() -> [u8; 2] {
    [VERSION, TAG_PATH]
}

/// `[VERSION, TAG_BATCH, path u64, batch u64]`.
pub(crate) fn batch_key(path_no: u64, batch_no: u64) -> [u8; 18] {
    let mut k = [0u8; 18];
    k[0] = VERSION;
    k[1] = TAG_BATCH;
    k[2..10].copy_from_slice(&path_no.to_be_bytes());
    k[10..18].copy_from_slice(&batch_no.to_be_bytes());
    k
}

/// The prefix of all batch keys of a path.
pub(crate) fn batch_key_prefix(path_no: u64) -> [u8; 10] {
    let mut k = [0u8; 10];
    k[0] = VERSION;
    k[1] = TAG_BATCH;
    k[2..10].copy_from_slice(&path_no.to_be_bytes());
    k
}

/// `[VERSION, TAG_IDS, path u64, batch u64]`: the ids of batch `batch_no` (layout 2).
#[cfg(test)]
pub(crate) fn ids_key(path_no: u64, batch_no: u64) -> [u8; 18] {
    let mut k = batch_key(path_no, batch_no);
    k[1] = TAG_IDS;
    k
}

/// The prefix of all id keys of a path.
pub(crate) fn ids_key_prefix(path_no: u64) -> [u8; 10] {
    let mut k = batch_key_prefix(path_no);
    k[1] = TAG_IDS;
    k
}

/// `[VERSION, TAG_ENTRY, path u64, batch u64]`: the entry of a batch file.
pub(crate) fn entry_key(path_no: u64, batch_no: u64) -> [u8; 18] {
    let mut k = batch_key(path_no, batch_no);
    k[1] = TAG_ENTRY;
    k
}

/// The prefix of the batch entries of a path.
pub(crate) fn entry_key_prefix(path_no: u64) -> [u8; 10] {
    let mut k = batch_key_prefix(path_no);
    k[1] = TAG_ENTRY;
    k
}

/// The prefix of every batch entry.
pub(crate) fn all_entries_prefix() -> [u8; 2] {
    [VERSION, TAG_ENTRY]
}

/// The path and batch numbers of an entry key (or a batch or id key).
pub(crate) fn numbers_of_key(k: &[u8]) -> Result<(u64, u64)> {
    Ok((be_u64(k.get(2..10).unwrap_or(&[]))?, batch_no_of_key(k)?))
}

/// The key marking files of a migrated layout-2 store as still to delete.
pub(crate) fn legacy_key() -> Vec<u8> {
    let mut k = vec![VERSION, TAG_META];
    k.extend_from_slice(b"legacy");
    k
}

/// The key of the last generation whose batch files were all made durable.
pub(crate) fn synced_key() -> Vec<u8> {
    let mut k = vec![VERSION, TAG_META];
    k.extend_from_slice(b"synced");
    k
}

/// A batch entry: its file's number (the batch's own number, unless compaction
/// rewrote it), row count, byte length and checksum, and the generation (flush period)
/// it was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub file: u64,
    pub rows: u64,
    pub bytes: u64,
    pub generation: u64,
    pub checksum: u64,
}

impl Entry {
    /// The entry of file `file` holding `bytes` (`rows` rows), written in `generation`.
    pub(crate) fn of(file: u64, rows: usize, bytes: &[u8], generation: u64) -> Entry {
        Entry {
            file,
            rows: rows as u64,
            bytes: bytes.len() as u64,
            generation,
            checksum: checksum(bytes),
        }
    }

    pub(crate) fn encode(&self) -> [u8; 40] {
        let mut v = [0u8; 40];
        let fields = [
            self.file,
            self.rows,
            self.bytes,
            self.generation,
            self.checksum,
        ];
        for (chunk, field) in v.chunks_exact_mut(8).zip(fields) {
            chunk.copy_from_slice(&field.to_be_bytes());
        }
        v
    }

    pub(crate) fn decode(v: &[u8]) -> Result<Entry> {
        if v.len() != 40 {
            return Err(corrupt(format!("batch entry of {} bytes", v.len())));
        }
        Ok(Entry {
            file: be_u64(&v[..8])?,
            rows: be_u64(&v[8..16])?,
            bytes: be_u64(&v[16..24])?,
            generation: be_u64(&v[24..32])?,
            checksum: be_u64(&v[32..])?,
        })
    }
}

/// The checksum of a batch file (a fast 64-bit hash: it detects a torn or damaged file,
/// not an attack).
pub(crate) fn checksum(bytes: &[u8]) -> u64 {
    crate::hashing::in_memory::mix_bytes(0x6f72_6361_706f_6433, bytes)
}

/// The batch number of a batch key or an id key.
pub(crate) fn batch_no_of_key(k: &[u8]) -> Result<u64> {
    if k.len() != 18 {
        return Err(corrupt(format!(
            "batch key of {} bytes, expected 18",
            k.len()
        )));
    }
    be_u64(&k[10..18])
}

/// A path entry's value: path number then the schema as an Arrow IPC stream.
pub(crate) fn path_value(path_no: u64, schema: &SchemaRef) -> Result<Vec<u8>> {
    let mut v = path_no.to_be_bytes().to_vec();
    let mut writer = StreamWriter::try_new(&mut v, schema)?;
    writer.finish()?;
    drop(writer);
    Ok(v)
}

/// Decodes a path entry's value.
pub(crate) fn decode_path_value(v: &[u8]) -> Result<(u64, SchemaRef)> {
    if v.len() < 8 {
        return Err(corrupt("path entry too short".to_string()));
    }
    let path_no = be_u64(&v[..8])?;
    let reader = StreamReader::try_new(Cursor::new(&v[8..]), None)?;
    Ok((path_no, reader.schema()))
}

/// Decodes a batch of layout 2 (an Arrow IPC stream: schema, one record batch).
pub(crate) fn decode_batch(v: &[u8]) -> Result<RecordBatch> {
    let mut reader = StreamReader::try_new(Cursor::new(v), None)?;
    match reader.next() {
        Some(batch) => Ok(batch?),
        None => Err(corrupt("stored batch holds no record batch".to_string())),
    }
}

/// A counter's value (u64, big-endian).
pub(crate) fn decode_counter(v: &[u8]) -> Result<u64> {
    be_u64(v)
}

fn be_u64(b: &[u8]) -> Result<u64> {
    let arr: [u8; 8] = b
        .try_into()
        .map_err(|_| corrupt("bad u64 field".to_string()))?;
    Ok(u64::from_be_bytes(arr))
}

/// A decoding error: the store's bytes are not what this version wrote.
fn corrupt(message: String) -> Error {
    Error::Store {
        path: "(store data)".to_string(),
        message: format!("store data is corrupt or from another layout: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_numerically_and_by_tag() {
        assert!(batch_key(1, 255) < batch_key(1, 256));
        assert!(batch_key(1, u64::MAX) < batch_key(2, 0));
        assert!(batch_key(9, 9) < ids_key(0, 0));
        assert!(ids_key(9, 9).as_slice() < path_key("a").as_slice());
        assert!(ids_key(3, 1).starts_with(&ids_key_prefix(3)));
        assert!(ids_key(3, 255) < ids_key(3, 256));
        assert_eq!(batch_no_of_key(&batch_key(7, 42)).ok(), Some(42));
        assert_eq!(batch_no_of_key(&ids_key(7, 43)).ok(), Some(43));
        assert!(path_key("zzz").as_slice() < entry_key(0, 0).as_slice());
        assert_eq!(numbers_of_key(&entry_key(7, 44)).ok(), Some((7, 44)));
        let entry = Entry::of(9, 3, b"file", 7);
        assert_eq!(Entry::decode(&entry.encode()).ok(), Some(entry));
    }
}
