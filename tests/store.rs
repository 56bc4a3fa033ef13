//! Record stores: both implementations through the same behaviour tests, sled persistence,
//! batching, crash safety (a real `SIGKILL` of a writer process), the cross-process lock,
//! and a property test against a simple model.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;

use arrow::array::{Array, Int64Array, LargeStringArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use orcapod::store::{ArrowStore, MemoryStore, RecordPath, Records, SledStore};
use orcapod::Error;
use orcapod_testing::batches::{batch, schema};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------
// Helpers

fn ids(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_string()).collect()
}

fn p(s: &str) -> RecordPath {
    RecordPath::parse(s).expect("valid path")
}

fn xs_of(batch: &RecordBatch) -> Vec<i64> {
    let col = batch
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .expect("x is Int64");
    (0..col.len()).map(|i| col.value(i)).collect()
}

/// `(id, x)` pairs of a read, checking the `name` column agrees with `x`.
fn pairs(records: &Records) -> Vec<(String, i64)> {
    let xs = xs_of(&records.batch);
    let names = records
        .batch
        .column(1)
        .as_any()
        .downcast_ref::<StringArray>()
        .expect("name is Utf8");
    for (i, x) in xs.iter().enumerate() {
        assert_eq!(
            names.value(i),
            format!("n{x}"),
            "row {i} is internally consistent"
        );
    }
    assert_eq!(records.ids.len(), xs.len());
    records.ids.iter().cloned().zip(xs).collect()
}

fn pair(id: &str, x: i64) -> (String, i64) {
    (id.to_string(), x)
}

/// Asserts that `result` failed with a store error at `path` whose message says
/// `phrase`.
fn assert_store_err<T>(result: orcapod::Result<T>, path: &str, phrase: &str) {
    let Err(err) = result else {
        panic!("expected a store error at `{path}` saying `{phrase}`, got Ok");
    };
    let msg = err.to_string();
    assert_eq!(store_err_path(&err), path, "{msg}");
    assert!(msg.contains(phrase), "expected `{phrase}` in: {msg}");
}

