//! A store slower than the pipeline slows the pipeline down instead of filling memory:
//! while the store cannot write, a function node stops taking input once enough of its
//! rows wait to be stored, and when the store catches up the run finishes with every
//! row, each packet computed once.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, SchemaRef};
use orcapod::function::closure::ClosureFunction;
use orcapod::function::{FunctionError, FunctionPod};
use orcapod::model::Datum;
use orcapod::pipeline::PipelineBuilder;
use orcapod::store::{ArrowStore, Lookup, MemoryStore, RecordPath, Records};
use orcapod_actors::{RunOptions, Runtime};
use orcapod_testing::sources::numbers;

/// A store whose writes wait until its gate is opened.
#[derive(Debug, Clone)]
struct GatedStore {
    inner: Arc<dyn ArrowStore>,
    gate: Arc<(Mutex<bool>, Condvar)>,
}

impl GatedStore {
    fn open_gate(&self) {
        let (open, changed) = &*self.gate;
        *open.lock().unwrap() = true;
        changed.notify_all();
    }

    fn wait_for_gate(&self) {
        let (open, changed) = &*self.gate;
        let mut open = open.lock().unwrap();
        while !*open {
            open = changed.wait(open).unwrap();
        }
    }
}

/// Opens the gate when dropped, so that a failing test does not leave the store
/// writer waiting (and the runtime's shutdown with it).
struct OpensOnDrop(GatedStore);

impl Drop for OpensOnDrop {
    fn drop(&mut self) {
        self.0.open_gate();
    }
}

impl ArrowStore for GatedStore {
    fn base_path(&self) -> &[String] {
        self.inner.base_path()
    }
    fn add_records(
        &self,
        path: &RecordPath,
        ids: &[String],
        batch: &RecordBatch,
        skip_duplicates: bool,
    ) -> orcapod::Result<usize> {
        self.wait_for_gate();
        self.inner.add_records(path, ids, batch, skip_duplicates)
    }
    fn get_records(&self, path: &RecordPath, ids: &[String]) -> orcapod::Result<Lookup> {
        self.inner.get_records(path, ids)
    }
    fn get_all(&self, path: &RecordPath) -> orcapod::Result<Option<Records>> {
        self.inner.get_all(path)
    }
    fn contains_many(&self, path: &RecordPath, ids: &[String]) -> orcapod::Result<Vec<bool>> {
        self.inner.contains_many(path, ids)
    }
    fn ids(&self, path: &RecordPath) -> orcapod::Result<Vec<String>> {
        self.inner.ids(path)
    }
    fn schema(&self, path: &RecordPath) -> orcapod::Result<Option<SchemaRef>> {
        self.inner.schema(path)
    }
    fn list_paths(&self, prefix: Option<&RecordPath>) -> orcapod::Result<Vec<RecordPath>> {
        self.inner.list_paths(prefix)
    }
    fn flush(&self) -> orcapod::Result<()> {
        self.inner.flush()
    }
    fn at(&self, components: &[&str]) -> orcapod::Result<Arc<dyn ArrowStore>> {
        Ok(Arc::new(GatedStore {
            inner: self.inner.at(components)?,
            gate: self.gate.clone(),
        }))
    }
}

#[test]
fn a_store_that_cannot_write_stops_the_pipeline_and_loses_nothing() {
    const ROWS: usize = 120_000;
    let field = |n: &str| Arc::new(Field::new(n, DataType::Int64, false));
    let next = ClosureFunction::new("next", vec![field("v")], vec![field("w")], |p| {
        match p[0].1 {
            Datum::Int(x) => Ok(vec![Datum::Int(x + 1)]),
            _ => Err(FunctionError::new("not an int")),
        }
    });
    let mut b = PipelineBuilder::new("gated");
    b.source("s", numbers("s", ROWS, ROWS, "v")).function(
        "f",
        FunctionPod::new(Arc::new(next)).unwrap(),
        ["s"],
    );
    let pipeline = b.build().unwrap();
    let store = GatedStore {
        inner: Arc::new(MemoryStore::new()),
        gate: Arc::new((Mutex::new(false), Condvar::new())),
    };
    let runtime = Runtime::new().unwrap();
    // Dropped before the runtime (declared after it).
    let _gate = OpensOnDrop(store.clone());
    let handle = runtime
        .start(
            &pipeline,
            RunOptions::default()
                .store(Arc::new(store.clone()))
                .outputs(["f"]),
        )
        .unwrap();
    // Wait until the function node stops emitting (at most a minute).
    let emitted = || {
        handle
            .progress()
            .into_iter()
            .find(|p| p.name == "f")
            .map_or(0, |p| p.rows_out)
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = emitted();
    let mut still = 0;
    while still < 5 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        let now = emitted();
        still = if now == last { still + 1 } else { 0 };
        last = now;
    }
    assert!(still >= 5, "the function node kept going: {last} rows");
    assert!(
        (last as usize) < ROWS / 2,
        "with nothing stored, the function node should hold back long before the end: \
         {last} of {ROWS} rows emitted"
    );
    assert!(last > 0, "rows flow until the backlog is full");
    store.open_gate();
    let output = handle.wait().unwrap();
    assert_eq!(output.streams["f"].num_rows(), ROWS);
    let stats = output.stats.iter().find(|s| s.node == "f").unwrap();
    assert_eq!(stats.counts.computed, ROWS as u64);
    assert_eq!(stats.counts.cached, 0);
}
