//! What both run modes share while they run: the [`Driver`] (the file, the store, the
//! progress bar, the progress file, the signals), how a run ended ([`Ended`]), and the
//! messages both give (a run's warnings, a failed node).
//!
//! The modes themselves are [`super::actors`] and [`super::sync`]; the driver never runs
//! a node.

use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use orcapod::pipeline::{NodeStats, RunWarning};
use orcapod::pipeline_file::PipelineFile;
use orcapod::store::ArrowStore;
use orcapod_actors::RunError;

use super::outputs::Outputs;
use crate::failure::Failure;
use crate::live::{self, FailureNote, NodeLine};
use crate::signals::{Interrupt, Interrupts};
use crate::warnings::{describe_warning, WarningContext};

/// How often the run's driver looks at signals and progress.
pub const TICK: Duration = Duration::from_millis(50);
/// How long to wait for the nodes to stop before killing the commands anyway.
pub const STOP_WAIT: Duration = Duration::from_secs(2);

/// How a run ended.
pub enum Ended {
    /// Every output row is in the driver's [`Outputs`].
    Completed {
        stats: Vec<NodeStats>,
    },
    Failed {
        failure: Failure,
        note: FailureNote,
    },
    Interrupted(Interrupt),
}

/// What both modes need while they run.
pub struct Driver<'a> {
    pub file: &'a PipelineFile,
    pub store: Arc<dyn ArrowStore>,
    /// Where the output rows go as they arrive.
    pub outputs: Outputs,
    pub bar: ProgressBar,
    /// The progress file (kept across the rounds of `--watch`).
    pub publisher: &'a mut live::Publisher,
    /// The actor runtime (`--mode actors`; kept across the rounds of `--watch`).
    pub runtime: Option<&'a orcapod_actors::Runtime>,
    pub interrupts: &'a Interrupts,
    pub run_id: String,
    pub started_at: String,
    /// The last node lines published (the final state when the run ends early).
    pub last_nodes: Vec<NodeLine>,
    /// The executors of the command function nodes.
    pub cluster: &'a super::cluster::Cluster,
}

impl Driver<'_> {
    pub fn publish(&mut self, nodes: Vec<NodeLine>) {
        self.last_nodes = nodes.clone();
        self.publisher.update(nodes);
    }
}

/// Prints a warning of the run on stderr, above the spinner.
pub fn warn(bar: &ProgressBar, file: &PipelineFile, warning: &RunWarning) {
    let message = describe_warning(file, warning, WarningContext::Run);
    bar.suspend(|| eprintln!("warning: {message}"));
}

/// A run error as a message naming the file, and the node and its line.
pub fn run_failure(file: &PipelineFile, error: RunError) -> Failure {
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

pub fn progress_bar() -> ProgressBar {
    // Hidden when stderr is not a terminal: then only the final summary is printed.
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}
