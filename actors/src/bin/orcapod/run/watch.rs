//! `orcapod run --watch`: the process stays, looks at the sources' files every
//! `--interval`, and runs the pipeline again (a *round*) when one changed.
//!
//! A look fingerprints every file and folder source from metadata alone
//! ([`SourceInput::fingerprint`]: paths, sizes, modification times, inodes; no file is
//! read). When a fingerprint differs from the last look, a round reloads the pipeline
//! file's text (as read when watching began: an edit of the pipeline file itself takes a
//! restart) over the sources as they are now, reads the sources that changed row by row
//! and feeds only their new or changed rows through the pipeline, on the same store and
//! runtime ([`super::delta`]): each output keeps its rows of the last round, less those
//! derived from a removed or changed row (found by provenance), plus what the fed rows
//! give. A source joined with a changed one is fed whole, and a change that cannot be
//! fed alone (through a batch, the right side of a semi-join, two changed sources
//! meeting in one output, ...) feeds every row, as the first round does; the round's
//! line says which. Either way a packet whose result is stored is served from the
//! store. The round's outputs replace `--out` (each file written whole and renamed into
//! place), so deleted rows disappear from it. A round prints one line: what changed per
//! source, what was fed, what each function node computed and recalled, what hashing
//! files cost, what was written.
//!
//! A failing round (a function under `on_error: fail`, a file that cannot be read, a
//! folder whose glob now matches nothing) is reported in one line and watching goes on;
//! `--out` keeps the last completed round's files, and the next change runs a new
//! round. A signal during a round stops it as it stops a run; between rounds the
//! process stops at once. The fingerprint of a round is taken before the round loads
//! its sources, so a change made while a round runs is seen by the next look (which
//! then feeds every row: what the round read is not certain).
//!
//! The waiting happens here, in the binary: the core neither sleeps nor reads the clock.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use orcapod::files::{file_hashes, HashCounts};
use orcapod::pipeline::{NodeKind, NodeStats};
use orcapod::pipeline_file::PipelineFile;
use orcapod::source::{Changes, Fingerprint, SourceInput};
use orcapod_actors::run_id_and_time;

use super::delta::{Kept, RoundPlan};
use super::driver::{Ended, TICK};
use super::keeping::Keeping;
use super::lines::lines_of_stats;
use super::outputs::Outputs;
use super::report::{print_finished, report};
use super::session::Session;
use crate::builtins;
use crate::failure::Failure;
use crate::live::FailureNote;
use crate::signals::{Interrupt, Interrupts};

/// What a look found changed in one source.
struct Changed {
    source: String,
    /// A CSV, Arrow or Parquet source (else a folder).
    one_file: bool,
    changes: Changes,
}

/// Where the watch stands between rounds.
struct Rounds {
    /// The round running or last run (1 is the first run).
    round: u64,
    /// The last round that completed (its files are in `--out`).
    completed: Option<u64>,
    /// The file's warnings already printed (a round prints only new ones).
    warned: HashSet<String>,
    /// Each source's rows in the last completed round.
    source_rows: HashMap<String, u64>,
}

/// Runs `checked`'s pipeline, then again whenever its sources change, until a signal.
/// Returns only with the failure that ends the process (a signal, or stdout failing).
pub fn watch(session: &mut Session, checked: PipelineFile) -> Result<(), Failure> {
    let args = session.args;
    let text = std::fs::read_to_string(&args.file).map_err(|e| {
        Failure::Failed(format!(
            "cannot read the pipeline file {}: {e}",
            args.file.display()
        ))
    })?;
    let inputs: Vec<(String, SourceInput)> = checked.inputs().to_vec();
    let mut rounds = Rounds {
        round: 0,
        completed: None,
        warned: checked.warnings().iter().map(|w| w.to_string()).collect(),
        source_rows: HashMap::new(),
    };
    // File hashes are cached in the store, scoped to the pipeline.
    let hashes = session.store.at(&[checked.pipeline().name()]).ok();
    drop(checked);
    let mut kept = Kept::new(&session.db, hashes)?;
    // The first look, before the first round reads anything.
    let mut looked = look(&inputs);
    let mut pending = Some(Vec::new());
    loop {
        if let Some(changes) = pending.take() {
            rounds.round += 1;
            let round = Round {
                text: &text,
                changes: &changes,
                inputs: &inputs,
                looked: &looked,
            };
            run_round(session, round, &mut rounds, &mut kept)?;
            if rounds.round == 1 {
                eprintln!(
                    "watching {} every {} ({}); Ctrl-C stops",
                    describe_inputs(&inputs, &looked),
                    describe_interval(args.interval),
                    match &args.out {
                        Some(out) => format!(
                            "each round that changes something rewrites {}",
                            out.display()
                        ),
                        None if args.quiet =>
                            "each round that changes something prints one line".to_string(),
                        None => "each round that changes something prints its outputs".to_string(),
                    }
                );
            }
        }
        if let Some(signal) = wait(session.interrupts, args.interval) {
            return Err(stopped(session, signal, &rounds));
        }
        let now = look(&inputs);
        let changes: Vec<Changed> = inputs
            .iter()
            .zip(now.iter().zip(&looked))
            .map(|((name, input), (new, old))| Changed {
                source: name.clone(),
                one_file: matches!(input, SourceInput::File(_)),
                changes: new.changes_since(old),
            })
            .collect();
        if changes.iter().any(|c| !c.changes.is_empty()) {
            pending = Some(changes);
        }
        looked = now;
    }
}

