//! Unit tests of the sled store that need sled itself: foreign databases and layouts.

use super::*;

#[test]
fn refuses_a_sled_database_that_is_not_a_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = sled::open(dir.path()).expect("open sled");
        db.insert(b"someone else's key", b"value").expect("insert");
        db.flush().expect("flush");
    }
    let err = SledStore::open(dir.path()).expect_err("foreign database");
    assert!(err.to_string().contains("not an orcapod store"), "{err}");
}

#[test]
fn refuses_an_unknown_layout_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = sled::open(dir.path()).expect("open sled");
        db.insert(codec::format_key(), b"orcapod-store/1")
            .expect("insert");
        db.flush().expect("flush");
    }
    let err = SledStore::open(dir.path()).expect_err("unknown layout");
    assert!(
        err.to_string().contains("unsupported store layout"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------
// Migration of layout 2, killed at many moments.

use std::io::{BufRead, Write};
use std::sync::atomic::Ordering;
use std::time::Instant;

use arrow::array::Int64Array;
use arrow::datatypes::{DataType, Field, Schema};

use crate::store::MemoryStore;

const BATCHES: usize = 150;
const ROWS: usize = 40;
const CHILD_ENV: &str = "ORCAPOD_MIGRATION_CHILD_DIR";

/// The batches of the layout-2 store: each replaces half of the previous one's ids.
fn legacy_batches() -> Vec<(Vec<String>, RecordBatch)> {
    let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
    (0..BATCHES)
        .map(|b| {
            let ids = (0..ROWS)
                .map(|i| format!("arrow_v0.1:{:070x}", b * ROWS / 2 + i))
                .collect();
            let xs: Vec<i64> = (0..ROWS).map(|i| (b * 1000 + i) as i64).collect();
            let batch =
                RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(xs))]).unwrap();
            (ids, batch)
        })
        .collect()
}

/// Writes a layout-2 store (as the code of layout 2 did: every batch and its ids in
/// sled) of [`legacy_batches`] under path `t` in `dir`.
fn write_layout_2(dir: &Path) {
    let db = sled::open(dir).unwrap();
    db.insert(codec::format_key(), codec::LAYOUT_2).unwrap();
    db.insert(codec::next_path_key(), &1u64.to_be_bytes()[..])
        .unwrap();
    let batches = legacy_batches();
    db.insert(
        codec::path_key("t"),
        codec::path_value(0, &batches[0].1.schema()).unwrap(),
    )
    .unwrap();
    for (b, (ids, batch)) in batches.iter().enumerate() {
        let mut stream = Vec::new();
        let mut writer =
            arrow::ipc::writer::StreamWriter::try_new(&mut stream, &batch.schema()).unwrap();
        writer.write(batch).unwrap();
        writer.finish().unwrap();
        drop(writer);
        db.insert(codec::batch_key(0, b as u64), stream).unwrap();
        let mut chunk = (ids.len() as u32).to_le_bytes().to_vec();
        let mut end = 0u32;
        for id in ids {
            end += id.len() as u32;
            chunk.extend_from_slice(&end.to_le_bytes());
        }
        for id in ids {
            chunk.extend_from_slice(id.as_bytes());
        }
        db.insert(codec::ids_key(0, b as u64), chunk).unwrap();
    }
    db.flush().unwrap();
}

/// The child's side: opens (so migrates) the store, unless not started by the test.
#[test]
fn migration_child_entry() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut out = std::io::stdout();
    writeln!(out, "opening").unwrap();
    out.flush().unwrap();
    drop(SledStore::open(&dir).unwrap());
    writeln!(out, "opened").unwrap();
    out.flush().unwrap();
}

fn check_migrated(dir: &Path, expected: &MemoryStore) {
    let store = SledStore::open(dir).unwrap();
    let t = RecordPath::parse("t").unwrap();
    let want = expected.get_all(&t).unwrap().unwrap();
    let got = store.get_all(&t).unwrap().unwrap();
    assert_eq!(got.ids, want.ids);
    assert_eq!(got.batch, want.batch);
    assert!(!dir.join("db").exists() && !dir.join("conf").exists());
}

