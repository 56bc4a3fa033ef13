//! The one line printed when a signal interrupted a run: what is stored, and how to go
//! on from there.

use std::path::Path;

use orcapod::pipeline::{NodeKind, Pipeline};
use orcapod::pipeline_file::PipelineFile;
use orcapod::store::ArrowStore;
use orcapod::store::FunctionPaths;

use crate::signals::Interrupt;

/// The one line printed when a signal interrupted the run.
pub fn interrupted_message(
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
