//! The run log: what the store keeps about runs ([`write_run_log`], [`read_run_log`]).
//!
//! It keeps one row per node per run under `_log/run_nodes` in the pipeline's
//! scope: the run's id, start and end, its outcome ([`RunOutcome`]: completed, failed
//! with the failing node and the reason, interrupted with what stopped it), and the
//! node's rows and packet counts (cached, computed, failed, retried) as they stood when
//! the run ended, so a failed or interrupted run shows what it did. Logs written by
//! older builds (`_log/runs`: no start, outcome or retries) are still read, as runs of
//! an [`RunOutcome::Unrecorded`] outcome; nothing is migrated or lost.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, LargeStringArray, RecordBatch, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};

use crate::error::{Error, Result};
use crate::function::node::{PacketCounts, PacketFailure};
use crate::store::layout::{old_run_log_path, run_log_path};
use crate::store::ArrowStore;

/// What one node did in a run: a node's line in the run log.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeStats {
    /// The node's name.
    pub node: String,
    /// Rows the node produced.
    pub rows_out: u64,
    /// Packet counts (function nodes only).
    pub counts: PacketCounts,
    /// Failed packets (function nodes only).
    pub failures: Vec<PacketFailure>,
}

/// How a run ended, as the run log records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// Every node ended.
    Completed,
    /// The run stopped at a failure (fail-fast): the node that failed and why.
    Failed {
        /// The failing node (or `store` when storing failed).
        node: String,
        /// The error message.
        reason: String,
    },
    /// The run was stopped from outside (a signal, a cancelled handle, or a process
    /// killed before it could record its end); what it stored is kept.
    Interrupted {
        /// What stopped it, e.g. `SIGINT`.
        reason: String,
    },
    /// Logged by an older orcapod, whose run log did not say how runs ended.
    Unrecorded,
}

impl RunOutcome {
    /// One word: `completed`, `failed`, `interrupted` or `unrecorded`.
    pub fn label(&self) -> &'static str {
        match self {
            RunOutcome::Completed => "completed",
            RunOutcome::Failed { .. } => "failed",
            RunOutcome::Interrupted { .. } => "interrupted",
            RunOutcome::Unrecorded => "unrecorded",
        }
    }

    /// The failing node, for a failed run.
    pub fn failed_node(&self) -> Option<&str> {
        match self {
            RunOutcome::Failed { node, .. } => Some(node),
            _ => None,
        }
    }

    /// Why the run did not complete.
    pub fn reason(&self) -> Option<&str> {
        match self {
            RunOutcome::Failed { reason, .. } | RunOutcome::Interrupted { reason } => Some(reason),
            _ => None,
        }
    }

    fn from_columns(label: &str, node: Option<&str>, reason: Option<&str>) -> RunOutcome {
        let reason = reason.unwrap_or_default().to_string();
        match label {
            "completed" => RunOutcome::Completed,
            "failed" => RunOutcome::Failed {
                node: node.unwrap_or_default().to_string(),
                reason,
            },
            "interrupted" => RunOutcome::Interrupted { reason },
            _ => RunOutcome::Unrecorded,
        }
    }
}

/// One run, as a whole: what [`write_run_log`] records beside each node's counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    /// The run's id (unique per run, sortable by start time).
    pub run_id: String,
    /// When the run started (ISO 8601, as given by whoever ran it).
    pub started_at: String,
    /// When the run ended.
    pub finished_at: String,
    /// How it ended.
    pub outcome: RunOutcome,
}

/// One node's line in the run log.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    /// The run's id (unique per run).
    pub run_id: String,
    /// When the run started (empty in lines logged by an older orcapod).
    pub started_at: String,
    /// When the run ended (as given by whoever ran it).
    pub finished_at: String,
    /// How the run ended ([`RunOutcome::Unrecorded`] in lines logged by an older orcapod).
    pub outcome: RunOutcome,
    /// The node.
    pub node: String,
    /// Rows it produced.
    pub rows_out: u64,
    /// Packets served from stored results.
    pub cached: u64,
    /// Packets computed.
    pub computed: u64,
    /// Packets failed.
    pub failed: u64,
    /// Retries: packets computed again after a failed attempt (0 in older lines).
    pub retried: u64,
    /// The failures: tags, message and stderr of each, as JSON text.
    pub failures_json: String,
}

