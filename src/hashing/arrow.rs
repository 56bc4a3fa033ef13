//! The Arrow table hasher `arrow_v0.1`, delegated to the `starfix` crate.
//!
//! starfix is byte-compatible with the reference's Python package: the digest is
//! independent of column order and chunking and sensitive to nullability and integer
//! width. Digests are 35 bytes (`00 00 01` ‖ SHA-256), so their hex starts with `000001`.
//! As in the reference, a schema naming an Arrow extension type (`ARROW:extension:name`
//! metadata) is hashed with its extension metadata, and any other schema without
//! metadata ([`metadata`]).

use std::sync::Arc;

use arrow::array::{Array, AsArray, LargeStringArray, LargeStringBuilder};
use arrow::datatypes::{DataType, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use sha2::{Digest, Sha256};
use starfix::{ArrowDigester, HasherConfig};

use super::content_hash::{push_hex, write_hex};
use super::ContentHash;

pub mod metadata;

use metadata::with_extension_metadata;

/// The method name of the Arrow hasher.
pub const ARROW_METHOD: &str = "arrow_v0.1";

/// The schema starfix hashes for `schema`, and whether with metadata: the schema itself
/// without, or its extension metadata only when it names an extension type.
fn digest_schema(schema: &Schema) -> (SchemaRef, HasherConfig) {
    match with_extension_metadata(schema) {
        Some(clean) => (
            Arc::new(clean),
            HasherConfig {
                include_metadata: true,
            },
        ),
        None => (Arc::new(schema.clone()), HasherConfig::default()),
    }
}

/// `batch` under `schema`, when hashed with metadata (its columns under the schema
/// whose metadata the digest was built with); `batch` itself otherwise.
fn conform<'a>(
    batch: &'a RecordBatch,
    schema: &SchemaRef,
    config: HasherConfig,
) -> std::borrow::Cow<'a, RecordBatch> {
    if !config.include_metadata || batch.schema_ref() == schema {
        return std::borrow::Cow::Borrowed(batch);
    }
    std::borrow::Cow::Owned(
        RecordBatch::try_new(schema.clone(), batch.columns().to_vec())
            .expect("the batch's own columns under its schema with other metadata"),
    )
}

/// Hashes one record batch as one table.
pub fn hash_batch(batch: &RecordBatch) -> ContentHash {
    let (schema, config) = digest_schema(&batch.schema());
    ContentHash::new(
        ARROW_METHOD,
        ArrowDigester::hash_record_batch(&conform(batch, &schema, config), config),
    )
}

/// Hashes several batches sharing `schema` as one table (one at a time: the batches
/// may be read as they are hashed).
pub fn hash_batches<B: std::borrow::Borrow<RecordBatch>>(
    schema: &Schema,
    batches: impl IntoIterator<Item = B>,
) -> ContentHash {
    let (schema, config) = digest_schema(schema);
    let mut digester = ArrowDigester::new(&schema, config);
    for batch in batches {
        digester.update(&conform(batch.borrow(), &schema, config));
    }
    ContentHash::new(ARROW_METHOD, digester.finalize())
}

/// The hash of each row of `batch` as a one-row table — what [`hash_batch`] gives for
/// `batch.slice(i, 1)` — computed with the schema's part of the digest done once.
pub fn hash_rows(batch: &RecordBatch) -> Vec<ContentHash> {
    RowHasher::new(&batch.schema()).hash_rows(batch)
}

/// The version bytes starfix puts before every digest.
const VERSION_BYTES: [u8; 3] = [0, 0, 1];