fn store_err_path(e: &Error) -> &str {
    match e {
        Error::Store { path, .. } => path,
        other => panic!("expected Error::Store, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Shared behaviour

/// Everything both implementations must do the same way. `store` must be empty.
fn behaviour(store: &dyn ArrowStore) {
    let t = p("fn/results/v0");
    assert!(
        store.get_all(&t).unwrap().is_none(),
        "empty path reads as None"
    );
    assert!(store.schema(&t).unwrap().is_none());
    assert_eq!(store.ids(&t).unwrap(), Vec::<String>::new());
    assert_eq!(store.count(&t).unwrap(), 0);

    // add / get
    assert_eq!(
        store
            .add_records(&t, &ids(&["a", "b", "c"]), &batch(&[1, 2, 3]), false)
            .unwrap(),
        3
    );
    assert_eq!(store.schema(&t).unwrap(), Some(schema()));
    let one = store.get_record(&t, "b").unwrap().expect("b is stored");
    assert_eq!(xs_of(&one), vec![2]);
    assert!(store.get_record(&t, "zz").unwrap().is_none());
    assert!(store.contains(&t, "a").unwrap());
    assert!(!store.contains(&t, "zz").unwrap());
    assert_eq!(
        store.contains_many(&t, &ids(&["c", "q", "a"])).unwrap(),
        vec![true, false, true]
    );

    // get_records: request order, repeated ids once, missing listed in order
    let lookup = store
        .get_records(&t, &ids(&["c", "x", "a", "c", "y", "x"]))
        .unwrap();
    assert_eq!(
        pairs(&lookup.found.expect("some found")),
        vec![pair("c", 3), pair("a", 1)]
    );
    assert_eq!(lookup.missing, ids(&["x", "y"]));
    // get_rows_at: the same rows, each with the position of its id in the request
    let asked = LargeStringArray::from(vec!["c", "x", "a", "c", "y", "x"]);
    let found = store.get_rows_at(&t, &asked).unwrap().expect("some found");
    assert_eq!(found.asked, [0, 2]);
    assert_eq!(xs_of(&found.batch), [3, 1]);
    let nothing = LargeStringArray::from(vec!["x", "y"]);
    assert!(store.get_rows_at(&t, &nothing).unwrap().is_none());
    assert!(store.get_rows_at(&p("nope"), &asked).unwrap().is_none());
    let none = store.get_records(&t, &ids(&["x"])).unwrap();
    assert!(none.found.is_none());
    assert_eq!(none.missing, ids(&["x"]));
    let unknown_path = store.get_records(&p("nope"), &ids(&["a"])).unwrap();
    assert!(unknown_path.found.is_none());
    assert_eq!(unknown_path.missing, ids(&["a"]));

    // skip_duplicates = true keeps what is stored, counts only new ids
    assert_eq!(
        store
            .add_records(&t, &ids(&["b", "d"]), &batch(&[20, 4]), true)
            .unwrap(),
        1
    );
    assert_eq!(xs_of(&store.get_record(&t, "b").unwrap().unwrap()), vec![2]);
    assert_eq!(xs_of(&store.get_record(&t, "d").unwrap().unwrap()), vec![4]);
    // all duplicates: nothing written
    assert_eq!(
        store
            .add_records(&t, &ids(&["a", "b"]), &batch(&[10, 20]), true)
            .unwrap(),
        0
    );

    // skip_duplicates = false replaces (last write wins), counts only new ids
    assert_eq!(
        store
            .add_records(&t, &ids(&["a", "e"]), &batch(&[100, 5]), false)
            .unwrap(),
        1
    );
    assert_eq!(
        xs_of(&store.get_record(&t, "a").unwrap().unwrap()),
        vec![100]
    );

    // get_all: live rows in the order their current version was written
    let all = store.get_all(&t).unwrap().expect("rows");
    assert_eq!(
        pairs(&all),
        vec![
            pair("b", 2),
            pair("c", 3),
            pair("d", 4),
            pair("a", 100),
            pair("e", 5)
        ]
    );
    assert_eq!(store.ids(&t).unwrap(), ids(&["a", "b", "c", "d", "e"]));
    assert_eq!(store.count(&t).unwrap(), 5);

    // duplicates inside one batch: the last occurrence wins
    let u = p("dups");
    assert_eq!(
        store
            .add_records(&u, &ids(&["k", "j", "k"]), &batch(&[1, 2, 3]), false)
            .unwrap(),
        2
    );
    assert_eq!(
        pairs(&store.get_all(&u).unwrap().unwrap()),
        vec![pair("j", 2), pair("k", 3)]
    );
    assert_eq!(
        store
            .add_records(&u, &ids(&["m", "m"]), &batch(&[7, 8]), true)
            .unwrap(),
        1
    );
    assert_eq!(xs_of(&store.get_record(&u, "m").unwrap().unwrap()), vec![8]);

    // add_record: exactly one row
    assert_eq!(
        store.add_record(&u, "single", &batch(&[9]), false).unwrap(),
        1
    );
    assert_store_err(
        store.add_record(&u, "two", &batch(&[1, 2]), false),
        &u.to_string(),
        "add_record needs a batch of exactly one row, got 2",
    );

    // empty batch: a no-op that fixes no schema
    let fresh = p("fresh");
    assert_eq!(
        store.add_records(&fresh, &[], &batch(&[]), false).unwrap(),
        0
    );
    assert!(store.schema(&fresh).unwrap().is_none());

    // id count must match the row count
    let err = store
        .add_records(&t, &ids(&["only-one"]), &batch(&[1, 2]), false)
        .unwrap_err();
    assert_eq!(store_err_path(&err), "fn/results/v0");

    // schema fixed by the first write: a different schema is an error naming the path
    let other = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("y", DataType::Utf8, false)])),
        vec![Arc::new(StringArray::from(vec!["q"]))],
    )
    .unwrap();
    let err = store
        .add_records(&t, &ids(&["q"]), &other, false)
        .unwrap_err();
    assert_eq!(store_err_path(&err), "fn/results/v0");
    let msg = err.to_string();
    assert!(
        msg.contains("fn/results/v0") && msg.contains("schema"),
        "{msg}"
    );
    // nullability is part of the schema
    let not_null = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("x", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ])),
        vec![
            Arc::new(Int64Array::from(vec![1])),
            Arc::new(StringArray::from(vec!["n1"])),
        ],
    )
    .unwrap();
    assert_store_err(
        store.add_records(&t, &ids(&["q"]), &not_null, false),
        "fn/results/v0",
        "batch schema differs from the schema fixed by the path's first write",
    );
    assert!(
        !store.contains(&t, "q").unwrap(),
        "rejected rows are not stored"
    );

    // list_paths
    assert_eq!(
        store.list_paths(None).unwrap(),
        vec![p("dups"), p("fn/results/v0")]
    );
    assert_eq!(
        store.list_paths(Some(&p("fn"))).unwrap(),
        vec![p("fn/results/v0")]
    );
    assert_eq!(
        store.list_paths(Some(&p("fn/results/v0"))).unwrap(),
        vec![p("fn/results/v0")]
    );
    assert!(store.list_paths(Some(&p("fn/res"))).unwrap().is_empty());

    // scoped views share storage
    assert!(store.base_path().is_empty());
    let view = store.at(&["pipe", "P1"]).unwrap();
    assert_eq!(
        view.base_path(),
        &["pipe".to_string(), "P1".to_string()][..]
    );
    assert_eq!(
        view.add_records(&p("node"), &ids(&["r1"]), &batch(&[42]), false)
            .unwrap(),
        1
    );
    assert_eq!(
        xs_of(&store.get_record(&p("pipe/P1/node"), "r1").unwrap().unwrap()),
        vec![42]
    );
    store
        .add_records(&p("pipe/P1/node"), &ids(&["r2"]), &batch(&[43]), false)
        .unwrap();
    assert_eq!(view.ids(&p("node")).unwrap(), ids(&["r1", "r2"]));
    assert_eq!(view.list_paths(None).unwrap(), vec![p("node")]);
    assert_eq!(
        store.list_paths(Some(&p("pipe"))).unwrap(),
        vec![p("pipe/P1/node")]
    );
    let nested = view.at(&["node"]).unwrap();
    assert_eq!(nested.base_path().len(), 3);
    assert!(nested.get_all(&p("deeper")).unwrap().is_none());
    // the depth limit counts the scope prefix
    let deep_view = store
        .at(&["1", "2", "3", "4", "5", "6", "7", "8", "9"])
        .unwrap();
    assert!(deep_view
        .add_records(&p("10"), &ids(&["a"]), &batch(&[1]), false)
        .is_ok());
    let err = deep_view
        .add_records(&p("10/11"), &ids(&["a"]), &batch(&[1]), false)
        .unwrap_err();
    assert_eq!(store_err_path(&err), "1/2/3/4/5/6/7/8/9/10/11");
    assert_store_err(store.at(&["bad/comp"]), "bad/comp", "contains `/`");
    assert_store_err(store.at(&[""]), "", "is empty");

    store.flush().unwrap();
    view.flush().unwrap();
}

#[test]
fn memory_store_behaviour() {
    behaviour(&MemoryStore::new());
}

#[test]
fn sled_store_behaviour() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    behaviour(&store);
}

#[test]
fn stores_are_object_safe_send_sync() {
    fn assert_send_sync<T: Send + Sync + ?Sized>() {}
    assert_send_sync::<dyn ArrowStore>();
    let dir = tempfile::tempdir().unwrap();
    let stores: Vec<Arc<dyn ArrowStore>> = vec![
        Arc::new(MemoryStore::new()),
        Arc::new(SledStore::open(dir.path()).unwrap()),
    ];
    for s in stores {
        let s2 = s.clone();
        std::thread::spawn(move || {
            s2.add_records(&p("t"), &ids(&["a"]), &batch(&[1]), false)
                .unwrap()
        })
        .join()
        .unwrap();
        assert!(s.contains(&p("t"), "a").unwrap());
    }
}

#[test]
fn record_path_validation() {
    let ok = RecordPath::new(["a", "b:c", "schema:xyz"]).unwrap();
    assert_eq!(ok.to_string(), "a/b:c/schema:xyz");
    assert_eq!(ok.depth(), 3);
    assert_eq!(p("a/b/c"), RecordPath::new(["a", "b", "c"]).unwrap());
    assert!(p("a/b/c").starts_with(&p("a/b")));
    assert!(!p("a/bc").starts_with(&p("a/b")));
    assert_eq!(p("a").join(&p("b/c")).unwrap(), p("a/b/c"));
    assert_eq!(p("a").child("b").unwrap(), p("a/b"));
    assert_eq!("x/y".parse::<RecordPath>().unwrap(), p("x/y"));

    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![], "at least one component"),
        (vec!["a", ""], "is empty"),
        (vec!["a/b"], "`/`"),
        (vec!["a\0b"], "NUL"),
        (
            vec!["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"],
            "maximum of 10",
        ),
    ];
    for (components, expected) in cases {
        let err = RecordPath::new(components.clone()).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, Error::Store { .. }) && msg.contains(expected),
            "{components:?}: {msg}"
        );
    }
    assert_store_err(RecordPath::parse(""), "", "is empty");
    assert_store_err(RecordPath::parse("a//b"), "a//b", "is empty");
    assert!(RecordPath::new((1..=10).map(|i| i.to_string())).is_ok());
    assert_store_err(
        p("a").join(&RecordPath::new((1..=10).map(|i| i.to_string())).unwrap()),
        "a/1/2/3/4/5/6/7/8/9/10",
        "more than the maximum of 10",
    );
}

