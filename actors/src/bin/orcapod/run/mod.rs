//! `orcapod run`: load, check, run on actors or synchronously, write the outputs, and
//! report what each node did.
//!
//! Order matters for "nothing written on an invalid file": the file is loaded and every
//! command probed before the database is opened.
//!
//! While it runs, the run publishes its progress for other processes ([`crate::live`]),
//! answers `show` through a socket ([`crate::remote`]), and watches for SIGINT and
//! SIGTERM ([`crate::signals`]). On the first signal it stops the run, kills the
//! command processes, lets what was received be stored and flushed, records the run as
//! interrupted, prints one line saying what is stored, and exits 130 or 143.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use orcapod::export;
use orcapod::function::command::kill_all_commands;
use orcapod::function::node::FunctionPaths;
use orcapod::model::Stream;
use orcapod::pipeline::{
    write_run_log, ErrorPolicy, NodeKind, NodeStats, Pipeline, RunInfo, RunOutcome, RunWarning,
    SyncExecutor,
};
use orcapod::pipeline_file::PipelineFile;
use orcapod::store::{ArrowStore, SledStore};
use orcapod_actors::{run_id_and_time, NodeProgress, RunError, RunOptions, Runtime};

use crate::inspect::WarningContext;
use crate::live::{self, FailureNote, NodeLine};
use crate::signals::{Interrupt, Interrupts};
use crate::{remote, Failure, Mode, OutFormat};

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
/// How often the run's driver looks at signals and progress.
const TICK: Duration = Duration::from_millis(50);
/// How long to wait for the nodes to stop before killing the commands anyway.
const STOP_WAIT: Duration = Duration::from_secs(2);

/// How a run ended.
enum Ended {
    Completed {
        streams: HashMap<String, Stream>,
        stats: Vec<NodeStats>,
    },
    Failed {
        failure: Failure,
        note: FailureNote,
    },
    Interrupted(Interrupt),
}

/// What both modes need while they run.
struct Driver<'a> {
    file: &'a PipelineFile,
    store: Arc<dyn ArrowStore>,
    outputs: Vec<String>,
    bar: ProgressBar,
    publisher: live::Publisher,
    interrupts: &'a Interrupts,
    run_id: String,
    started_at: String,
    /// The last node lines published (the final state when the run ends early).
    last_nodes: Vec<NodeLine>,
}

