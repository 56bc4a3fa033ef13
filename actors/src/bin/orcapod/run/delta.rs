//! What `--watch` keeps between rounds so that a round feeds only what changed (see
//! [`orcapod::pipeline::delta`]): each watched source's rows as the last completed
//! round read them ([`RowsSeen`]), and each output's rows after that round, in Arrow IPC
//! files under the database's `watch/` directory (emptied when watching starts, removed
//! when it stops).
//!
//! [`Kept::plan`] reads the sources that changed, row by row, and makes the round: the
//! pipeline fed only their added or changed rows (the sources those meet in an output
//! fed whole), or every row, with the reason. [`Keeping`] carries the outputs through the
//! round: an output's kept rows (less those derived from a removed record) go to it
//! before the run, the run's rows after them where the output takes them, and every row
//! an output ends with is written to its next kept file. Only a round that completed
//! with no packet failed and no source changed while it ran becomes what the next
//! round builds on ([`Kept::commit`]); otherwise the next round feeds every row.
//!
//! Nothing here runs the pipeline or decides when a round starts.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::ipc::reader::FileReader;
use orcapod::files::{file_hashes, StoreUse};
use orcapod::pipeline::delta::{plan_round, retract, Feed, OutputUse, SourceChange};
use orcapod::pipeline::NodeKind;
use orcapod::pipeline_file::PipelineFile;
use orcapod::source::{RecordKeys, RowsSeen, SourceDelta};
use orcapod::store::ArrowStore;

use super::keeping::Keeping;
use super::outputs::Outputs;
use crate::failure::Failure;

/// What the last completed round left for the next one.
pub struct Kept {
    dir: PathBuf,
    /// The store (scoped to the pipeline) where file hashes are cached, if it opens.
    store: Option<Arc<dyn ArrowStore>>,
    /// Per watched source (by name): its rows as last read.
    seen: HashMap<String, RowsSeen>,
    /// Per output, in the file's order: its rows after the last completed round; `None`
    /// when no round completed that the next can build on.
    outputs: Option<Vec<Option<PathBuf>>>,
    /// The sources that changed since the last completed round (a round that failed
    /// leaves its changes to the next).
    unsettled: HashSet<String>,
    /// The number of the next round's directory.
    next: u64,
}

/// A round, as [`Kept::plan`] made it.
pub struct RoundPlan {
    /// The file to run: fed only what changed, or `None` to run the file as loaded
    /// (every row).
    pub fed: Option<PipelineFile>,
    /// How each output is made.
    pub uses: Vec<OutputUse>,
    /// The records removed or changed, whose rows the outputs withdraw.
    pub removed: RecordKeys,
    /// The rows each source read this round has now.
    pub source_rows: Vec<(String, u64)>,
    /// What the round feeds, for its line: `fed rec: 1 of 12 rows` or `every row: why`.
    pub describe: String,
    seen: HashMap<String, RowsSeen>,
}