// ---------------------------------------------------------------------------------------
// sled specifics

#[test]
fn sled_persists_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
        store
            .add_records(&p("a/t"), &ids(&["x", "y"]), &batch(&[1, 2]), false)
            .unwrap();
        store
            .add_records(&p("a/t"), &ids(&["y", "z"]), &batch(&[20, 3]), false)
            .unwrap();
        store
            .at(&["scope"])
            .unwrap()
            .add_records(&p("u"), &ids(&["k"]), &batch(&[7]), false)
            .unwrap();
        store.flush().unwrap();
    }
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(
        pairs(&store.get_all(&p("a/t")).unwrap().unwrap()),
        vec![pair("x", 1), pair("y", 20), pair("z", 3)]
    );
    assert_eq!(store.schema(&p("a/t")).unwrap(), Some(schema()));
    assert_eq!(
        store.list_paths(None).unwrap(),
        vec![p("a/t"), p("scope/u")]
    );
    // numbering continues after reopen: new paths and batches do not collide
    store
        .add_records(&p("b"), &ids(&["q"]), &batch(&[9]), false)
        .unwrap();
    store
        .add_records(&p("a/t"), &ids(&["w"]), &batch(&[4]), false)
        .unwrap();
    assert_eq!(store.stored_batches(&p("a/t")).unwrap(), 3);
    assert_eq!(
        pairs(&store.get_all(&p("a/t")).unwrap().unwrap()),
        vec![pair("x", 1), pair("y", 20), pair("z", 3), pair("w", 4)]
    );
    assert_eq!(
        xs_of(&store.get_record(&p("b"), "q").unwrap().unwrap()),
        vec![9]
    );
    assert_eq!(
        xs_of(&store.get_record(&p("scope/u"), "k").unwrap().unwrap()),
        vec![7]
    );
    // a schema mismatch is still detected after reopen
    let other = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("y", DataType::Utf8, true)])),
        vec![Arc::new(StringArray::from(vec!["q"]))],
    )
    .unwrap();
    assert_store_err(
        store.add_records(&p("a/t"), &ids(&["q"]), &other, false),
        "a/t",
        "batch schema differs from the schema fixed by the path's first write",
    );
}

#[test]
fn sled_open_twice_in_one_process_shares_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let a = SledStore::open(dir.path()).unwrap();
    let b = SledStore::open(dir.path()).unwrap();
    a.add_records(&p("t"), &ids(&["x"]), &batch(&[1]), false)
        .unwrap();
    assert!(b.contains(&p("t"), "x").unwrap());
    assert_eq!(a.dir(), b.dir());
    drop(a);
    drop(b);
    // all handles gone: reopening opens sled again
    let c = SledStore::open(dir.path()).unwrap();
    assert!(c.contains(&p("t"), "x").unwrap());
}

#[test]
fn sled_large_batch_round_trip() {
    const N: usize = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let t = p("big");
    let xs: Vec<i64> = (0..N as i64).collect();
    let all_ids: Vec<String> = (0..N).map(|i| format!("id-{i:06}")).collect();
    assert_eq!(
        store.add_records(&t, &all_ids, &batch(&xs), false).unwrap(),
        N
    );
    assert_eq!(
        store.stored_batches(&t).unwrap(),
        1,
        "one stored batch per call"
    );
    store.flush().unwrap();

    // get many at once, from a fresh handle (nothing cached)
    drop(store);
    let store = SledStore::open(dir.path()).unwrap();
    let wanted: Vec<String> = (0..N).step_by(97).map(|i| format!("id-{i:06}")).collect();
    let lookup = store.get_records(&t, &wanted).unwrap();
    assert!(lookup.missing.is_empty());
    let found = lookup.found.unwrap();
    assert_eq!(found.ids, wanted);
    assert_eq!(
        xs_of(&found.batch),
        (0..N as i64).step_by(97).collect::<Vec<_>>()
    );

    let all = store.get_all(&t).unwrap().unwrap();
    assert_eq!(all.len(), N);
    assert_eq!(xs_of(&all.batch), xs);
    assert_eq!(all.ids, all_ids);
    // the id index keeps no id text: at most 16 bytes per id
    let index_bytes = store.id_index_bytes(&t).unwrap();
    assert!(index_bytes <= 16 * N, "{index_bytes} bytes for {N} ids");

    // a second, half-overlapping batch with skip_duplicates: only new rows are written
    const M: usize = 10_000;
    let range = N - M / 2..N + M / 2;
    let xs2: Vec<i64> = range.clone().map(|i| i as i64).collect();
    let ids2: Vec<String> = range.map(|i| format!("id-{i:06}")).collect();
    assert_eq!(
        store.add_records(&t, &ids2, &batch(&xs2), true).unwrap(),
        M / 2
    );
    assert_eq!(store.stored_batches(&t).unwrap(), 2);
    assert_eq!(store.count(&t).unwrap(), N + M / 2);
    let all = store.get_all(&t).unwrap().unwrap();
    assert_eq!(
        xs_of(&all.batch),
        (0..(N + M / 2) as i64).collect::<Vec<_>>()
    );
}

#[test]
fn sled_flushed_data_survives_drop_without_flush() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
        store
            .add_records(&p("t"), &ids(&["a", "b"]), &batch(&[1, 2]), false)
            .unwrap();
        store.flush().unwrap();
        store
            .add_records(&p("t"), &ids(&["b", "c"]), &batch(&[20, 3]), false)
            .unwrap();
        // dropped without flush
    }
    let store = SledStore::open(dir.path()).unwrap();
    let all = pairs(&store.get_all(&p("t")).unwrap().unwrap());
    // the flushed write is there; the unflushed one is wholly there or wholly absent
    let before = vec![pair("a", 1), pair("b", 2)];
    let after = vec![pair("a", 1), pair("b", 20), pair("c", 3)];
    assert!(all == before || all == after, "{all:?}");
}

