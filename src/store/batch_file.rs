//! The bytes of one stored batch of the sled store (layout 4): an Arrow IPC file,
//! compressed with zstd, holding the batch's record ids and its rows.
//!
//! The file's schema is the id column (always first, so it can be read alone) followed
//! by the path's fields. Ids are stored compactly when they allow it: when every id of
//! the batch is `{prefix}{hex}` with one shared prefix ending in `:` and a non-empty,
//! even-length, lowercase hex part of one width (packet hashes, `arrow_v0.1:` and 70 hex
//! digits, are), the prefix is kept once (schema metadata) and each id as its raw bytes
//! (`FixedSizeBinary`); otherwise the ids are kept as text. Either way an id reads back
//! byte for byte as it was given: the compact form is chosen only for ids that are
//! exactly the lowercase hex spelling of their bytes.
//!
//! **Derived ids** (layout 4). Ids that are each the `arrow_v0.1` row hash of some of the
//! row's own columns (pipeline records: their entry ids) need not be stored at all: the
//! file then names those columns (schema metadata) and its id column is of type `Null`
//! (no bytes; a reader of layout 3 refuses the file instead of misreading it), and
//! reading the file hashes the named columns again. The rule is checked when the file is
//! encoded (on the first and last rows; on every row in debug builds); ids that do not
//! follow it are stored as bytes.
//!
//! It only encodes and decodes bytes: it never touches the file system or sled.

use std::io::Cursor;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, FixedSizeBinaryArray, FixedSizeBinaryBuilder, LargeStringArray, NullArray,
    RecordBatch, RecordBatchOptions,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::ipc::reader::FileReader;
use arrow::ipc::writer::{FileWriter, IpcWriteOptions};
use arrow::ipc::CompressionType;

use crate::error::{Error, Result};
use crate::hashing::arrow::RowHasher;
use crate::hashing::content_hash::{push_hex, write_hex, HEX_DIGITS};

/// The name of the id column (found by position, so a user column may share it).
const ID_FIELD: &str = "__orcapod_record_id";
/// Schema metadata: the shared prefix of compact ids.
const META_PREFIX: &str = "orcapod.id_prefix";
/// Schema metadata: the columns derived ids are the row hash of (a JSON list of names).
const META_ID_COLUMNS: &str = "orcapod.id_columns";

/// The record ids of one stored batch, in row order.
#[derive(Debug, Clone)]
pub(crate) enum IdColumn {
    /// `{prefix}{lowercase hex of bytes}` for every id.
    Hex {
        prefix: Arc<str>,
        bytes: FixedSizeBinaryArray,
    },
    /// The ids as given.
    Text(LargeStringArray),
}

impl IdColumn {
    /// The ids of a batch, in the compact form when every id allows it.
    pub(crate) fn from_ids(ids: &[String]) -> Result<IdColumn> {
        if let Some(column) = compact(ids)? {
            return Ok(column);
        }
        Ok(IdColumn::Text(LargeStringArray::from_iter_values(ids)))
    }

    /// The number of ids.
    pub(crate) fn len(&self) -> usize {
        match self {
            IdColumn::Hex { bytes, .. } => bytes.len(),
            IdColumn::Text(text) => text.len(),
        }
    }

    /// Whether id `row` is `id`.
    pub(crate) fn is(&self, row: usize, id: &str) -> bool {
        match self {
            IdColumn::Hex { prefix, bytes } => {
                let raw = bytes.value(row);
                let Some(hex) = id.as_bytes().strip_prefix(prefix.as_bytes()) else {
                    return false;
                };
                hex.len() == 2 * raw.len()
                    && raw.iter().zip(hex.chunks_exact(2)).all(|(b, pair)| {
                        pair[0] == HEX_DIGITS[usize::from(b >> 4)]
                            && pair[1] == HEX_DIGITS[usize::from(b & 15)]
                    })
            }
            IdColumn::Text(text) => text.value(row) == id,
        }
    }

    /// Id `row` as text.
    pub(crate) fn id(&self, row: usize) -> String {
        let mut s = String::new();
        self.write_id(row, &mut s);
        s
    }

    /// Appends id `row` to `out`.
    pub(crate) fn write_id(&self, row: usize, out: &mut String) {
        match self {
            IdColumn::Hex { prefix, bytes } => {
                let raw = bytes.value(row);
                out.reserve(prefix.len() + 2 * raw.len());
                out.push_str(prefix);
                push_hex(out, raw);
            }
            IdColumn::Text(text) => out.push_str(text.value(row)),
        }
    }