/// Hashes rows of batches that share one schema, digesting the schema once.
///
/// Each row's hash is exactly starfix's digest of the one-row table (the golden tests pin
/// it). For schemas of flat columns (fixed-width, boolean, string and binary types) the
/// digest is written out here, row by row, without building a one-row batch per row:
/// starfix's final digest of a one-row table is SHA-256 over the schema digest, then, per
/// column in name order, the validity of the row (nullable columns only: the bit count
/// `1u64` little-endian and one byte holding the bit) and the SHA-256 of the row's value
/// bytes (nothing for a null; a string or binary value is its `u64` little-endian length
/// and its bytes; a boolean one byte; a fixed-width value its raw bytes). Other schemas
/// (lists, structs, dictionaries, …) go through starfix one row at a time.
#[derive(Clone)]
pub struct RowHasher {
    schema: SchemaRef,
    config: HasherConfig,
    base: ArrowDigester,
    flat: Option<FlatRows>,
}

/// The per-row digest of a schema of flat columns.
#[derive(Clone)]
struct FlatRows {
    /// SHA-256 state after the schema digest.
    prefix: Sha256,
    /// (column index, nullable, kind), in starfix's field order (by name).
    columns: Vec<(usize, bool, Leaf)>,
}

/// How a flat column's value contributes its bytes.
#[derive(Clone, Copy, Debug)]
enum Leaf {
    /// Raw little-endian bytes of this width.
    Fixed(usize),
    /// One byte, 0 or 1.
    Bool,
    /// `u64` LE length then the bytes (32-bit offsets).
    Utf8,
    /// Same, 64-bit offsets.
    LargeUtf8,
    /// Same, for binary (32-bit offsets).
    Binary,
    /// Same, for large binary.
    LargeBinary,
}

impl Leaf {
    fn of(data_type: &DataType) -> Option<Leaf> {
        use DataType as T;
        Some(match data_type {
            T::Boolean => Leaf::Bool,
            T::Int8 | T::UInt8 => Leaf::Fixed(1),
            T::Int16 | T::UInt16 | T::Float16 => Leaf::Fixed(2),
            T::Int32 | T::UInt32 | T::Float32 | T::Date32 | T::Decimal32(_, _) | T::Time32(_) => {
                Leaf::Fixed(4)
            }
            T::Int64
            | T::UInt64
            | T::Float64
            | T::Date64
            | T::Decimal64(_, _)
            | T::Timestamp(_, _)
            | T::Time64(_)
            | T::Duration(_) => Leaf::Fixed(8),
            T::Decimal128(_, _) => Leaf::Fixed(16),
            T::Decimal256(_, _) => Leaf::Fixed(32),
            T::FixedSizeBinary(n) => Leaf::Fixed(usize::try_from(*n).ok()?),
            T::Utf8 => Leaf::Utf8,
            T::LargeUtf8 => Leaf::LargeUtf8,
            T::Binary => Leaf::Binary,
            T::LargeBinary => Leaf::LargeBinary,
            _ => return None,
        })
    }
}

impl FlatRows {
    fn new(schema: &Schema, config: HasherConfig) -> Option<FlatRows> {
        let mut columns = Vec::with_capacity(schema.fields().len());
        for (i, f) in schema.fields().iter().enumerate() {
            columns.push((i, f.is_nullable(), Leaf::of(f.data_type())?));
        }
        // starfix keys its per-field digests by field name in a BTreeMap (byte order).
        columns.sort_by(|a, b| schema.field(a.0).name().cmp(schema.field(b.0).name()));
        let names: Vec<&String> = columns.iter().map(|c| schema.field(c.0).name()).collect();
        if names.windows(2).any(|w| w[0] == w[1]) {
            return None;
        }
        // Metadata, when it counts, is part of the schema digest only.
        let schema_digest = ArrowDigester::hash_schema(schema, config);
        let mut prefix = Sha256::new();
        prefix.update(&schema_digest[VERSION_BYTES.len()..]);
        Some(FlatRows { prefix, columns })
    }

    /// The digest of every row of `batch` (whose schema is the hasher's).
    fn digests(&self, batch: &RecordBatch) -> Vec<RowDigest> {
        let n = batch.num_rows();
        let mut views: Vec<ColumnView<'_>> = self
            .columns
            .iter()
            .map(|&(i, nullable, leaf)| ColumnView::new(batch.column(i).as_ref(), nullable, leaf))
            .collect();
        let mut out = Vec::with_capacity(n);
        for row in 0..n {
            let mut fin = self.prefix.clone();
            for view in &mut views {
                view.digest_row(row, &mut fin);
            }
            let mut digest = [0u8; DIGEST_LEN];
            digest[..3].copy_from_slice(&VERSION_BYTES);
            digest[3..].copy_from_slice(&fin.finalize());
            out.push(digest);
        }
        out
    }
}

