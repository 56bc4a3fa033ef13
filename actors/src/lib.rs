//! orcapod-actors: the actor runtime for orcapod pipelines.
//!
//! Every source, operator and output collector of a pipeline runs as an actix actor
//! with a mailbox, wrapping the pure state machines of the `orcapod` core. Batches of
//! rows flow downstream with an in-band end-of-stream per input; credits flow upstream
//! and bound the rows in flight on every edge; a per-run supervisor knows when the run
//! is complete, applies the error policy and collects the results.
//!
//! ```no_run
//! # fn pipeline() -> orcapod::pipeline::Pipeline { unimplemented!() }
//! use orcapod_actors::{Runtime, RunOptions};
//! let runtime = Runtime::new()?;
//! let output = runtime.run(&pipeline(), RunOptions::default())?;
//! # Ok::<(), orcapod_actors::RunError>(())
//! ```
//!
//! This crate is the only one that spawns threads or actors; the core never does.

#![warn(missing_docs)]

mod clock;
mod edges;
mod endpoints;
mod function_role;
mod jitter;
mod messages;
mod node_actor;
mod node_setup;
mod outcome;
mod pools;
mod preparer;
mod progress;
mod run_log;
mod runtime;
mod slurm;
mod source_thread;
mod store_writer;
mod supervisor;
mod worker_pool;

pub use clock::{run_id_and_time, wait_unless};
pub use outcome::{NodeFailure, RunError, RunOutput};
pub use progress::NodeProgress;
pub use run_log::record_run;
pub use runtime::{run, ErrorPolicy, Interrupter, PipelineHandle, RunOptions, Runtime};
pub use slurm::cancel_all_jobs;