/// The columns of the first layout, in order.
const OLD_RUN_LOG_COLUMNS: [&str; 8] = [
    "run_id",
    "finished_at",
    "node",
    "rows_out",
    "cached",
    "computed",
    "failed",
    "failures",
];

/// The columns of the current layout, in order.
const RUN_LOG_COLUMNS: [&str; 13] = [
    "run_id",
    "started_at",
    "finished_at",
    "outcome",
    "failed_node",
    "reason",
    "node",
    "rows_out",
    "cached",
    "computed",
    "failed",
    "retried",
    "failures",
];

fn run_log_schema() -> Arc<Schema> {
    let fields = RUN_LOG_COLUMNS.iter().map(|&name| match name {
        "rows_out" | "cached" | "computed" | "failed" | "retried" => {
            Field::new(name, DataType::UInt64, false)
        }
        "failed_node" | "reason" => Field::new(name, DataType::LargeUtf8, true),
        _ => Field::new(name, DataType::LargeUtf8, false),
    });
    Arc::new(Schema::new(fields.collect::<Vec<_>>()))
}

/// Appends a run's per-node stats, with the run's start, end and outcome, to the run log
/// of the pipeline `pipeline` in `store`, and flushes. The stats of a run that did not
/// complete are the counts as they stood when it stopped.
pub fn write_run_log(
    store: &dyn ArrowStore,
    pipeline: &str,
    run: &RunInfo,
    stats: &[NodeStats],
) -> Result<()> {
    if stats.is_empty() {
        return Ok(());
    }
    let store = store.at(&[pipeline])?;
    let n = stats.len();
    let same = |value: &str| -> ArrayRef {
        Arc::new(LargeStringArray::from_iter_values(std::iter::repeat_n(
            value, n,
        )))
    };
    let same_opt =
        |value: Option<&str>| -> ArrayRef { Arc::new(LargeStringArray::from(vec![value; n])) };
    let strings = |f: &dyn Fn(&NodeStats) -> String| -> ArrayRef {
        Arc::new(LargeStringArray::from(
            stats.iter().map(f).collect::<Vec<_>>(),
        ))
    };
    let counts = |f: &dyn Fn(&NodeStats) -> u64| -> ArrayRef {
        Arc::new(UInt64Array::from(stats.iter().map(f).collect::<Vec<_>>()))
    };
    let batch = RecordBatch::try_new(
        run_log_schema(),
        vec![
            same(&run.run_id),
            same(&run.started_at),
            same(&run.finished_at),
            same(run.outcome.label()),
            same_opt(run.outcome.failed_node()),
            same_opt(run.outcome.reason()),
            strings(&|s| s.node.clone()),
            counts(&|s| s.rows_out),
            counts(&|s| s.counts.cached),
            counts(&|s| s.counts.computed),
            counts(&|s| s.counts.failed),
            counts(&|s| s.counts.retried),
            strings(&|s| {
                let failures: Vec<serde_json::Value> = s
                    .failures
                    .iter()
                    .map(|f| {
                        let tag: serde_json::Map<String, serde_json::Value> = f
                            .tag
                            .iter()
                            .map(|(k, v)| (k.clone(), crate::function::datum_to_json(v)))
                            .collect();
                        serde_json::json!({
                            "tag": tag,
                            "message": f.error.message,
                            "stderr": f.error.stderr,
                        })
                    })
                    .collect();
                serde_json::Value::Array(failures).to_string()
            }),
        ],
    )?;
    let ids: Vec<String> = stats
        .iter()
        .map(|s| format!("{}/{}", run.run_id, s.node))
        .collect();
    store.add_records(&run_log_path()?, &ids, &batch, true)?;
    store.flush()
}

