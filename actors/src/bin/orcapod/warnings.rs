//! The warnings of a run or of `show`, in the pipeline file's words: where (the file
//! and the node's line), what happened, and what to do.
//!
//! Only wording: the run and `show` decide when to print them.

use orcapod::pipeline::RunWarning;
use orcapod::pipeline_file::PipelineFile;

/// Who gives a warning.
#[derive(Debug, Clone, Copy)]
pub enum WarningContext<'a> {
    /// A run.
    Run,
    /// `show` of this node.
    Show(&'a str),
    /// `show` of this node, answered by the run in progress.
    ShowDuringRun(&'a str),
}

/// A warning of a run or of `show`, in the file's words.
pub fn describe_warning(
    file: &PipelineFile,
    warning: &RunWarning,
    context: WarningContext,
) -> String {
    let at = |node: &str| {
        file.position_of(node)
            .map(|p| format!("{}:{}: ", file.path().display(), p.line))
            .unwrap_or_else(|| format!("{}: ", file.path().display()))
    };
    match warning {
        RunWarning::NothingToReplay { node, path } => format!(
            "{}node `{node}`: cache: replay found nothing stored at {path}, so it yields no \
             rows; run once with `cache: log` to store its rows, then replay them",
            at(node)
        ),
        RunWarning::ResultsMissing {
            node,
            packets,
            rows,
        } => {
            let (packets_s, have) = if *packets == 1 {
                ("", "has")
            } else {
                ("s", "have")
            };
            let rows_s = if *rows == 1 { "" } else { "s" };
            let it = if *packets == 1 { "it" } else { "them" };
            let them = if *rows == 1 {
                "that row is"
            } else {
                "those rows are"
            };
            let absent = match context {
                WarningContext::Show(shown) | WarningContext::ShowDuringRun(shown)
                    if shown != node =>
                {
                    format!("the rows of `{shown}` that depend on {it} are absent")
                }
                _ => format!("{them} absent"),
            };
            let what_to_do = match context {
                WarningContext::ShowDuringRun(_) => {
                    format!("the run in progress computes {it}; `show` again when it has ended")
                }
                _ => format!(
                    "`orcapod run {}` computes {it}, then `show` gives the run's rows",
                    file.path().display()
                ),
            };
            format!(
                "{}function node `{node}`: {packets} input packet{packets_s} ({rows} row{rows_s}) \
                 {have} no stored result (never computed, or failed), so {absent}; {what_to_do}",
                at(node),
            )
        }
    }
}