pub fn run(args: &RunArgs) -> Result<(), Failure> {
    let started = Instant::now();
    let interrupts = Interrupts::install().context("cannot watch for SIGINT and SIGTERM")?;
    let file = crate::load_checked(&args.file)?;
    if let Some(out) = &args.out {
        if out.exists() && !out.is_dir() {
            return Err(Failure::Failed(format!(
                "--out {}: exists and is not a directory",
                out.display()
            )));
        }
    }
    if let Some(signal) = interrupts.received() {
        return Err(Failure::Interrupted {
            code: signal.exit_code(),
            message: format!(
                "interrupted by {} before the run started: nothing was written",
                signal.name()
            ),
        });
    }
    let db = args.db.clone().unwrap_or_else(|| file.default_db());
    crate::check_db_is_a_directory(&db)?;
    let store: Arc<dyn ArrowStore> = Arc::new(
        SledStore::open(&db)
            .with_context(|| format!("cannot open the database {}", db.display()))?,
    );
    let db = db.canonicalize().unwrap_or(db);
    record_killed_run(&db, store.as_ref());

    let (run_id, started_at) = run_id_and_time();
    let pipeline = Arc::new(file.pipeline().clone());
    let server = match remote::Server::start(&db, store.clone(), pipeline.clone()) {
        Ok(server) => Some(server),
        Err(e) => {
            eprintln!(
                "warning: cannot open the socket through which `orcapod show` reads this \
                 run's results ({e}); `show` works again when the run ends"
            );
            None
        }
    };
    let (now, now_ms) = live::now();
    let publisher = live::Publisher::start(
        &db,
        live::Progress {
            format: 1,
            pipeline: pipeline.name().to_string(),
            file: args.file.display().to_string(),
            run_id: run_id.clone(),
            pid: std::process::id(),
            pid_start: live::own_start(),
            mode: match args.mode {
                Mode::Actors => "actors",
                Mode::Sync => "sync",
            }
            .to_string(),
            started_at: started_at.clone(),
            updated_at: now,
            updated_unix_ms: now_ms,
            state: "running".to_string(),
            interrupted_by: None,
            failure: None,
            socket: server.as_ref().map(|s| s.path().to_path_buf()),
            nodes: waiting_lines(&pipeline),
        },
    );
    let mut driver = Driver {
        file: &file,
        store: store.clone(),
        outputs: file.outputs().to_vec(),
        bar: progress_bar(),
        publisher,
        interrupts: &interrupts,
        run_id,
        started_at,
        last_nodes: waiting_lines(&pipeline),
    };
    let ended = match args.mode {
        Mode::Actors => driver.run_actors(),
        Mode::Sync => driver.run_sync(),
    };
    // However the run ended, no command outlives it: a command still busy with a packet
    // of a stopped run would otherwise go on until it finishes that packet.
    kill_all_commands();
    driver.bar.finish_and_clear();
    let ended = match ended {
        Ok(ended) => ended,
        Err(failure) => {
            let last = std::mem::take(&mut driver.last_nodes);
            driver.publisher.finish(
                "failed",
                Some(last),
                Some(FailureNote {
                    node: String::new(),
                    reason: failure.message().to_string(),
                }),
                None,
            );
            return Err(failure);
        }
    };
    drop(server);
    let last = std::mem::take(&mut driver.last_nodes);
    match ended {
        Ended::Interrupted(signal) => {
            driver.publisher.finish(
                "interrupted",
                Some(last),
                None,
                Some(signal.name().to_string()),
            );
            Err(Failure::Interrupted {
                code: signal.exit_code(),
                message: interrupted_message(signal, &file, store.as_ref(), &db, &args.file),
            })
        }
        Ended::Failed { failure, note } => {
            driver
                .publisher
                .finish("failed", Some(last), Some(note), None);
            Err(failure)
        }
        Ended::Completed { streams, stats } => {
            driver.publisher.finish(
                "completed",
                Some(lines_of_stats(file.pipeline(), &stats)),
                None,
                None,
            );
            report(args, &file, &streams, &stats, started.elapsed(), &db)
        }
    }
}

