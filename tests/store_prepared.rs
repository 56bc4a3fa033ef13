//! Rows prepared ahead of their write (`ArrowStore::prepare_records`, which the sled
//! store uses to compress a batch off the writing thread) are added exactly as
//! `add_records` adds them, even when the store changed between preparing and adding:
//! a row whose id was stored meanwhile is skipped (first write wins), and a path created
//! meanwhile with its columns in another order gets the rows in its order.

use std::sync::Arc;

use arrow::array::{Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use orcapod::store::{
    apply_prepared, prepare_writes, ArrowStore, MemoryStore, RecordIds, RecordPath, SledStore,
    StoreWrite,
};
use orcapod_testing::batches::batch;

fn ids(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_string()).collect()
}

fn path() -> RecordPath {
    RecordPath::parse("fn/results").expect("valid path")
}

/// Every live row of the path as `(id, x)`, checking `name` agrees with `x`.
fn stored(store: &dyn ArrowStore) -> Vec<(String, i64)> {
    let all = store.get_all(&path()).unwrap().expect("rows stored");
    let xs = all.batch.column_by_name("x").unwrap();
    let xs = xs.as_any().downcast_ref::<Int64Array>().unwrap();
    let names = all.batch.column_by_name("name").unwrap();
    let names = names.as_any().downcast_ref::<StringArray>().unwrap();
    (0..xs.len())
        .map(|i| {
            assert_eq!(names.value(i), format!("n{}", xs.value(i)));
            (all.ids[i].clone(), xs.value(i))
        })
        .collect()
}

fn pairs(v: &[(&str, i64)]) -> Vec<(String, i64)> {
    v.iter().map(|(id, x)| ((*id).to_string(), *x)).collect()
}

/// Each store: memory, sled, and sled reopened after a flush (what was written reads
/// back from its files, not from the caches).
fn on_each_store(check: impl Fn(&dyn ArrowStore) -> Vec<(String, i64)>, expected: &[(&str, i64)]) {
    assert_eq!(check(&MemoryStore::new()), pairs(expected), "memory store");
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
        assert_eq!(check(&store), pairs(expected), "sled store");
        store.flush().unwrap();
    }
    let reopened = SledStore::open(dir.path()).unwrap();
    assert_eq!(stored(&reopened), pairs(expected), "sled store, reopened");
}

#[test]
fn prepared_rows_are_added_as_add_records_adds_them() {
    on_each_store(
        |store| {
            let prepared = store
                .prepare_records(path(), ids(&["a", "b", "c"]), batch(&[1, 2, 3]))
                .unwrap();
            assert_eq!(prepared.len(), 3);
            assert_eq!(store.add_prepared(prepared, true).unwrap(), 3);
            stored(store)
        },
        &[("a", 1), ("b", 2), ("c", 3)],
    );
}

#[test]
fn a_row_stored_between_preparing_and_adding_keeps_its_first_write() {
    on_each_store(
        |store| {
            let prepared = store
                .prepare_records(path(), ids(&["a", "b", "c"]), batch(&[1, 2, 3]))
                .unwrap();
            // Another batch stores `b` first.
            store
                .add_records(&path(), &ids(&["b"]), &batch(&[20]), true)
                .unwrap();
            assert_eq!(store.add_prepared(prepared, true).unwrap(), 2);
            stored(store)
        },
        &[("b", 20), ("a", 1), ("c", 3)],
    );
}

#[test]
fn a_prepared_replacing_write_replaces_only_what_it_holds() {
    on_each_store(
        |store| {
            store
                .add_records(&path(), &ids(&["a", "b"]), &batch(&[1, 2]), true)
                .unwrap();
            let prepared = store
                .prepare_records(path(), ids(&["b", "c", "b"]), batch(&[20, 3, 21]))
                .unwrap();
            // Within the batch the last `b` wins; `b` replaces the stored row.
            assert_eq!(store.add_prepared(prepared, false).unwrap(), 1);
            stored(store)
        },
        &[("a", 1), ("c", 3), ("b", 21)],
    );
}

#[test]
fn a_path_created_between_preparing_and_applying_fixes_the_column_order() {
    let xy = |x: i64| {
        let schema = Arc::new(Schema::new(vec![
            Field::new("x", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![x])),
                Arc::new(StringArray::from(vec![format!("n{x}")])),
            ],
        )
        .unwrap()
    };
    let yx = |x: i64| {
        let b = xy(x);
        b.project(&[1, 0]).unwrap()
    };
    on_each_store(
        |store| {
            let write = |id: &str, batch: RecordBatch| StoreWrite {
                path: path(),
                ids: RecordIds::Known(ids(&[id])),
                batch,
            };
            // Prepared while the path does not exist: in the `name, x` order.
            let prepared = prepare_writes(store, vec![write("a", yx(1))]).unwrap();
            // Meanwhile the path is created in the `x, name` order.
            apply_prepared(
                store,
                prepare_writes(store, vec![write("b", xy(2))]).unwrap(),
            )
            .unwrap();
            apply_prepared(store, prepared).unwrap();
            assert_eq!(store.schema(&path()).unwrap().unwrap().field(0).name(), "x");
            stored(store)
        },
        &[("b", 2), ("a", 1)],
    );
}