// ---------------------------------------------------------------------------------------
// Child processes: a writer killed with SIGKILL, and a second process opening a locked
// store. The child is this test binary re-run on `child_process_entry` with an env var.

const CHILD_MODE: &str = "ORCAPOD_STORE_TEST_CHILD";
const CHILD_DIR: &str = "ORCAPOD_STORE_TEST_DIR";
const ROWS_PER_ROUND: usize = 50;

fn round_ids(round: usize) -> Vec<String> {
    (0..ROWS_PER_ROUND)
        .map(|i| format!("r{round}-{i}"))
        .collect()
}

fn round_xs(round: usize) -> Vec<i64> {
    (0..ROWS_PER_ROUND)
        .map(|i| (round * 1000 + i) as i64)
        .collect()
}

/// Does nothing unless run as a child by another test.
#[test]
fn child_process_entry() {
    let (Ok(mode), Ok(dir)) = (std::env::var(CHILD_MODE), std::env::var(CHILD_DIR)) else {
        return;
    };
    let mut out = std::io::stdout();
    match mode.as_str() {
        "writer" => {
            let store = SledStore::open(&dir).unwrap();
            let t = p("results");
            for round in 0..100_000 {
                store
                    .add_records(&t, &round_ids(round), &batch(&round_xs(round)), false)
                    .unwrap();
                // re-adding the previous round must change nothing
                if round > 0 {
                    let again = store
                        .add_records(
                            &t,
                            &round_ids(round - 1),
                            &batch(&round_xs(round - 1)),
                            true,
                        )
                        .unwrap();
                    assert_eq!(again, 0);
                }
                if round % 2 == 0 {
                    store.flush().unwrap();
                    writeln!(out, "flushed {round}").unwrap();
                    out.flush().unwrap();
                }
            }
        }
        "hold" => {
            let _store = SledStore::open(&dir).unwrap();
            writeln!(out, "child: holding").unwrap();
            out.flush().unwrap();
            // Hold the store until the parent closes our stdin.
            std::io::copy(&mut std::io::stdin(), &mut std::io::sink()).unwrap();
        }
        "open" => {
            match SledStore::open(&dir) {
                Ok(_) => writeln!(out, "child: opened").unwrap(),
                Err(e) => writeln!(out, "child: open error: {e}").unwrap(),
            }
            out.flush().unwrap();
        }
        other => panic!("unknown child mode {other}"),
    }
}

fn child(mode: &str, dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "child_process_entry",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD_MODE, mode)
    .env(CHILD_DIR, dir)
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    cmd
}

#[test]
fn sled_sigkill_keeps_every_flushed_result_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = child("writer", dir.path()).spawn().unwrap();
    let stdout = writer.stdout.take().unwrap();
    let mut last_flushed = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("flushed ") {
            last_flushed = Some(n.parse::<usize>().unwrap());
            if last_flushed >= Some(40) {
                break;
            }
        }
    }
    writer.kill().unwrap(); // SIGKILL on Unix
    writer.wait().unwrap();
    let last_flushed = last_flushed.expect("the writer flushed before being killed");

    let store = SledStore::open(dir.path()).unwrap();
    let t = p("results");
    // every flushed round is there, with its values
    for round in 0..=last_flushed {
        let lookup = store.get_records(&t, &round_ids(round)).unwrap();
        assert!(
            lookup.missing.is_empty(),
            "round {round} lost: {:?}",
            lookup.missing
        );
        assert_eq!(xs_of(&lookup.found.unwrap().batch), round_xs(round));
    }
    // exactly once: ids unique, rows consistent, whole rounds only (calls are atomic)
    let all = store.get_all(&t).unwrap().unwrap();
    let got = pairs(&all);
    let mut seen = std::collections::HashSet::new();
    let mut per_round: BTreeMap<usize, usize> = BTreeMap::new();
    for (id, x) in &got {
        assert!(seen.insert(id.clone()), "{id} stored twice");
        let (round, i) = id[1..].split_once('-').unwrap();
        let (round, i): (usize, usize) = (round.parse().unwrap(), i.parse().unwrap());
        assert_eq!(*x, (round * 1000 + i) as i64);
        *per_round.entry(round).or_default() += 1;
    }
    assert!(
        per_round.values().all(|n| *n == ROWS_PER_ROUND),
        "{per_round:?}"
    );
    // a rerun would recompute nothing already stored
    let stored: Vec<String> = (0..=last_flushed).flat_map(round_ids).collect();
    assert!(store.contains_many(&t, &stored).unwrap().iter().all(|b| *b));
    // and the store keeps working after the crash
    store
        .add_records(&t, &ids(&["after"]), &batch(&[1]), false)
        .unwrap();
    assert!(store.contains(&t, "after").unwrap());
}

/// Reopening a directory this process had open waits for its own last handle to let go
/// of sled's lock, but never for another process: a lock another process took meanwhile
/// is an error at once, naming that process.
#[test]
fn sled_reopen_while_another_process_holds_the_store_fails_at_once() {
    let dir = tempfile::tempdir().unwrap();
    drop(SledStore::open(dir.path()).unwrap());
    let mut holder = child("hold", dir.path())
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(holder.stdout.take().unwrap()).lines();
    let holding = lines.find_map(|l| l.ok().filter(|l| l.contains("child: ")));
    assert!(
        holding
            .as_deref()
            .is_some_and(|l| l.ends_with("child: holding")),
        "{holding:?}"
    );
    let err = match SledStore::open(dir.path()) {
        Ok(_) => panic!("opened a store another process holds"),
        Err(e) => e,
    };
    let message = err.to_string();
    assert!(matches!(err, orcapod::Error::Store { .. }), "{err:?}");
    assert!(
        message.contains("locked by another process")
            && message.contains(&format!("process {}", holder.id())),
        "{message}"
    );
    drop(holder.stdin.take());
    assert!(holder.wait().unwrap().success());
    // Once the other process let go, this one opens it again.
    SledStore::open(dir.path()).unwrap();
}

#[test]
fn sled_open_held_by_another_process_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let output = child("open", dir.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find(|l| l.contains("child: "))
        .unwrap_or_else(|| panic!("no child report in {stdout}"));
    assert!(
        line.contains("open error") && line.contains("locked by another process"),
        "{line}"
    );
    drop(store);
    // once released, the other process can open it
    let output = child("open", dir.path()).output().unwrap();
    assert!(String::from_utf8_lossy(&output.stdout).contains("child: opened"));
}

// ---------------------------------------------------------------------------------------
// Property test: random operations against a model, on both implementations.