impl Driver<'_> {
    fn run_actors(&mut self) -> Result<Ended, Failure> {
        let file = self.file;
        let runtime = Runtime::new().context("cannot start the actor runtime")?;
        let handle = runtime
            .start(
                file.pipeline(),
                RunOptions::default()
                    .outputs(self.outputs.iter().cloned())
                    .on_error(file.on_error())
                    .store(self.store.clone())
                    .run_id(self.run_id.clone(), self.started_at.clone()),
            )
            .map_err(|e| run_failure(file, e))?;
        for warning in handle.warnings() {
            warn(&self.bar, file, warning);
        }
        let total = file.pipeline().nodes().len();
        // The run hears of a signal at once, from the watcher's thread (and again below).
        let interrupter = handle.interrupter();
        self.interrupts
            .on_first(move |signal| interrupter.interrupt(signal.name()));
        let mut interrupted = None;
        let outcome = loop {
            if let Some(outcome) = handle.wait_timeout(TICK) {
                break outcome;
            }
            if let (None, Some(signal)) = (interrupted, self.interrupts.received()) {
                interrupted = Some(signal);
                self.bar.set_message(format!(
                    "{}: stopping, storing what was computed…",
                    signal.name()
                ));
                handle.interrupt(signal.name());
                // Once the nodes take no new results, kill the commands: their packets
                // in flight are abandoned, not counted as failures.
                let deadline = Instant::now() + STOP_WAIT;
                while !handle.is_stopping() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(1));
                }
                kill_all_commands();
            }
            let progress = handle.progress();
            let nodes = &progress[..total.min(progress.len())];
            if interrupted.is_none() {
                self.bar.set_message(spinner_message(nodes, total));
            }
            self.publish(lines_of_progress(file.pipeline(), nodes));
        };
        self.interrupts.clear();
        // The run may have stopped for a signal before this loop saw it.
        let interrupted = interrupted.or(self.interrupts.received());
        let progress = handle.progress();
        self.last_nodes =
            lines_of_progress(file.pipeline(), &progress[..total.min(progress.len())]);
        match (outcome, interrupted) {
            (Ok(output), signal) => {
                if let Some(signal) = signal {
                    eprintln!("{} arrived as the run completed", signal.name());
                }
                for failure in &output.failures {
                    eprintln!(
                        "warning: {}: node `{}` failed: {}",
                        file.path().display(),
                        failure.node,
                        failure.message
                    );
                }
                Ok(Ended::Completed {
                    streams: output.streams,
                    stats: output.stats,
                })
            }
            (Err(_), Some(signal)) => Ok(Ended::Interrupted(signal)),
            (Err(RunError::NodeFailed(f)), None) => Ok(Ended::Failed {
                note: FailureNote {
                    node: f.node.clone(),
                    reason: f.message.clone(),
                },
                failure: run_failure(file, RunError::NodeFailed(f)),
            }),
            (Err(e), None) => Err(run_failure(file, e)),
        }
    }

    fn run_sync(&mut self) -> Result<Ended, Failure> {
        let file = self.file;
        let pipeline = file.pipeline();
        let total = pipeline.nodes().len();
        let cancel = Arc::new(AtomicBool::new(false));
        // The node being computed and the stats of those done, for the progress views.
        let shared: Mutex<(Option<usize>, Vec<NodeStats>)> = Mutex::new((None, Vec::new()));
        let mut interrupted = None;
        let flag = cancel.clone();
        self.interrupts
            .on_first(move |_| flag.store(true, std::sync::atomic::Ordering::SeqCst));
        let (stats, failure, streams) = std::thread::scope(|scope| {
            let (store, outputs) = (self.store.clone(), self.outputs.clone());
            let (bar, cancel, shared) = (self.bar.clone(), &cancel, &shared);
            let worker =
                scope.spawn(move || sync_worker(file, store, outputs, cancel, shared, &bar));
            while !worker.is_finished() {
                if let (None, Some(signal)) = (interrupted, self.interrupts.received()) {
                    interrupted = Some(signal);
                    self.bar.set_message(format!(
                        "{}: stopping, storing what was computed…",
                        signal.name()
                    ));
                    cancel.store(true, std::sync::atomic::Ordering::SeqCst);
                    kill_all_commands();
                }
                let (current, stats) = shared.lock().map(|g| g.clone()).unwrap_or_default();
                if interrupted.is_none() {
                    let running = current.map_or("…", |i| pipeline.nodes()[i].name());
                    self.bar.set_message(format!(
                        "{}/{total} nodes done · running `{running}`",
                        stats.len()
                    ));
                }
                self.publish(lines_of_sync(pipeline, current, &stats));
                std::thread::sleep(TICK);
            }
            worker.join().unwrap_or_else(|_| {
                (
                    Vec::new(),
                    Some(("".into(), "the run panicked".into())),
                    None,
                )
            })
        });
        self.interrupts.clear();
        let interrupted = interrupted.or(self.interrupts.received());
        // A run that completed before it noticed the signal completed.
        let interrupted = interrupted.filter(|_| failure.is_some());
        if interrupted.is_none() && failure.is_none() {
            if let Some(signal) = self.interrupts.received() {
                eprintln!("{} arrived as the run completed", signal.name());
            }
        }
        let current = failure
            .as_ref()
            .and_then(|(node, _)| pipeline.index_of(node));
        self.last_nodes = lines_of_sync(pipeline, current, &stats);
        let (_, finished_at) = run_id_and_time();
        let outcome = match (&failure, interrupted) {
            (_, Some(signal)) => RunOutcome::Interrupted {
                reason: signal.name().to_string(),
            },
            (Some((node, reason)), None) => RunOutcome::Failed {
                node: node.clone(),
                reason: reason.clone(),
            },
            (None, None) => RunOutcome::Completed,
        };
        let run = RunInfo {
            run_id: self.run_id.clone(),
            started_at: self.started_at.clone(),
            finished_at,
            outcome,
        };
        write_run_log(self.store.as_ref(), pipeline.name(), &run, &stats)
            .context("cannot write the run log")?;
        if let Some(signal) = interrupted {
            return Ok(Ended::Interrupted(signal));
        }
        match (failure, streams) {
            (Some((node, reason)), _) => {
                let at = file
                    .position_of(&node)
                    .map(|p| format!(":{}", p.line))
                    .unwrap_or_default();
                Ok(Ended::Failed {
                    failure: Failure::Failed(format!(
                        "{}{at}: the run failed: node `{node}`: {reason}",
                        file.path().display()
                    )),
                    note: FailureNote { node, reason },
                })
            }
            (None, Some(streams)) => Ok(Ended::Completed { streams, stats }),
            (None, None) => Err(Failure::Failed("the run ended without its outputs".into())),
        }
    }

    fn publish(&mut self, nodes: Vec<NodeLine>) {
        self.last_nodes = nodes.clone();
        self.publisher.update(nodes);
    }
}

