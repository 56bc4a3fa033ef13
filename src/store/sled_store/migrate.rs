//! Migration of a layout-2 store (every batch and its ids inside sled, in the store
//! directory itself) to layout 4 (batch files beside a catalog in `catalog/`), run by
//! [`open_catalog`](super::open::open_catalog) when it finds one.
//!
//! Crash safety: the old database is only read until the new catalog is complete, and
//! the new catalog counts as complete only once its format marker is written, last,
//! after every batch file and entry is durable. A crash before that leaves the old store
//! whole and the new one unfinished: the next open deletes the unfinished one and
//! starts again. A crash after it leaves a complete new store and maybe some old files:
//! the catalog marks them as to delete, and the next open deletes them
//! ([`remove_legacy`]). Superseded rows are not carried
//! over: each old batch becomes one file holding its live rows (in their order), so
//! `get_all`'s order is kept, and the old space is freed.
//!
//! Cost: one read of the old store and one write of the new; memory, the ids of the
//! largest path (to find each id's live row) and one batch at a time.
//!
//! It never deletes anything but sled's own files of the old store and the unfinished
//! new catalog and batch files.

use std::collections::HashMap;
use std::path::Path;

use arrow::array::UInt32Array;
use arrow::compute::take_record_batch;

use super::files::Files;
use super::lock::{open_sled, sled_err};
use crate::error::{Error, Result};
use crate::store::{batch_file, codec, store_err};

/// Writes the layout-4 store of the layout-2 database `old` (in `dir`) into `catalog`
/// and `dir/batches`, and returns the new, complete catalog.
pub(crate) fn migrate(old: &sled::Db, dir: &Path, catalog: &Path) -> Result<sled::Db> {
    let files = Files::new(dir);
    for unfinished in [catalog, files.root()] {
        match std::fs::remove_dir_all(unfinished) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::Io {
                    path: unfinished.to_path_buf(),
                    source: e,
                })
            }
            _ => {}
        }
    }
    let db = open_sled(catalog, false)?;
    let old_err = sled_err(dir);
    let new_err = sled_err(catalog);
    for entry in old.scan_prefix(codec::path_key_prefix()) {
        let (key, value) = entry.map_err(&old_err)?;
        let shown = String::from_utf8_lossy(&key[2..]).to_string();
        let (path_no, schema) = codec::decode_path_value(&value)?;
        // Each id's live row: the latest batch holding it.
        let mut ids_of = Vec::new();
        let mut live: HashMap<String, (u64, usize)> = HashMap::new();
        for entry in old.scan_prefix(codec::ids_key_prefix(path_no)) {
            let (k, v) = entry.map_err(&old_err)?;
            let batch_no = codec::batch_no_of_key(&k)?;
            let ids = legacy_ids(&v)?;
            for (row, id) in ids.iter().enumerate() {
                live.insert(id.clone(), (batch_no, row));
            }
            ids_of.push((batch_no, ids));
        }
        for (batch_no, ids) in ids_of {
            let rows: Vec<u32> = (0..ids.len())
                .filter(|r| live.get(&ids[*r]) == Some(&(batch_no, *r)))
                .map(|r| r as u32)
                .collect();
            if rows.is_empty() {
                continue;
            }
            let bytes = old
                .get(codec::batch_key(path_no, batch_no))
                .map_err(&old_err)?
                .ok_or_else(|| {
                    store_err(
                        &shown,
                        format!("batch {batch_no} is missing (corrupt layout-2 store)"),
                    )
                })?;
            let batch = codec::decode_batch(&bytes)?;
            if batch.num_rows() != ids.len() {
                return Err(store_err(
                    &shown,
                    format!("batch {batch_no} and its ids differ in length (corrupt store)"),
                ));
            }
            let kept_ids: Vec<String> = rows.iter().map(|r| ids[*r as usize].clone()).collect();
            let kept = if rows.len() == batch.num_rows() {
                batch
            } else {
                take_record_batch(&batch, &UInt32Array::from(rows))?
            };
            let id_column = batch_file::IdColumn::from_ids(&kept_ids)?;
            let file = batch_file::encode(&kept, &id_column, None)?;
            files.write(path_no, batch_no, &file, true)?;
            let entry = codec::Entry::of(batch_no, kept_ids.len(), &file, 0);
            db.insert(codec::entry_key(path_no, batch_no), &entry.encode()[..])
                .map_err(&new_err)?;
        }
        db.insert(key, codec::path_value(path_no, &schema)?)
            .map_err(&new_err)?;
    }
    if let Some(next) = old.get(codec::next_path_key()).map_err(&old_err)? {
        db.insert(codec::next_path_key(), next).map_err(&new_err)?;
    }
    db.flush().map_err(&new_err)?;
    // The commit point: the catalog is complete.
    db.insert(codec::format_key(), codec::FORMAT_VALUE)
        .map_err(&new_err)?;
    db.flush().map_err(&new_err)?;
    Ok(db)
}

/// Deletes what remains of a migrated layout-2 store in `dir`: sled's files (`db`
/// first, so a half-deleted old store is never opened again), `conf`, `blobs/`, and
/// snapshots. Called only when the catalog marks them as migrated.
pub(crate) fn remove_legacy(dir: &Path) -> Result<()> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    let gone = |r: std::io::Result<()>| match r {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    };
    for name in ["db", "conf"] {
        let file = dir.join(name);
        gone(std::fs::remove_file(&file)).map_err(io(&file))?;
    }
    let blobs = dir.join("blobs");
    gone(std::fs::remove_dir_all(&blobs)).map_err(io(&blobs))?;
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        let is_snapshot = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("snap."));
        if is_snapshot && path.is_file() {
            gone(std::fs::remove_file(&path)).map_err(io(&path))?;
        }
    }
    Ok(())
}

/// The ids of a layout-2 batch: `u32` count, `u32` end offsets, then the UTF-8 bytes
/// (little-endian).
fn legacy_ids(v: &[u8]) -> Result<Vec<String>> {
    let corrupt = || store_err("(store data)", "a layout-2 id chunk is corrupt");
    let word = |i: usize| -> Result<usize> {
        let b = v.get(4 * i..4 * i + 4).ok_or_else(corrupt)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let n = word(0)?;
    let bytes = v.get(4 + 4 * n.min(v.len())..).ok_or_else(corrupt)?;
    let mut ids = Vec::with_capacity(n);
    let mut start = 0;
    for i in 0..n {
        let end = word(1 + i)?;
        let id = bytes.get(start..end).ok_or_else(corrupt)?;
        ids.push(String::from_utf8(id.to_vec()).map_err(|_| corrupt())?);
        start = end;
    }
    if start != bytes.len() {
        return Err(corrupt());
    }
    Ok(ids)
}
