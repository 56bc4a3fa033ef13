//! Whole-process benchmark of the `orcapod` command line (issue 15): runs the BUILT
//! binary on generated files, as users run it, and reports wall time and peak resident
//! memory (medians over `--reps` runs, each with a fresh `--db` and `--out` directory),
//! beside polars and the reference Python orcapod on the same files.
//!
//! ```sh
//! cargo build --release -p orcapod-actors --bin orcapod
//! cargo run --release --example cli_bench -- [--python target/bench-venv/bin/python] [OPTIONS]
//! ```
//!
//! or `bench/run.sh --cli`, which creates the virtual environment (polars and the
//! reference from PyPI) and writes `bench/results/cli.{json,md}`. Cases (`data.rs` says
//! exactly what is generated):
//!
//! - (f) `left.csv` (`k,x`) ⋈ `right.csv` (`k,y`) on the tag `k`, `orcapod run join.yaml
//!   --out DIR --format arrow`; polars: `scan_csv` both, `join` on `k`, `sink_ipc`; the
//!   reference (at `--reference-sizes`): eager `Join` + `as_table`.
//! - (g) `chain.csv` (`id,x,s`, tag `id`): `select_packet_columns [x, s]` →
//!   `map_packets {x: value}` → `polars_filter value < 500`, `--out DIR --format csv`;
//!   polars: `scan_csv → select → rename → filter → sink_csv`, streaming. With `parquet`
//!   in `--formats`, also from a Parquet copy of the rows, when the binary reads Parquet
//!   sources (asked with `orcapod validate` on a tiny file; skipped with a note if not).
//! - (h) the function pipeline of issue 16 (`function_case.rs`): `scores.csv` (`k,x`) →
//!   `map_packets {x: score}` → the `letter_grade` builtin, `--out DIR --format arrow`,
//!   first run on a fresh `--db` (`h-first`) then a re-run on it (`h-rerun`), with the
//!   database's size after each. Not in the default `--cases`: `bench/run.sh --function`
//!   runs it into its own results file.
//!
//! Wall time runs from spawning the process to the end of `wait`; peak memory is the
//! process's `ru_maxrss` as GNU time reports it (`/usr/bin/time`, Debian package `time`).
//! Nothing heavy runs under `cargo test`: this is an example, only compiled there.

#[path = "../shared/args.rs"]
mod args;
mod data;
mod function_case;
mod measure;
mod options;

use std::path::{Path, PathBuf};
use std::process::Command;

use data::BoxError;
use measure::{Outcome, Run};
use options::{parse_args, Options};
use serde_json::{json, Value};

use args::human;

/// One configuration's measurements.
struct Measured {
    case: &'static str,
    format: &'static str,
    rows: usize,
    tool: &'static str,
    runs: Vec<Run>,
    /// Why it was not run, when it was not.
    skipped: Option<String>,
    output_rows: Option<u64>,
    output_bytes: Option<u64>,
    /// Keys added to the results by a case (e.g. the database sizes of (h)).
    extra: serde_json::Map<String, Value>,
}

impl Measured {
    fn new(case: &'static str, format: &'static str, rows: usize, tool: &'static str) -> Self {
        Measured {
            case,
            format,
            rows,
            tool,
            runs: Vec::new(),
            skipped: None,
            output_rows: None,
            output_bytes: None,
            extra: serde_json::Map::new(),
        }
    }

    fn ok_runs(&self) -> impl Iterator<Item = &Run> {
        self.runs.iter().filter(|r| r.outcome == Outcome::Ok)
    }

    /// "ok", or why there is no figure.
    fn status(&self) -> String {
        if let Some(why) = &self.skipped {
            return why.clone();
        }
        match self.runs.iter().find(|r| r.outcome != Outcome::Ok) {
            None => "ok".into(),
            Some(r) => match &r.outcome {
                Outcome::Timeout(s) => format!("killed after the {s:.0} s timeout"),
                Outcome::OverMemory(mb) => format!(
                    "killed at {mb} MB resident after {:.1} s (--max-rss-mb)",
                    r.secs
                ),
                Outcome::Failed(why) => format!("failed: {why}"),
                Outcome::Ok => unreachable!(),
            },
        }
    }