/// The run log of pipeline `pipeline`, oldest run first: the lines of both layouts (lines
/// of the first layout have no start time, an [`RunOutcome::Unrecorded`] outcome and no
/// retries).
pub fn read_run_log(store: &dyn ArrowStore, pipeline: &str) -> Result<Vec<RunRecord>> {
    let store = store.at(&[pipeline])?;
    let mut log = Vec::new();
    if let Some(records) = store.get_all(&old_run_log_path()?)? {
        let b = Columns::of(&records.batch, &OLD_RUN_LOG_COLUMNS)?;
        log.extend((0..records.batch.num_rows()).map(|r| RunRecord {
            run_id: b.text(0, r),
            started_at: String::new(),
            finished_at: b.text(1, r),
            outcome: RunOutcome::Unrecorded,
            node: b.text(2, r),
            rows_out: b.count(3, r),
            cached: b.count(4, r),
            computed: b.count(5, r),
            failed: b.count(6, r),
            retried: 0,
            failures_json: b.text(7, r),
        }));
    }
    if let Some(records) = store.get_all(&run_log_path()?)? {
        let b = Columns::of(&records.batch, &RUN_LOG_COLUMNS)?;
        log.extend((0..records.batch.num_rows()).map(|r| RunRecord {
            run_id: b.text(0, r),
            started_at: b.text(1, r),
            finished_at: b.text(2, r),
            outcome: RunOutcome::from_columns(
                &b.text(3, r),
                b.optional(4, r).as_deref(),
                b.optional(5, r).as_deref(),
            ),
            node: b.text(6, r),
            rows_out: b.count(7, r),
            cached: b.count(8, r),
            computed: b.count(9, r),
            failed: b.count(10, r),
            retried: b.count(11, r),
            failures_json: b.text(12, r),
        }));
    }
    // Run ids sort by start time; within a run, nodes keep their logged order.
    log.sort_by(|a, b| a.run_id.cmp(&b.run_id));
    Ok(log)
}

/// The columns of a run-log batch, checked against the layout's names and types.
struct Columns<'a> {
    batch: &'a RecordBatch,
}

impl<'a> Columns<'a> {
    fn of(batch: &'a RecordBatch, names: &[&str]) -> Result<Self> {
        let schema = batch.schema();
        let found: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let typed = schema
            .fields()
            .iter()
            .all(|f| matches!(f.data_type(), DataType::LargeUtf8 | DataType::UInt64));
        if found != names || !typed {
            return Err(Error::invalid(
                "the run log",
                format!(
                    "unexpected columns [{}] (this build reads [{}])",
                    found.join(", "),
                    names.join(", ")
                ),
            ));
        }
        Ok(Columns { batch })
    }

    fn text(&self, column: usize, row: usize) -> String {
        self.optional(column, row).unwrap_or_default()
    }

    fn optional(&self, column: usize, row: usize) -> Option<String> {
        let array = self.batch.column(column).as_string_opt::<i64>()?;
        array.is_valid(row).then(|| array.value(row).to_string())
    }

