//! Opening a store directory: which layout the directory holds (layout 4, a layout-3
//! store whose marker moves to 4, a layout-2 store to migrate, a refused layout 1 or
//! foreign database, nothing yet), and the recovery of the batch files after a crash (files no catalog
//! entry names are deleted; a file an entry names must be whole).
//!
//! It deletes only batch files no catalog entry names, and (once the catalog is
//! complete) what remains of a migrated layout-2 store.

use std::path::Path;

use super::files::{Files, Found};
use super::lock::{open_sled, sled_err};
use super::migrate;
use crate::error::{Error, Result};
use crate::store::codec;
use crate::store::store_err;

fn unsupported(dir: &Path, found: &[u8]) -> Error {
    store_err(
        dir.display().to_string(),
        format!(
            "unsupported store layout {:?} (this build reads {:?} and migrates {:?} and {:?})",
            String::from_utf8_lossy(found),
            String::from_utf8_lossy(codec::FORMAT_VALUE),
            String::from_utf8_lossy(codec::LAYOUT_3),
            String::from_utf8_lossy(codec::LAYOUT_2)
        ),
    )
}

fn not_a_store(dir: &Path) -> Error {
    store_err(
        dir.display().to_string(),
        "the directory holds a sled database that is not an orcapod store",
    )
}

/// The catalog's directory in a store directory.
pub(crate) fn catalog_dir(dir: &Path) -> std::path::PathBuf {
    dir.join("catalog")
}

/// Opens the catalog of the store in `dir` (layout 4), creating it in an empty
/// directory and migrating a layout-2 store (sled in `dir` itself) first.
pub(crate) fn open_catalog(dir: &Path, was_open: bool) -> Result<sled::Db> {
    let catalog = catalog_dir(dir);
    let mut migrated = None;
    let legacy = dir.join("db").exists();
    if legacy {
        let old = open_sled(dir, was_open)?;
        match old.get(codec::format_key()).map_err(sled_err(dir))? {
            Some(v) if v.as_ref() == codec::LAYOUT_2 => {
                let existing = if catalog.join("db").exists() {
                    Some(open_sled(&catalog, was_open)?)
                } else {
                    None
                };
                migrated = match existing {
                    Some(db) if is_complete(&db, &catalog)? => Some(db),
                    other => {
                        drop(other);
                        Some(migrate::migrate(&old, dir, &catalog)?)
                    }
                };
            }
            Some(v) => return Err(unsupported(dir, &v)),
            None if old.first().map_err(sled_err(dir))?.is_some() => return Err(not_a_store(dir)),
            // An empty database (a creation interrupted before its format marker).
            None => {}
        }
    }
    let db = match migrated {
        Some(db) => db,
        None => open_sled(&catalog, was_open)?,
    };
    match db.get(codec::format_key()).map_err(sled_err(&catalog))? {
        Some(v) if v.as_ref() == codec::FORMAT_VALUE => {}
        // Layout 3's files are layout-4 files: only the marker moves.
        Some(v) if v.as_ref() == codec::LAYOUT_3 => {
            db.insert(codec::format_key(), codec::FORMAT_VALUE)
                .map_err(sled_err(&catalog))?;
            db.flush().map_err(sled_err(&catalog))?;
        }
        Some(v) => return Err(unsupported(dir, &v)),
        None => {
            if db.first().map_err(sled_err(&catalog))?.is_some() {
                return Err(not_a_store(&catalog));
            }
            db.insert(codec::format_key(), codec::FORMAT_VALUE)
                .map_err(sled_err(&catalog))?;
            db.flush().map_err(sled_err(&catalog))?;
        }
    }
    // The catalog is complete: what remains of a layout-2 store (or of an empty sled
    // database in its place) has been migrated, and is deleted. The mark, set before,
    // lets a later open finish a deletion a crash cut short.
    if legacy {
        db.insert(codec::legacy_key(), &b"delete"[..])
            .map_err(sled_err(&catalog))?;
        db.flush().map_err(sled_err(&catalog))?;
    }
    if db
        .contains_key(codec::legacy_key())
        .map_err(sled_err(&catalog))?
    {
        migrate::remove_legacy(dir)?;
        db.remove(codec::legacy_key()).map_err(sled_err(&catalog))?;
        db.flush().map_err(sled_err(&catalog))?;
    }
    Ok(db)
}