/// What a synchronous run gives back: every node's stats, the failing node and its
/// error, and the outputs when the run completed.
type SyncEnd = (
    Vec<NodeStats>,
    Option<(String, String)>,
    Option<HashMap<String, Stream>>,
);

/// Runs every node synchronously (on the driver's scoped worker thread), publishing
/// the node being computed and the stats of those done in `shared`.
fn sync_worker(
    file: &PipelineFile,
    store: Arc<dyn ArrowStore>,
    outputs: Vec<String>,
    cancel: &Arc<AtomicBool>,
    shared: &Mutex<(Option<usize>, Vec<NodeStats>)>,
    bar: &ProgressBar,
) -> SyncEnd {
    let pipeline = file.pipeline();
    let mut executor = match SyncExecutor::new(pipeline).with_store(store) {
        Ok(executor) => {
            let stop = cancel.clone();
            executor
                .on_error(file.on_error())
                .with_cancel(cancel.clone())
                .with_backoff(Arc::new(move |wait| {
                    orcapod_actors::wait_unless(wait, || stop.load(Ordering::SeqCst))
                }))
        }
        Err(e) => return (Vec::new(), Some((String::new(), e.to_string())), None),
    };
    // Every node runs, as on actors, so both modes store the same things.
    let mut warned = 0;
    for (i, node) in pipeline.nodes().iter().enumerate() {
        if let Ok(mut g) = shared.lock() {
            g.0 = Some(i);
        }
        let outcome = executor.output(node.name()).map(|_| ());
        for warning in &executor.warnings()[warned..] {
            warn(bar, file, warning);
        }
        warned = executor.warnings().len();
        if let Err(e) = outcome {
            let (name, reason) = match e {
                orcapod::Error::Node { node, source } => (node, source.to_string()),
                other => (node.name().to_string(), other.to_string()),
            };
            return (executor.stats(), Some((name, reason)), None);
        }
        if let Ok(mut g) = shared.lock() {
            g.1 = executor.stats();
        }
    }
    let mut streams = HashMap::new();
    for name in &outputs {
        match executor.output(name) {
            Ok(stream) => {
                streams.insert(name.clone(), stream.clone());
            }
            Err(e) => return (executor.stats(), Some((name.clone(), e.to_string())), None),
        }
    }
    (executor.stats(), None, Some(streams))
}

/// Prints a warning of the run on stderr, above the spinner.
fn warn(bar: &ProgressBar, file: &PipelineFile, warning: &RunWarning) {
    let message = crate::inspect::describe_warning(file, warning, WarningContext::Run);
    bar.suspend(|| eprintln!("warning: {message}"));
}

