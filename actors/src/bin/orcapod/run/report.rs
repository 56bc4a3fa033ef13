//! What a completed run prints: the output tables on stdout (or the files of `--out`),
//! and the summary on stderr, one line per node, and what hashing files cost.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use orcapod::files::HashCounts;
use orcapod::pipeline::{ErrorPolicy, NodeKind, NodeStats};
use orcapod::pipeline_file::PipelineFile;

use super::outputs::{Finished, SHOWN_ROWS};
use crate::args::RunArgs;
use crate::failure::Failure;
use crate::table::{kind_label, node_header, node_row};

/// Outputs (to `--out` or stdout) and the summary of a completed run.
pub fn report(
    args: &RunArgs,
    file: &PipelineFile,
    finished: Finished,
    stats: &[NodeStats],
    elapsed: Duration,
    db: &Path,
) -> Result<(), Failure> {
    let written = print_finished(finished)?;
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

/// Prints the previews of a completed run's outputs on stdout; returns the files it
/// wrote with `--out`.
pub fn print_finished(finished: Finished) -> Result<Vec<PathBuf>, Failure> {
    let mut written = Vec::new();
    match finished {
        Finished::Written(paths) => written = paths,
        Finished::Previews(previews) => {
            for (name, rows, table) in &previews {
                match print_output(name, *rows, table) {
                    // Nobody reads the tables any more (`| head`); the summary still goes
                    // to stderr.
                    Err(Failure::StdoutClosed) => break,
                    printed => printed?,
                }
            }
        }
        Finished::Nothing => {}
    }
    Ok(written)
}

/// Prints an output's heading, the table of its first rows and how many more it has.
fn print_output(name: &str, rows: u64, table: &str) -> Result<(), Failure> {
    say!("== {name}: {rows} row{}", if rows == 1 { "" } else { "s" })?;
    say!("{table}")?;
    let shown = SHOWN_ROWS as u64;
    if rows > shown {
        say!(
            "… {} more rows (write them all with --out DIR)",
            rows - shown
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
    // The process runs one pipeline, so the process's counts are the run's.
    let hashes = orcapod::files::file_hashes().counts();
    if hashes != HashCounts::default() {
        eprintln!(
            "file hashes: {} computed ({} bytes read), {} from the cache",
            hashes.files_hashed, hashes.bytes_read, hashes.cache_hits
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