    /// Id `row` as the bytes of its text, appended to `out` ([`write_id`](Self::write_id)
    /// without building a `String`: what fingerprinting an id needs).
    pub(crate) fn write_id_bytes(&self, row: usize, out: &mut Vec<u8>) {
        match self {
            IdColumn::Hex { prefix, bytes } => {
                let raw = bytes.value(row);
                out.extend_from_slice(prefix.as_bytes());
                let start = out.len();
                out.resize(start + 2 * raw.len(), 0);
                write_hex(&mut out[start..], raw);
            }
            IdColumn::Text(text) => out.extend_from_slice(text.value(row).as_bytes()),
        }
    }

    /// Bytes of memory the column holds.
    pub(crate) fn memory_size(&self) -> usize {
        match self {
            IdColumn::Hex { prefix, bytes } => prefix.len() + bytes.get_array_memory_size(),
            IdColumn::Text(text) => text.get_array_memory_size(),
        }
    }

    fn array(&self) -> ArrayRef {
        match self {
            IdColumn::Hex { bytes, .. } => Arc::new(bytes.clone()),
            IdColumn::Text(text) => Arc::new(text.clone()),
        }
    }

    fn prefix(&self) -> Option<&str> {
        match self {
            IdColumn::Hex { prefix, .. } => Some(prefix),
            IdColumn::Text(_) => None,
        }
    }
}

/// The compact form of `ids`, when each is the shared prefix and the lowercase hex of
/// bytes of one width.
fn compact(ids: &[String]) -> Result<Option<IdColumn>> {
    let Some(first) = ids.first() else {
        return Ok(None);
    };
    let Some(colon) = first.rfind(':') else {
        return Ok(None);
    };
    let prefix = &first[..=colon];
    let hex_len = first.len() - prefix.len();
    if hex_len == 0 || hex_len % 2 != 0 {
        return Ok(None);
    }
    let width = hex_len / 2;
    let Ok(width_i32) = i32::try_from(width) else {
        return Ok(None);
    };
    let mut builder = FixedSizeBinaryBuilder::with_capacity(ids.len(), width_i32);
    let mut raw = vec![0u8; width];
    for id in ids {
        let Some(hex) = id.as_bytes().strip_prefix(prefix.as_bytes()) else {
            return Ok(None);
        };
        if hex.len() != hex_len {
            return Ok(None);
        }
        // Each pair's value, or a bit above a byte's when either is not a lowercase
        // hex digit.
        let mut invalid = 0u16;
        for (b, pair) in raw.iter_mut().zip(hex.chunks_exact(2)) {
            let value = HEX_VALUE[usize::from(pair[0])] << 4 | HEX_VALUE[usize::from(pair[1])];
            invalid |= value;
            *b = value as u8;
        }
        if invalid > 0xff {
            return Ok(None);
        }
        builder.append_value(&raw)?;
    }
    Ok(Some(IdColumn::Hex {
        prefix: prefix.into(),
        bytes: builder.finish(),
    }))
}

/// The value of each byte as a lowercase hex digit; `0x100` for any other byte, so that
/// a pair's `hi << 4 | lo` exceeds a byte when either is not a digit.
static HEX_VALUE: [u16; 256] = {
    let mut t = [0x100u16; 256];
    let mut c = 0;
    while c < 10 {
        t[b'0' as usize + c] = c as u16;
        c += 1;
    }
    let mut c = 0;
    while c < 6 {
        t[b'a' as usize + c] = 10 + c as u16;
        c += 1;
    }
    t
};

/// A batch's ids and file bytes, encoded ahead of its write (see
/// `super::write::PreparedRecords`): the writer uses them when it writes every row.
pub(crate) struct EncodedBatch {
    pub(crate) ids: Arc<IdColumn>,
    pub(crate) bytes: Vec<u8>,
}

impl std::fmt::Debug for EncodedBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncodedBatch")
            .field("ids", &self.ids.len())
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

