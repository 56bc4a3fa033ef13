//! Throughput and size of the sled store: 1M rows keyed by 81-character hash ids
//! (`arrow_v0.1:` and 70 hex digits, as function results are), added in calls of 10k
//! rows; bytes on disk per row; lookups of every id from a fresh handle (the id index
//! loaded from disk), the process's resident memory around them; re-adding everything
//! with `skip_duplicates` (the store must not grow); small one-row operations.
//! Run with `cargo run --release --example store_throughput`.

use std::path::Path;
use std::time::Instant;

use orcapod::store::{ArrowStore, RecordPath, SledStore};
use orcapod_testing::batches::batch;

const N: usize = 1_000_000;
const CALL: usize = 10_000;

fn p(s: &str) -> RecordPath {
    RecordPath::parse(s).expect("valid path")
}

/// An id like a packet hash: `arrow_v0.1:` and 70 lowercase hex digits.
fn hash_id(i: usize) -> String {
    let a = (i as u128).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835);
    format!("arrow_v0.1:{:032x}{:038x}", a, a.rotate_left(17) >> 26)
}

/// Bytes of every file under `dir` (their lengths), recursively.
fn disk_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).expect("readable dir").flatten() {
        let meta = entry.metadata().expect("metadata");
        total += if meta.is_dir() {
            disk_bytes(&entry.path())
        } else {
            meta.len()
        };
    }
    total
}

/// The process's resident set, in bytes (Linux).
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn time<T>(label: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    println!("{label}: {:?}", start.elapsed());
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let t = p("results");
    let all_ids: Vec<String> = (0..N).map(hash_id).collect();
    assert_eq!(all_ids[0].len(), 81);
    let xs: Vec<i64> = (0..N as i64).collect();
    {
        let store = SledStore::open(dir.path())?;
        time("add 1M new rows (100 calls of 10k)", || {
            for (ids, xs) in all_ids.chunks(CALL).zip(xs.chunks(CALL)) {
                store.add_records(&t, ids, &batch(xs), false).unwrap();
            }
        });
        time("flush", || store.flush().unwrap());
    }
    let on_disk = disk_bytes(dir.path());
    println!(
        "on disk after 1M rows: {on_disk} bytes, {:.1} bytes per row",
        on_disk as f64 / N as f64
    );
    let store = SledStore::open(dir.path())?;
    let before = rss();
    let found = time("contains_many 1M (fresh handle: loads the index)", || {
        store.contains_many(&t, &all_ids).unwrap()
    });
    assert!(found.iter().all(|f| *f));
    let after = rss();
    println!(
        "resident memory grew by {} bytes over that first lookup ({:.1} bytes per id)",
        after.saturating_sub(before),
        after.saturating_sub(before) as f64 / N as f64
    );
    let index = store.id_index_bytes(&t)?;
    println!(
        "id index: {index} bytes, {:.1} bytes per id",
        index as f64 / N as f64
    );
    time("contains_many 1M (second pass)", || {
        store.contains_many(&t, &all_ids).unwrap()
    });
    let some: Vec<String> = all_ids.iter().step_by(10).cloned().collect();
    time("get_records 100k (every 10th id)", || {
        store.get_records(&t, &some).unwrap()
    });
    time("get_all 1M", || store.get_all(&t).unwrap());
    time("re-add 1M, all duplicates skipped (100 calls)", || {
        for (ids, xs) in all_ids.chunks(CALL).zip(xs.chunks(CALL)) {
            store.add_records(&t, ids, &batch(xs), true).unwrap();
        }
    });
    store.flush()?;
    println!(
        "on disk after the skipped re-add: {} bytes",
        disk_bytes(dir.path())
    );
    let small = p("small");
    let one = batch(&[1]);
    time("2000 one-row adds", || {
        for k in 0..2000 {
            store
                .add_records(&small, &[format!("k{k}")], &one, false)
                .unwrap();
        }
    });
    time("2000 one-row gets", || {
        for k in 0..2000 {
            store.get_record(&small, &format!("k{k}")).unwrap();
        }
    });
    time("flush", || store.flush().unwrap());
    Ok(())
}