#[test]
fn a_migration_killed_at_any_moment_is_finished_by_the_next_open() {
    let expected = MemoryStore::new();
    let t = RecordPath::parse("t").unwrap();
    for (ids, batch) in legacy_batches() {
        expected.add_records(&t, &ids, &batch, false).unwrap();
    }
    let template = tempfile::tempdir().unwrap();
    write_layout_2(template.path());
    let copy = |to: &Path| {
        for entry in std::fs::read_dir(template.path()).unwrap() {
            let entry = entry.unwrap();
            if entry.path().is_file() {
                std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
            }
        }
    };
    // How long a whole migration takes here, in this process.
    let timed = tempfile::tempdir().unwrap();
    copy(timed.path());
    let start = Instant::now();
    check_migrated(timed.path(), &expected);
    let whole = start.elapsed();
    let mut killed_midway = 0;
    for attempt in 0..8u32 {
        let dir = tempfile::tempdir().unwrap();
        copy(dir.path());
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "store::sled_store::tests::migration_child_entry",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        assert!(lines.any(|l| l.unwrap().ends_with("opening")));
        std::thread::sleep(whole * attempt / 8);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        if dir.path().join("db").exists() {
            killed_midway += 1;
        }
        check_migrated(dir.path(), &expected);
    }
    assert!(killed_midway > 0, "no kill landed during a migration");
}

// ---------------------------------------------------------------------------------------
// Layout 4: derived ids, and layout 3 read as it is.

/// Rows of `k` and `v`, written with ids that are the row hash of `k` alone.
fn derived_write(from: i64, n: i64) -> (Vec<String>, crate::store::StoreWrite) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("v", DataType::Int64, false),
    ]));
    let ks: Vec<i64> = (from..from + n).collect();
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(ks.clone())),
            Arc::new(Int64Array::from(
                ks.iter().map(|k| k * 10).collect::<Vec<_>>(),
            )),
        ],
    )
    .unwrap();
    let columns: Arc<[String]> = vec!["k".to_string()].into();
    let ids = crate::store::batch_file::derive_ids(&batch, &columns).unwrap();
    let write = crate::store::StoreWrite {
        path: RecordPath::parse("t").unwrap(),
        ids: crate::store::RecordIds::RowHashes {
            ids: ids.clone(),
            columns,
        },
        batch,
    };
    (ids, write)
}

/// The bytes of every batch file of the store in `dir`.
fn batch_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for sub in std::fs::read_dir(dir.join("batches")).unwrap() {
        for file in std::fs::read_dir(sub.unwrap().path()).unwrap() {
            total += file.unwrap().metadata().unwrap().len();
        }
    }
    total
}

#[test]
fn derived_ids_are_found_after_the_store_is_opened_again() {
    let dir = tempfile::tempdir().unwrap();
    let known_dir = tempfile::tempdir().unwrap();
    let path = RecordPath::parse("t").unwrap();
    let mut all = Vec::new();
    {
        let store = SledStore::open(dir.path()).unwrap();
        let known = SledStore::open(known_dir.path()).unwrap();
        for from in [0, 500] {
            let (ids, write) = derived_write(from, 500);
            let plain = crate::store::StoreWrite {
                ids: crate::store::RecordIds::Known(ids.clone()),
                ..write.clone()
            };
            crate::store::apply_writes(&store, vec![write]).unwrap();
            crate::store::apply_writes(&known, vec![plain]).unwrap();
            all.extend(ids);
        }
        store.flush().unwrap();
        known.flush().unwrap();
    }
    // The ids are not stored: about 35 bytes per row less.
    let (derived, stored) = (batch_bytes(dir.path()), batch_bytes(known_dir.path()));
    assert!(derived + 30 * 1000 < stored, "{derived} {stored}");

    let store = SledStore::open(dir.path()).unwrap();
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(store.ids(&path).unwrap(), sorted);
    assert!(store.contains_many(&path, &all).unwrap().iter().all(|&c| c));
    let back = store.get_all(&path).unwrap().unwrap();
    assert_eq!(back.ids, all);
    let found = store.get_records(&path, &all[990..]).unwrap();
    assert_eq!(found.found.unwrap().ids, &all[990..]);
    // Written again, nothing is new; an overlapping write adds only its new rows.
    let (_, again) = derived_write(0, 500);
    crate::store::apply_writes(&store, vec![again]).unwrap();
    let (_, overlap) = derived_write(900, 200);
    crate::store::apply_writes(&store, vec![overlap]).unwrap();
    assert_eq!(store.count(&path).unwrap(), 1100);
}

