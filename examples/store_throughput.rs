//! Throughput of the sled store: bulk adds, lookups and reads of 100k rows, and small
//! one-row operations. Run with `cargo run --release --example store_throughput`.

use orcapod::store::{ArrowStore, RecordPath, SledStore};
use orcapod_testing::batches::batch;

fn p(s: &str) -> RecordPath {
    RecordPath::parse(s).expect("valid path")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    use std::time::Instant;
    const N: usize = 100_000;
    let dir = tempfile::tempdir()?;
    let store = SledStore::open(dir.path()).unwrap();
    let t = p("big");
    let xs: Vec<i64> = (0..N as i64).collect();
    let all_ids: Vec<String> = (0..N).map(|i| format!("id-{i:06}")).collect();
    let b = batch(&xs);
    let time = |label: &str, f: &mut dyn FnMut()| {
        let start = Instant::now();
        f();
        println!("{label}: {:?}", start.elapsed());
    };
    time("add 100k new rows", &mut || {
        store.add_records(&t, &all_ids, &b, false).unwrap();
    });
    time("flush", &mut || store.flush().unwrap());
    time("contains_many 100k (first pass)", &mut || {
        store.contains_many(&t, &all_ids).unwrap();
    });
    time("contains_many 100k (second pass)", &mut || {
        store.contains_many(&t, &all_ids).unwrap();
    });
    time("add 100k, all duplicates skipped", &mut || {
        store.add_records(&t, &all_ids, &b, true).unwrap();
    });
    time("add 100k, all replaced", &mut || {
        store.add_records(&t, &all_ids, &b, false).unwrap();
    });
    time("get_records 100k", &mut || {
        store.get_records(&t, &all_ids).unwrap();
    });
    time("get_all 100k", &mut || {
        store.get_all(&t).unwrap();
    });
    let small = p("small");
    let one = batch(&[1]);
    time("2000 one-row adds", &mut || {
        for k in 0..2000 {
            store
                .add_records(&small, &[format!("k{k}")], &one, false)
                .unwrap();
        }
    });
    time("2000 one-row gets", &mut || {
        for k in 0..2000 {
            store.get_record(&small, &format!("k{k}")).unwrap();
        }
    });
    Ok(())
}
