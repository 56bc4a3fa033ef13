//! What every run of one `orcapod run` process shares, and one run on it: the
//! [`Session`] (the store, the actor runtime, the `show` server, the progress file, the
//! signals, the files area), [`Session::run_once`] (a run in either mode, after which
//! no command is left and the area's scratch directories are gone; a later run opens
//! the area afresh) and [`Session::interrupted`] (the end of a run a signal stopped).
//!
//! A plain run uses the session once; `--watch` once per round. Nothing here decides
//! when to run or prints a summary.

use std::path::PathBuf;
use std::sync::Arc;

use orcapod::files::outputs::{use_area, OutputArea};
use orcapod::function::command::kill_all_commands;
use orcapod::pipeline_file::PipelineFile;
use orcapod::store::ArrowStore;
use orcapod_actors::Runtime;

use super::cluster;
use super::driver::{progress_bar, Driver, Ended};
use super::interrupted::interrupted_message;
use super::lines::waiting_lines;
use super::outputs::Outputs;
use crate::args::{Mode, RunArgs};
use crate::failure::Failure;
use crate::live::{self, NodeLine};
use crate::remote;
use crate::signals::{Interrupt, Interrupts};

/// What every run of one `orcapod run` shares (every round of `--watch`): the store,
/// the runtime, the `show` server, the progress file and the signals.
pub struct Session<'a> {
    pub args: &'a RunArgs,
    pub interrupts: &'a Interrupts,
    pub store: Arc<dyn ArrowStore>,
    /// The database directory (absolute when it could be made so).
    pub db: PathBuf,
    pub cluster: cluster::Cluster,
    pub runtime: Option<Runtime>,
    pub server: Option<remote::Server>,
    pub publisher: live::Publisher,
    /// Where files written by commands go (the database's `files/`).
    pub area: Arc<OutputArea>,
    /// How many runs this session has run.
    pub runs: u64,
}

impl Session<'_> {
    /// Runs `file`'s pipeline once, its output rows going to `outputs`: how it ended,
    /// the outputs (to finish when it completed) and the last node lines published. No
    /// command outlives it.
    pub fn run_once(
        &mut self,
        file: &PipelineFile,
        outputs: Outputs,
        run_id: String,
        started_at: String,
    ) -> (Result<Ended, Failure>, Outputs, Vec<NodeLine>) {
        // A run ends by closing the files area for good (a worker left behind can
        // make no scratch directory), so a later round opens it afresh.
        if self.runs > 0 {
            match OutputArea::open(self.area.root()) {
                Ok(area) => {
                    self.area = Arc::new(area);
                    use_area(Some(self.area.clone()));
                }
                Err(e) => {
                    let failure = Failure::Failed(format!(
                        "cannot open the files area {}: {e}",
                        self.area.root().display()
                    ));
                    return (Err(failure), outputs, waiting_lines(file.pipeline()));
                }
            }
        }
        self.runs += 1;
        let mut driver = Driver {
            file,
            store: self.store.clone(),
            outputs,
            bar: progress_bar(),
            publisher: &mut self.publisher,
            runtime: self.runtime.as_ref(),
            interrupts: self.interrupts,
            run_id,
            started_at,
            last_nodes: waiting_lines(file.pipeline()),
            cluster: &self.cluster,
        };
        let ended = match self.args.mode {
            Mode::Actors => driver.run_actors(),
            Mode::Sync => driver.run_sync(),
        };
        // However the run ended, no command outlives it: a command still busy with a
        // packet of a stopped run would otherwise go on until it finishes that packet.
        kill_all_commands();
        cluster::cancel_jobs();
        self.area.remove_scratch();
        // Saved id indexes spare the next run reading every stored id again.
        if let Err(e) = self.store.save_indexes() {
            eprintln!(
                "warning: cannot save the id indexes of the database ({e}); the next run \
                 reads every stored id again to build them"
            );
        }
        driver.bar.finish_and_clear();
        let last = std::mem::take(&mut driver.last_nodes);
        (ended, driver.outputs, last)
    }

    /// A run interrupted by `signal`: the progress file says so, and the failure
    /// carries the line saying what is stored.
    pub fn interrupted(
        &mut self,
        signal: Interrupt,
        file: &PipelineFile,
        last: Vec<NodeLine>,
    ) -> Failure {
        self.server.take();
        self.publisher.finish(
            "interrupted",
            Some(last),
            None,
            Some(signal.name().to_string()),
        );
        Failure::Interrupted {
            code: signal.exit_code(),
            message: interrupted_message(
                signal,
                file,
                self.store.as_ref(),
                &self.db,
                &self.args.file,
            ),
        }
    }
}