/// Every node of `pipeline`, waiting.
fn waiting_lines(pipeline: &Pipeline) -> Vec<NodeLine> {
    pipeline
        .nodes()
        .iter()
        .map(|n| NodeLine {
            name: n.name().to_string(),
            kind: crate::kind_label(n.kind()).to_string(),
            state: "waiting".to_string(),
            ..NodeLine::default()
        })
        .collect()
}

fn lines_of_progress(pipeline: &Pipeline, nodes: &[NodeProgress]) -> Vec<NodeLine> {
    pipeline
        .nodes()
        .iter()
        .zip(nodes)
        .map(|(n, p)| NodeLine {
            name: n.name().to_string(),
            kind: crate::kind_label(n.kind()).to_string(),
            state: if p.ended { "ended" } else { "running" }.to_string(),
            rows: p.rows_out,
            computed: p.computed,
            cached: p.cached,
            failed: p.failed,
            retried: p.retried,
        })
        .collect()
}

fn lines_of_stats(pipeline: &Pipeline, stats: &[NodeStats]) -> Vec<NodeLine> {
    lines_of_sync(pipeline, None, stats)
}

fn lines_of_sync(
    pipeline: &Pipeline,
    current: Option<usize>,
    stats: &[NodeStats],
) -> Vec<NodeLine> {
    let by_node: HashMap<&str, &NodeStats> = stats.iter().map(|s| (s.node.as_str(), s)).collect();
    pipeline
        .nodes()
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let mut line = NodeLine {
                name: n.name().to_string(),
                kind: crate::kind_label(n.kind()).to_string(),
                state: "waiting".to_string(),
                ..NodeLine::default()
            };
            if let Some(s) = by_node.get(n.name()) {
                line.state = "ended".to_string();
                line.rows = s.rows_out;
                line.computed = s.counts.computed;
                line.cached = s.counts.cached;
                line.failed = s.counts.failed;
                line.retried = s.counts.retried;
            } else if current == Some(i) {
                line.state = "running".to_string();
            }
            line
        })
        .collect()
}

fn spinner_message(nodes: &[NodeProgress], total: usize) -> String {
    let ended = nodes.iter().filter(|p| p.ended).count();
    let sum = |f: fn(&NodeProgress) -> u64| nodes.iter().map(f).sum::<u64>();
    let running: Vec<String> = nodes
        .iter()
        .filter(|p| !p.ended && p.rows_out > 0)
        .map(|p| format!("{} {}", p.name, p.rows_out))
        .collect();
    format!(
        "{ended}/{total} nodes done · packets: {} computed, {} cached, {} failed, {} retried · rows out: {}",
        sum(|p| p.computed),
        sum(|p| p.cached),
        sum(|p| p.failed),
        sum(|p| p.retried),
        if running.is_empty() {
            "…".to_string()
        } else {
            running.join(", ")
        }
    )
}

/// A run of the pipeline on `db` that was killed (its progress file says running, its
/// process is gone) goes into the run log as interrupted, with its last known counts,
/// before this run overwrites the progress file.
fn record_killed_run(db: &Path, store: &dyn ArrowStore) {
    let Some(live::Liveness::Killed(killed)) = live::liveness(db) else {
        return;
    };
    if let Some(socket) = &killed.socket {
        remote::remove_stale_socket(socket);
    }
    let run = RunInfo {
        run_id: killed.run_id.clone(),
        started_at: killed.started_at.clone(),
        finished_at: killed.updated_at.clone(),
        outcome: RunOutcome::Interrupted {
            reason: killed_reason(killed.pid),
        },
    };
    let stats: Vec<NodeStats> = killed.nodes.iter().map(NodeLine::stats).collect();
    if let Err(e) = write_run_log(store, &killed.pipeline, &run, &stats) {
        eprintln!(
            "warning: cannot record the killed run {} in the run log: {e}",
            killed.run_id
        );
    }
}

/// The reason recorded for a run whose process was killed.
pub fn killed_reason(pid: u32) -> String {
    format!(
        "killed: process {pid} ended without recording its end; counts as it last published them"
    )
}

