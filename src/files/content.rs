//! The content image of a packet batch: every file or directory value replaced by a
//! token of its content hash, as the reference (orcapod 0.1.4, its
//! `SemanticHashingVisitor`) replaces `orcapod.File` and `orcapod.Directory` values
//! before it hashes a table. A packet's content hash is the Arrow hash of this image,
//! so it depends on what the files hold, never on where they are.
//!
//! A value's token is the bytes `orcapod:file::sha256:` followed by the 32 raw bytes of
//! the SHA-256 of the file's content, or `orcapod:directory::merkle_sha256:` followed
//! by the directory's raw Merkle digest (`super::digest`). A column of files or
//! directories becomes a `large_binary` column of tokens, keeping its name and
//! nullability (a null value stays null). A column without any value (all null, or no
//! rows) stays as the reference leaves it: null `large_string` values, the field
//! naming the reference's extension type in its metadata (`ARROW:extension:name` =
//! `orcapod.file` or `orcapod.directory`, empty `ARROW:extension:metadata`), which the
//! Arrow hasher then hashes with that metadata. A packet is a one-row table, so a
//! packet whose file is missing (null) is hashed that way.
//!
//! *(extension)* Lists of files or directories, which the reference refuses: each item
//! becomes its token, in a list of `large_binary`.
//!
//! Other columns are left as they are, so a batch without files is hashed exactly as
//! before. This module never hashes a row itself: [`PacketHasher`] hands the image to
//! the Arrow row hasher.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{
    new_null_array, Array, ArrayRef, AsArray, GenericListArray, LargeBinaryArray, OffsetSizeTrait,
};
use arrow::datatypes::{DataType, Field, FieldRef, Schema};
use arrow::record_batch::RecordBatch;

use super::cache::{FileHashes, StoreUse};
use super::kind::{holds_paths, path_strings, PathKind};
use crate::error::{Error, Result};
use crate::hashing::arrow::metadata::{EXTENSION_METADATA_KEY, EXTENSION_NAME_KEY};
use crate::hashing::arrow::{RowDigest, RowHasher};

impl PathKind {
    /// The name of the reference's Arrow extension type for values of this kind.
    pub fn extension_name(self) -> &'static str {
        match self {
            PathKind::File => "orcapod.file",
            PathKind::Dir => "orcapod.directory",
        }
    }

    /// What a value's token starts with: the extension name with `:` for `.`, `::`,
    /// then the hash method and `:` (the reference's `to_prefixed_digest`).
    fn token_prefix(self) -> &'static [u8] {
        match self {
            PathKind::File => b"orcapod:file::sha256:",
            PathKind::Dir => b"orcapod:directory::merkle_sha256:",
        }
    }

    /// The token of a value whose content hash is `hex`.
    fn token(self, hex: &str) -> Result<Vec<u8>> {
        let mut token = self.token_prefix().to_vec();
        token.extend(
            hex::decode(hex)
                .map_err(|e| Error::Hash(format!("the content hash {hex:?} is not hex: {e}")))?,
        );
        Ok(token)
    }
}

/// The type a column of `data_type` has in the content image.
fn content_type(data_type: &DataType) -> DataType {
    match data_type {
        t if PathKind::of(t).is_some() => DataType::LargeBinary,
        DataType::List(item) => DataType::List(content_field(item)),
        DataType::LargeList(item) => DataType::LargeList(content_field(item)),
        t => t.clone(),
    }
}

/// A field of the content image: a file or directory field holds tokens.
fn content_field(field: &FieldRef) -> FieldRef {
    if !holds_paths(field.data_type()) {
        return field.clone();
    }
    Arc::new(
        field
            .as_ref()
            .clone()
            .with_data_type(content_type(field.data_type())),
    )
}

/// The field of a file or directory column without any value, as the reference keeps
/// it: its extension's storage type, the extension named in its metadata.
fn valueless_field(field: &Field, kind: PathKind) -> Field {
    let mut metadata = field.metadata().clone();
    metadata.insert(EXTENSION_NAME_KEY.into(), kind.extension_name().into());
    metadata.insert(EXTENSION_METADATA_KEY.into(), String::new());
    Field::new(field.name(), DataType::LargeUtf8, field.is_nullable()).with_metadata(metadata)
}

/// The schema of the content image of batches of `schema` whose file and directory
/// columns each hold a value.
pub fn content_schema(schema: &Schema) -> Schema {
    Schema::new_with_metadata(
        schema
            .fields()
            .iter()
            .map(content_field)
            .collect::<Vec<_>>(),
        schema.metadata().clone(),
    )
}

