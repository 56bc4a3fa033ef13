//! Loading a pipeline file: with the start probe of its commands (`run`, `validate`) or
//! without (the commands that only read), and the check that a database is a directory.
//!
//! Nothing here opens or writes the database.

use std::path::Path;

use orcapod::pipeline_file::PipelineFile;

use crate::failure::Failure;
use crate::{builtins, probe};

/// Loads and checks a pipeline file without starting anything (for the commands that
/// only read: `graph`, `show`, `status`).
pub fn load(file: &Path) -> Result<PipelineFile, Failure> {
    Ok(PipelineFile::load(file, &builtins::registry())?)
}

/// Loads and checks a pipeline file, including that every command can start (the start
/// probe runs each command once with empty input: `run` and `validate`), and prints the
/// file's warnings on stderr.
pub fn load_checked(file: &Path) -> Result<PipelineFile, Failure> {
    let loaded = load(file)?;
    for warning in loaded.warnings() {
        eprintln!("warning: {warning}");
    }
    for check in loaded.commands() {
        if let Err(message) = probe::starts(check) {
            let at = loaded
                .position_of(&check.node)
                .map(|p| format!(":{}:{}", p.line, p.column))
                .unwrap_or_default();
            return Err(Failure::Invalid(format!(
                "{}{at}: node `{}`: the command cannot start: {message}",
                file.display(),
                check.node
            )));
        }
    }
    Ok(loaded)
}

/// Fails, saying what to do, when `db` exists but is not a directory (a database is a
/// directory; a missing one is created by `run`).
pub fn check_db_is_a_directory(db: &Path) -> Result<(), Failure> {
    if db.exists() && !db.is_dir() {
        return Err(Failure::Invalid(format!(
            "--db {}: this is a file, but a database is a directory; give a directory \
             (`run` creates it if it does not exist), or leave out --db to use `.orcapod/` \
             beside the pipeline file",
            db.display()
        )));
    }
    Ok(())
}