impl EncodedBatch {
    /// Encodes `batch` with `ids` (one per row, as [`encode`] stores them), derived
    /// from columns `derived_from` if they are (see the module docs).
    pub(crate) fn new(
        ids: &[String],
        batch: &RecordBatch,
        derived_from: Option<&[String]>,
    ) -> Result<EncodedBatch> {
        let column = Arc::new(IdColumn::from_ids(ids)?);
        let bytes = encode(
            batch,
            &column,
            derived_from.filter(|c| derives(ids, batch, c)),
        )?;
        Ok(EncodedBatch { ids: column, bytes })
    }
}

/// The ids of `batch`'s rows by the rule of derived ids: the `arrow_v0.1` row hash of
/// columns `columns` (by name). `None` when a column is missing.
pub(crate) fn derive_ids(batch: &RecordBatch, columns: &[String]) -> Option<Vec<String>> {
    let schema = batch.schema();
    let indices: Vec<usize> = columns
        .iter()
        .map(|c| schema.index_of(c).ok())
        .collect::<Option<_>>()?;
    let rows = batch.project(&indices).ok()?;
    Some(RowHasher::new(&rows.schema()).hash_row_strings(&rows))
}

/// Whether `ids` are derived from `columns` of `batch` (checked on the first and last
/// rows; on every row in debug builds).
pub(crate) fn derives(ids: &[String], batch: &RecordBatch, columns: &[String]) -> bool {
    let n = batch.num_rows();
    if n == 0 || ids.len() != n {
        return false;
    }
    let checked: Vec<usize> = if cfg!(debug_assertions) {
        (0..n).collect()
    } else {
        vec![0, n - 1]
    };
    let rows = checked
        .iter()
        .map(|&r| batch.slice(r, 1))
        .collect::<Vec<_>>();
    let Ok(rows) = arrow::compute::concat_batches(&batch.schema(), &rows) else {
        return false;
    };
    derive_ids(&rows, columns)
        .is_some_and(|derived| checked.iter().zip(derived).all(|(&r, id)| ids[r] == id))
}

/// Encodes a batch and its ids as a zstd-compressed Arrow IPC file; with `derived_from`
/// (ids known to be derived from those columns), the ids are not stored.
pub(crate) fn encode(
    batch: &RecordBatch,
    ids: &IdColumn,
    derived_from: Option<&[String]>,
) -> Result<Vec<u8>> {
    let id_type = match (ids, derived_from) {
        (_, Some(_)) => DataType::Null,
        (IdColumn::Hex { bytes, .. }, None) => bytes.data_type().clone(),
        (IdColumn::Text(_), None) => DataType::LargeUtf8,
    };
    let mut fields = vec![Arc::new(Field::new(
        ID_FIELD,
        id_type,
        derived_from.is_some(),
    ))];
    fields.extend(batch.schema().fields().iter().cloned());
    let mut metadata = std::collections::HashMap::new();
    match derived_from {
        Some(columns) => {
            let names = serde_json::to_string(columns)
                .map_err(|e| Error::internal(format!("derived id columns: {e}")))?;
            metadata.insert(META_ID_COLUMNS.to_string(), names);
        }
        None => {
            if let Some(prefix) = ids.prefix() {
                metadata.insert(META_PREFIX.to_string(), prefix.to_string());
            }
        }
    }
    let schema = Arc::new(Schema::new_with_metadata(fields, metadata));
    let mut columns = vec![match derived_from {
        Some(_) => Arc::new(NullArray::new(batch.num_rows())) as ArrayRef,
        None => ids.array(),
    }];
    columns.extend(batch.columns().iter().cloned());
    let file_batch = RecordBatch::try_new(schema.clone(), columns)?;
    let options = IpcWriteOptions::default().try_with_compression(Some(CompressionType::ZSTD))?;
    let mut out = Vec::with_capacity(batch.get_array_memory_size() / 2 + 1024);
    let mut writer = FileWriter::try_new_with_options(&mut out, &schema, options)?;
    writer.write(&file_batch)?;
    writer.finish()?;
    drop(writer);
    Ok(out)
}