/// The content image of `batch` hashed as one table, as the reference makes it (the
/// batch itself when it holds no file or directory).
pub fn content_batch(
    batch: &RecordBatch,
    hashes: &FileHashes,
    store: Option<StoreUse<'_>>,
) -> Result<RecordBatch> {
    let image = content_tokens(batch, hashes, store)?;
    valueless_as_reference(&batch.schema(), &image)
}

/// The content image of `batch` with every file or directory column as tokens, even a
/// column without any value: the image a table read batch by batch is hashed as
/// ([`content_schema`] is its schema). It differs from [`content_batch`] only for a
/// column with no value in the whole table, which the reference would hash with its
/// extension metadata; such tables come from CSV or Arrow files, which the reference
/// cannot read files from anyway.
pub fn content_tokens(
    batch: &RecordBatch,
    hashes: &FileHashes,
    store: Option<StoreUse<'_>>,
) -> Result<RecordBatch> {
    let schema = batch.schema();
    if !schema.fields().iter().any(|f| holds_paths(f.data_type())) {
        return Ok(batch.clone());
    }
    let columns = batch
        .columns()
        .iter()
        .map(|c| content_array(c, hashes, store))
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(
        Arc::new(content_schema(&schema)),
        columns,
    )?)
}

/// `image` (the tokens of a batch of `schema`) with each file or directory column that
/// holds no value turned into the reference's valueless column.
fn valueless_as_reference(schema: &Schema, image: &RecordBatch) -> Result<RecordBatch> {
    let valueless = |i: usize| {
        let column = image.column(i);
        PathKind::of(schema.field(i).data_type()).filter(|_| column.null_count() == column.len())
    };
    if !(0..image.num_columns()).any(|i| valueless(i).is_some()) {
        return Ok(image.clone());
    }
    let mut fields = Vec::with_capacity(image.num_columns());
    let mut columns = Vec::with_capacity(image.num_columns());
    for (i, column) in image.columns().iter().enumerate() {
        match valueless(i) {
            Some(kind) => {
                fields.push(valueless_field(schema.field(i), kind));
                columns.push(new_null_array(&DataType::LargeUtf8, image.num_rows()));
            }
            None => {
                fields.push(image.schema().field(i).clone());
                columns.push(column.clone());
            }
        }
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())),
        columns,
    )?)
}

fn content_array(
    array: &ArrayRef,
    hashes: &FileHashes,
    store: Option<StoreUse<'_>>,
) -> Result<ArrayRef> {
    if !holds_paths(array.data_type()) {
        return Ok(array.clone());
    }
    match array.data_type() {
        DataType::List(item) => content_list(array.as_list::<i32>(), item, hashes, store),
        DataType::LargeList(item) => content_list(array.as_list::<i64>(), item, hashes, store),
        t => {
            let kind = PathKind::of(t).expect("holds_paths: a path type");
            let paths = path_strings(array.as_ref())?;
            let valid: Vec<PathBuf> = paths.iter().flatten().map(PathBuf::from).collect();
            let found = match kind {
                PathKind::File => hashes.hash_files(&valid, store)?,
                PathKind::Dir => hashes.hash_dirs(&valid, store)?,
            };
            let mut tokens = found.iter().map(|h| kind.token(h));
            let image = paths
                .iter()
                .map(|p| p.and_then(|_| tokens.next()).transpose())
                .collect::<Result<LargeBinaryArray>>()?;
            Ok(Arc::new(image))
        }
    }
}

fn content_list<O: OffsetSizeTrait>(
    list: &GenericListArray<O>,
    item: &FieldRef,
    hashes: &FileHashes,
    store: Option<StoreUse<'_>>,
) -> Result<ArrayRef> {
    let values = content_array(list.values(), hashes, store)?;
    Ok(Arc::new(GenericListArray::<O>::try_new(
        content_field(item),
        list.offsets().clone(),
        values,
        list.nulls().cloned(),
    )?))
}

/// Hashes packets by content: the Arrow row hash of each row's content image.
#[derive(Debug, Clone)]
pub struct PacketHasher {
    rows: RowHasher,
    /// The top-level file and directory columns.
    path_columns: Vec<usize>,
    paths: bool,
}

impl PacketHasher {
    /// A hasher of packet batches of `schema`.
    pub fn new(schema: &Schema) -> Self {
        let paths = schema.fields().iter().any(|f| holds_paths(f.data_type()));
        let rows = match paths {
            true => RowHasher::new(&content_schema(schema)),
            false => RowHasher::new(schema),
        };
        let path_columns = (0..schema.fields().len())
            .filter(|&i| PathKind::of(schema.field(i).data_type()).is_some())
            .collect();
        PacketHasher {
            rows,
            path_columns,
            paths,
        }
    }

