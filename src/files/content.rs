//! The content image of a packet batch: every file or directory value replaced by its
//! content hash (hex), as the reference replaces its `pathlib.Path` structs before it
//! hashes a table. A packet's content hash is the Arrow hash of this image, so it
//! depends on what the files hold, never on where they are.
//!
//! A column of files or directories (or a list of them, at any depth) becomes a
//! nullable `large_string` column (list items likewise) of the hashes; other columns
//! are left as they are, so a batch without such columns is hashed exactly as before.
//! This module never hashes a row itself: [`PacketHasher`] hands the image to the
//! Arrow row hasher.

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, GenericListArray, LargeStringArray, OffsetSizeTrait};
use arrow::datatypes::{DataType, Field, FieldRef, Schema};
use arrow::record_batch::RecordBatch;

use super::cache::{FileHashes, StoreUse};
use super::kind::{holds_paths, path_strings, PathKind};
use crate::error::Result;
use crate::hashing::arrow::{RowDigest, RowHasher};

/// The type a column of `data_type` has in the content image.
fn content_type(data_type: &DataType) -> DataType {
    match data_type {
        t if PathKind::of(t).is_some() => DataType::LargeUtf8,
        DataType::List(item) => DataType::List(content_field(item)),
        DataType::LargeList(item) => DataType::LargeList(content_field(item)),
        t => t.clone(),
    }
}

/// A field of the content image: a file or directory field becomes a nullable string
/// (the reference's replacement field is nullable).
fn content_field(field: &FieldRef) -> FieldRef {
    if !holds_paths(field.data_type()) {
        return field.clone();
    }
    let nullable = field.is_nullable() || PathKind::of(field.data_type()).is_some();
    Arc::new(
        Field::new(field.name(), content_type(field.data_type()), nullable)
            .with_metadata(field.metadata().clone()),
    )
}

/// The schema of the content image of batches of `schema`.
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

/// The content image of `batch` (the batch itself when it holds no file or directory).
pub fn content_batch(
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
            let mut found = match kind {
                PathKind::File => hashes.hash_files(&valid, store)?,
                PathKind::Dir => hashes.hash_dirs(&valid, store)?,
            }
            .into_iter();
            let image: LargeStringArray =
                paths.iter().map(|p| p.and_then(|_| found.next())).collect();
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
        PacketHasher { rows, paths }
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
        let image = content_batch(batch, super::cache::file_hashes(), store)?;
        Ok(self.rows.hash_row_digests(&image))
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use arrow::array::Int64Array;

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
        // The image is the reference's: the hex SHA-256 in a nullable string column.
        let image = content_batch(&batch, &FileHashes::default(), None).unwrap();
        assert_eq!(
            image.schema().field(0),
            &Field::new("f", DataType::LargeUtf8, true)
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