#[derive(Debug, Clone)]
enum Op {
    /// Add rows `(id, x)` to path `path`; `view` writes path 1 through a scoped view.
    Add {
        path: usize,
        rows: Vec<(u8, i64)>,
        skip: bool,
        view: bool,
    },
    Get {
        path: usize,
        ids: Vec<u8>,
    },
    GetAll {
        path: usize,
    },
    Ids {
        path: usize,
    },
    /// Flush, drop and reopen (sled), or just flush (memory).
    Reopen,
    /// Compact (sled; nothing for memory): no read may change.
    Compact,
}

const PATHS: [&str; 3] = ["a", "a/b", "c"];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3usize, prop::collection::vec((0..12u8, -50..50i64), 0..8), any::<bool>(), any::<bool>())
            .prop_map(|(path, rows, skip, view)| Op::Add { path, rows, skip, view }),
        2 => (0..3usize, prop::collection::vec(0..14u8, 0..6)).prop_map(|(path, ids)| Op::Get { path, ids }),
        2 => (0..3usize).prop_map(|path| Op::GetAll { path }),
        1 => (0..3usize).prop_map(|path| Op::Ids { path }),
        1 => Just(Op::Reopen),
        1 => Just(Op::Compact),
    ]
}

/// path → id → (write position, x). Write position orders `get_all`.
type Model = BTreeMap<usize, BTreeMap<String, ((usize, usize), i64)>>;

fn id_name(id: u8) -> String {
    format!("id{id:02}")
}

fn run_ops(ops: &[Op], mut open: impl FnMut() -> Arc<dyn ArrowStore>, compact: impl Fn()) {
    let mut store = open();
    let mut model: Model = BTreeMap::new();
    for (call, op) in ops.iter().enumerate() {
        match op {
            Op::Add {
                path,
                rows,
                skip,
                view,
            } => {
                let ids: Vec<String> = rows.iter().map(|(id, _)| id_name(*id)).collect();
                let xs: Vec<i64> = rows.iter().map(|(_, x)| *x).collect();
                let got = if *view && *path == 1 {
                    store
                        .at(&["a"])
                        .unwrap()
                        .add_records(&p("b"), &ids, &batch(&xs), *skip)
                        .unwrap()
                } else {
                    store
                        .add_records(&p(PATHS[*path]), &ids, &batch(&xs), *skip)
                        .unwrap()
                };
                let table = model.entry(*path).or_default();
                let mut new = 0;
                for (i, (id, x)) in ids.iter().zip(&xs).enumerate() {
                    if ids[i + 1..].contains(id) {
                        continue; // a later occurrence in the batch wins
                    }
                    let stored = table.contains_key(id);
                    if !stored {
                        new += 1;
                    }
                    if !(stored && *skip) {
                        table.insert(id.clone(), ((call, i), *x));
                    }
                }
                assert_eq!(got, new, "new-id count of {op:?}");
            }
            Op::Get { path, ids } => {
                let ids: Vec<String> = ids.iter().map(|i| id_name(*i)).collect();
                let lookup = store.get_records(&p(PATHS[*path]), &ids).unwrap();
                let table = model.get(path);
                let mut want_found = Vec::new();
                let mut want_missing = Vec::new();
                let mut seen = std::collections::HashSet::new();
                for id in &ids {
                    if !seen.insert(id.clone()) {
                        continue;
                    }
                    match table.and_then(|t| t.get(id)) {
                        Some((_, x)) => want_found.push((id.clone(), *x)),
                        None => want_missing.push(id.clone()),
                    }
                }
                let got_found = lookup.found.as_ref().map(pairs).unwrap_or_default();
                assert_eq!(got_found, want_found, "{op:?}");
                assert_eq!(lookup.missing, want_missing, "{op:?}");
                // The same read with the ids as an array: the same rows, each with
                // the position of its id's first occurrence in the request.
                let array = LargeStringArray::from_iter_values(&ids);
                let at = store.get_rows_at(&p(PATHS[*path]), &array).unwrap();
                let want_asked: Vec<u32> = want_found
                    .iter()
                    .map(|(id, _)| ids.iter().position(|i| i == id).unwrap_or(usize::MAX) as u32)
                    .collect();
                let (got_asked, got_xs) =
                    at.map(|f| (f.asked, xs_of(&f.batch))).unwrap_or_default();
                assert_eq!(got_asked, want_asked, "{op:?} read as an array");
                let want_xs: Vec<i64> = want_found.iter().map(|(_, x)| *x).collect();
                assert_eq!(got_xs, want_xs, "{op:?} read as an array");
            }
            Op::GetAll { path } => {
                let got = store.get_all(&p(PATHS[*path])).unwrap();
                let mut want: Vec<((usize, usize), String, i64)> = model
                    .get(path)
                    .map(|t| {
                        t.iter()
                            .map(|(id, (pos, x))| (*pos, id.clone(), *x))
                            .collect()
                    })
                    .unwrap_or_default();
                want.sort();
                let want: Vec<(String, i64)> = want.into_iter().map(|(_, id, x)| (id, x)).collect();
                match got {
                    None => assert!(want.is_empty(), "{op:?}: None but model has {want:?}"),
                    Some(r) => assert_eq!(pairs(&r), want, "{op:?}"),
                }
            }
            Op::Ids { path } => {
                let got = store.ids(&p(PATHS[*path])).unwrap();
                let want: Vec<String> = model
                    .get(path)
                    .map(|t| t.keys().cloned().collect())
                    .unwrap_or_default();
                assert_eq!(got, want);
            }
            Op::Reopen => {
                store.flush().unwrap();
                drop(store);
                store = open();
            }
            Op::Compact => compact(),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn memory_store_matches_model(ops in prop::collection::vec(op(), 1..40)) {
        let store = MemoryStore::new();
        run_ops(&ops, || Arc::new(store.clone()), || {});
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn sled_store_matches_model(ops in prop::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        // The store is open while ops run, so this opens the same one.
        run_ops(&ops, || Arc::new(SledStore::open(&path).unwrap()), || {
            SledStore::open(&path).unwrap().compact().unwrap();
        });
    }
}

// ---------------------------------------------------------------------------------------
// Layout 3: batch files beside a catalog, compact ids, reclaimed space, migration.

/// Every batch file of a store directory: (name under `batches/`, length).
fn batch_files(dir: &std::path::Path) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let root = dir.join("batches");
    let Ok(paths) = std::fs::read_dir(&root) else {
        return out;
    };
    for p in paths {
        let p = p.unwrap().path();
        for f in std::fs::read_dir(&p).unwrap() {
            let f = f.unwrap().path();
            let name = f.strip_prefix(&root).unwrap().display().to_string();
            out.push((name, f.metadata().unwrap().len()));
        }
    }
    out.sort();
    out
}

fn hash_id(i: usize) -> String {
    format!(
        "arrow_v0.1:{:070x}",
        (i as u128).wrapping_mul(0x9E37_79B9_7F4A_7C15)
    )
}

#[test]
fn sled_ids_read_back_byte_for_byte_whatever_their_form() {
    let dir = tempfile::tempdir().unwrap();
    let odd = [
        "arrow_v0.1:ABCDEF",
        "arrow_v0.1:abcdef",
        "arrow_v0.1:abc",
        "no-colon",
        "",
        "héllo:ünïcode",
        "x:00ff",
        "x:",
        ":",
    ];
    let hashes: Vec<String> = (0..5).map(hash_id).collect();
    {
        let store = SledStore::open(dir.path()).unwrap();
        store
            .add_records(
                &p("odd"),
                &ids(&odd),
                &batch(&[0, 1, 2, 3, 4, 5, 6, 7, 8]),
                false,
            )
            .unwrap();
        store
            .add_records(&p("hashes"), &hashes, &batch(&[0, 1, 2, 3, 4]), false)
            .unwrap();
        // one batch mixing the two forms
        let mixed = vec![hash_id(9), "plain".to_string()];
        store
            .add_records(&p("hashes"), &mixed, &batch(&[9, 10]), false)
            .unwrap();
        store.flush().unwrap();
    }
    let store = SledStore::open(dir.path()).unwrap();
    let mut want: Vec<String> = odd.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(store.ids(&p("odd")).unwrap(), want);
    let all = store.get_all(&p("odd")).unwrap().unwrap();
    assert_eq!(all.ids, ids(&odd));
    assert_eq!(xs_of(&all.batch), vec![0, 1, 2, 3, 4, 5, 6, 7, 8]);
    for (i, id) in odd.iter().enumerate() {
        let got = store.get_record(&p("odd"), id).unwrap().unwrap();
        assert_eq!(xs_of(&got), vec![i as i64], "{id:?}");
    }
    // a hash id differing only in case, or one digit short, is another id
    assert!(!store
        .contains(&p("hashes"), &hashes[0].to_uppercase())
        .unwrap());
    assert!(!store
        .contains(&p("hashes"), &hashes[0][..hashes[0].len() - 1])
        .unwrap());
    let all = store.get_all(&p("hashes")).unwrap().unwrap();
    let mut expected = hashes.clone();
    expected.extend([hash_id(9), "plain".to_string()]);
    assert_eq!(all.ids, expected);
}

#[test]
fn sled_superseded_batches_free_their_files_and_skipped_reruns_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let t = p("t");
    let first: Vec<String> = (0..100).map(hash_id).collect();
    let xs: Vec<i64> = (0..100).collect();
    store.add_records(&t, &first, &batch(&xs), false).unwrap();
    store
        .add_records(&t, &first[..50], &batch(&xs[..50]), false)
        .unwrap();
    store.flush().unwrap();
    assert_eq!(batch_files(dir.path()).len(), 2);
    let before = batch_files(dir.path());
    // the same writes again, skipping duplicates: not one byte more
    for _ in 0..3 {
        assert_eq!(store.add_records(&t, &first, &batch(&xs), true).unwrap(), 0);
        store.flush().unwrap();
    }
    assert_eq!(batch_files(dir.path()), before);
    // replacing the last live rows of the first batch removes it
    let replaced: Vec<i64> = (50..100).map(|x| x + 1000).collect();
    store
        .add_records(&t, &first[50..], &batch(&replaced), false)
        .unwrap();
    store.flush().unwrap();
    assert_eq!(store.stored_batches(&t).unwrap(), 2);
    let files = batch_files(dir.path());
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(
        !files.iter().any(|(name, _)| name == "0/0.arrow"),
        "{files:?}"
    );
    let mut want: Vec<i64> = (0..50).collect();
    want.extend(replaced.iter().copied());
    drop(store);
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(xs_of(&store.get_all(&t).unwrap().unwrap().batch), want);
    assert_eq!(store.count(&t).unwrap(), 100);
}

/// Bytes of every file under `dir`.
fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let meta = e.metadata().unwrap();
            if meta.is_dir() {
                dir_bytes(&e.path())
            } else {
                meta.len()
            }
        })
        .sum()
}

