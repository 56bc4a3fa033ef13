//! Opening a store directory: which layout the directory
//! holds (layout 3, a layout-2 store to migrate, a refused layout 1 or foreign database,
//! nothing yet), and the recovery of the batch files after a crash (files no catalog
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
            "unsupported store layout {:?} (this build reads {:?} and migrates {:?})",
            String::from_utf8_lossy(found),
            String::from_utf8_lossy(codec::FORMAT_VALUE),
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

/// Opens the catalog of the store in `dir` (layout 3), creating it in an empty
/// directory and migrating a layout-2 store (sled in `dir` itself) first.
pub(crate) fn open_catalog(dir: &Path, was_open: bool) -> Result<sled::Db> {
    let catalog = catalog_dir(dir);
    let mut migrated = None;
    if dir.join("db").exists() {
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
    // The catalog is complete: what remains of a layout-2 store has been migrated.
    migrate::remove_legacy(dir)?;
    Ok(db)
}

/// Whether `db` is a finished layout-3 catalog (its format marker is written last, by a
/// migration too).
fn is_complete(db: &sled::Db, catalog: &Path) -> Result<bool> {
    let found = db.get(codec::format_key()).map_err(sled_err(catalog))?;
    Ok(found.is_some_and(|v| v.as_ref() == codec::FORMAT_VALUE))
}

/// After a crash: deletes the batch files no catalog entry names (written by a call whose
/// catalog entry did not survive, or superseded and removed from the catalog, and
/// temporary files), and checks that every file an entry names is there, whole.
pub(crate) fn recover(db: &sled::Db, files: &Files) -> Result<()> {
    let mut named = std::collections::HashMap::new();
    for entry in db.scan_prefix(codec::all_entries_prefix()) {
        let (k, v) = entry.map_err(sled_err(files.root()))?;
        named.insert(codec::numbers_of_key(&k)?, codec::Entry::decode(&v)?);
    }
    let mut seen = 0;
    for found in files.list()? {
        match found {
            Found::Batch(p, b, file) => match named.get(&(p, b)) {
                None => files.remove(&file)?,
                Some(entry) => {
                    let len = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
                    if len != entry.bytes {
                        return Err(store_err(
                            file.display().to_string(),
                            format!(
                                "the batch file holds {len} bytes, its catalog entry says {} \
                                 (corrupt store)",
                                entry.bytes
                            ),
                        ));
                    }
                    seen += 1;
                }
            },
            Found::Other(file) => {
                if file.extension().is_some_and(|e| e == "tmp") {
                    files.remove(&file)?;
                }
            }
        }
    }
    if seen != named.len() {
        return Err(store_err(
            files.root().display().to_string(),
            format!(
                "{} batch files named by the catalog are missing (corrupt store)",
                named.len() - seen
            ),
        ));
    }
    Ok(())
}
