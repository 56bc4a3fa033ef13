//! The commands that look without running: `validate`, `graph`, `show`, `status`.
//!
//! None of them writes to the database; `show` and `status` open it only if it exists.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use orcapod::export;
use orcapod::pipeline::{read_run_log, stored_source, CacheMode, NodeKind, RunRecord};
use orcapod::pipeline_file::PipelineFile;
use orcapod::store::{ArrowStore, SledStore};

use crate::{Failure, GraphFormat, ShowFormat};

pub fn validate(path: &Path) -> Result<(), Failure> {
    let file = crate::load(path)?;
    let pipeline = file.pipeline();
    println!(
        "{}: valid — pipeline `{}`, {} nodes, outputs {}",
        path.display(),
        pipeline.name(),
        pipeline.nodes().len(),
        file.outputs().join(", ")
    );
    for node in pipeline.nodes() {
        println!(
            "  {:<24} {}   pipeline hash {}",
            node.name(),
            node.output_schema().describe(),
            node.identity().pipeline
        );
    }
    Ok(())
}

pub fn graph(path: &Path, format: GraphFormat) -> Result<(), Failure> {
    let file = crate::load(path)?;
    let text = match format {
        GraphFormat::Dot => file.pipeline().to_dot(),
        GraphFormat::Mermaid => file.pipeline().to_mermaid(),
    };
    print!("{text}");
    Ok(())
}

/// A database directory, opened.
type OpenedDb = (PathBuf, Arc<dyn ArrowStore>);

/// The database for `show` and `status`: it must exist already (these commands never
/// create one).
fn existing_db(file: &PipelineFile, db: Option<&Path>) -> Result<Option<OpenedDb>, Failure> {
    let db = db
        .map(Path::to_path_buf)
        .unwrap_or_else(|| file.default_db());
    if !db.exists() {
        return Ok(None);
    }
    let store: Arc<dyn ArrowStore> = Arc::new(
        SledStore::open(&db)
            .with_context(|| format!("cannot open the database {}", db.display()))?,
    );
    Ok(Some((db, store)))
}

pub fn show(
    path: &Path,
    name: &str,
    db: Option<&Path>,
    format: ShowFormat,
    all_info: bool,
) -> Result<(), Failure> {
    let file = crate::load(path)?;
    let pipeline = file.pipeline();
    let Some(node) = pipeline.node(name) else {
        let names: Vec<&str> = pipeline.nodes().iter().map(|n| n.name()).collect();
        return Err(Failure::Invalid(format!(
            "{}: there is no source or node `{name}` (there are {})",
            path.display(),
            names.join(", ")
        )));
    };
    let stream = match node.kind() {
        NodeKind::Source(source) => source.stream().clone(),
        NodeKind::Operator(_) if node.cache_mode() == CacheMode::Off => {
            return Err(Failure::Failed(format!(
                "{}: node `{name}` keeps no stored results: operator nodes store their rows \
                 only with `cache: log`; write them with `orcapod run {} --out DIR`",
                path.display(),
                path.display()
            )))
        }
        _ => {
            let Some((db, store)) = existing_db(&file, db)? else {
                return Err(Failure::Failed(format!(
                    "{}: node `{name}` has no stored results yet: there is no database at {} \
                     (run the pipeline first)",
                    path.display(),
                    file.default_db().display()
                )));
            };
            let source = stored_source(store.as_ref(), pipeline, name).with_context(|| {
                format!("cannot read the results of `{name}` from {}", db.display())
            })?;
            source.stream().clone()
        }
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
            writeln!(out, "{table}").context("cannot write to stdout")?;
            writeln!(out, "{} rows", stream.num_rows()).context("cannot write to stdout")?;
        }
        ShowFormat::Json => sorted
            .write_json(&mut out, columns)
            .context("cannot write to stdout")?,
        ShowFormat::Csv => sorted
            .write_csv(&mut out, columns)
            .context("cannot write to stdout")?,
    }
    Ok(())
}

pub fn status(path: &Path, db: Option<&Path>) -> Result<(), Failure> {
    let file = crate::load(path)?;
    let pipeline = file.pipeline();
    let Some((db, store)) = existing_db(&file, db)? else {
        println!(
            "pipeline `{}`: never run (no database at {})",
            pipeline.name(),
            file.default_db().display()
        );
        return Ok(());
    };
    let log = read_run_log(store.as_ref(), pipeline.name())
        .with_context(|| format!("cannot read the run log in {}", db.display()))?;
    let runs: BTreeMap<&str, &str> = log
        .iter()
        .map(|r| (r.run_id.as_str(), r.finished_at.as_str()))
        .collect();
    println!(
        "pipeline `{}`: {} run{} recorded in {}",
        pipeline.name(),
        runs.len(),
        if runs.len() == 1 { "" } else { "s" },
        db.display()
    );
    // The latest record of each node.
    let mut latest: BTreeMap<&str, &RunRecord> = BTreeMap::new();
    for record in &log {
        let entry = latest.entry(record.node.as_str()).or_insert(record);
        if record.run_id > entry.run_id {
            *entry = record;
        }
    }
    println!(
        "{:<24} {:<10} {:>10} {:>10} {:>10} {:>8}  last run",
        "node", "kind", "rows", "cached", "computed", "failed"
    );
    for node in pipeline.nodes() {
        let kind = crate::kind_label(node.kind());
        match latest.get(node.name()) {
            Some(r) if matches!(node.kind(), NodeKind::Function(_)) => println!(
                "{:<24} {:<10} {:>10} {:>10} {:>10} {:>8}  {}",
                node.name(),
                kind,
                r.rows_out,
                r.cached,
                r.computed,
                r.failed,
                r.finished_at
            ),
            Some(r) => println!(
                "{:<24} {:<10} {:>10} {:>10} {:>10} {:>8}  {}",
                node.name(),
                kind,
                r.rows_out,
                "-",
                "-",
                "-",
                r.finished_at
            ),
            None => println!(
                "{:<24} {:<10} {:>10} {:>10} {:>10} {:>8}  never",
                node.name(),
                kind,
                "-",
                "-",
                "-",
                "-"
            ),
        }
    }
    for r in latest.values().filter(|r| r.failed > 0) {
        println!("\nfailures of `{}` in its last run:", r.node);
        let failures: serde_json::Value =
            serde_json::from_str(&r.failures_json).unwrap_or(serde_json::Value::Null);
        for f in failures.as_array().into_iter().flatten() {
            println!(
                "  {}: {}{}",
                f["tag"],
                f["message"].as_str().unwrap_or(""),
                f["stderr"]
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .map(|s| format!("\n    stderr: {}", s.trim().replace('\n', "\n    ")))
                    .unwrap_or_default()
            );
        }
    }
    Ok(())
}
