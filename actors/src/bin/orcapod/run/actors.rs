//! A run on the actor runtime: start it, watch its progress and the signals, and say
//! how it ended.

use std::time::{Duration, Instant};

use anyhow::Context;
use orcapod::function::command::kill_all_commands;
use orcapod_actors::{RunError, RunOptions, Runtime};

use super::driver::{run_failure, warn, Driver, Ended, STOP_WAIT, TICK};
use super::lines::{lines_of_progress, spinner_message};
use super::outputs::Subscriptions;
use crate::failure::Failure;
use crate::live::FailureNote;

/// How many batches an output's channel holds before the pipeline waits for the driver.
const OUTPUT_CHANNEL_BATCHES: usize = 16;
/// Rows per message between the nodes of a run (the runtime's default is 1024): at
/// millions of rows, eight times fewer messages, file reads and output batches cost
/// less per row, for up to 8192 rows read before the first ones move on.
const BATCH_ROWS: usize = 8192;
/// Rows in flight from a node to each consumer: four batches, as the runtime's default.
const WINDOW_ROWS: usize = 4 * BATCH_ROWS;
/// No deadline, in practice: the final draining takes whatever is left.
const FOREVER: Duration = Duration::from_secs(365 * 24 * 3600);

impl Driver<'_> {
    pub fn run_actors(&mut self) -> Result<Ended, Failure> {
        let file = self.file;
        let owned;
        let runtime = match self.runtime {
            Some(runtime) => runtime,
            None => {
                owned = Runtime::new().context("cannot start the actor runtime")?;
                &owned
            }
        };
        // The outputs stream to the driver as they are produced; none is collected whole.
        let mut options = RunOptions::default()
            .max_batch_rows(BATCH_ROWS)
            .window_rows(WINDOW_ROWS)
            .outputs(Vec::<String>::new())
            .on_error(file.on_error())
            .store(self.store.clone())
            .run_id(self.run_id.clone(), self.started_at.clone());
        if let Some(executor) = self.cluster.executor {
            options = options.executor(executor);
        }
        if let Some(dir) = &self.cluster.work_dir {
            options = options.slurm_work_dir(dir.clone());
        }
        let mut subscriptions = Subscriptions::new(
            self.outputs
                .names()
                .iter()
                .map(|name| options.subscribe(name.clone(), OUTPUT_CHANNEL_BATCHES))
                .collect(),
        );
        let handle = runtime
            .start(file.pipeline(), options)
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
            // Output rows are taken as they come; once every output channel has
            // closed, the run's end is what is left to wait for.
            let wait = if subscriptions.any_open() {
                if let Err(failure) = subscriptions.receive(&mut self.outputs, TICK) {
                    handle.cancel();
                    return Err(failure);
                }
                Duration::ZERO
            } else {
                TICK
            };
            if let Some(outcome) = handle.wait_timeout(wait) {
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
                super::cluster::cancel_jobs();
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
                // Every output batch was sent before the run reported its end.
                subscriptions.take_ready(&mut self.outputs, Instant::now() + FOREVER)?;
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
}
