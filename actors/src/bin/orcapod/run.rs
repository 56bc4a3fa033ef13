//! `orcapod run`: load, check, run on actors or synchronously, write the outputs, and
//! report what each node did.
//!
//! Order matters for "nothing written on an invalid file": the file is loaded and every
//! command probed before the database is opened.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use orcapod::export;
use orcapod::model::Stream;
use orcapod::pipeline::{write_run_log, ErrorPolicy, NodeKind, NodeStats, SyncExecutor};
use orcapod::pipeline_file::PipelineFile;
use orcapod::store::{ArrowStore, SledStore};
use orcapod_actors::{run_id_and_time, RunError, RunOptions, Runtime};

use crate::{Failure, Mode, OutFormat};

/// The arguments of `orcapod run`.
pub struct RunArgs {
    pub file: PathBuf,
    pub db: Option<PathBuf>,
    pub out: Option<PathBuf>,
    pub format: OutFormat,
    pub mode: Mode,
    pub quiet: bool,
}

/// At most this many rows of each output are printed when there is no `--out`.
const SHOWN_ROWS: usize = 20;

pub fn run(args: &RunArgs) -> Result<(), Failure> {
    let started = Instant::now();
    let file = crate::load(&args.file)?;
    if let Some(out) = &args.out {
        if out.exists() && !out.is_dir() {
            return Err(Failure::Failed(format!(
                "--out {}: exists and is not a directory",
                out.display()
            )));
        }
    }
    let db = args.db.clone().unwrap_or_else(|| file.default_db());
    let store: Arc<dyn ArrowStore> = Arc::new(
        SledStore::open(&db)
            .with_context(|| format!("cannot open the database {}", db.display()))?,
    );
    let outputs: Vec<String> = file.outputs().to_vec();

    let bar = progress_bar();
    let (streams, stats) = match args.mode {
        Mode::Actors => run_actors(&file, store.clone(), &outputs, &bar)?,
        Mode::Sync => run_sync(&file, store.clone(), &outputs, &bar)?,
    };
    bar.finish_and_clear();

    let mut written = Vec::new();
    if let Some(out) = &args.out {
        let format = match args.format {
            OutFormat::Json => export::Format::Json,
            OutFormat::Csv => export::Format::Csv,
            OutFormat::Arrow => export::Format::Arrow,
        };
        for name in &outputs {
            let paths = export::write_output(out, name, &streams[name], format)
                .with_context(|| format!("cannot write output `{name}`"))?;
            written.extend(paths);
        }
    } else if !args.quiet {
        for name in &outputs {
            print_output(name, &streams[name])?;
        }
    }
    summarize(&file, &stats, started.elapsed(), &db, &written);
    let failed: u64 = stats.iter().map(|s| s.counts.failed).sum();
    if failed > 0 && file.on_error() == ErrorPolicy::Continue {
        eprintln!(
            "{failed} packet(s) failed and were skipped (on_error: continue); \
             `orcapod status {}` lists them",
            args.file.display()
        );
    }
    Ok(())
}

fn run_actors(
    file: &PipelineFile,
    store: Arc<dyn ArrowStore>,
    outputs: &[String],
    bar: &ProgressBar,
) -> Result<(HashMap<String, Stream>, Vec<NodeStats>), Failure> {
    let runtime = Runtime::new().context("cannot start the actor runtime")?;
    let handle = runtime
        .start(
            file.pipeline(),
            RunOptions::default()
                .outputs(outputs.iter().cloned())
                .on_error(file.on_error())
                .store(store),
        )
        .map_err(|e| run_failure(file, e))?;
    let total = file.pipeline().nodes().len();
    let names: std::collections::HashSet<&str> =
        file.pipeline().nodes().iter().map(|n| n.name()).collect();
    let outcome = loop {
        if let Some(outcome) = handle.wait_timeout(Duration::from_millis(100)) {
            break outcome;
        }
        let progress = handle.progress();
        let nodes: Vec<_> = progress
            .iter()
            .filter(|p| names.contains(p.name.as_str()))
            .collect();
        let ended = nodes.iter().filter(|p| p.ended).count();
        let (computed, cached, failed) = nodes.iter().fold((0, 0, 0), |(a, b, c), p| {
            (a + p.computed, b + p.cached, c + p.failed)
        });
        let running: Vec<String> = nodes
            .iter()
            .filter(|p| !p.ended && p.rows_out > 0)
            .map(|p| format!("{} {}", p.name, p.rows_out))
            .collect();
        bar.set_message(format!(
            "{ended}/{total} nodes done · packets: {computed} computed, {cached} cached, \
             {failed} failed · rows out: {}",
            if running.is_empty() {
                "…".to_string()
            } else {
                running.join(", ")
            }
        ));
    };
    let output = outcome.map_err(|e| run_failure(file, e))?;
    for failure in &output.failures {
        eprintln!(
            "warning: {}: node `{}` failed: {}",
            file.path().display(),
            failure.node,
            failure.message
        );
    }
    Ok((output.streams, output.stats))
}