/// One flat column prepared for per-row digests.
struct ColumnView<'a> {
    array: &'a dyn Array,
    nullable: bool,
    leaf: Leaf,
    /// Fixed-width values: the value buffer and the array's offset.
    fixed: Option<(arrow::buffer::Buffer, usize)>,
    /// The previous row's value bytes and data digest: a column repeating a value (a
    /// constant column, say) digests it once.
    last: Option<(Vec<u8>, [u8; 32])>,
}

impl<'a> ColumnView<'a> {
    fn new(array: &'a dyn Array, nullable: bool, leaf: Leaf) -> Self {
        let fixed = match leaf {
            Leaf::Fixed(_) => {
                let data = array.to_data();
                Some((data.buffers()[0].clone(), data.offset()))
            }
            _ => None,
        };
        ColumnView {
            array,
            nullable,
            leaf,
            fixed,
            last: None,
        }
    }

    /// The bytes of row `row`'s value (a valid row).
    fn value(&self, row: usize) -> &[u8] {
        match self.leaf {
            Leaf::Fixed(w) => match &self.fixed {
                Some((buffer, offset)) => {
                    let start = (offset + row) * w;
                    &buffer.as_slice()[start..start + w]
                }
                None => &[],
            },
            Leaf::Bool => {
                if self.array.as_boolean().value(row) {
                    &[1]
                } else {
                    &[0]
                }
            }
            Leaf::Utf8 => self.array.as_string::<i32>().value(row).as_bytes(),
            Leaf::LargeUtf8 => self.array.as_string::<i64>().value(row).as_bytes(),
            Leaf::Binary => self.array.as_binary::<i32>().value(row),
            Leaf::LargeBinary => self.array.as_binary::<i64>().value(row),
        }
    }

    fn digest_row(&mut self, row: usize, fin: &mut Sha256) {
        let valid = self.array.is_valid(row);
        if self.nullable {
            fin.update(1u64.to_le_bytes());
            fin.update([u8::from(valid)]);
        }
        if !valid {
            fin.update(Sha256::new().finalize());
            return;
        }
        // Taken out while the row's value is borrowed; its buffer is reused (no
        // allocation per row).
        let mut last = self.last.take();
        let value = self.value(row);
        if let Some((bytes, digest)) = &last {
            if bytes.as_slice() == value {
                fin.update(digest);
                self.last = last;
                return;
            }
        }
        let mut data = Sha256::new();
        match self.leaf {
            Leaf::Fixed(_) | Leaf::Bool => data.update(value),
            Leaf::Utf8 | Leaf::LargeUtf8 | Leaf::Binary | Leaf::LargeBinary => {
                bytes_value(&mut data, value)
            }
        }
        let digest: [u8; 32] = data.finalize().into();
        fin.update(digest);
        match &mut last {
            Some((bytes, d)) => {
                bytes.clear();
                bytes.extend_from_slice(value);
                *d = digest;
            }
            None => last = Some((value.to_vec(), digest)),
        }
        self.last = last;
    }
}

fn bytes_value(data: &mut Sha256, value: impl AsRef<[u8]>) {
    let value = value.as_ref();
    data.update((value.len() as u64).to_le_bytes());
    data.update(value);
}

impl std::fmt::Debug for RowHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowHasher")
            .field("columns", &self.schema.fields().len())
            .field("flat", &self.flat.is_some())
            .finish()
    }
}

impl RowHasher {
    /// A hasher for rows of `schema`.
    pub fn new(schema: &Schema) -> Self {
        let (schema, config) = digest_schema(schema);
        RowHasher {
            base: ArrowDigester::new(&schema, config),
            flat: FlatRows::new(&schema, config),
            schema,
            config,
        }
    }

