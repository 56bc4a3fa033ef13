//! How a function node runs: its `timeout`, `retries`, `protocol`, `max_concurrency`,
//! `executor` and `slurm` as written on the node ([`WrittenRun`]), over the file's
//! top-level `defaults:` ([`Defaults`]), into [`RunSettings`]. None of it enters any
//! identity.

use std::time::Duration;

use super::slurm::{executor_of, read_slurm, WrittenSlurm};
use crate::function::command::Protocol;
use crate::function::slurm::{Executor, SlurmSettings};
use crate::pipeline_file::args::{max_concurrency_of, protocol_of, retries_of, timeout_of};
use crate::pipeline_file::suggest::did_you_mean;
use crate::pipeline_file::value::{self, Mapping, Position, Value};

/// Keys of the top-level `defaults:` mapping.
const DEFAULT_KEYS: &[&str] = &["timeout", "retries", "max_concurrency", "executor", "slurm"];

/// The settings of how a function node runs, as written on the node (null = absent).
#[derive(Default)]
pub(super) struct WrittenRun {
    pub(super) timeout: Option<Value>,
    pub(super) retries: Option<Value>,
    pub(super) protocol: Option<Value>,
    pub(super) max_concurrency: Option<Value>,
    pub(super) executor: Option<Value>,
    pub(super) slurm: Option<Value>,
}

/// How a function node runs. None of it enters any identity.
#[derive(Default)]
pub(super) struct RunSettings {
    pub(super) timeout: Option<Duration>,
    pub(super) retries: u32,
    pub(super) protocol: Protocol,
    pub(super) max_concurrency: Option<usize>,
    pub(super) executor: Executor,
    pub(super) slurm: SlurmSettings,
}

/// The top-level `defaults:`: settings every function node has unless it gives its own.
#[derive(Default)]
pub(super) struct Defaults {
    /// Command functions only: a builtin cannot be stopped.
    pub(super) timeout: Option<Duration>,
    pub(super) retries: Option<u32>,
    pub(super) max_concurrency: Option<usize>,
    /// Command functions only.
    pub(super) executor: Option<Executor>,
    pub(super) slurm: Option<WrittenSlurm>,
}

/// The top-level `defaults:` mapping, or what is wrong with it and where.
pub(super) fn read_defaults(defaults: &Mapping) -> Result<Defaults, (Position, String)> {
    let mut read = Defaults::default();
    for value::Field { key, at, value } in &defaults.fields {
        let label = format!("defaults.{key}");
        let checked = match key.as_str() {
            "timeout" | "retries" | "max_concurrency" | "executor" | "slurm" if value.is_null() => {
                Ok(())
            }
            "executor" => executor_of(&label, value).map(|e| read.executor = Some(e)),
            "slurm" => read_slurm(&label, value).map(|s| read.slurm = Some(s)),
            "timeout" => timeout_of(&label, value).map(|t| read.timeout = Some(t)),
            "retries" => retries_of(&label, value).map(|r| read.retries = Some(r)),
            "max_concurrency" => {
                max_concurrency_of(&label, value).map(|m| read.max_concurrency = Some(m))
            }
            other => {
                let hint = if other == "protocol" {
                    " (`protocol` is set on each command function node)".to_string()
                } else {
                    did_you_mean(other, DEFAULT_KEYS.iter().copied())
                };
                Err(format!(
                    "unknown key `{other}` in `defaults`{hint}; the keys are {}",
                    DEFAULT_KEYS.join(", ")
                ))
            }
        };
        checked.map_err(|m| (*at, m))?;
    }
    Ok(read)
}

