//! SIGINT and SIGTERM during `orcapod run`.
//!
//! The first signal asks for a graceful stop: `run` notices it within its polling
//! interval, stops the run (no new packets), kills the command processes, lets every
//! result already received be stored and flushed, records the run as interrupted, says
//! in one line what is stored, and exits with 128 + the signal's number (130 for
//! SIGINT, 143 for SIGTERM). A second signal exits at once, still killing the command
//! processes first; whatever was not flushed yet is computed again by the next run.
//!
//! Signals are received by `signal-hook`'s iterator on a thread of its own (no handler
//! code of ours runs in signal context, and no `unsafe`).

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// A signal that interrupts a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupt(i32);

impl Interrupt {
    /// `SIGINT` or `SIGTERM`.
    pub fn name(self) -> &'static str {
        signal_name(self.0)
    }

    /// The conventional exit code of a process ended by this signal: 128 + its number.
    pub fn exit_code(self) -> u8 {
        u8::try_from(128 + self.0).unwrap_or(1)
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

/// What to do at once when the first signal arrives.
type Callback = Box<dyn Fn(Interrupt) + Send>;

/// Watches for SIGINT and SIGTERM from now on (replacing their default action, which
/// would end the process at once and leave the commands running).
pub struct Interrupts {
    first: Arc<AtomicI32>,
    on_first: Arc<Mutex<Option<Callback>>>,
}

impl Interrupts {
    pub fn install() -> std::io::Result<Interrupts> {
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        let first = Arc::new(AtomicI32::new(0));
        let seen = first.clone();
        let on_first: Arc<Mutex<Option<Callback>>> = Arc::new(Mutex::new(None));
        let callback = on_first.clone();
        std::thread::Builder::new()
            .name("orcapod-signals".to_string())
            .spawn(move || {
                for signal in signals.forever() {
                    if seen
                        .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst)
                        .is_err()
                    {
                        // The second signal: stop now.
                        orcapod::function::command::kill_all_commands();
                        let _ = orcapod_actors::cancel_all_jobs();
                        eprintln!(
                            "{} again: stopping at once; results not yet flushed are \
                             computed again by the next run",
                            signal_name(signal)
                        );
                        std::process::exit(128 + signal);
                    }
                    if let Some(f) = &*lock(&callback) {
                        f(Interrupt(signal));
                    }
                }
            })?;
        Ok(Interrupts { first, on_first })
    }

    /// Calls `f` as soon as the first signal arrives (at once if it has arrived), on the
    /// watcher's thread: the run is told before anything else can happen (a command
    /// dying of the same Ctrl-C must not be reported as the run's failure).
    pub fn on_first(&self, f: impl Fn(Interrupt) + Send + 'static) {
        let mut slot = lock(&self.on_first);
        if let Some(signal) = self.received() {
            f(signal);
        }
        *slot = Some(Box::new(f));
    }

    /// Forgets the callback of [`on_first`](Self::on_first).
    pub fn clear(&self) {
        *lock(&self.on_first) = None;
    }

    /// The first signal received, if any.
    pub fn received(&self) -> Option<Interrupt> {
        match self.first.load(Ordering::SeqCst) {
            0 => None,
            signal => Some(Interrupt(signal)),
        }
    }
}

fn lock(slot: &Mutex<Option<Callback>>) -> std::sync::MutexGuard<'_, Option<Callback>> {
    slot.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