    fn json(&self) -> Value {
        let secs: Vec<f64> = self.ok_runs().map(|r| r.secs).collect();
        let peaks: Vec<f64> = self
            .ok_runs()
            .filter_map(|r| r.peak_kb.map(|k| k as f64 / 1024.0))
            .collect();
        let anchor: Option<Value> = self
            .ok_runs()
            .next()
            .and_then(|r| serde_json::from_str(r.stdout.lines().last()?).ok());
        let inner: Vec<f64> = self
            .ok_runs()
            .filter_map(|r| {
                let v: Value = serde_json::from_str(r.stdout.lines().last()?).ok()?;
                v["inner_secs"].as_f64()
            })
            .collect();
        let mut value = json!({
            "case": self.case,
            "format": self.format,
            "rows": self.rows,
            "tool": self.tool,
            "status": self.status(),
            "reps": secs.len(),
            "median_secs": measure::median(secs.clone()),
            "median_peak_mb": measure::median(peaks.clone()),
            "secs": secs,
            "peak_mb": peaks,
            "median_inner_secs": measure::median(inner),
            "tool_version": anchor.as_ref().and_then(|a| a["tool"].as_str().map(String::from)),
            "output_rows": self.output_rows,
            "output_bytes": self.output_bytes,
        });
        if let Value::Object(map) = &mut value {
            map.extend(self.extra.clone());
        }
        value
    }
}

/// The rows of an output file: CSV lines after the header, or Arrow IPC rows.
fn count_rows(path: &Path) -> Option<u64> {
    if path.extension()? == "csv" {
        let text = std::fs::read(path).ok()?;
        let lines = bytecount(&text) + u64::from(!text.ends_with(b"\n") && !text.is_empty());
        return Some(lines.saturating_sub(1));
    }
    let file = std::fs::File::open(path).ok()?;
    if let Ok(reader) = arrow::ipc::reader::FileReader::try_new(file, None) {
        return reader
            .map(|b| b.map(|b| b.num_rows() as u64))
            .sum::<Result<u64, _>>()
            .ok();
    }
    let file = std::io::BufReader::new(std::fs::File::open(path).ok()?);
    let reader = arrow::ipc::reader::StreamReader::try_new(file, None).ok()?;
    reader
        .map(|b| b.map(|b| b.num_rows() as u64))
        .sum::<Result<u64, _>>()
        .ok()
}

fn bytecount(text: &[u8]) -> u64 {
    text.iter().filter(|&&b| b == b'\n').count() as u64
}

/// What one configuration runs: the program, its arguments (`{db}` and `{out}` stand for
/// the run's fresh directories), its working directory, and the output file to count
/// (relative to `{out}`; empty for none).
struct Job {
    program: PathBuf,
    args: Vec<String>,
    dir: PathBuf,
    output: &'static str,
}

impl Job {
    /// The arguments with `{db}` and `{out}` replaced by these directories.
    fn args_for(&self, db: &Path, out: &Path) -> Vec<String> {
        self.args
            .iter()
            .map(|a| {
                a.replace("{db}", &db.display().to_string())
                    .replace("{out}", &out.display().to_string())
            })
            .collect()
    }
}