/// How a function node runs: what the node says, else the file's defaults. A builtin
/// runs inside this process, so it takes neither a timeout nor a protocol. Errors name
/// the key they are about.
pub(super) fn run_settings(
    written: &WrittenRun,
    builtin: Option<&str>,
    defaults: &Defaults,
) -> Result<RunSettings, (&'static str, String)> {
    let present = |v: &Option<Value>| v.as_ref().filter(|v| !v.is_null()).cloned();
    if let Some(name) = builtin {
        if present(&written.timeout).is_some() {
            return Err((
                "timeout",
                format!(
                    "`timeout` applies to command functions only: builtin `{name}` runs inside \
                     orcapod, where it cannot be stopped; remove `timeout`"
                ),
            ));
        }
        if present(&written.executor)
            .is_some_and(|v| executor_of("executor", &v) == Ok(Executor::Slurm))
        {
            return Err((
                "executor",
                format!(
                    "`executor: slurm` applies to command functions only: builtin `{name}` \
                     runs inside orcapod; remove `executor`"
                ),
            ));
        }
        if present(&written.protocol).is_some() {
            return Err((
                "protocol",
                format!(
                    "`protocol` applies to command functions only: builtin `{name}` is called \
                     directly, not over JSON Lines; remove `protocol`"
                ),
            ));
        }
    }
    let timeout = match present(&written.timeout) {
        Some(v) => Some(timeout_of("timeout", &v).map_err(|m| ("timeout", m))?),
        None if builtin.is_some() => None,
        None => defaults.timeout,
    };
    let retries = match present(&written.retries) {
        Some(v) => retries_of("retries", &v).map_err(|m| ("retries", m))?,
        None => defaults.retries.unwrap_or(0),
    };
    let protocol = match present(&written.protocol) {
        Some(v) => protocol_of("protocol", &v).map_err(|m| ("protocol", m))?,
        None => Protocol::default(),
    };
    let max_concurrency = match present(&written.max_concurrency) {
        Some(v) => {
            Some(max_concurrency_of("max_concurrency", &v).map_err(|m| ("max_concurrency", m))?)
        }
        None => defaults.max_concurrency,
    };
    let executor = match present(&written.executor) {
        Some(v) => executor_of("executor", &v).map_err(|m| ("executor", m))?,
        None if builtin.is_some() => Executor::Local,
        None => defaults.executor.unwrap_or_default(),
    };
    let slurm = match present(&written.slurm) {
        Some(v) => read_slurm("slurm", &v).map_err(|m| ("slurm", m))?,
        None => WrittenSlurm::default(),
    }
    .over(defaults.slurm.as_ref());
    Ok(RunSettings {
        timeout,
        retries,
        protocol,
        max_concurrency,
        executor,
        slurm,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline_file::value::Number;

    fn number(n: i64) -> Option<Value> {
        Some(Value::Number(Number::Int(n), n.to_string().into()))
    }

    #[test]
    fn defaults_fill_what_a_node_leaves_out() {
        let defaults = Defaults {
            timeout: Some(Duration::from_secs(90)),
            retries: Some(2),
            max_concurrency: Some(8),
            ..Defaults::default()
        };
        let command = None;
        let run = run_settings(&WrittenRun::default(), command, &defaults).unwrap();
        assert_eq!(run.timeout, Some(Duration::from_secs(90)));
        assert_eq!((run.retries, run.max_concurrency), (2, Some(8)));
        assert_eq!(run.protocol, Protocol::Jsonl);

        let written = WrittenRun {
            timeout: Some(Value::String("5m".into())),
            retries: number(0),
            protocol: Some(Value::String("jsonl-id".into())),
            max_concurrency: number(1),
            ..WrittenRun::default()
        };
        let run = run_settings(&written, command, &defaults).unwrap();
        assert_eq!(run.timeout, Some(Duration::from_secs(300)));
        assert_eq!((run.retries, run.max_concurrency), (0, Some(1)));
        assert_eq!(run.protocol, Protocol::JsonlId);

        // A null is as if the key were not written.
        let written = WrittenRun {
            timeout: Some(Value::Null("".into())),
            ..WrittenRun::default()
        };
        assert_eq!(
            run_settings(&written, command, &defaults).unwrap().timeout,
            Some(Duration::from_secs(90))
        );

        // A builtin takes the default retries and concurrency, never the timeout.
        let builtin = Some("b");
        let mut written = WrittenRun::default();
        let run = run_settings(&written, builtin, &defaults).unwrap();
        assert_eq!(run.timeout, None);
        assert_eq!((run.retries, run.max_concurrency), (2, Some(8)));
        written.timeout = number(3);
        let (key, message) = run_settings(&written, builtin, &defaults).err().unwrap();
        assert_eq!(key, "timeout");
        assert!(
            message.contains("builtin `b` runs inside orcapod"),
            "{message}"
        );
    }
}