/// Whether `db` is a finished catalog (layout 3 or 4) (its format marker is written last, by a
/// migration too).
fn is_complete(db: &sled::Db, catalog: &Path) -> Result<bool> {
    let found = db.get(codec::format_key()).map_err(sled_err(catalog))?;
    Ok(found.is_some_and(|v| v.as_ref() == codec::FORMAT_VALUE || v.as_ref() == codec::LAYOUT_3))
}

/// What [`recover`] found.
pub(crate) struct Recovered {
    /// The last generation whose files were all made durable.
    pub synced: u64,
    /// Files (path and file numbers) of later generations, whole, that may not be
    /// durable yet.
    pub unsynced: Vec<(u64, u64)>,
}

/// After a crash: deletes the batch files no catalog entry names (written by a call whose
/// catalog entry did not survive, or superseded and removed from the catalog, and
/// temporary files), and checks the files the entries name. A file of a generation
/// later than the last synced one may be torn or missing after a power cut (its entry
/// reached the disk before it): it must be whole (length and checksum), else its entry
/// is dropped — that call was never flushed, so it is wholly absent. A file of a synced
/// generation that is missing or of the wrong length is an error: the store is damaged.
pub(crate) fn recover(db: &sled::Db, files: &Files) -> Result<Recovered> {
    let err = sled_err(files.root());
    let synced = match db.get(codec::synced_key()).map_err(&err)? {
        Some(v) => codec::decode_counter(&v)?,
        None => 0,
    };
    let mut named = std::collections::BTreeMap::new();
    let mut named_files = std::collections::HashSet::new();
    for entry in db.scan_prefix(codec::all_entries_prefix()) {
        let (k, v) = entry.map_err(&err)?;
        let (p, b) = codec::numbers_of_key(&k)?;
        let entry = codec::Entry::decode(&v)?;
        named_files.insert((p, entry.file));
        named.insert((p, b), entry);
    }
    for found in files.list()? {
        match found {
            Found::Batch(p, f, file) if !named_files.contains(&(p, f)) => files.remove(&file)?,
            Found::Batch(..) => {}
            Found::Other(file) => {
                if file.extension().is_some_and(|e| e == "tmp") {
                    files.remove(&file)?;
                }
            }
        }
    }
    let mut unsynced = Vec::new();
    let mut dropped = sled::Batch::default();
    let mut any_dropped = false;
    for (&(p, b), entry) in &named {
        let file = files.file(p, entry.file);
        let len = std::fs::metadata(&file).map(|m| m.len()).ok();
        if entry.generation <= synced {
            if len != Some(entry.bytes) {
                return Err(store_err(
                    file.display().to_string(),
                    format!(
                        "the batch file is missing or holds {} bytes, its catalog entry \
                         says {} (corrupt store)",
                        len.unwrap_or(0),
                        entry.bytes
                    ),
                ));
            }
            continue;
        }
        let whole = len == Some(entry.bytes)
            && std::fs::read(&file).is_ok_and(|bytes| codec::checksum(&bytes) == entry.checksum);
        if whole {
            unsynced.push((p, entry.file));
        } else {
            dropped.remove(&codec::entry_key(p, b)[..]);
            any_dropped = true;
            files.remove(&file)?;
        }
    }
    if any_dropped {
        db.apply_batch(dropped).map_err(&err)?;
        db.flush().map_err(&err)?;
    }
    Ok(Recovered { synced, unsynced })
}