/// Decodes a file written by [`encode`]: its rows (with `schema`, the path's) and ids,
/// unless the caller has them already (`known`, the file's ids as read before).
pub(crate) fn decode(
    bytes: &[u8],
    schema: &SchemaRef,
    known: Option<Arc<IdColumn>>,
) -> Result<(RecordBatch, Arc<IdColumn>)> {
    let file_batch = read_one(bytes, None)?;
    let options = RecordBatchOptions::new().with_row_count(Some(file_batch.num_rows()));
    let batch = RecordBatch::try_new_with_options(
        schema.clone(),
        file_batch.columns()[1..].to_vec(),
        &options,
    )
    .map_err(|e| {
        corrupt(&format!(
            "a stored batch does not fit its path's schema: {e}"
        ))
    })?;
    let ids = match (known, derived_columns(&file_batch)?) {
        (Some(ids), _) => ids,
        (None, Some(columns)) => Arc::new(derived(&batch, &columns)?),
        (None, None) => Arc::new(id_column(&file_batch)?),
    };
    Ok((batch, ids))
}

/// Decodes only the ids of a file written by [`encode`] (derived ids need the whole
/// file).
pub(crate) fn decode_ids(bytes: &[u8]) -> Result<IdColumn> {
    let ids_only = read_one(bytes, Some(vec![0]))?;
    let Some(columns) = derived_columns(&ids_only)? else {
        return id_column(&ids_only);
    };
    let file_batch = read_one(bytes, None)?;
    let fields = file_batch.schema().fields()[1..].to_vec();
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        file_batch.columns()[1..].to_vec(),
    )?;
    derived(&batch, &columns)
}

/// The columns a file's ids are derived from, if they are.
fn derived_columns(file_batch: &RecordBatch) -> Result<Option<Vec<String>>> {
    let schema = file_batch.schema();
    let Some(names) = schema.metadata().get(META_ID_COLUMNS) else {
        return Ok(None);
    };
    let columns: Vec<String> = serde_json::from_str(names)
        .map_err(|_| corrupt("the columns of derived ids are unreadable"))?;
    Ok(Some(columns))
}

/// The ids of a stored batch whose ids are derived from `columns`.
fn derived(batch: &RecordBatch, columns: &[String]) -> Result<IdColumn> {
    let ids = derive_ids(batch, columns)
        .ok_or_else(|| corrupt("derived ids name a column the batch does not have"))?;
    IdColumn::from_ids(&ids)
}

fn read_one(bytes: &[u8], projection: Option<Vec<usize>>) -> Result<RecordBatch> {
    let mut reader = FileReader::try_new(Cursor::new(bytes), projection)?;
    let batch = match reader.next() {
        Some(batch) => batch?,
        None => return Err(corrupt("a stored batch file holds no record batch")),
    };
    Ok(batch)
}

fn id_column(file_batch: &RecordBatch) -> Result<IdColumn> {
    let schema = file_batch.schema();
    let column = file_batch
        .columns()
        .first()
        .ok_or_else(|| corrupt("a stored batch file has no id column"))?;
    if column.null_count() > 0 {
        return Err(corrupt("a stored batch file has null ids"));
    }
    if let Some(bytes) = column.as_any().downcast_ref::<FixedSizeBinaryArray>() {
        let prefix = schema
            .metadata()
            .get(META_PREFIX)
            .ok_or_else(|| corrupt("compact ids without their prefix"))?;
        return Ok(IdColumn::Hex {
            prefix: prefix.as_str().into(),
            bytes: bytes.clone(),
        });
    }
    if let Some(text) = column.as_any().downcast_ref::<LargeStringArray>() {
        return Ok(IdColumn::Text(text.clone()));
    }
    Err(corrupt(
        "a stored batch file's id column has an unknown type",
    ))
}

