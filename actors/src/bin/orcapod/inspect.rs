//! The commands that look without running: `validate`, `graph`, `show`, `status`.
//!
//! None of them writes to the database; `show` and `status` open it only if it exists.
//! Only `validate` starts the file's commands (the start probe). While a run holds the
//! database (sled allows one process), `status` reads the run's progress file and
//! `show` asks the running process through its socket ([`crate::live`],
//! [`crate::remote`]).
//!
//! `show FILE NODE` prints the node's rows as a run would give them now: computed from
//! the current sources by a lookup-only [`SyncExecutor`], which serves function results
//! from the database, calls no function and writes nothing. Rows whose packets have no
//! stored result are left out, and a warning on stderr counts them per function node.
//! `show --all-stored` prints every result ever stored at the node's path instead.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use orcapod::export;
use orcapod::model::Stream;
use orcapod::pipeline::{
    read_run_log, stored_source, CacheMode, Node, NodeKind, Pipeline, RunOutcome, RunRecord,
    RunWarning, SyncExecutor,
};
use orcapod::pipeline_file::PipelineFile;
use orcapod::store::{ArrowStore, MemoryStore, SledStore};

use crate::args::{GraphFormat, ShowFormat};
use crate::failure::{stdout_failure, Failure};
use crate::live::{self, Liveness, Progress};
use crate::loading::{check_db_is_a_directory, load, load_checked};
use crate::remote;
use crate::table::{kind_label, node_header, node_row};
use crate::warnings::{describe_warning, WarningContext};

pub fn validate(path: &Path) -> Result<(), Failure> {
    let file = load_checked(path)?;
    let pipeline = file.pipeline();
    say!(
        "{}: valid — pipeline `{}`, {} nodes, outputs {}",
        path.display(),
        pipeline.name(),
        pipeline.nodes().len(),
        file.outputs().join(", ")
    )?;
    for node in pipeline.nodes() {
        say!(
            "  {:<24} {}   pipeline hash {}",
            node.name(),
            node.output_schema().describe(),
            node.identity().pipeline
        )?;
    }
    Ok(())
}

pub fn graph(path: &Path, format: GraphFormat) -> Result<(), Failure> {
    let file = load(path)?;
    let text = match format {
        GraphFormat::Dot => file.pipeline().to_dot(),
        GraphFormat::Mermaid => file.pipeline().to_mermaid(),
    };
    say_raw!("{text}")?;
    Ok(())
}

/// How long `show` and `status` wait for a run that holds the database to announce
/// itself in its progress file (it writes it right after opening the database).
const ANNOUNCE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The database of `show` and `status`: `--db`, or `.orcapod/` beside the file. A
/// database given with `--db` must exist (a wrong path is not a pipeline never run).
fn db_dir(file: &PipelineFile, db: Option<&Path>) -> Result<PathBuf, Failure> {
    let Some(given) = db else {
        return Ok(file.default_db());
    };
    check_db_is_a_directory(given)?;
    if !given.exists() {
        return Err(Failure::Failed(format!(
            "there is no database at {} (given with --db); check the path, or run the \
             pipeline with this --db first (`orcapod run {} --db {}`)",
            given.display(),
            file.path().display(),
            given.display()
        )));
    }
    Ok(given.to_path_buf())
}

/// Where the stored rows come from: the database itself, or the run holding it.
enum Reader {
    Store(Arc<dyn ArrowStore>),
    Running(Box<Progress>),
}