/// A pipeline re-run writes its results again with `skip_duplicates`: the directory
/// does not grow (sled sizes its log once, at the first reopen).
#[test]
fn sled_rerunning_the_same_writes_does_not_grow_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let all: Vec<String> = (0..3000).map(hash_id).collect();
    let xs: Vec<i64> = (0..3000).collect();
    let mut sizes = Vec::new();
    let mut files = Vec::new();
    for _run in 0..4 {
        let store = SledStore::open(dir.path()).unwrap();
        for (chunk, x) in all.chunks(500).zip(xs.chunks(500)) {
            store.add_records(&p("r"), chunk, &batch(x), true).unwrap();
            store.flush().unwrap();
        }
        drop(store);
        sizes.push(dir_bytes(dir.path()));
        files.push(batch_files(dir.path()));
    }
    assert!(files.iter().all(|f| *f == files[0]), "{files:?}");
    assert_eq!(sizes[1], sizes[2], "{sizes:?}");
    assert_eq!(sizes[2], sizes[3], "{sizes:?}");
}

#[test]
fn sled_open_deletes_batch_files_no_catalog_entry_names() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
        store
            .add_records(&p("t"), &ids(&["a", "b"]), &batch(&[1, 2]), false)
            .unwrap();
        store.flush().unwrap();
    }
    let path_dir = dir.path().join("batches").join("0");
    // what a crash leaves between writing a file and applying its catalog entry
    std::fs::write(path_dir.join("1.arrow"), b"a file the catalog never named").unwrap();
    std::fs::write(path_dir.join("2.arrow.tmp"), b"half a file").unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(
        batch_files(dir.path())
            .into_iter()
            .map(|f| f.0)
            .collect::<Vec<_>>(),
        vec!["0/0.arrow".to_string()]
    );
    assert_eq!(
        pairs(&store.get_all(&p("t")).unwrap().unwrap()),
        vec![pair("a", 1), pair("b", 2)]
    );
    store
        .add_records(&p("t"), &ids(&["c"]), &batch(&[3]), false)
        .unwrap();
    assert_eq!(store.count(&p("t")).unwrap(), 3);
}