/// Every source's fingerprint now.
fn look(inputs: &[(String, SourceInput)]) -> Vec<Fingerprint> {
    inputs
        .iter()
        .map(|(_, input)| input.fingerprint())
        .collect()
}

/// Waits `interval`, unless a signal arrives first.
fn wait(interrupts: &Interrupts, interval: Duration) -> Option<Interrupt> {
    let deadline = Instant::now() + interval;
    loop {
        if let Some(signal) = interrupts.received() {
            return Some(signal);
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        std::thread::sleep(TICK.min(deadline - now));
    }
}

/// What starts a round.
struct Round<'a> {
    /// The pipeline file's text.
    text: &'a str,
    /// What the look found changed, per source.
    changes: &'a [Changed],
    inputs: &'a [(String, SourceInput)],
    /// The look that started the round.
    looked: &'a [Fingerprint],
}

/// One round: load the file over the sources as they are, run (fed what changed), write
/// the outputs, say what happened. Returns an error only when the process must stop (a
/// signal during the round, or stdout failing); a failed round is reported and watching
/// goes on.
fn run_round(
    session: &mut Session,
    Round {
        text,
        changes,
        inputs,
        looked,
    }: Round,
    rounds: &mut Rounds,
    kept: &mut Kept,
) -> Result<(), Failure> {
    let args = session.args;
    let round = rounds.round;
    let started = Instant::now();
    let what = describe_changes(changes);
    let changed: Vec<&str> = changes
        .iter()
        .filter(|c| !c.changes.is_empty())
        .map(|c| c.source.as_str())
        .collect();
    kept.unsettle(&changed);
    let file = match PipelineFile::parse(text, &args.file, &builtins::registry()) {
        Ok(file) => file,
        Err(e) => {
            report_failed(rounds, &what, &e.to_string(), args.out.is_some());
            return Ok(());
        }
    };
    for warning in file.warnings() {
        let warning = warning.to_string();
        if rounds.warned.insert(warning.clone()) {
            eprintln!("warning: {warning}");
        }
    }
    if let Some(server) = &session.server {
        server.serve(Arc::new(file.pipeline().clone()));
    }
    let (run_id, started_at) = run_id_and_time();
    session.publisher.start_round(&run_id, &started_at, round);
    let hashes_before = file_hashes().counts();
    let prepared = kept.plan(&file, args.memory_limit).and_then(|plan| {
        let mut outputs = Outputs::new(args, &file)?;
        kept.replay(&plan, &mut outputs)?;
        Ok((plan, outputs))
    });
    let (plan, outputs) = match prepared {
        Ok(prepared) => prepared,
        Err(failure) => {
            let note = note(failure.message());
            session.publisher.end_round(Vec::new(), Some(note));
            report_failed(rounds, &what, failure.message(), args.out.is_some());
            return Ok(());
        }
    };
    let ran = plan.fed.as_ref().unwrap_or(&file);
    let (ended, mut outputs, last) = session.run_once(ran, outputs, run_id, started_at);
    let stats = match ended {
        Ok(Ended::Completed { stats }) => stats,
        Ok(Ended::Interrupted(signal)) => return Err(session.interrupted(signal, &file, last)),
        Ok(Ended::Failed { failure, note }) => {
            session.publisher.end_round(last, Some(note));
            report_failed(rounds, &what, failure.message(), args.out.is_some());
            return Ok(());
        }
        Err(failure) => {
            session
                .publisher
                .end_round(last, Some(note(failure.message())));
            report_failed(rounds, &what, failure.message(), args.out.is_some());
            return Ok(());
        }
    };
    session
        .publisher
        .end_round(lines_of_stats(file.pipeline(), &stats), None);
    let output_rows: Vec<u64> = (0..file.outputs().len())
        .map(|i| outputs.kept_rows(i).unwrap_or(0))
        .collect();
    let keeping = outputs.take_keeping();
    let finished = match outputs.finish() {
        Ok(finished) => finished,
        Err(failure) => {
            report_failed(rounds, &what, failure.message(), args.out.is_some());
            return Ok(());
        }
    };
    rounds.completed = Some(round);
    let before = rounds.source_rows.clone();
    if plan.fed.is_none() {
        for (name, _) in file.inputs() {
            if let Some(s) = stats.iter().find(|s| &s.node == name) {
                rounds.source_rows.insert(name.clone(), s.rows_out);
            }
        }
    }
    rounds.source_rows.extend(plan.source_rows.iter().cloned());
    let fed = plan.describe.clone();
    let outcome = Outcome {
        failed: stats.iter().any(|s| s.counts.failed > 0),
        plan,
        keeping,
    };
    if round == 1 {
        report(
            args,
            &file,
            finished,
            &stats,
            started.elapsed(),
            &session.db,
        )?;
        return conclude(kept, outcome, &file, inputs, looked);
    }
    let written = print_finished(finished)?;
    let hashes = file_hashes().counts().since(hashes_before);
    let mut parts = vec![what, fed];
    let moved: Vec<String> = changes
        .iter()
        .filter(|c| !c.changes.is_empty())
        .filter_map(|c| {
            let now = rounds.source_rows.get(&c.source)?;
            let was = before.get(&c.source)?;
            (now != was).then(|| format!("{} {was} → {now}", c.source))
        })
        .collect();
    if !moved.is_empty() {
        parts.push(format!("source rows: {}", moved.join(", ")));
    }
    parts.extend(function_counts(&file, &stats));
    parts.push(describe_output_rows(&file, &output_rows));
    if hashes != HashCounts::default() {
        parts.push(format!(
            "file hashes: {} computed ({} bytes read), {} from the cache",
            hashes.files_hashed, hashes.bytes_read, hashes.cache_hits
        ));
    }
    if let Some(out) = &args.out {
        parts.push(format!(
            "wrote {} files in {}",
            written.len(),
            out.display()
        ));
    }
    eprintln!(
        "round {round}: {} · {:.2}s",
        parts.join(" · "),
        started.elapsed().as_secs_f64()
    );
    conclude(kept, outcome, &file, inputs, looked)
}

