//! What a completed run prints: the output tables on stdout (or the files of `--out`),
//! and the summary on stderr, one line per node.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use orcapod::export;
use orcapod::model::Stream;
use orcapod::pipeline::{ErrorPolicy, NodeKind, NodeStats};
use orcapod::pipeline_file::PipelineFile;

use crate::args::{OutFormat, RunArgs};
use crate::failure::Failure;
use crate::table::{kind_label, node_header, node_row};

/// At most this many rows of each output are printed when there is no `--out`.
const SHOWN_ROWS: usize = 20;

/// Outputs (to `--out` or stdout) and the summary of a completed run.
pub fn report(
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
        node_header(["node", "kind", "rows", "computed", "cached", "failed", "retried"])
    );
    for node in file.pipeline().nodes() {
        let kind = kind_label(node.kind());
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
            node_row([
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