fn corrupt(message: &str) -> Error {
    Error::Store {
        path: "(store data)".to_string(),
        message: format!("store data is corrupt or from another layout: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;

    fn round_trip(ids: &[&str]) -> IdColumn {
        let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
        let xs: Vec<i64> = (0..ids.len() as i64).collect();
        let batch =
            RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(xs))]).unwrap();
        let column = IdColumn::from_ids(&ids).unwrap();
        let bytes = encode(&batch, &column, None).unwrap();
        let (back, back_ids) = decode(&bytes, &schema, None).unwrap();
        assert_eq!(back, batch);
        let only_ids = decode_ids(&bytes).unwrap();
        for (row, id) in ids.iter().enumerate() {
            assert_eq!(&back_ids.id(row), id);
            assert_eq!(&only_ids.id(row), id);
            assert!(back_ids.is(row, id));
            let mut text = b"kept".to_vec();
            back_ids.write_id_bytes(row, &mut text);
            assert_eq!(text, [b"kept", id.as_bytes()].concat());
        }
        Arc::unwrap_or_clone(back_ids)
    }

    #[test]
    fn hash_ids_are_compact_and_read_back_exactly() {
        let a = format!("arrow_v0.1:{}", "0a".repeat(35));
        let b = format!("arrow_v0.1:{}", "ff".repeat(35));
        let column = round_trip(&[&a, &b]);
        assert!(matches!(column, IdColumn::Hex { .. }));
        assert!(!column.is(0, &a.to_uppercase()));
        assert!(!column.is(0, &b));
        assert!(!column.is(0, &a[..a.len() - 1]));
    }

    /// Rows of `a` (Int64) and `b` (text), and their row hashes over `[a, b]`.
    fn hashed_rows(n: i64) -> (RecordBatch, Vec<String>, Vec<String>) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, false),
            Field::new("b", DataType::LargeUtf8, false),
            Field::new("c", DataType::Int64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from((0..n).collect::<Vec<_>>())),
                Arc::new(LargeStringArray::from_iter_values(
                    (0..n).map(|i| format!("row {i}")),
                )),
                Arc::new(Int64Array::from(vec![7; n as usize])),
            ],
        )
        .unwrap();
        let columns = vec!["a".to_string(), "b".to_string()];
        let ids = derive_ids(&batch, &columns).unwrap();
        (batch, ids, columns)
    }

    #[test]
    fn derived_ids_are_not_stored_and_read_back_exactly() {
        let (batch, ids, columns) = hashed_rows(1000);
        let schema = batch.schema();
        let stored = EncodedBatch::new(&ids, &batch, None).unwrap().bytes;
        let derived = EncodedBatch::new(&ids, &batch, Some(&columns))
            .unwrap()
            .bytes;
        // 35 random bytes per row are not stored.
        assert!(
            derived.len() + 30 * 1000 < stored.len(),
            "{} {}",
            derived.len(),
            stored.len()
        );
        let (back, back_ids) = decode(&derived, &schema, None).unwrap();
        assert_eq!(back, batch);
        let only_ids = decode_ids(&derived).unwrap();
        for (row, id) in ids.iter().enumerate() {
            assert_eq!(&back_ids.id(row), id);
            assert_eq!(&only_ids.id(row), id);
        }
        // A layout-3 reader takes the first column for the ids: it refuses the file.
        let first = read_one(&derived, Some(vec![0])).unwrap();
        assert!(id_column(&first).is_err());
    }

    #[test]
    fn ids_that_do_not_follow_the_rule_are_stored() {
        let (batch, mut ids, columns) = hashed_rows(10);
        // Derived from other columns, or one id off: the ids are kept as bytes.
        for (wrong_columns, wrong_row) in [
            (vec!["a".to_string(), "c".to_string()], None),
            (columns, Some(9)),
        ] {
            let mut given = ids.clone();
            if let Some(row) = wrong_row {
                given[row] = ids[0].clone();
            }
            assert!(!derives(&given, &batch, &wrong_columns));
            let bytes = EncodedBatch::new(&given, &batch, Some(&wrong_columns))
                .unwrap()
                .bytes;
            let (_, back_ids) = decode(&bytes, &batch.schema(), None).unwrap();
            for (row, id) in given.iter().enumerate() {
                assert_eq!(&back_ids.id(row), id);
            }
        }
        ids.truncate(9);
        assert!(!derives(&ids, &batch, &["a".to_string()]));
    }

    #[test]
    fn odd_ids_are_kept_as_text_byte_for_byte() {
        for ids in [
            vec!["arrow_v0.1:ABCDEF", "arrow_v0.1:abcdef"],
            vec!["x:abc"],
            vec!["no-colon"],
            vec![""],
            vec!["héllo:ünï"],
            vec!["a:00", "b:00"],
            vec!["a:00", "a:0000"],
            vec!["a:"],
            // One digit of a pair wrong, at either end of the digits' ranges.
            vec!["x:0g"],
            vec!["x:g0"],
            vec!["x:00", "x:0/"],
            vec!["x:`0"],
            vec!["x:0:"],
        ] {
            let column = round_trip(&ids);
            assert!(matches!(column, IdColumn::Text(_)), "{ids:?}");
        }
        assert!(matches!(
            round_trip(&["x:00ff", "x:0000"]),
            IdColumn::Hex { .. }
        ));
    }
}