    /// The hash of each row of `batch` (which must have the hasher's schema) as a
    /// one-row table.
    pub fn hash_rows(&self, batch: &RecordBatch) -> Vec<ContentHash> {
        self.digests(batch)
            .into_iter()
            .map(|d| ContentHash::new(ARROW_METHOD, d.to_vec()))
            .collect()
    }

    /// [`RowHasher::hash_rows`] as `arrow_v0.1:hex` strings (the form record ids use).
    pub fn hash_row_strings(&self, batch: &RecordBatch) -> Vec<String> {
        self.digests(batch).iter().map(digest_string).collect()
    }

    /// [`RowHasher::hash_rows`] as bare hex strings, without the method prefix (what
    /// [`ContentHash::hex`] gives).
    pub fn hash_row_hex(&self, batch: &RecordBatch) -> Vec<String> {
        self.digests(batch)
            .iter()
            .map(|d| {
                let mut s = String::with_capacity(2 * DIGEST_LEN);
                push_hex(&mut s, d);
                s
            })
            .collect()
    }

    /// [`RowHasher::hash_rows`] as raw digests.
    pub fn hash_row_digests(&self, batch: &RecordBatch) -> Vec<RowDigest> {
        self.digests(batch)
    }

    fn digests(&self, batch: &RecordBatch) -> Vec<RowDigest> {
        let batch = &*conform(batch, &self.schema, self.config);
        if let Some(flat) = &self.flat {
            if batch.schema().fields() == self.schema.fields() {
                return flat.digests(batch);
            }
        }
        (0..batch.num_rows())
            .map(|i| {
                let mut digester = self.base.clone();
                digester.update(&batch.slice(i, 1));
                let bytes = digester.finalize();
                let mut digest = [0u8; DIGEST_LEN];
                // starfix digests are the 3 version bytes and a SHA-256.
                digest.copy_from_slice(&bytes[..DIGEST_LEN]);
                digest
            })
            .collect()
    }
}

/// The length of an `arrow_v0.1` digest: 3 version bytes and a SHA-256.
pub const DIGEST_LEN: usize = 35;

/// A row's `arrow_v0.1` digest.
pub type RowDigest = [u8; DIGEST_LEN];

/// The `arrow_v0.1:hex` string of a digest (what `ContentHash::to_string` gives).
pub fn digest_string(digest: &RowDigest) -> String {
    let mut s = String::with_capacity(ARROW_METHOD.len() + 1 + 2 * DIGEST_LEN);
    s.push_str(ARROW_METHOD);
    s.push(':');
    push_hex(&mut s, digest);
    s
}

/// The `arrow_v0.1:hex` strings of `digests`, as one Arrow array (one buffer, no
/// string per digest).
pub fn digest_array<'a>(digests: impl ExactSizeIterator<Item = &'a RowDigest>) -> LargeStringArray {
    const LEN: usize = ARROW_METHOD.len() + 1 + 2 * DIGEST_LEN;
    let mut text = [0u8; LEN];
    text[..ARROW_METHOD.len()].copy_from_slice(ARROW_METHOD.as_bytes());
    text[ARROW_METHOD.len()] = b':';
    let mut array = LargeStringBuilder::with_capacity(digests.len(), digests.len() * LEN);
    for digest in digests {
        write_hex(&mut text[ARROW_METHOD.len() + 1..], digest);
        // Only ASCII was written.
        array.append_value(std::str::from_utf8(&text).unwrap_or_default());
    }
    array.finish()
}

/// The digest of an `arrow_v0.1:hex` string, if it is one.
pub fn parse_digest_string(s: &str) -> Option<RowDigest> {
    let hex_part = s.strip_prefix(ARROW_METHOD)?.strip_prefix(':')?;
    let mut digest = [0u8; DIGEST_LEN];
    hex::decode_to_slice(hex_part, &mut digest).ok()?;
    Some(digest)
}

#[cfg(test)]
mod tests;
