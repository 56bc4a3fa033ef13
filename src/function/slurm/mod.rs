//! The pure parts of running a command function's packets on Slurm, as job arrays.
//!
//! A node whose pod says [`Executor::Slurm`] has its distinct uncached packets cut into
//! chunks of [`SlurmSettings::chunk`] packets. Each chunk is a JSON Lines file of
//! requests ([`chunk`]); one `sbatch --array` submission runs a batch of chunks, array
//! task `i` running the node's command once on chunk `i` ([`script`]). The run asks
//! `squeue` for the state of all its tasks at once ([`status`]), at an interval that
//! grows when the controller answers slowly ([`poll`]); a task that wrote its exit
//! marker is read back into one result per packet with the pairing guarantees of a
//! local worker ([`answers`]). Each submission is recorded in the store, one row per
//! packet ([`record`]), so that a run finds the chunks of a run that was killed.
//!
//! This module only writes text, parses text and writes request files: it never runs
//! `sbatch`, `squeue` or `scancel`, never waits and never reads the clock. The driver
//! that does (submitting, polling, cancelling) is `orcapod-actors`'s `slurm` module.
//!
//! Files: `settings.rs` ([`SlurmSettings`], [`Executor`]), `chunk.rs`, `script.rs`,
//! `status.rs`, `poll.rs`, `answers.rs`, `record.rs`.

pub mod answers;
pub mod chunk;
pub mod poll;
pub mod record;
pub mod script;
mod settings;
pub mod status;

pub use settings::{
    Executor, SlurmSettings, DEFAULT_CHUNK, DEFAULT_MAX_TASKS, MAX_CHUNK, MAX_TASKS,
};
