//! The texts of command failures that several files share, and what the end of a
//! process says about its provisional answers ([`Verdict`]).
//!
//! Every text here is part of what users see: changing one changes an output. This file
//! never decides what happens to a process or a packet; its callers do.

use std::process::ExitStatus;
use std::time::Duration;

use crate::function::FunctionError;

/// What a command must do with its stdout, for messages.
pub(super) const STDOUT_RULE: &str = "a command's stdout must carry only answers, one \
     line per packet: write debug output to stderr";

/// How the end of a process bears on its provisional answers (`jsonl`).
pub(super) enum Verdict {
    /// Its stdout was read to the end and held nothing more: its answers stand.
    Proven,
    /// It was killed before its stdout could be read to the end: its answers are
    /// unconfirmed (the message says why), and free to compute again.
    Unconfirmed(String),
    /// It wrote something that is not one answer per packet (the message says what):
    /// its answers cannot be trusted.
    Disproved(String),
}

impl Verdict {
    /// The failure of every provisional answer the verdict covers (`None`: they stand).
    pub(super) fn into_error(self) -> Option<FunctionError> {
        match self {
            Verdict::Proven => None,
            Verdict::Unconfirmed(why) => Some(
                FunctionError::new(format!(
                    "the answer could not be confirmed: {why}; it can be computed again"
                ))
                .for_rerun(),
            ),
            Verdict::Disproved(why) => Some(FunctionError::new(format!(
                "the answer was withdrawn, as it may belong to another packet: {why}"
            ))),
        }
    }
}

/// A duration as a person writes it: `500ms`, `1s`, `1.5s`, `5m`, `2h`.
pub(super) fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms % 1000 != 0 {
        format!("{}s", d.as_secs_f64())
    } else {
        let s = d.as_secs();
        if s % 3600 == 0 {
            format!("{}h", s / 3600)
        } else if s % 60 == 0 {
            format!("{}m", s / 60)
        } else {
            format!("{s}s")
        }
    }
}

/// How a process ended, e.g. `exited (exit status: 0)` or `crashed (signal: 9 …)`.
pub(super) fn describe_exit(status: ExitStatus) -> String {
    if status.success() {
        format!("exited ({status})")
    } else if status.code().is_some() {
        format!("exited with a failure ({status})")
    } else {
        format!("crashed ({status})")
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::human;

    #[test]
    fn durations_are_written_as_people_write_them() {
        let cases = [
            (500, "500ms"),
            (1000, "1s"),
            (1500, "1.5s"),
            (90_000, "90s"),
        ];
        for (ms, text) in cases {
            assert_eq!(human(Duration::from_millis(ms)), text);
        }
        assert_eq!(human(Duration::from_secs(300)), "5m");
        assert_eq!(human(Duration::from_secs(7200)), "2h");
    }
}