impl Kept {
    /// Nothing kept yet, in `db`'s `watch/` directory (emptied); files read are hashed
    /// through `store` (scoped to the pipeline).
    pub fn new(db: &Path, store: Option<Arc<dyn ArrowStore>>) -> Result<Kept, Failure> {
        let dir = db.join("watch");
        let made = match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => std::fs::create_dir_all(&dir),
        };
        made.map_err(|e| {
            Failure::Failed(format!("cannot make the directory {}: {e}", dir.display()))
        })?;
        Ok(Kept {
            dir,
            store,
            seen: HashMap::new(),
            outputs: None,
            unsettled: HashSet::new(),
            next: 0,
        })
    }

    /// Forgets every round: the next feeds every row.
    pub fn forget(&mut self) {
        self.seen.clear();
        self.outputs = None;
    }

    /// Notes that the sources named `changed` changed: the next round to plan reads
    /// them, and so does every round after it until one completes.
    pub fn unsettle(&mut self, changed: &[&str]) {
        self.unsettled
            .extend(changed.iter().map(|name| name.to_string()));
    }

    /// Reads the sources of `file` that changed since the last completed round
    /// ([`Kept::unsettle`]), and those not read before, and makes the round. The added
    /// rows of a source are kept in memory up to `keep_bytes`; beyond, the source is fed
    /// whole.
    pub fn plan(&self, file: &PipelineFile, keep_bytes: usize) -> Result<RoundPlan, Failure> {
        let pipeline = file.pipeline();
        let mut full: Option<String> = match &self.outputs {
            None if self.next == 0 => Some("the first round".to_string()),
            None => Some("the last round did not complete cleanly".to_string()),
            Some(_) => None,
        };
        let mut plan = RoundPlan {
            fed: None,
            uses: Vec::new(),
            removed: RecordKeys::default(),
            source_rows: Vec::new(),
            describe: String::new(),
            seen: HashMap::new(),
        };
        let mut changes = HashMap::new();
        let mut added = HashMap::new();
        let mut fed_parts = Vec::new();
        for (name, _) in file.inputs() {
            let before = self.seen.get(name);
            // A round feeding every row reads no source here: [`Kept::settle`] does,
            // once the round has reported.
            let wanted = match before {
                Some(_) => self.unsettled.contains(name),
                None => full.is_none(),
            };
            if !wanted {
                continue;
            }
            let Some(index) = pipeline.index_of(name) else {
                continue;
            };
            let keep = if full.is_some() { 0 } else { keep_bytes };
            let Some((now, delta)) = self.read(file, name, before, keep)? else {
                continue;
            };
            if let Some(record) = now.shared_record() {
                full.get_or_insert_with(|| {
                    format!("source `{name}` has several rows of record `{record}`")
                });
            }
            plan.source_rows.push((name.clone(), delta.rows));
            if before.is_some() && !delta.is_empty() {
                let change = SourceChange {
                    added: delta.added_rows > 0 && delta.added.is_some(),
                    whole: delta.added_rows > 0 && delta.added.is_none(),
                    removed: !delta.removed.is_empty(),
                };
                changes.insert(index, change);
                fed_parts.push(describe_delta(name, &delta));
                if let Some(rows) = delta.added {
                    added.insert(index, rows);
                }
                plan.removed.extend(delta.removed);
            }
            plan.seen.insert(name.clone(), now);
        }
        let outputs: Vec<usize> = file
            .outputs()
            .iter()
            .filter_map(|name| pipeline.index_of(name))
            .collect();
        let every_row = OutputUse {
            keep_old: false,
            retract: false,
            take_run: true,
        };
        let round = match full {
            Some(why) => Err(why),
            None => plan_round(pipeline, &outputs, &changes),
        };
        match round {
            Err(why) => {
                plan.uses = vec![every_row; outputs.len()];
                plan.describe = format!("every row fed ({why})");
            }
            Ok(round) => {
                let mut fed = pipeline.clone();
                let mut whole = Vec::new();
                for (index, feed) in round.feeds {
                    let rows = match feed {
                        Feed::Added => added.remove(&index).unwrap_or_default(),
                        Feed::Nothing => Vec::new(),
                        Feed::Whole => {
                            whole.push(format!("`{}`", pipeline.nodes()[index].name()));
                            continue;
                        }
                    };
                    fed = fed
                        .with_source_rows(index, rows)
                        .map_err(|e| Failure::Failed(format!("cannot feed the round: {e}")))?;
                }
                if !whole.is_empty() {
                    fed_parts.push(format!("{} whole (joined with them)", whole.join(", ")));
                }
                plan.uses = round.outputs;
                plan.fed = Some(file.with_pipeline(fed));
                plan.describe = if fed_parts.is_empty() {
                    "nothing fed: no row changed".to_string()
                } else {
                    format!("fed {}", fed_parts.join("; "))
                };
            }
        }
        Ok(plan)
    }

    /// Reads every source of `file` that no round has read yet (a round that fed every
    /// row reads none before it runs, so that its results come as fast as a plain run's):
    /// what the next round compares with. The caller then checks that no source changed
    /// since the round's look, else [`Kept::forget`]s. Returns whether it read one.
    pub fn settle(&mut self, file: &PipelineFile) -> Result<bool, Failure> {
        let mut read = false;
        if self.outputs.is_none() {
            return Ok(read);
        }
        for (name, _) in file.inputs() {
            if self.seen.contains_key(name) {
                continue;
            }
            if let Some((now, _)) = self.read(file, name, None, 0)? {
                self.seen.insert(name.clone(), now);
                read = true;
            }
        }
        Ok(read)
    }

    /// Reads source `name` of `file` row by row: its rows as seen now, and what changed
    /// since `before` (every row, when never read), the added rows held up to
    /// `keep_bytes`. `None` when `name` is no source of the file.
    fn read(
        &self,
        file: &PipelineFile,
        name: &str,
        before: Option<&RowsSeen>,
        keep_bytes: usize,
    ) -> Result<Option<(RowsSeen, SourceDelta)>, Failure> {
        let Some(NodeKind::Source(source)) = file.pipeline().node(name).map(|n| n.kind()) else {
            return Ok(None);
        };
        let store = self.store.as_deref().map(|s| StoreUse::new(s, true));
        before
            .unwrap_or(&RowsSeen::default())
            .compare(source, file_hashes(), store, keep_bytes)
            .map(Some)
            .map_err(|e| Failure::Failed(format!("cannot read source `{name}`: {e}")))
    }

    /// Hands `outputs` what it keeps of the last round's rows, as `plan` says, each
    /// row also written to the round's next kept files, then lets it take the run's rows
    /// where `plan` says so.
    pub fn replay(&mut self, plan: &RoundPlan, outputs: &mut Outputs) -> Result<(), Failure> {
        let dir = self.dir.join(format!("round-{}", self.next));
        self.next += 1;
        std::fs::create_dir_all(&dir).map_err(|e| {
            Failure::Failed(format!("cannot make the directory {}: {e}", dir.display()))
        })?;
        outputs.keep_in(Keeping::new(dir, &plan.uses));
        let Some(kept) = &self.outputs else {
            return Ok(());
        };
        for (index, (rows, output_use)) in kept.iter().zip(&plan.uses).enumerate() {
            let Some(path) = rows.as_ref().filter(|_| output_use.keep_old) else {
                continue;
            };
            let failed = |e: String| {
                Failure::Failed(format!("cannot read the kept rows {}: {e}", path.display()))
            };
            let file = File::open(path).map_err(|e| failed(e.to_string()))?;
            let reader = FileReader::try_new(BufReader::new(file), None)
                .map_err(|e| failed(e.to_string()))?;
            for batch in reader {
                let batch = batch.map_err(|e| failed(e.to_string()))?;
                let batch = if output_use.retract {
                    retract(&batch, &plan.removed).map_err(|e| failed(e.to_string()))?
                } else {
                    batch
                };
                if batch.num_rows() > 0 {
                    outputs.push_kept(index, &batch)?;
                }
            }
        }
        Ok(())
    }

    /// The round of `plan` completed and its outputs hold `keeping`'s rows: the next
    /// round builds on them if `clean` (no packet failed, no source changed meanwhile);
    /// otherwise it feeds every row.
    pub fn commit(
        &mut self,
        plan: RoundPlan,
        keeping: Keeping,
        clean: bool,
    ) -> Result<(), Failure> {
        let (current, rows) = keeping.close()?;
        self.outputs = Some(rows);
        // Every earlier round's directory goes (one left behind would cost disk space
        // only: the watch goes on).
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                if entry.path() != current {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        self.seen.extend(plan.seen);
        self.unsettled.clear();
        if !clean {
            self.forget();
        }
        Ok(())
    }
}

impl Drop for Kept {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `rec: 1 new or changed row of 12, 2 old rows withdrawn`.
fn describe_delta(name: &str, delta: &SourceDelta) -> String {
    let mut text = format!(
        "{name}: {} new or changed row{} of {}",
        delta.added_rows,
        if delta.added_rows == 1 { "" } else { "s" },
        delta.rows
    );
    if delta.added.is_none() && delta.added_rows > 0 {
        text.push_str(" (too many to hold: fed whole)");
    }
    if !delta.removed.is_empty() {
        let n = delta.removed.len();
        let s = if n == 1 { "" } else { "s" };
        text.push_str(&format!(", {n} old row{s} withdrawn"));
    }
    text
}
