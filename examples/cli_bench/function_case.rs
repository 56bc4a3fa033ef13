//! Case (h) of the whole-process benchmark (issue 16): the function pipeline
//! `scores.csv` → `map_packets {x: score}` → the `letter_grade` builtin, run by the built
//! binary on one database: `h-first` on a fresh database (every packet computed and
//! stored), then `h-rerun` on the same database (every packet recalled), `--function-reruns`
//! times. Each repetition starts from its own fresh database. Besides wall time and peak
//! memory, it measures the database directory after the first run and after the last
//! re-run (every file under it, sled's own files included) and reads the function node's
//! computed and cached counts from each run's summary.
//!
//! It only adds results: it never changes how the other cases are run or measured.

use std::path::Path;

use serde_json::{json, Value};

use super::args::human;
use super::data::{self, BoxError};
use super::measure::{self, Outcome};
use super::{count_rows, Bench, Measured};

/// The function node of `function.yaml`, whose summary line gives the counts.
const NODE: &str = "graded";
/// The output file `--out DIR --format arrow` writes for it.
const OUTPUT: &str = "graded.arrow";

/// What one run left behind, besides its time and peak.
#[derive(Default)]
struct After {
    /// Sum of the lengths of the files under the database directory (after the first
    /// run, or after the last re-run).
    db_bytes: Vec<u64>,
    /// The same files' allocated blocks, in bytes.
    db_disk_bytes: Vec<u64>,
    /// (computed, cached) of the function node, from the summary on stderr.
    counts: Vec<(u64, u64)>,
}

impl After {
    /// The results' extra keys: every repetition's figures and their medians.
    fn json(&self, n: usize) -> serde_json::Map<String, Value> {
        let median = |v: &[u64]| measure::median(v.iter().map(|&b| b as f64).collect());
        let bytes = median(&self.db_bytes);
        let disk = median(&self.db_disk_bytes);
        let per = |b: Option<f64>| b.map(|b| b / n.max(1) as f64);
        let mut m = serde_json::Map::new();
        m.insert("db_bytes".into(), json!(self.db_bytes));
        m.insert("median_db_bytes".into(), json!(bytes));
        m.insert("db_bytes_per_packet".into(), json!(per(bytes)));
        m.insert("db_disk_bytes".into(), json!(self.db_disk_bytes));
        m.insert("db_disk_bytes_per_packet".into(), json!(per(disk)));
        m.insert(
            "function_computed".into(),
            json!(self.counts.iter().map(|c| c.0).collect::<Vec<_>>()),
        );
        m.insert(
            "function_cached".into(),
            json!(self.counts.iter().map(|c| c.1).collect::<Vec<_>>()),
        );
        m
    }
}

/// (apparent bytes, allocated bytes) of the files under `dir`.
fn dir_usage(dir: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (0, 0);
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_usage(&e.path()),
            Ok(m) => (m.len(), m.blocks() * 512),
            Err(_) => (0, 0),
        })
        .fold((0, 0), |(a, b), (c, d)| (a + c, b + d))
}

/// (computed, cached) of `node` in the per-node summary `orcapod run` prints on stderr:
/// `NAME function ROWS COMPUTED CACHED FAILED RETRIED`.
fn summary_counts(stderr: &str, node: &str) -> Option<(u64, u64)> {
    stderr.lines().rev().find_map(|line| {
        let cells: Vec<&str> = line.split_whitespace().collect();
        match cells.as_slice() {
            [name, "function", _rows, computed, cached, ..] if *name == node => {
                Some((computed.parse().ok()?, cached.parse().ok()?))
            }
            _ => None,
        }
    })
}

impl Bench {
    /// Case (h) at `n` packets: `--reps` times a first run on a fresh database, then
    /// `--function-reruns` re-runs on it; stops at the first run that does not succeed.
    pub(crate) fn function_case(&mut self, data_root: &Path, n: usize) -> Result<(), BoxError> {
        let key = ("h", "csv", "orcapod");
        let mut phases = [
            Measured::new("h-first", "csv", n, "orcapod"),
            Measured::new("h-rerun", "csv", n, "orcapod"),
        ];
        let mut after = [After::default(), After::default()];
        if self.gave_up.contains(&key) {
            for m in &mut phases {
                m.skipped = Some("not run (a smaller size ran out of time or memory)".into());
            }
            self.results.extend(phases);
            return Ok(());
        }
        let dir = data::function_data(data_root, n)?;
        let job = self.orcapod("function.yaml", &dir, "arrow", OUTPUT);
        let scratch = self.work.join("run");
        let logs = self.work.join("logs");
        let reruns = self.o.function_reruns;
        'reps: for rep in 0..self.o.reps {
            let _ = std::fs::remove_dir_all(&scratch);
            let (db, out) = (scratch.join("db"), scratch.join("out"));
            let args = job.args_for(&db, &out);
            // Run 0 is the first run, runs 1..=reruns the re-runs.
            for step in 0..=reruns {
                let phase = step.min(1);
                let _ = std::fs::remove_dir_all(&out);
                std::fs::create_dir_all(&out)?;
                let m = &mut phases[phase];
                let again = if step > 0 && reruns > 1 {
                    format!(", re-run {step}/{reruns}")
                } else {
                    String::new()
                };
                eprint!(
                    "{} {} (run {}/{}{again}) ... ",
                    m.case,
                    human(n),
                    rep + 1,
                    self.o.reps
                );
                let run = measure::run(&job.program, &args, &job.dir, &logs, self.o.limits)?;
                let peak = run.peak_kb.map_or("?".into(), |k| format!("{}", k / 1024));
                eprintln!("{:.2} s, {peak} MB peak, {:?}", run.secs, run.outcome);
                let ok = run.outcome == Outcome::Ok;
                if ok && (step == 0 || step == reruns) {
                    let (bytes, disk) = dir_usage(&db);
                    after[phase].db_bytes.push(bytes);
                    after[phase].db_disk_bytes.push(disk);
                }
                if ok {
                    let stderr = std::fs::read_to_string(logs.join("stderr.txt"))?;
                    if let Some(counts) = summary_counts(&stderr, NODE) {
                        after[phase].counts.push(counts);
                    }
                    if m.output_rows.is_none() {
                        m.output_rows = count_rows(&out.join(OUTPUT));
                        m.output_bytes = Some(measure::dir_bytes(&out));
                    }
                } else if !matches!(run.outcome, Outcome::Failed(_)) {
                    self.gave_up.push(key);
                }
                m.runs.push(run);
                if !ok {
                    if phase == 0 && phases[1].runs.is_empty() {
                        phases[1].skipped = Some("not run (the first run did not finish)".into());
                    }
                    break 'reps;
                }
            }
        }
        let _ = std::fs::remove_dir_all(&scratch);
        for (m, a) in phases.iter_mut().zip(&after) {
            m.extra = a.json(n);
        }
        phases[1].extra.insert("reruns".into(), json!(reruns));
        self.results.extend(phases);
        Ok(())
    }
}