/// How a completed round ended, for [`conclude`].
struct Outcome {
    plan: RoundPlan,
    keeping: Option<Keeping>,
    /// Some packet failed.
    failed: bool,
}

/// After a completed round has reported: what it leaves for the next round to build on
/// (only if no packet failed and no source changed since the round's look), and the
/// sources the round did not read, read now for the next round to compare with.
fn conclude(
    kept: &mut Kept,
    outcome: Outcome,
    file: &PipelineFile,
    inputs: &[(String, SourceInput)],
    looked: &[Fingerprint],
) -> Result<(), Failure> {
    // The next round builds on this one only if what it read is certain.
    let clean = !outcome.failed && look(inputs) == looked;
    if let Some(keeping) = outcome.keeping {
        kept.commit(outcome.plan, keeping, clean)?;
    }
    match kept.settle(file) {
        // What the round itself read was checked when it completed.
        Ok(false) => {}
        Ok(true) => {
            if look(inputs) != looked {
                kept.forget();
            }
        }
        Err(failure) => {
            eprintln!(
                "warning: {}; the next round feeds every row",
                failure.message()
            );
            kept.forget();
        }
    }
    Ok(())
}

/// A failure as the progress file notes it (no node known).
fn note(reason: &str) -> FailureNote {
    FailureNote {
        node: String::new(),
        reason: reason.to_string(),
    }
}

/// The line of a failed round.
fn report_failed(rounds: &Rounds, what: &str, message: &str, out: bool) {
    let kept = match (rounds.completed, out) {
        (Some(r), true) => format!("--out keeps round {r}'s files"),
        (None, true) => "--out has not been written yet".to_string(),
        (Some(r), false) => format!("the last completed round is {r}"),
        (None, false) => "no round has completed yet".to_string(),
    };
    eprintln!(
        "round {} failed ({what}): {message}; {kept}; still watching: the next change runs a new round",
        rounds.round
    );
}

