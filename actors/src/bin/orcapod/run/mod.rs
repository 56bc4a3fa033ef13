//! `orcapod run`: load, check, run on actors or synchronously, write the outputs, and
//! report what each node did.
//!
//! Order matters for "nothing written on an invalid file": the file is loaded and every
//! command probed before the database is opened.
//!
//! While it runs, the run publishes its progress for other processes ([`crate::live`]),
//! answers `show` through a socket ([`crate::remote`]), and watches for SIGINT and
//! SIGTERM ([`crate::signals`]). On the first signal it stops the run, kills the
//! command processes, lets what was received be stored and flushed, records the run as
//! interrupted, prints one line saying what is stored, and exits 130 or 143.
//!
//! The parts: [`cluster`] (which nodes run on Slurm, and where), [`driver`] (what both modes share while they run), [`actors`] and
//! [`sync`] (the two modes), [`outputs`] (where output rows go as they arrive: the
//! files of `--out`, or the previews), [`lines`] (the progress views), [`report`] (the tables
//! and the summary of a completed run), [`interrupted`] (the line printed on a signal)
//! [`run_log`] (what the command line writes to the run log), [`session`] (what the
//! runs of one process share) and [`watch`] (`--watch`: rounds run again when the
//! sources change). This module only sequences them.

mod actors;
mod cluster;
mod delta;
mod driver;
mod interrupted;
mod keeping;
mod lines;
mod outputs;
mod report;
mod run_log;
mod session;
mod sync;
mod watch;

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use orcapod::files::outputs::{use_area, OutputArea};
use orcapod::store::{ArrowStore, SledStore};
use orcapod_actors::{run_id_and_time, Runtime};

use self::driver::Ended;
use self::lines::{lines_of_stats, waiting_lines};
use self::outputs::Outputs;
use self::report::report;
use self::run_log::record_killed_run;
use self::session::Session;
use crate::args::{Mode, RunArgs};
use crate::failure::Failure;
use crate::live::{self, FailureNote};
use crate::loading::{check_db_is_a_directory, load_checked};
use crate::remote;
use crate::signals::Interrupts;

pub fn run(args: &RunArgs) -> Result<(), Failure> {
    let started = Instant::now();
    let interrupts = Interrupts::install().context("cannot watch for SIGINT and SIGTERM")?;
    let file = load_checked(&args.file)?;
    if let Some(out) = &args.out {
        if out.exists() && !out.is_dir() {
            return Err(Failure::Failed(format!(
                "--out {}: exists and is not a directory",
                out.display()
            )));
        }
    }
    if args.watch && file.inputs().is_empty() {
        return Err(Failure::Invalid(format!(
            "{}: --watch looks at the files of the sources (CSV, Arrow, Parquet files and \
             folders), and this pipeline has none; run it without --watch",
            args.file.display()
        )));
    }
    let outputs = Outputs::new(args, &file)?;
    if let Some(signal) = interrupts.received() {
        return Err(Failure::Interrupted {
            code: signal.exit_code(),
            message: format!(
                "interrupted by {} before the run started: nothing was written",
                signal.name()
            ),
        });
    }
    let db = args.db.clone().unwrap_or_else(|| file.default_db());
    check_db_is_a_directory(&db)?;
    let cluster = cluster::plan(args, &file, &db)?;
    let store: Arc<dyn ArrowStore> = Arc::new(
        SledStore::open(&db)
            .with_context(|| format!("cannot open the database {}", db.display()))?,
    );
    let db = db.canonicalize().unwrap_or(db);
    record_killed_run(&db, store.as_ref());
    // Files written by commands are moved into the database's `files/`.
    let area = Arc::new(
        OutputArea::open(&db.join("files"))
            .with_context(|| format!("cannot open the files area of {}", db.display()))?,
    );
    use_area(Some(area.clone()));
    let runtime = match args.mode {
        Mode::Actors => Some(Runtime::new().context("cannot start the actor runtime")?),
        Mode::Sync => None,
    };

    let (run_id, started_at) = run_id_and_time();
    let pipeline = Arc::new(file.pipeline().clone());
    let server = match remote::Server::start(&db, store.clone(), pipeline.clone()) {
        Ok(server) => Some(server),
        Err(e) => {
            eprintln!(
                "warning: cannot open the socket through which `orcapod show` reads this \
                 run's results ({e}); `show` works again when the run ends"
            );
            None
        }
    };
    let (now, now_ms) = live::now();
    let publisher = live::Publisher::start(
        &db,
        live::Progress {
            format: 1,
            pipeline: pipeline.name().to_string(),
            file: args.file.display().to_string(),
            run_id: run_id.clone(),
            pid: std::process::id(),
            pid_start: live::own_start(),
            mode: match args.mode {
                Mode::Actors => "actors",
                Mode::Sync => "sync",
            }
            .to_string(),
            started_at: started_at.clone(),
            updated_at: now,
            updated_unix_ms: now_ms,
            state: "running".to_string(),
            interrupted_by: None,
            failure: None,
            socket: server.as_ref().map(|s| s.path().to_path_buf()),
            nodes: waiting_lines(&pipeline),
            watch: None,
        },
    );
    let mut session = Session {
        args,
        interrupts: &interrupts,
        store,
        db,
        cluster,
        runtime,
        server,
        publisher,
        area,
        runs: 0,
    };
    if args.watch {
        return watch::watch(&mut session, file);
    }
    let (ended, outputs, last) = session.run_once(&file, outputs, run_id, started_at);
    let ended = match ended {
        Ok(ended) => ended,
        Err(failure) => {
            session.publisher.finish(
                "failed",
                Some(last),
                Some(FailureNote {
                    node: String::new(),
                    reason: failure.message().to_string(),
                }),
                None,
            );
            return Err(failure);
        }
    };
    drop(session.server.take());
    match ended {
        Ended::Interrupted(signal) => Err(session.interrupted(signal, &file, last)),
        Ended::Failed { failure, note } => {
            session
                .publisher
                .finish("failed", Some(last), Some(note), None);
            Err(failure)
        }
        Ended::Completed { stats } => {
            session.publisher.finish(
                "completed",
                Some(lines_of_stats(file.pipeline(), &stats)),
                None,
                None,
            );
            let finished = outputs.finish()?;
            report(
                args,
                &file,
                finished,
                &stats,
                started.elapsed(),
                &session.db,
            )
        }
    }
}