    fn count(&self, column: usize, row: usize) -> u64 {
        self.batch
            .column(column)
            .as_any()
            .downcast_ref::<UInt64Array>()
            .map_or(0, |a| a.value(row))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;
    use crate::store::RecordPath;

    /// A run log as the first layout wrote it: eight columns under `_log/runs`.
    fn old_log(store: &dyn ArrowStore, pipeline: &str) {
        let text = |n: &str| Field::new(n, DataType::LargeUtf8, false);
        let count = |n: &str| Field::new(n, DataType::UInt64, false);
        let schema = Arc::new(Schema::new(vec![
            text("run_id"),
            text("finished_at"),
            text("node"),
            count("rows_out"),
            count("cached"),
            count("computed"),
            count("failed"),
            text("failures"),
        ]));
        let strings = |v: [&str; 2]| -> ArrayRef { Arc::new(LargeStringArray::from(v.to_vec())) };
        let counts = |v: [u64; 2]| -> ArrayRef { Arc::new(UInt64Array::from(v.to_vec())) };
        let batch = RecordBatch::try_new(
            schema,
            vec![
                strings(["0001-old", "0001-old"]),
                strings(["2024-01-01T00:00:00.000Z"; 2]),
                strings(["s", "f"]),
                counts([3, 3]),
                counts([0, 1]),
                counts([0, 2]),
                counts([0, 0]),
                strings(["[]", "[]"]),
            ],
        )
        .unwrap();
        let scoped = store.at(&[pipeline]).unwrap();
        scoped
            .add_records(
                &RecordPath::new(["_log", "runs"]).unwrap(),
                &["0001-old/s".to_string(), "0001-old/f".to_string()],
                &batch,
                true,
            )
            .unwrap();
    }

    fn stats(node: &str, computed: u64, retried: u64) -> NodeStats {
        NodeStats {
            node: node.to_string(),
            rows_out: computed,
            counts: PacketCounts {
                computed,
                retried,
                ..PacketCounts::default()
            },
            failures: Vec::new(),
        }
    }

    #[test]
    fn a_log_of_the_first_layout_stays_readable_beside_new_runs() {
        let store = MemoryStore::new();
        old_log(&store, "p");
        let failed = RunInfo {
            run_id: "0002-new".into(),
            started_at: "2025-01-01T00:00:00.000Z".into(),
            finished_at: "2025-01-01T00:01:00.000Z".into(),
            outcome: RunOutcome::Failed {
                node: "f".into(),
                reason: "the command died".into(),
            },
        };
        write_run_log(&store, "p", &failed, &[stats("s", 0, 0), stats("f", 7, 2)]).unwrap();
        let interrupted = RunInfo {
            run_id: "0003-new".into(),
            outcome: RunOutcome::Interrupted {
                reason: "SIGINT".into(),
            },
            ..failed.clone()
        };
        write_run_log(&store, "p", &interrupted, &[stats("f", 1, 0)]).unwrap();

        let log = read_run_log(&store, "p").unwrap();
        let runs: Vec<(&str, &str, &str)> = log
            .iter()
            .map(|r| (r.run_id.as_str(), r.node.as_str(), r.outcome.label()))
            .collect();
        assert_eq!(
            runs,
            [
                ("0001-old", "s", "unrecorded"),
                ("0001-old", "f", "unrecorded"),
                ("0002-new", "s", "failed"),
                ("0002-new", "f", "failed"),
                ("0003-new", "f", "interrupted"),
            ]
        );
        let old = &log[1];
        assert_eq!((old.computed, old.cached, old.retried), (2, 1, 0));
        assert_eq!(old.finished_at, "2024-01-01T00:00:00.000Z");
        assert_eq!(old.started_at, "");
        let f = &log[3];
        assert_eq!((f.computed, f.retried, f.rows_out), (7, 2, 7));
        assert_eq!(f.outcome, failed.outcome);
        assert_eq!(f.outcome.failed_node(), Some("f"));
        assert_eq!(f.outcome.reason(), Some("the command died"));
        assert_eq!(f.started_at, "2025-01-01T00:00:00.000Z");
        assert_eq!(log[4].outcome.reason(), Some("SIGINT"));
        assert!(read_run_log(&store, "other").unwrap().is_empty());
    }

    #[test]
    fn a_run_log_of_an_unknown_layout_is_an_error_not_an_empty_log() {
        let store = MemoryStore::new();
        let scoped = store.at(&["p"]).unwrap();
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("x", DataType::UInt64, false)])),
            vec![Arc::new(UInt64Array::from(vec![1]))],
        )
        .unwrap();
        scoped
            .add_records(&run_log_path().unwrap(), &["a".to_string()], &batch, true)
            .unwrap();
        let err = read_run_log(&store, "p").unwrap_err().to_string();
        assert!(err.contains("run log") && err.contains("x"), "{err}");
    }
}