/// The keys of one configuration: case, source format, rows, tool.
type Key = (&'static str, &'static str, usize, &'static str);

struct Bench {
    o: Options,
    work: PathBuf,
    script: PathBuf,
    results: Vec<Measured>,
    notes: Vec<String>,
    /// (case, format, tool) that ran out of time or memory: larger sizes are not run.
    gave_up: Vec<(&'static str, &'static str, &'static str)>,
}

impl Bench {
    /// Runs `job` `--reps` times, each with fresh `{db}` and `{out}` directories,
    /// stopping at the first run that does not succeed.
    fn measure(&mut self, (case, format, rows, tool): Key, job: Job) -> Result<(), BoxError> {
        let mut m = Measured::new(case, format, rows, tool);
        if self.gave_up.contains(&(case, format, tool)) {
            m.skipped = Some("not run (a smaller size ran out of time or memory)".into());
            self.results.push(m);
            return Ok(());
        }
        let scratch = self.work.join("run");
        for rep in 0..self.o.reps {
            let _ = std::fs::remove_dir_all(&scratch);
            let (db, out) = (scratch.join("db"), scratch.join("out"));
            std::fs::create_dir_all(&out)?;
            let args = job.args_for(&db, &out);
            eprint!(
                "{case} {format} {} {tool} (run {}/{}) ... ",
                human(rows),
                rep + 1,
                self.o.reps
            );
            let run = measure::run(
                &job.program,
                &args,
                &job.dir,
                &self.work.join("logs"),
                self.o.limits,
            )?;
            let peak = run.peak_kb.map_or("?".into(), |k| format!("{}", k / 1024));
            eprintln!("{:.2} s, {peak} MB peak, {:?}", run.secs, run.outcome);
            let ok = run.outcome == Outcome::Ok;
            if ok && m.output_rows.is_none() && !job.output.is_empty() {
                m.output_rows = count_rows(&out.join(job.output));
                m.output_bytes = Some(measure::dir_bytes(&out));
            }
            if !ok && !matches!(run.outcome, Outcome::Failed(_)) {
                self.gave_up.push((case, format, tool));
            }
            m.runs.push(run);
            if !ok {
                break;
            }
        }
        let _ = std::fs::remove_dir_all(&scratch);
        if m.output_rows.is_none() {
            // The reference reports the rows of its table itself.
            let reported = m
                .ok_runs()
                .next()
                .and_then(|r| serde_json::from_str::<Value>(r.stdout.lines().last()?).ok())
                .and_then(|v| v["rows"].as_u64());
            m.output_rows = reported;
        }
        self.results.push(m);
        Ok(())
    }

    fn orcapod(&self, yaml: &str, dir: &Path, format: &str, output: &'static str) -> Job {
        let mut args: Vec<String> = ["run", yaml, "--db", "{db}", "--out", "{out}", "--format"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.push(format.into());
        args.extend(self.o.orcapod_args.iter().cloned());
        Job {
            program: self.o.bin.clone(),
            args,
            dir: dir.to_path_buf(),
            output,
        }
    }

    /// The Python anchor `what` on `files`, if `--python` is given and `name` chosen.
    fn anchor(
        &self,
        name: &str,
        what: &str,
        files: &[String],
        dir: &Path,
        output: &'static str,
    ) -> Option<Job> {
        let python = self.o.python.clone()?;
        if !self.o.anchors.iter().any(|a| a == name) {
            return None;
        }
        let mut args = vec![self.script.display().to_string(), what.to_string()];
        args.extend(files.iter().cloned());
        Some(Job {
            program: python,
            args,
            dir: dir.to_path_buf(),
            output,
        })
    }

    fn join_case(&mut self, data_root: &Path, n: usize) -> Result<(), BoxError> {
        let dir = data::join_data(data_root, n)?;
        let (left, right) = (path(&dir, "left.csv"), path(&dir, "right.csv"));
        let job = self.orcapod("join.yaml", &dir, "arrow", "joined.arrow");
        self.measure(("f", "csv", n, "orcapod"), job)?;
        let files = [left, right, "{out}/joined.arrow".into()];
        if let Some(job) = self.anchor("polars", "polars-join", &files, &dir, "joined.arrow") {
            self.measure(("f", "csv", n, "polars"), job)?;
        }
        if self.o.reference_sizes.contains(&n) {
            if let Some(job) = self.anchor("reference", "reference-join", &files[..2], &dir, "") {
                self.measure(("f", "csv", n, "reference"), job)?;
            }
        }
        Ok(())
    }

    fn chain_case(&mut self, data_root: &Path, n: usize, parquet: bool) -> Result<(), BoxError> {
        let dir = data::chain_data(data_root, n)?;
        let mut formats = vec![("csv", "chain.yaml", "chain.csv")];
        if parquet {
            data::chain_parquet(&dir, n)?;
            formats.push(("parquet", "chain-parquet.yaml", "chain.parquet"));
        }
        for (format, yaml, file) in formats {
            let job = self.orcapod(yaml, &dir, "csv", "kept.csv");
            self.measure(("g", format, n, "orcapod"), job)?;
            let files = [path(&dir, file), "{out}/kept.csv".into()];
            if let Some(job) = self.anchor("polars", "polars-chain", &files, &dir, "kept.csv") {
                self.measure(("g", format, n, "polars"), job)?;
            }
        }
        Ok(())
    }

    /// Whether the binary reads Parquet sources (and writes `--format parquet`), with a
    /// note either way.
    fn parquet_support(&mut self) -> Result<bool, BoxError> {
        let help = Command::new(&self.o.bin).args(["run", "--help"]).output()?;
        let writes = String::from_utf8_lossy(&help.stdout).contains("parquet");
        self.notes.push(format!(
            "`orcapod run --help` {} `--format parquet`.",
            if writes { "lists" } else { "does not list" }
        ));
        let yaml = data::parquet_probe(&self.work.join("probe"))?;
        let probe = Command::new(&self.o.bin)
            .arg("validate")
            .arg(&yaml)
            .output()?;
        if probe.status.success() {
            return Ok(true);
        }
        let why = String::from_utf8_lossy(&probe.stderr);
        let first = why.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        // The probe's temporary path means nothing to a reader.
        let first = first.find("source `").map_or(first, |at| &first[at..]);
        self.notes.push(format!(
            "(g) from Parquet skipped: this binary does not read Parquet sources \
             (`orcapod validate` of a `{{parquet: …}}` source: {}).",
            first.trim()
        ));
        Ok(false)
    }
}

fn path(dir: &Path, file: &str) -> String {
    dir.join(file).display().to_string()
}

/// `orcapod`, `polars 2.1.0`, `reference (orcapod 0.1.4)`.
fn tool_label(r: &Value) -> String {
    let tool = r["tool"].as_str().unwrap_or("");
    match r["tool_version"].as_str() {
        Some(v) if v.starts_with(tool) => v.to_string(),
        Some(v) => format!("{tool} ({v})"),
        None => tool.to_string(),
    }
}

fn markdown(bench: &Bench, results: &[Value]) -> String {
    let mut md = String::from(
        "| case | source | rows | tool | time s | peak MB | output rows | status |\n\
         |---|---|---:|---|---:|---:|---:|---|\n",
    );
    for r in results {
        let num = |k: &str, p: usize| r[k].as_f64().map_or("–".into(), |v| format!("{v:.p$}"));
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r["case"].as_str().unwrap_or(""),
            r["format"].as_str().unwrap_or(""),
            human(r["rows"].as_u64().unwrap_or(0) as usize),
            tool_label(r),
            num("median_secs", 2),
            num("median_peak_mb", 0),
            r["output_rows"]
                .as_u64()
                .map_or("–".into(), |v| v.to_string()),
            r["status"]
                .as_str()
                .unwrap_or("")
                .replace('|', "/")
                .replace('\n', " "),
        ));
    }
    for note in &bench.notes {
        md.push_str(&format!("\n{note}\n"));
    }
    md
}

fn main() -> Result<(), BoxError> {
    let Some(o) = parse_args()? else {
        return Ok(());
    };
    measure::check_time()?;
    if !o.bin.exists() {
        return Err(format!(
            "no orcapod binary at {}: build it with `cargo build --release -p orcapod-actors \
             --bin orcapod` (or pass --bin PATH)",
            o.bin.display()
        )
        .into());
    }
    let bin = std::fs::canonicalize(&o.bin)?;
    let version = Command::new(&bin)
        .arg("--version")
        .output()
        .ok()
        .filter(|v| v.status.success())
        .map(|v| String::from_utf8_lossy(&v.stdout).trim().to_string());
    let own_work = o.work.is_none();
    let work = match &o.work {
        Some(w) => w.clone(),
        None => std::env::temp_dir().join(format!("orcapod-cli-bench-{}", std::process::id())),
    };
    std::fs::create_dir_all(&work)?;
    let work = std::fs::canonicalize(work)?;
    let data_root = match &o.keep_data {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            std::fs::canonicalize(d)?
        }
        None => work.join("data"),
    };
    // Absolute (the runs' directories differ) but not canonical: a venv's python is a
    // symbolic link that must stay itself.
    let python = o.python.as_deref().map(std::path::absolute).transpose()?;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench/cli_anchors.py");
    let mut bench = Bench {
        o: Options { bin, python, ..o },
        work: work.clone(),
        script,
        results: Vec::new(),
        notes: Vec::new(),
        gave_up: Vec::new(),
    };
    let anchored = bench.o.cases.iter().any(|c| c == "f" || c == "g");
    if bench.o.python.is_none() && anchored {
        bench
            .notes
            .push("Anchors (polars, the reference) skipped: no --python given.".into());
    }
    let outcome = (|| -> Result<(), BoxError> {
        if bench.o.cases.iter().any(|c| c == "f") {
            for n in bench.o.sizes.clone() {
                bench.join_case(&data_root, n)?;
            }
        }
        if bench.o.cases.iter().any(|c| c == "g") {
            let parquet =
                bench.o.formats.iter().any(|f| f == "parquet") && bench.parquet_support()?;
            for n in bench.o.chain_sizes.clone() {
                bench.chain_case(&data_root, n, parquet)?;
            }
        }
        if bench.o.cases.iter().any(|c| c == "h") {
            for n in bench.o.function_sizes.clone() {
                bench.function_case(&data_root, n)?;
            }
        }
        Ok(())
    })();
    if own_work {
        let _ = std::fs::remove_dir_all(&work);
    }
    outcome?;

    let results: Vec<Value> = bench.results.iter().map(Measured::json).collect();
    let md = markdown(&bench, &results);
    println!("\n{md}");
    if let Some(path) = &bench.o.json {
        let doc = json!({
            "label": bench.o.label,
            "binary": bench.o.bin.display().to_string(),
            "binary_version": version,
            "reps": bench.o.reps,
            "orcapod_args": bench.o.orcapod_args,
            "notes": bench.notes,
            "results": results,
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n")?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(path) = &bench.o.markdown {
        std::fs::write(path, &md)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
