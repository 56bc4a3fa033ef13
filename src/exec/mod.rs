//! Running nodes and the synchronous executor.
//!
//! [`start_node`] is the one place where a plan node becomes a running node
//! ([`RunningNode`]): rows of a source or of a replaying operator, an operator with its
//! log, a function node. Both executors start their nodes there: the synchronous
//! executor ([`SyncExecutor`]) drives them through the [`RunningNode`] interface, the
//! actor runtime takes their [`Role`] apart into its actors. So what a node does is
//! written once, and who runs it (and when) is the executor's only business.
//!
//! This module never spawns, blocks on a channel or sleeps: retry backoffs are waited
//! out by a caller-supplied [`BackoffWaiter`].

mod node;
mod sync;

pub use node::{start_node, NodeSettings, Role, RunningNode};
pub use sync::{BackoffWaiter, SyncExecutor};