    /// Whether the packets hold files or directories (whose hashing reads the file
    /// system).
    pub fn reads_files(&self) -> bool {
        self.paths
    }

    /// [`hash_row_digests`](Self::hash_row_digests) of the packets of a push, if
    /// there are any (none for an empty batch, or when taking them failed); when
    /// hashing fails, the packets become that error (the push fails with it).
    pub fn hash_packets(
        &self,
        packets: &mut Result<Option<RecordBatch>>,
        store: Option<StoreUse<'_>>,
    ) -> Vec<RowDigest> {
        let Ok(Some(batch)) = packets else {
            return Vec::new();
        };
        self.hash_row_digests(batch, store).unwrap_or_else(|e| {
            *packets = Err(e);
            Vec::new()
        })
    }

    /// The content hash digest of each packet of `batch`, files hashed through the
    /// process's cache ([`super::file_hashes`]) and `store`.
    pub fn hash_row_digests(
        &self,
        batch: &RecordBatch,
        store: Option<StoreUse<'_>>,
    ) -> Result<Vec<RowDigest>> {
        if !self.paths {
            return Ok(self.rows.hash_row_digests(batch));
        }
        let image = content_tokens(batch, super::cache::file_hashes(), store)?;
        let mut digests = self.rows.hash_row_digests(&image);
        let null_columns: Vec<usize> = (self.path_columns.iter().copied())
            .filter(|&c| image.column(c).null_count() > 0)
            .collect();
        // A packet whose file or directory is null is a one-row table where that column
        // has no value: hashed as the reference hashes such a table.
        let mut hashers: HashMap<Vec<usize>, RowHasher> = HashMap::new();
        for (row, digest) in digests.iter_mut().enumerate() {
            let nulls: Vec<usize> = (null_columns.iter().copied())
                .filter(|&c| image.column(c).is_null(row))
                .collect();
            if nulls.is_empty() {
                continue;
            }
            let packet = valueless_as_reference(&batch.schema(), &image.slice(row, 1))?;
            let hasher = hashers
                .entry(nulls)
                .or_insert_with(|| RowHasher::new(&packet.schema()));
            *digest = hasher.hash_row_digests(&packet)[0];
        }
        Ok(digests)
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use arrow::array::Int64Array;
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::files::kind::path_array;

    #[test]
    fn packets_hash_by_content_not_by_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name).display().to_string();
        fs::write(path("a"), b"same").unwrap();
        fs::write(path("b"), b"same").unwrap();
        fs::write(path("c"), b"other").unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("f", PathKind::File.data_type(), true),
            Field::new("n", DataType::Int64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                path_array(
                    PathKind::File,
                    &[Some(path("a")), Some(path("b")), Some(path("c")), None],
                ),
                Arc::new(Int64Array::from(vec![1, 1, 1, 1])),
            ],
        )
        .unwrap();
        let hasher = PacketHasher::new(&schema);
        let digests = hasher.hash_row_digests(&batch, None).unwrap();
        assert_eq!(digests[0], digests[1]);
        assert_ne!(digests[0], digests[2]);
        assert_ne!(digests[2], digests[3]);
        // The image is the reference's: tokens in a binary column of the same
        // nullability; a column without any value keeps the extension's name.
        let image = content_batch(&batch, &FileHashes::default(), None).unwrap();
        assert_eq!(
            image.schema().field(0),
            &Field::new("f", DataType::LargeBinary, true)
        );
        let mut token = b"orcapod:file::sha256:".to_vec();
        token.extend(Sha256::digest(b"same"));
        assert_eq!(image.column(0).as_binary::<i64>().value(0), token);
        let nothing = content_batch(&batch.slice(3, 1), &FileHashes::default(), None).unwrap();
        assert_eq!(nothing.schema().field(0).data_type(), &DataType::LargeUtf8);
        assert_eq!(
            nothing.schema().field(0).metadata()[EXTENSION_NAME_KEY],
            "orcapod.file"
        );
        // Without files, the packet hasher is the row hasher.
        let plain = Schema::new(vec![Field::new("n", DataType::Int64, false)]);
        let ints = RecordBatch::try_new(
            Arc::new(plain.clone()),
            vec![Arc::new(Int64Array::from(vec![7]))],
        )
        .unwrap();
        assert_eq!(
            PacketHasher::new(&plain)
                .hash_row_digests(&ints, None)
                .unwrap(),
            RowHasher::new(&plain).hash_row_digests(&ints)
        );
    }
}