#[test]
fn a_layout_3_store_is_read_as_it_is_and_marked_layout_4() {
    let dir = tempfile::tempdir().unwrap();
    let path = RecordPath::parse("t").unwrap();
    let batches = legacy_batches();
    {
        let store = SledStore::open(dir.path()).unwrap();
        for (ids, batch) in &batches[..3] {
            store.add_records(&path, ids, batch, false).unwrap();
        }
        store.flush().unwrap();
    }
    // What a build of layout 3 left: the same files, and its marker. (Opened as the
    // store opens its catalog: waiting for the store just dropped to let go of it.)
    let catalog = dir.path().join("catalog");
    {
        let db = super::lock::open_sled(&catalog, true).unwrap();
        db.insert(codec::format_key(), codec::LAYOUT_3).unwrap();
        db.flush().unwrap();
    }
    let store = SledStore::open(dir.path()).unwrap();
    let expected = MemoryStore::new();
    for (ids, batch) in &batches[..3] {
        expected.add_records(&path, ids, batch, false).unwrap();
    }
    assert_eq!(store.ids(&path).unwrap(), expected.ids(&path).unwrap());
    let back = store.get_all(&path).unwrap().unwrap();
    let want = expected.get_all(&path).unwrap().unwrap();
    assert_eq!((back.ids, back.batch), (want.ids, want.batch));
    drop(store);
    let db = super::lock::open_sled(&catalog, true).unwrap();
    let marker = db.get(codec::format_key()).unwrap().unwrap();
    assert_eq!(marker.as_ref(), codec::FORMAT_VALUE);
}

// ---------------------------------------------------------------------------------------
// Saved id indexes.

/// Rows `x = k + plus` with ids `r{k}`, for each `k` of `keys`.
fn keyed(keys: std::ops::Range<i64>, plus: i64) -> (Vec<String>, RecordBatch) {
    let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
    let ids = keys.clone().map(|k| format!("r{k}")).collect();
    let xs: Vec<i64> = keys.map(|k| k + plus).collect();
    let batch = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(xs))]).unwrap();
    (ids, batch)
}

/// The value stored for each of `ids` at `path` (ids not found are left out).
fn stored_values(store: &SledStore, path: &RecordPath, ids: &[String]) -> Vec<(String, i64)> {
    let Some(found) = store.get_records(path, ids).unwrap().found else {
        return Vec::new();
    };
    let xs = found
        .batch
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    found
        .ids
        .into_iter()
        .zip(xs.values().iter().copied())
        .collect()
}

#[test]
fn a_saved_index_is_read_back_only_while_the_catalog_is_as_it_was_saved() {
    let dir = tempfile::tempdir().unwrap();
    let (path, written_only) = (
        RecordPath::parse("t").unwrap(),
        RecordPath::parse("w").unwrap(),
    );
    let all: Vec<String> = (0..900).map(|k| format!("r{k}")).collect();
    let mut want: Vec<(String, i64)> = (0..900).map(|k| (format!("r{k}"), k)).collect();
    for (k, x) in want.iter_mut().take(100) {
        *x = k[1..].parse::<i64>().unwrap() + 1000;
    }
    let saved = |n: u64| super::saved_indexes::file(dir.path(), n);
    {
        let store = SledStore::open(dir.path()).unwrap();
        for from in [0, 300, 600] {
            let (ids, batch) = keyed(from..from + 300, 0);
            store.add_records(&path, &ids, &batch, false).unwrap();
        }
        let (ids, batch) = keyed(0..100, 1000);
        store.add_records(&path, &ids, &batch, false).unwrap();
        let (ids, batch) = keyed(0..500, 0);
        store
            .add_records(&written_only, &ids, &batch, true)
            .unwrap();
        assert_eq!(stored_values(&store, &path, &all), want);
        // Only the path read by id is saved.
        assert_eq!(store.inner.save_indexes(0).unwrap(), 1);
        assert!(saved(0).exists() && !saved(1).exists());
        // Unchanged since, it is not saved again.
        assert_eq!(store.inner.save_indexes(0).unwrap(), 0);
    }
    {
        let store = SledStore::open(dir.path()).unwrap();
        assert_eq!(stored_values(&store, &path, &all), want);
        assert_eq!(store.inner.saved_indexes_read.load(Ordering::Relaxed), 1);
        // A write the saved index does not know of, and no save after it.
        let (ids, batch) = keyed(5..6, 5550);
        store.add_records(&path, &ids, &batch, false).unwrap();
        store.flush().unwrap();
    }
    want[5].1 = 5555;
    {
        let store = SledStore::open(dir.path()).unwrap();
        assert_eq!(stored_values(&store, &path, &all), want);
        assert_eq!(store.inner.saved_indexes_read.load(Ordering::Relaxed), 0);
        assert_eq!(store.inner.save_indexes(0).unwrap(), 1);
    }
    {
        let store = SledStore::open(dir.path()).unwrap();
        assert_eq!(stored_values(&store, &path, &all), want);
        assert_eq!(store.inner.saved_indexes_read.load(Ordering::Relaxed), 1);
    }
    // A saved file cut short (as by a crash while it was written) is built again.
    let bytes = std::fs::read(saved(0)).unwrap();
    std::fs::write(saved(0), &bytes[..bytes.len() / 2]).unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(stored_values(&store, &path, &all), want);
    assert_eq!(store.inner.saved_indexes_read.load(Ordering::Relaxed), 0);
}
