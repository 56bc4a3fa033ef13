//! The function node's side of [`NodeActor`]: completed jobs in, a step that hands out
//! what the node settled (rows downstream, writes and failures to the supervisor), and
//! the store backlog, the rows handed over to be stored and not yet acknowledged, which
//! holds the node's input credit back while it is full.
//!
//! Like the rest of the actor, these handlers never block, compute a packet nor write
//! to the store.

use actix::{AsyncContext, Context, Handler};

use super::NodeActor;
use crate::function_role;
use crate::messages::{
    FunctionStep, JobDone, PacketsFailed, PoolFailed, Prepared, StoreWrites, WritesStored,
};
use crate::node_setup::Behavior;

/// How many of a node's rows may wait to be stored before it holds its input credit
/// back (a function node's results and records; a logging operator's rows).
pub(super) const STORE_BACKLOG_ROWS: usize = 1 << 16;

impl NodeActor {
    /// Hands out what a function node step produced: outputs downstream, writes and
    /// failures to the supervisor.
    pub(super) fn after_function_step(&mut self, ctx: &mut Context<Self>) {
        let Behavior::Function { state, .. } = &mut self.behavior else {
            return;
        };
        let step = match function_role::take_step(state) {
            Ok(step) => step,
            Err(e) => return self.fail(e.to_string(), ctx),
        };
        if let Some(writes) = step.writes {
            self.send_writes(writes);
        }
        self.emit(step.outputs);
        let failures = step.failures;
        if let Some(first) = failures.first() {
            if self.config.continue_on_error {
                self.supervisor.packets_failed.do_send(PacketsFailed {
                    index: self.index,
                    failures,
                });
            } else {
                let message = first.to_error(&step.function).to_string();
                self.fail(message, ctx);
            }
        }
    }

    /// Hands rows to the supervisor to store; they count against the store backlog
    /// until acknowledged.
    pub(super) fn send_writes(&mut self, mut writes: StoreWrites) {
        let rows = writes.rows();
        self.unstored_rows += rows;
        writes.owners = vec![(self.index, rows)];
        self.supervisor.writes.do_send(writes);
    }
}

impl Handler<JobDone> for NodeActor {
    type Result = ();

    fn handle(&mut self, done: JobDone, ctx: &mut Context<Self>) {
        if self.failed && !self.config.continue_on_error {
            return;
        }
        if let Behavior::Function { state, .. } = &mut self.behavior {
            if let Err(e) = done
                .completed
                .and_then(|completed| state.complete(done.id, completed))
            {
                self.fail(e.to_string(), ctx);
                return;
            }
        }
        // Results that arrive together are emitted and stored together: the step runs
        // after the completions already in the mailbox.
        if !self.step_scheduled {
            self.step_scheduled = true;
            ctx.notify(FunctionStep);
        }
    }
}

impl Handler<WritesStored> for NodeActor {
    type Result = ();

    fn handle(&mut self, stored: WritesStored, ctx: &mut Context<Self>) {
        self.unstored_rows = self.unstored_rows.saturating_sub(stored.rows);
        self.after_progress(ctx);
    }
}

impl Handler<FunctionStep> for NodeActor {
    type Result = ();

    fn handle(&mut self, _: FunctionStep, ctx: &mut Context<Self>) {
        self.step_scheduled = false;
        self.after_function_step(ctx);
        self.after_progress(ctx);
    }
}

impl Handler<PoolFailed> for NodeActor {
    type Result = ();

    fn handle(&mut self, failed: PoolFailed, ctx: &mut Context<Self>) {
        self.fail(failed.message, ctx);
    }
}

impl Handler<Prepared> for NodeActor {
    type Result = ();

    /// Takes a batch prepared off the actor thread: the rest of its push runs here.
    fn handle(&mut self, prepared: Prepared, ctx: &mut Context<Self>) {
        let Behavior::Function {
            state,
            pool,
            preparer,
            ..
        } = &mut self.behavior
        else {
            return;
        };
        if let Some(preparer) = preparer.as_mut() {
            preparer.done();
        }
        if self.failed && !self.config.continue_on_error {
            return;
        }
        let pushed = prepared
            .result
            .and_then(|prepared| state.push_prepared(prepared, None));
        match pushed {
            Ok(jobs) => {
                if let Some(pool) = pool.as_mut() {
                    pool.dispatch(jobs);
                }
                self.after_function_step(ctx);
            }
            Err(e) => self.fail(e.to_string(), ctx),
        }
        self.after_progress(ctx);
    }
}