/// Opens the (existing) database `db`; when a run holds it, that run's progress.
fn open_or_running(db: &Path) -> Result<Reader, Failure> {
    if let Some(progress) = live::running(db) {
        return Ok(Reader::Running(Box::new(progress)));
    }
    match SledStore::open(db) {
        Ok(store) => Ok(Reader::Store(Arc::new(store))),
        Err(e) => {
            // A run may have opened it a moment ago and not announced itself yet.
            let deadline = std::time::Instant::now() + ANNOUNCE_WAIT;
            while std::time::Instant::now() < deadline {
                if let Some(progress) = live::running(db) {
                    return Ok(Reader::Running(Box::new(progress)));
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(Failure::Failed(format!(
                "cannot open the database {}: {e}",
                db.display()
            )))
        }
    }
}

pub fn show(
    path: &Path,
    name: &str,
    db: Option<&Path>,
    format: ShowFormat,
    all_info: bool,
    all_stored: bool,
) -> Result<(), Failure> {
    let file = load(path)?;
    let pipeline = file.pipeline();
    let Some(node) = pipeline.node(name) else {
        let names: Vec<&str> = pipeline.nodes().iter().map(|n| n.name()).collect();
        return Err(Failure::Invalid(format!(
            "{}: there is no source or node `{name}` (there are {})",
            path.display(),
            names.join(", ")
        )));
    };
    let stream = if all_stored {
        all_stored_rows(&file, node, db)?
    } else {
        let (stream, warnings, during_run) = current_rows(&file, name, db)?;
        for warning in &warnings {
            let context = match during_run {
                true => WarningContext::ShowDuringRun(name),
                false => WarningContext::Show(name),
            };
            eprintln!("warning: {}", describe_warning(&file, warning, context));
        }
        stream
    };
    let columns = if all_info {
        export::Columns::AllInfo
    } else {
        export::Columns::TagsAndPackets
    };
    let sorted =
        export::SortedStream::new(&stream).with_context(|| format!("cannot sort `{name}`"))?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match format {
        ShowFormat::Table => {
            let table = sorted
                .render_table(columns)
                .with_context(|| format!("cannot print `{name}`"))?;
            writeln!(out, "{table}").map_err(stdout_failure)?;
            writeln!(out, "{} rows", stream.num_rows()).map_err(stdout_failure)?;
        }
        ShowFormat::Json => sorted
            .write_json(&mut out, columns)
            .map_err(stdout_failure)?,
        ShowFormat::Csv => sorted
            .write_csv(&mut out, columns)
            .map_err(stdout_failure)?,
    }
    Ok(())
}

/// Node `name`'s rows as a run would give them now: computed from the current sources
/// and the stored function results (lookup-only: no command runs, nothing is written),
/// with what is missing, and whether a run holding the database computed them.
fn current_rows(
    file: &PipelineFile,
    name: &str,
    db: Option<&Path>,
) -> Result<(Stream, Vec<RunWarning>, bool), Failure> {
    let pipeline = file.pipeline();
    let index = pipeline.index_of(name).expect("checked by the caller");
    let db = db_dir(file, db)?;
    let lookup = |store: Arc<dyn ArrowStore>| -> Result<(Stream, Vec<RunWarning>, bool), Failure> {
        let mut executor = SyncExecutor::new(pipeline)
            .with_store(store)
            .with_context(|| format!("cannot read {}", db.display()))?
            .lookup_only();
        let stream = executor
            .output(name)
            .map_err(|e| Failure::Failed(format!("{}: {e}", file.path().display())))?
            .clone();
        Ok((stream, executor.warnings().to_vec(), false))
    };
    // Nothing upstream reads the store (no function, no replay, no cached source): the
    // rows are the sources' and the operators', and the database is not needed.
    if !reads_store(pipeline, index) {
        return lookup(Arc::new(MemoryStore::new()));
    }
    if !db.exists() {
        eprintln!(
            "note: there is no database at {}: nothing is stored yet",
            db.display()
        );
        return lookup(Arc::new(MemoryStore::new()));
    }
    match open_or_running(&db)? {
        Reader::Store(store) => lookup(store),
        Reader::Running(progress) => {
            let (rows, warnings) = from_running_run(&db, &progress, pipeline, name, false)?;
            if !warnings.is_empty() {
                eprintln!(
                    "note: a run of this pipeline is in progress (pid {}, since {}): these \
                     are the rows of the results it has stored so far",
                    progress.pid, progress.started_at
                );
            }
            Ok((rows, warnings, true))
        }
    }
}

/// Whether computing node `index` reads the store: a function node, a replaying
/// operator or a cached source among it and its inputs (a replaying node reads no
/// input).
fn reads_store(pipeline: &Pipeline, index: usize) -> bool {
    let mut stack = vec![index];
    let mut seen = vec![false; pipeline.nodes().len()];
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        let node = &pipeline.nodes()[i];
        if matches!(node.kind(), NodeKind::Function(_))
            || node.is_cached_source()
            || node.cache_mode() == CacheMode::Replay
        {
            return true;
        }
        stack.extend_from_slice(node.inputs());
    }
    false
}

/// Every result stored at the node's path (`--all-stored`): for a function node, the
/// results of every run of it so far; for an operator node with `cache: log`, its log;
/// for a source, its rows.
fn all_stored_rows(file: &PipelineFile, node: &Node, db: Option<&Path>) -> Result<Stream, Failure> {
    let path = file.path();
    let name = node.name();
    let pipeline = file.pipeline();
    match node.kind() {
        NodeKind::Source(source) => {
            return Ok(source
                .stream()
                .with_context(|| format!("cannot read the rows of source `{name}`"))?)
        }
        NodeKind::Operator(_) if node.cache_mode() == CacheMode::Off => {
            return Err(Failure::Failed(format!(
                "{}: node `{name}` keeps no stored results: operator nodes store their rows \
                 only with `cache: log`; `orcapod show {} {name}` (without --all-stored) \
                 computes its rows",
                path.display(),
                path.display()
            )))
        }
        _ => {}
    }
    let db = db_dir(file, db)?;
    if !db.exists() {
        return Err(Failure::Failed(format!(
            "{}: node `{name}` has no stored results yet: there is no database at {} \
             (run the pipeline first)",
            path.display(),
            db.display()
        )));
    }
    match open_or_running(&db)? {
        Reader::Store(store) => Ok(stored_source(store.as_ref(), pipeline, name)
            .and_then(|source| source.stream())
            .with_context(|| {
                format!("cannot read the results of `{name}` from {}", db.display())
            })?),
        Reader::Running(progress) => {
            from_running_run(&db, &progress, pipeline, name, true).map(|(rows, _)| rows)
        }
    }
}

/// The stored rows of node `name`, asked of the run that holds the database.
fn from_running_run(
    db: &Path,
    progress: &Progress,
    pipeline: &Pipeline,
    name: &str,
    all_stored: bool,
) -> Result<(Stream, Vec<RunWarning>), Failure> {
    let busy = format!(
        "the database {} is in use by a run of pipeline `{}` (pid {}, since {})",
        db.display(),
        progress.pipeline,
        progress.pid,
        progress.started_at
    );
    if progress.pipeline != pipeline.name() {
        return Err(Failure::Failed(format!(
            "{busy}; `show` of pipeline `{}` works again when it ends",
            pipeline.name()
        )));
    }
    let Some(socket) = &progress.socket else {
        return Err(Failure::Failed(format!(
            "{busy}, which does not answer `show`; try again when it ends"
        )));
    };
    let node = pipeline.node(name).expect("checked by the caller");
    remote::fetch(socket, node, all_stored)
        .map_err(|e| Failure::Failed(format!("{busy}, which cannot show `{name}`: {e}")))
}

pub fn status(path: &Path, db: Option<&Path>) -> Result<(), Failure> {
    let file = load(path)?;
    let pipeline = file.pipeline();
    let db = db_dir(&file, db)?;
    if !db.exists() {
        say!(
            "pipeline `{}`: never run (no database at {})",
            pipeline.name(),
            db.display()
        )?;
        return Ok(());
    }
    let store = match open_or_running(&db)? {
        Reader::Running(progress) if progress.pipeline == pipeline.name() => {
            print_live(&progress, &file)?;
            return Ok(());
        }
        Reader::Running(progress) => {
            say!(
                "pipeline `{}`: the database {} is in use by a run of pipeline `{}` (pid {}, \
                 since {}); the status of `{}` can be read when it ends",
                pipeline.name(),
                db.display(),
                progress.pipeline,
                progress.pid,
                progress.started_at,
                pipeline.name()
            )?;
            return Ok(());
        }
        Reader::Store(store) => store,
    };
    let log = read_run_log(store.as_ref(), pipeline.name())
        .with_context(|| format!("cannot read the run log in {}", db.display()))?;
    let runs: BTreeMap<&str, &RunRecord> = log.iter().map(|r| (r.run_id.as_str(), r)).collect();
    say!(
        "pipeline `{}`: {} run{} recorded in {}",
        pipeline.name(),
        runs.len(),
        if runs.len() == 1 { "" } else { "s" },
        db.display()
    )?;
    // A run killed before it could record its end (a later run records it).
    if let Some(Liveness::Killed(killed)) = live::liveness(&db) {
        if killed.pipeline == pipeline.name() && !runs.contains_key(killed.run_id.as_str()) {
            print_killed(&killed, &file)?;
        }
    }
    if let Some(last) = runs.values().next_back() {
        say!("{}", describe_run(last, &file))?;
    }
    // The latest record of each node.
    let mut latest: BTreeMap<&str, &RunRecord> = BTreeMap::new();
    for record in &log {
        let entry = latest.entry(record.node.as_str()).or_insert(record);
        if record.run_id > entry.run_id {
            *entry = record;
        }
    }
    say!(
        "{}  last run",
        node_header(["node", "kind", "rows", "cached", "computed", "failed", "retried"])
    )?;
    for node in pipeline.nodes() {
        let kind = kind_label(node.kind());
        let function = matches!(node.kind(), NodeKind::Function(_));
        match latest.get(node.name()) {
            Some(r) => {
                let count = |n: u64| if function { n.to_string() } else { "-".into() };
                let when = match &r.outcome {
                    RunOutcome::Completed | RunOutcome::Unrecorded => r.finished_at.clone(),
                    other => format!("{} ({})", r.finished_at, other.label()),
                };
                say!(
                    "{}  {when}",
                    node_row([
                        &node.name(),
                        &kind,
                        &r.rows_out,
                        &count(r.cached),
                        &count(r.computed),
                        &count(r.failed),
                        &count(r.retried),
                    ])
                )?
            }
            None => say!(
                "{}  never",
                node_row([&node.name(), &kind, &"-", &"-", &"-", &"-", &"-"])
            )?,
        }
    }
    for r in latest.values().filter(|r| r.failed > 0) {
        let failures: serde_json::Value =
            serde_json::from_str(&r.failures_json).unwrap_or(serde_json::Value::Null);
        let failures = failures.as_array().cloned().unwrap_or_default();
        if failures.is_empty() {
            continue;
        }
        say!("\nfailures of `{}` in its last run:", r.node)?;
        for f in failures {
            say!(
                "  {}: {}{}",
                f["tag"],
                f["message"].as_str().unwrap_or(""),
                f["stderr"]
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .map(|s| format!("\n    stderr: {}", s.trim().replace('\n', "\n    ")))
                    .unwrap_or_default()
            )?;
        }
    }
    Ok(())
}

/// One line: how a run ended.
fn describe_run(run: &RunRecord, file: &PipelineFile) -> String {
    let started = if run.started_at.is_empty() {
        String::new()
    } else {
        format!(", started {}", run.started_at)
    };
    match &run.outcome {
        RunOutcome::Completed => format!(
            "last run {}: completed at {}{started}",
            run.run_id, run.finished_at
        ),
        RunOutcome::Failed { node, reason } => format!(
            "last run {}: failed at {}{started}: node `{node}` failed: {}",
            run.run_id,
            run.finished_at,
            reason.trim_end()
        ),
        RunOutcome::Interrupted { reason } => format!(
            "last run {}: interrupted at {}{started} ({reason}); the results it stored are \
             kept, and `orcapod run {}` continues from there",
            run.run_id,
            run.finished_at,
            file.path().display()
        ),
        RunOutcome::Unrecorded => format!(
            "last run {}: ended at {} (how it ended was not recorded by the orcapod that ran it)",
            run.run_id, run.finished_at
        ),
    }
}

/// The live progress of a run in progress.
fn print_live(progress: &Progress, file: &PipelineFile) -> Result<(), Failure> {
    say!(
        "pipeline `{}`: running since {}, pid {} (run {}, {} mode; progress updated {})",
        progress.pipeline,
        progress.started_at,
        progress.pid,
        progress.run_id,
        progress.mode,
        live::ago(progress.updated_unix_ms)
    )?;
    if let Some(watch) = &progress.watch {
        say!(
            "watching the sources (--watch): round {}{}",
            watch.round,
            if watch.between_rounds {
                " ended; waiting for a change"
            } else {
                " running"
            }
        )?;
    }
    print_lines(progress, file)
}

/// A run whose process was killed before it recorded its end.
fn print_killed(progress: &Progress, file: &PipelineFile) -> Result<(), Failure> {
    say!(
        "the last run {} (started {}, pid {}) was interrupted (killed): its process ended \
         without recording its end. Its last known progress ({}):",
        progress.run_id,
        progress.started_at,
        progress.pid,
        progress.updated_at
    )?;
    print_lines(progress, file)?;
    say!(
        "the results it stored are kept: the next `orcapod run {}` uses them and computes \
         only the rest\n",
        file.path().display()
    )
}

fn print_lines(progress: &Progress, file: &PipelineFile) -> Result<(), Failure> {
    say!(
        "{}  state",
        node_header(["node", "kind", "rows", "cached", "computed", "failed", "retried"])
    )?;
    for line in &progress.nodes {
        let function = file
            .pipeline()
            .node(&line.name)
            .is_some_and(|n| matches!(n.kind(), NodeKind::Function(_)));
        let count = |n: u64| if function { n.to_string() } else { "-".into() };
        say!(
            "{}  {}",
            node_row([
                &line.name,
                &line.kind,
                &line.rows,
                &count(line.cached),
                &count(line.computed),
                &count(line.failed),
                &count(line.retried),
            ]),
            line.state
        )?;
    }
    if let Some(failure) = &progress.failure {
        say!("failed: node `{}`: {}", failure.node, failure.reason)?;
    }
    Ok(())
}