/// The process stops between rounds: the progress file keeps the last round's end.
fn stopped(session: &mut Session, signal: Interrupt, rounds: &Rounds) -> Failure {
    session.server.take();
    session.publisher.stop_watching();
    let kept = match (rounds.completed, &session.args.out) {
        (Some(r), Some(out)) => format!("{} holds round {r}'s results", out.display()),
        (Some(r), None) => format!("round {r} was the last to complete"),
        (None, _) => "no round completed".to_string(),
    };
    Failure::Interrupted {
        code: signal.exit_code(),
        message: format!(
            "interrupted by {} between rounds: stopped watching after {} round{}; {kept}; \
             results are stored in {}",
            signal.name(),
            rounds.round,
            if rounds.round == 1 { "" } else { "s" },
            session.db.display()
        ),
    }
}

/// What changed, per source that changed: `rec: 1 added (rec/a.txt), 1 deleted (now 12
/// files)`, or for a one-file source `scores: scores.csv changed`.
fn describe_changes(changes: &[Changed]) -> String {
    let mut parts = Vec::new();
    for Changed {
        source,
        one_file,
        changes: c,
    } in changes.iter().filter(|c| !c.changes.is_empty())
    {
        if let Some(why) = &c.unreadable {
            parts.push(format!("{source}: cannot be listed: {why}"));
            continue;
        }
        if *one_file {
            let named = |paths: &[String]| {
                paths.first().map_or(String::new(), |p| {
                    Path::new(p)
                        .file_name()
                        .map_or(p.clone(), |n| n.to_string_lossy().into_owned())
                })
            };
            let what = if !c.added.is_empty() {
                format!("{} is back", named(&c.added))
            } else if !c.deleted.is_empty() {
                format!("{} was deleted", named(&c.deleted))
            } else {
                format!("{} changed", named(&c.changed))
            };
            parts.push(format!("{source}: {what}"));
            continue;
        }
        let mut kinds = Vec::new();
        for (paths, verb) in [
            (&c.added, "added"),
            (&c.changed, "changed"),
            (&c.deleted, "deleted"),
        ] {
            if !paths.is_empty() {
                kinds.push(format!("{} {verb} ({})", paths.len(), some_paths(paths)));
            }
        }
        parts.push(format!(
            "{source}: {} (now {} file{})",
            kinds.join(", "),
            c.now,
            if c.now == 1 { "" } else { "s" }
        ));
    }
    if parts.is_empty() {
        "first run".to_string()
    } else {
        parts.join("; ")
    }
}

/// At most three of `paths`, and how many more.
fn some_paths(paths: &[String]) -> String {
    let mut text = paths
        .iter()
        .take(3)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if paths.len() > 3 {
        text.push_str(&format!(", … {} more", paths.len() - 3));
    }
    text
}

/// `rec (12 files), scores (1 file)`.
fn describe_inputs(inputs: &[(String, SourceInput)], looked: &[Fingerprint]) -> String {
    let described: Vec<String> = inputs
        .iter()
        .zip(looked)
        .map(|((name, _), fingerprint)| match fingerprint {
            Fingerprint::Paths(paths) => format!(
                "{name} ({} file{})",
                paths.len(),
                if paths.len() == 1 { "" } else { "s" }
            ),
            Fingerprint::Unreadable(_) => format!("{name} (cannot be listed now)"),
        })
        .collect();
    described.join(", ")
}

fn describe_interval(interval: Duration) -> String {
    if interval.subsec_millis() == 0 {
        format!("{}s", interval.as_secs())
    } else {
        format!("{}ms", interval.as_millis())
    }
}

/// Per function node: `f: 1 computed, 11 cached` (and failed, when some did).
fn function_counts(file: &PipelineFile, stats: &[NodeStats]) -> Vec<String> {
    file.pipeline()
        .nodes()
        .iter()
        .filter(|n| matches!(n.kind(), NodeKind::Function(_)))
        .filter_map(|n| stats.iter().find(|s| s.node == n.name()))
        .map(|s| {
            let mut text = format!(
                "{}: {} computed, {} cached",
                s.node, s.counts.computed, s.counts.cached
            );
            if s.counts.failed > 0 {
                text.push_str(&format!(", {} failed", s.counts.failed));
            }
            text
        })
        .collect()
}

/// `output rows: f 12, g 3`: each output's rows after the round.
fn describe_output_rows(file: &PipelineFile, rows: &[u64]) -> String {
    let rows: Vec<String> = file
        .outputs()
        .iter()
        .zip(rows)
        .map(|(name, n)| format!("{name} {n}"))
        .collect();
    format!("output rows: {}", rows.join(", "))
}