fn run_sync(
    file: &PipelineFile,
    store: Arc<dyn ArrowStore>,
    outputs: &[String],
    bar: &ProgressBar,
) -> Result<(HashMap<String, Stream>, Vec<NodeStats>), Failure> {
    let pipeline = file.pipeline();
    let mut executor = SyncExecutor::new(pipeline)
        .with_store(store.clone())
        .context("cannot use the database")?
        .on_error(file.on_error());
    let total = pipeline.nodes().len();
    let mut failure = None;
    // Every node runs, as on actors, so both modes store the same things.
    for (i, node) in pipeline.nodes().iter().enumerate() {
        bar.set_message(format!(
            "{i}/{total} nodes done · running `{}`",
            node.name()
        ));
        if let Err(e) = executor.output(node.name()) {
            failure = Some(e);
            break;
        }
    }
    let stats = executor.stats();
    let (run_id, finished_at) = run_id_and_time();
    write_run_log(
        store.as_ref(),
        pipeline.name(),
        &run_id,
        &finished_at,
        &stats,
    )
    .context("cannot write the run log")?;
    if let Some(e) = failure {
        return Err(Failure::Failed(format!(
            "{}: the run failed: {e}",
            file.path().display()
        )));
    }
    let mut streams = HashMap::new();
    for name in outputs {
        let stream = executor
            .output(name)
            .map_err(|e| Failure::Failed(e.to_string()))?
            .clone();
        streams.insert(name.clone(), stream);
    }
    Ok((streams, stats))
}

/// A run error as a message naming the file, and the node and its line.
fn run_failure(file: &PipelineFile, error: RunError) -> Failure {
    match error {
        RunError::NodeFailed(failure) => {
            let at = file
                .position_of(&failure.node)
                .map(|p| format!(":{}", p.line))
                .unwrap_or_default();
            Failure::Failed(format!(
                "{}{at}: node `{}` failed: {}",
                file.path().display(),
                failure.node,
                failure.message
            ))
        }
        other => Failure::Failed(format!("{}: {other}", file.path().display())),
    }
}

fn progress_bar() -> ProgressBar {
    // Hidden when stderr is not a terminal: then only the final summary is printed.
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn print_output(name: &str, stream: &Stream) -> Result<(), Failure> {
    let rows = stream.num_rows();
    println!("== {name}: {rows} row{}", if rows == 1 { "" } else { "s" });
    let table = (|| -> anyhow::Result<String> {
        let sorted = export::SortedStream::new(stream)?;
        let columns = sorted.column_indices(export::Columns::TagsAndPackets);
        let head = sorted
            .batch()
            .project(&columns)?
            .slice(0, rows.min(SHOWN_ROWS));
        Ok(arrow::util::pretty::pretty_format_batches(&[head])?.to_string())
    })()
    .with_context(|| format!("cannot print output `{name}`"))?;
    println!("{table}");
    if rows > SHOWN_ROWS {
        println!(
            "… {} more rows (write them all with --out DIR)",
            rows - SHOWN_ROWS
        );
    }
    Ok(())
}

/// The final summary on stderr: one line per node.
fn summarize(
    file: &PipelineFile,
    stats: &[NodeStats],
    elapsed: Duration,
    db: &Path,
    written: &[PathBuf],
) {
    let by_node: HashMap<&str, &NodeStats> = stats.iter().map(|s| (s.node.as_str(), s)).collect();
    eprintln!(
        "{:<24} {:<10} {:>10} {:>10} {:>10} {:>8}",
        "node", "kind", "rows", "computed", "cached", "failed"
    );
    for node in file.pipeline().nodes() {
        let kind = crate::kind_label(node.kind());
        let (rows, computed, cached, failed) = match by_node.get(node.name()) {
            Some(s) if matches!(node.kind(), NodeKind::Function(_)) => (
                s.rows_out.to_string(),
                s.counts.computed.to_string(),
                s.counts.cached.to_string(),
                s.counts.failed.to_string(),
            ),
            Some(s) => (s.rows_out.to_string(), "-".into(), "-".into(), "-".into()),
            None => ("-".into(), "-".into(), "-".into(), "-".into()),
        };
        eprintln!(
            "{:<24} {:<10} {:>10} {:>10} {:>10} {:>8}",
            node.name(),
            kind,
            rows,
            computed,
            cached,
            failed
        );
    }
    for path in written {
        eprintln!("wrote {}", path.display());
    }
    eprintln!(
        "pipeline `{}` done in {:.2}s (database {})",
        file.pipeline().name(),
        elapsed.as_secs_f64(),
        db.display()
    );
}
