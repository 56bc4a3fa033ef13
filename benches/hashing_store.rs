//! Hashing of packets (the per-row Arrow hash a function node computes for each input
//! packet) and store writes and lookups through the `ArrowStore` trait, for the
//! in-memory store and the sled store.
//!
//! Run with `cargo bench --bench hashing_store`. Throughput is reported in rows.

use std::sync::Arc;

use arrow::array::{Int64Array, LargeStringArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use orcapod::hashing::arrow::{hash_batch, RowHasher};
use orcapod::store::{ArrowStore, MemoryStore, RecordPath, SledStore};

const ROWS: usize = 100_000;

/// A packet batch: an int and a string column.
fn packets(rows: usize) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("x", DataType::Int64, false),
        Field::new("s", DataType::LargeUtf8, false),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(0..rows as i64)),
            Arc::new(LargeStringArray::from_iter_values(
                (0..rows).map(|i| format!("value-{i}")),
            )),
        ],
    )
    .expect("valid batch")
}

fn hashing(c: &mut Criterion) {
    let batch = packets(ROWS);
    let mut group = c.benchmark_group("hashing_100k");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ROWS as u64));
    group.bench_function("packet_rows", |b| {
        let hasher = RowHasher::new(&batch.schema());
        b.iter(|| assert_eq!(hasher.hash_rows(&batch).len(), ROWS));
    });
    group.bench_function("whole_table", |b| b.iter(|| hash_batch(&batch)));
    group.finish();
}

fn ids(rows: usize) -> Vec<String> {
    (0..rows).map(|i| format!("{i:064x}")).collect()
}

/// Writes, lookups and membership tests of `ROWS` rows on the store `open` makes.
fn store_benches(
    c: &mut Criterion,
    name: &str,
    open: &dyn Fn() -> (Arc<dyn ArrowStore>, Option<tempfile::TempDir>),
) {
    let batch = packets(ROWS);
    let ids = ids(ROWS);
    let path = RecordPath::parse("bench/table").expect("valid path");
    let mut group = c.benchmark_group(format!("store_{name}_100k"));
    group.sample_size(10);
    group.throughput(Throughput::Elements(ROWS as u64));
    group.bench_function("add_records_and_flush", |b| {
        b.iter_batched(
            open,
            |(store, dir)| {
                store.add_records(&path, &ids, &batch, true).unwrap();
                store.flush().unwrap();
                (store, dir)
            },
            BatchSize::PerIteration,
        );
    });
    let (store, _dir) = open();
    store.add_records(&path, &ids, &batch, true).unwrap();
    store.flush().unwrap();
    group.bench_function("add_records_all_duplicates", |b| {
        b.iter(|| assert_eq!(store.add_records(&path, &ids, &batch, true).unwrap(), 0));
    });
    group.bench_function("get_records", |b| {
        b.iter(|| store.get_records(&path, &ids).unwrap());
    });
    group.bench_function("contains_many", |b| {
        b.iter(|| {
            assert!(store.contains_many(&path, &ids).unwrap().iter().all(|&f| f));
        });
    });
    group.finish();
}

fn stores(c: &mut Criterion) {
    store_benches(c, "memory", &|| (Arc::new(MemoryStore::new()), None));
    store_benches(c, "sled", &|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = SledStore::open(dir.path()).expect("a sled store");
        (Arc::new(store), Some(dir))
    });
}

criterion_group!(benches, hashing, stores);
criterion_main!(benches);
