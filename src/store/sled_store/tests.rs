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
