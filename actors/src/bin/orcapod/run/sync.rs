//! A synchronous run: every node in order on a scoped worker thread, while the driver
//! watches its progress and the signals; the run's end goes into the run log.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use indicatif::ProgressBar;
use orcapod::function::command::kill_all_commands;
use orcapod::model::Stream;
use orcapod::pipeline::{NodeStats, SyncExecutor};
use orcapod::pipeline_file::PipelineFile;
use orcapod::store::ArrowStore;

use super::driver::{warn, Driver, Ended, TICK};
use super::lines::lines_of_sync;
use super::run_log::record_sync_run;
use crate::failure::Failure;
use crate::live::FailureNote;

impl Driver<'_> {
    pub fn run_sync(&mut self) -> Result<Ended, Failure> {
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
            let (store, outputs) = (self.store.clone(), self.outputs.names().to_vec());
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
        record_sync_run(
            self.store.as_ref(),
            pipeline.name(),
            (&self.run_id, &self.started_at),
            failure.as_ref(),
            interrupted,
            &stats,
        )?;
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
            (None, Some(streams)) => {
                for (index, name) in self.outputs.names().to_vec().iter().enumerate() {
                    for batch in streams.get(name).map(Stream::batches).unwrap_or_default() {
                        self.outputs.push(index, batch)?;
                    }
                }
                Ok(Ended::Completed { stats })
            }
            (None, None) => Err(Failure::Failed("the run ended without its outputs".into())),
        }
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