/// After a power cut, the catalog entry of a call never flushed may have reached the disk
/// while its file did not: that call is dropped whole, and the rows it replaced are live
/// again.
#[test]
fn sled_an_unflushed_call_whose_file_was_torn_is_wholly_absent() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
        store
            .add_records(&p("t"), &ids(&["a", "b"]), &batch(&[1, 2]), false)
            .unwrap();
        store.flush().unwrap();
        store
            .add_records(&p("t"), &ids(&["b", "c"]), &batch(&[20, 3]), false)
            .unwrap();
        // dropped without flush: sled writes its catalog on drop, the file stays unsynced
    }
    let file = dir.path().join("batches/0/1.arrow");
    let len = std::fs::metadata(&file).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(
        pairs(&store.get_all(&p("t")).unwrap().unwrap()),
        vec![pair("a", 1), pair("b", 2)]
    );
    assert!(!file.exists());
    assert_eq!(store.stored_batches(&p("t")).unwrap(), 1);
}

#[test]
fn sled_a_damaged_batch_file_is_an_error_not_a_silent_loss() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
        store
            .add_records(&p("t"), &ids(&["a"]), &batch(&[1]), false)
            .unwrap();
        store.flush().unwrap();
    }
    let file = dir.path().join("batches/0/0.arrow");
    let len = std::fs::metadata(&file).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(len - 1)
        .unwrap();
    let err = SledStore::open(dir.path()).expect_err("a truncated batch file");
    assert!(err.to_string().contains("corrupt store"), "{err}");
}

/// The writes that made `tests/fixtures/store-layout2` (a store written by the code of
/// layout 2, whose sled files are that directory), replayed on any store.
fn layout2_fixture_writes(store: &dyn ArrowStore) {
    use arrow::array::Float64Array;
    let s1 = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
    let metadata = std::collections::HashMap::from([("k".to_string(), "v".to_string())]);
    let s2 = Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, true).with_metadata(metadata),
        Field::new("score", DataType::Float64, true),
    ]));
    let b1 = |xs: Vec<i64>| {
        RecordBatch::try_new(s1.clone(), vec![Arc::new(Int64Array::from(xs))]).unwrap()
    };
    let h = |i: u64| {
        format!(
            "arrow_v0.1:{:070x}",
            (i as u128).wrapping_mul(0x9E3779B97F4A7C15F39CC0605CEDC835)
        )
    };
    let ids1: Vec<String> = (0..40).map(h).collect();
    let fv = p("pipe/fn/v0");
    store
        .add_records(&fv, &ids1, &b1((0..40).collect()), false)
        .unwrap();
    let ids2: Vec<String> = (30..60).map(h).collect();
    store
        .add_records(&fv, &ids2, &b1((1030..1060).collect()), false)
        .unwrap();
    store
        .add_records(&fv, &ids1[..5], &b1(vec![7, 7, 7, 7, 7]), true)
        .unwrap();
    let odd = ids(&[
        "",
        "no-colon",
        "arrow_v0.1:ABCDEF",
        "arrow_v0.1:abc",
        "héllo:ünïcode",
        "x:00ff",
    ]);
    store
        .add_records(&p("odd"), &odd, &b1(vec![1, 2, 3, 4, 5, 6]), false)
        .unwrap();
    store
        .add_records(&p("odd"), &ids(&["no-colon"]), &b1(vec![20]), false)
        .unwrap();
    let view = store.at(&["scope", "inner"]).unwrap();
    let b2 = RecordBatch::try_new(
        s2,
        vec![
            Arc::new(StringArray::from(vec![Some("a"), None, Some("ccc")])),
            Arc::new(Float64Array::from(vec![Some(1.5), Some(f64::NAN), None])),
        ],
    )
    .unwrap();
    view.add_records(&p("records"), &ids(&["r1", "r2", "r3"]), &b2, false)
        .unwrap();
    store
        .add_records(&p("gone"), &ids(&["a", "b"]), &b1(vec![1, 2]), false)
        .unwrap();
    store
        .add_records(&p("gone"), &ids(&["b", "a"]), &b1(vec![3, 4]), false)
        .unwrap();
}

/// Checks that `store` holds exactly what `expected` does: paths, schemas, ids, rows.
fn assert_same_contents(store: &dyn ArrowStore, expected: &dyn ArrowStore) {
    let paths = expected.list_paths(None).unwrap();
    assert_eq!(store.list_paths(None).unwrap(), paths);
    for path in &paths {
        assert_eq!(store.schema(path).unwrap(), expected.schema(path).unwrap());
        let want = expected.get_all(path).unwrap().unwrap();
        let got = store.get_all(path).unwrap().unwrap();
        assert_eq!(got.ids, want.ids, "{path}");
        assert_eq!(got.batch, want.batch, "{path}");
        assert_eq!(got.batch.schema(), want.batch.schema(), "{path}");
        assert_eq!(store.ids(path).unwrap(), expected.ids(path).unwrap());
        let lookup = store.get_records(path, &want.ids).unwrap();
        assert!(lookup.missing.is_empty());
        assert_eq!(lookup.found.unwrap().batch, want.batch, "{path}");
    }
}

/// A copy of the layout-2 fixture in a new temporary directory.
fn layout2_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-layout2");
    for name in ["db", "conf"] {
        std::fs::copy(fixture.join(name), dir.path().join(name)).unwrap();
    }
    dir
}

fn expected_fixture_contents() -> MemoryStore {
    let memory = MemoryStore::new();
    layout2_fixture_writes(&memory);
    memory
}

#[test]
fn sled_a_layout_2_store_is_migrated_on_open_and_its_old_space_freed() {
    let expected = expected_fixture_contents();
    let dir = layout2_copy();
    {
        let store = SledStore::open(dir.path()).unwrap();
        assert_same_contents(&store, &expected);
        // the superseded batch of `gone` was not carried over
        assert_eq!(store.stored_batches(&p("gone")).unwrap(), 1);
        for old in ["db", "conf", "blobs"] {
            assert!(!dir.path().join(old).exists(), "{old} is left");
        }
        // and the store keeps working: same numbering, new writes
        store
            .add_records(&p("odd"), &ids(&["new"]), &batch_x(&[99]), false)
            .unwrap();
        store.flush().unwrap();
    }
    let store = SledStore::open(dir.path()).unwrap();
    assert!(store.contains(&p("odd"), "new").unwrap());
    assert_eq!(store.count(&p("odd")).unwrap(), 7);
}

fn batch_x(xs: &[i64]) -> RecordBatch {
    let s1 = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
    RecordBatch::try_new(s1, vec![Arc::new(Int64Array::from(xs.to_vec()))]).unwrap()
}