/// The one line printed when a signal interrupted the run.
fn interrupted_message(
    signal: Interrupt,
    file: &PipelineFile,
    store: &dyn ArrowStore,
    db: &Path,
    given: &Path,
) -> String {
    let pipeline = file.pipeline();
    let has_functions = pipeline
        .nodes()
        .iter()
        .any(|n| matches!(n.kind(), NodeKind::Function(_)));
    if !has_functions {
        return format!(
            "interrupted by {}: the run stopped; `orcapod run {}` runs it again",
            signal.name(),
            given.display()
        );
    }
    match stored_results(pipeline, store) {
        Ok(stored) => format!(
            "interrupted by {}: {stored} result{} stored in {}; `orcapod run {}` continues from there",
            signal.name(),
            if stored == 1 { "" } else { "s" },
            db.display(),
            given.display()
        ),
        Err(e) => format!(
            "interrupted by {}: what was computed is stored in {} (cannot count it: {e}); \
             `orcapod run {}` continues from there",
            signal.name(),
            db.display(),
            given.display()
        ),
    }
}

/// How many results the function nodes of `pipeline` have stored (each result table
/// counted once, however many nodes share it).
fn stored_results(pipeline: &Pipeline, store: &dyn ArrowStore) -> orcapod::Result<usize> {
    let scoped = store.at(&[pipeline.name()])?;
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    for node in pipeline.nodes() {
        if let NodeKind::Function(pod) = node.kind() {
            let paths = FunctionPaths::new(pod, &node.identity().pipeline)?;
            if seen.insert(paths.results.to_string()) {
                total += scoped.count(&paths.results)?;
            }
        }
    }
    Ok(total)
}

/// Outputs (to `--out` or stdout) and the summary of a completed run.
fn report(
    args: &RunArgs,
    file: &PipelineFile,
    streams: &HashMap<String, Stream>,
    stats: &[NodeStats],
    elapsed: Duration,
    db: &Path,
) -> Result<(), Failure> {
    let outputs = file.outputs();
    let mut written = Vec::new();
    if let Some(out) = &args.out {
        let format = match args.format {
            OutFormat::Json => export::Format::Json,
            OutFormat::Csv => export::Format::Csv,
            OutFormat::Arrow => export::Format::Arrow,
        };
        for name in outputs {
            let paths = export::write_output(out, name, &streams[name], format)
                .with_context(|| format!("cannot write output `{name}`"))?;
            written.extend(paths);
        }
    } else if !args.quiet {
        for name in outputs {
            match print_output(name, &streams[name]) {
                // Nobody reads the tables any more (`| head`); the summary still goes
                // to stderr.
                Err(Failure::StdoutClosed) => break,
                printed => printed?,
            }
        }
    }
    summarize(file, stats, elapsed, db, &written);
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
    say!("== {name}: {rows} row{}", if rows == 1 { "" } else { "s" })?;
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
    say!("{table}")?;
    if rows > SHOWN_ROWS {
        say!(
            "… {} more rows (write them all with --out DIR)",
            rows - SHOWN_ROWS
        )?;
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
        "{}",
        crate::node_header(["node", "kind", "rows", "computed", "cached", "failed", "retried"])
    );
    for node in file.pipeline().nodes() {
        let kind = crate::kind_label(node.kind());
        let dash = || "-".to_string();
        let (rows, computed, cached, failed, retried) = match by_node.get(node.name()) {
            Some(s) if matches!(node.kind(), NodeKind::Function(_)) => (
                s.rows_out.to_string(),
                s.counts.computed.to_string(),
                s.counts.cached.to_string(),
                s.counts.failed.to_string(),
                s.counts.retried.to_string(),
            ),
            Some(s) => (s.rows_out.to_string(), dash(), dash(), dash(), dash()),
            None => (dash(), dash(), dash(), dash(), dash()),
        };
        eprintln!(
            "{}",
            crate::node_row([
                &node.name(),
                &kind,
                &rows,
                &computed,
                &cached,
                &failed,
                &retried
            ])
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