#[test]
fn sled_an_interrupted_migration_is_finished_or_restarted_on_the_next_open() {
    let expected = expected_fixture_contents();
    // A crash in the middle: a catalog without its format marker, stray batch files.
    let dir = layout2_copy();
    {
        let catalog = dir.path().join("catalog");
        std::fs::create_dir_all(dir.path().join("batches/0")).unwrap();
        std::fs::write(dir.path().join("batches/0/0.arrow"), b"half").unwrap();
        std::fs::write(dir.path().join("batches/0/1.arrow.tmp"), b"half").unwrap();
        // an unfinished catalog: entries, but not its format marker (written last)
        let db = sled::open(&catalog).unwrap();
        db.insert([1u8, 0x40, 0, 0, 0, 0, 0, 0, 0, 0], &[0u8; 16][..])
            .unwrap();
        db.flush().unwrap();
    }
    assert_same_contents(&SledStore::open(dir.path()).unwrap(), &expected);

    // A crash after the new catalog is complete, before the old files are deleted.
    let dir = layout2_copy();
    drop(SledStore::open(dir.path()).unwrap());
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-layout2");
    for name in ["db", "conf"] {
        std::fs::copy(fixture.join(name), dir.path().join(name)).unwrap();
    }
    let store = SledStore::open(dir.path()).unwrap();
    assert_same_contents(&store, &expected);
    assert!(!dir.path().join("db").exists());
}

/// Column types beyond the plain ones survive a batch file: dictionaries, lists,
/// structs, field and schema metadata, and a batch with rows but no column.
#[test]
fn sled_batch_files_keep_every_column_type_and_metadata() {
    use arrow::array::{DictionaryArray, ListArray, StructArray};
    use arrow::datatypes::{Int32Type, Int64Type};
    let dir = tempfile::tempdir().unwrap();
    let dict: DictionaryArray<Int32Type> = vec!["a", "b", "a"].into_iter().collect();
    let list = ListArray::from_iter_primitive::<Int64Type, _, _>(vec![
        Some(vec![Some(1), None]),
        None,
        Some(vec![]),
    ]);
    let inner = Arc::new(Field::new("s", DataType::Utf8, true));
    let structs = StructArray::from(vec![(
        inner,
        Arc::new(StringArray::from(vec![Some("x"), None, Some("z")])) as arrow::array::ArrayRef,
    )]);
    let metadata = std::collections::HashMap::from([("m".to_string(), "1".to_string())]);
    let schema = Arc::new(Schema::new_with_metadata(
        vec![
            Field::new("d", dict.data_type().clone(), false).with_metadata(metadata.clone()),
            Field::new("l", list.data_type().clone(), true),
            Field::new("st", structs.data_type().clone(), false),
        ],
        metadata,
    ));
    let rich = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(dict), Arc::new(list), Arc::new(structs)],
    )
    .unwrap();
    let no_columns = RecordBatch::try_new_with_options(
        Arc::new(Schema::empty()),
        vec![],
        &arrow::array::RecordBatchOptions::new().with_row_count(Some(2)),
    )
    .unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
        store
            .add_records(&p("rich"), &ids(&["1", "2", "3"]), &rich, false)
            .unwrap();
        store
            .add_records(&p("none"), &ids(&["a", "b"]), &no_columns, false)
            .unwrap();
        store.flush().unwrap();
    }
    let store = SledStore::open(dir.path()).unwrap();
    let back = store.get_all(&p("rich")).unwrap().unwrap();
    assert_eq!(back.batch, rich);
    assert_eq!(back.batch.schema(), schema);
    let none = store.get_all(&p("none")).unwrap().unwrap();
    assert_eq!(
        (none.ids.clone(), none.batch.num_rows()),
        (ids(&["a", "b"]), 2)
    );
    let one = store.get_records(&p("rich"), &ids(&["3"])).unwrap();
    assert_eq!(one.found.unwrap().batch, rich.slice(2, 1));
}

#[test]
fn sled_compaction_rewrites_mostly_superseded_batches_and_changes_no_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let t = p("t");
    for b in 0..10 {
        let ids: Vec<String> = (b * 100..b * 100 + 100).map(hash_id).collect();
        let xs: Vec<i64> = (b * 100..b * 100 + 100).map(|x| x as i64).collect();
        store.add_records(&t, &ids, &batch(&xs), false).unwrap();
    }
    // 80 rows of each of the first 8 batches replaced by one later write
    let (ids, xs): (Vec<String>, Vec<i64>) = (0..8)
        .flat_map(|b| (b * 100..b * 100 + 80).map(|i| (hash_id(i), -(i as i64))))
        .unzip();
    store.add_records(&t, &ids, &batch(&xs), false).unwrap();
    store.flush().unwrap();
    let before = store.get_all(&t).unwrap().unwrap();
    let bytes_before: u64 = batch_files(dir.path()).iter().map(|f| f.1).sum();
    assert_eq!(store.stored_batches(&t).unwrap(), 11);

    assert_eq!(store.compact().unwrap(), 8);
    assert_eq!(store.compact().unwrap(), 0, "nothing left to compact");
    let check = |store: &SledStore| {
        let after = store.get_all(&t).unwrap().unwrap();
        assert_eq!(after.ids, before.ids);
        assert_eq!(after.batch, before.batch);
        let lookup = store.get_records(&t, &before.ids).unwrap();
        assert!(lookup.missing.is_empty());
        assert_eq!(lookup.found.unwrap().batch, before.batch);
        assert_eq!(store.count(&t).unwrap(), 1000);
    };
    check(&store);
    store.flush().unwrap();
    assert_eq!(store.stored_batches(&t).unwrap(), 4);
    assert_eq!(batch_files(dir.path()).len(), 4);
    let bytes_after: u64 = batch_files(dir.path()).iter().map(|f| f.1).sum();
    assert!(bytes_after < bytes_before, "{bytes_after} < {bytes_before}");
    drop(store);
    let store = SledStore::open(dir.path()).unwrap();
    check(&store);
    // the compacted batch's rows are replaced like any others: its file goes at flush
    let survivors: Vec<String> = (0..8)
        .flat_map(|b| (b * 100 + 80..b * 100 + 100).map(hash_id))
        .collect();
    let xs: Vec<i64> = (0..survivors.len() as i64).collect();
    store
        .add_records(&t, &survivors, &batch(&xs), false)
        .unwrap();
    store.flush().unwrap();
    assert_eq!(store.stored_batches(&t).unwrap(), 4);
    assert_eq!(batch_files(dir.path()).len(), 4);
    assert_eq!(store.count(&t).unwrap(), 1000);
}
