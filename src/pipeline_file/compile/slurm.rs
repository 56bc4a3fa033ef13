//! A function node's `executor:` and `slurm:` mapping as a file writes them, on the node
//! or under `defaults:` ([`WrittenSlurm`], [`executor_of`]), and the settings they give
//! together ([`WrittenSlurm::over`]). None of it enters any identity.
//!
//! It only reads values: it never checks that Slurm is there (the run does).

use crate::function::slurm::{Executor, SlurmSettings, MAX_CHUNK, MAX_TASKS};
use crate::pipeline_file::suggest::did_you_mean;
use crate::pipeline_file::value::{shown, Number, Value};

/// The keys of a `slurm:` mapping.
const SLURM_KEYS: &[&str] = &[
    "partition",
    "cpus",
    "mem",
    "time",
    "chunk",
    "max_tasks",
    "extra_args",
];

/// A `slurm:` mapping as written: each key given or not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct WrittenSlurm {
    partition: Option<String>,
    cpus: Option<u32>,
    mem: Option<String>,
    time: Option<String>,
    chunk: Option<usize>,
    max_tasks: Option<usize>,
    extra_args: Option<Vec<String>>,
}

impl WrittenSlurm {
    /// These settings, each key not given taken from `defaults`, else the built-in
    /// default.
    pub(super) fn over(&self, defaults: Option<&WrittenSlurm>) -> SlurmSettings {
        let empty = WrittenSlurm::default();
        let d = defaults.unwrap_or(&empty);
        let plain = SlurmSettings::default();
        SlurmSettings {
            partition: self.partition.clone().or_else(|| d.partition.clone()),
            cpus: self.cpus.or(d.cpus),
            mem: self.mem.clone().or_else(|| d.mem.clone()),
            time: self.time.clone().or_else(|| d.time.clone()),
            chunk: self.chunk.or(d.chunk).unwrap_or(plain.chunk),
            max_tasks: self.max_tasks.or(d.max_tasks).unwrap_or(plain.max_tasks),
            extra_args: self
                .extra_args
                .clone()
                .or_else(|| d.extra_args.clone())
                .unwrap_or_default(),
        }
    }
}

/// `executor: local | slurm`. `label` names the setting in messages.
pub(super) fn executor_of(label: &str, value: &Value) -> Result<Executor, String> {
    match value {
        Value::String(name) => Executor::from_name(name),
        _ => None,
    }
    .ok_or_else(|| {
        format!(
            "`{label}: {}` is not an executor (expected {} or {})",
            shown(value),
            Executor::Local.name(),
            Executor::Slurm.name()
        )
    })
}

/// A `slurm:` mapping. `label` names it in messages (`slurm`, `defaults.slurm`).
pub(super) fn read_slurm(label: &str, value: &Value) -> Result<WrittenSlurm, String> {
    let Value::Map(map) = value else {
        return Err(format!(
            "`{label}: {}` must be a mapping, e.g. `{label}: {{partition: debug, cpus: 1, \
             time: \"10:00\"}}`",
            shown(value)
        ));
    };
    let mut read = WrittenSlurm::default();
    for field in &map.fields {
        let key = field.key.as_str();
        let value = &field.value;
        let at = format!("{label}.{key}");
        if value.is_null() && SLURM_KEYS.contains(&key) {
            continue;
        }
        match key {
            "partition" => read.partition = Some(word(&at, value, "a partition name")?),
            "cpus" => read.cpus = Some(whole(&at, value, 1, 4096)? as u32),
            "mem" => read.mem = Some(mem_of(&at, value)?),
            "time" => read.time = Some(time_of(&at, value)?),
            "chunk" => read.chunk = Some(whole(&at, value, 1, MAX_CHUNK as u64)? as usize),
            "max_tasks" => read.max_tasks = Some(whole(&at, value, 1, MAX_TASKS as u64)? as usize),
            "extra_args" => {
                let Value::List(items) = value else {
                    return Err(format!(
                        "`{at}: {}` must be a list of arguments for sbatch, e.g. \
                         `[--qos=low, --account=lab]`",
                        shown(value)
                    ));
                };
                let args = items
                    .iter()
                    .map(|item| match item.text() {
                        Some(text) if !matches!(item, Value::Null(_)) => Ok(text.to_string()),
                        _ => Err(format!(
                            "`{at}` holds {}, where an argument (text) is expected",
                            shown(item)
                        )),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                read.extra_args = Some(args);
            }
            other => {
                return Err(format!(
                    "unknown key `{other}` in `{label}`{}; the keys are {}",
                    did_you_mean(other, SLURM_KEYS.iter().copied()),
                    SLURM_KEYS.join(", ")
                ))
            }
        }
    }
    Ok(read)
}

/// A whole number from `min` to `max`.
fn whole(label: &str, value: &Value, min: u64, max: u64) -> Result<u64, String> {
    match value {
        Value::Number(Number::Int(n), _) if (min as i64..=max as i64).contains(n) => Ok(*n as u64),
        _ => Err(format!(
            "`{label}: {}` must be a whole number from {min} to {max}",
            shown(value)
        )),
    }
}

/// One word of text (no whitespace, not empty).
fn word(label: &str, value: &Value, what: &str) -> Result<String, String> {
    match value.text() {
        Some(text) if !text.is_empty() && !text.contains(char::is_whitespace) => {
            Ok(text.to_string())
        }
        _ => Err(format!(
            "`{label}: {}` must be {what} (one word)",
            shown(value)
        )),
    }
}

/// Memory as `sbatch --mem` takes it: a whole number with an optional unit K, M, G or T
/// (megabytes without one).
fn mem_of(label: &str, value: &Value) -> Result<String, String> {
    let text = value.text().unwrap_or_default();
    let digits = text.trim_end_matches(['K', 'M', 'G', 'T', 'k', 'm', 'g', 't']);
    let unit_len = text.len() - digits.len();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || unit_len > 1 {
        return Err(format!(
            "`{label}: {}` is not an amount of memory; write megabytes (`512`) or a number \
             with a unit K, M, G or T (`4G`)",
            shown(value)
        ));
    }
    Ok(text.to_string())
}

/// A time limit as `sbatch --time` takes it: `minutes`, `minutes:seconds`,
/// `hours:minutes:seconds`, `days-hours`, `days-hours:minutes` or
/// `days-hours:minutes:seconds`.
fn time_of(label: &str, value: &Value) -> Result<String, String> {
    let text = value.text().unwrap_or_default();
    let numbers = |part: &str| {
        !part.is_empty()
            && part
                .split(':')
                .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    let colons = |part: &str| part.matches(':').count();
    let ok = match text.split_once('-') {
        Some((days, rest)) => {
            numbers(days) && colons(days) == 0 && numbers(rest) && colons(rest) <= 2
        }
        None => numbers(text) && colons(text) <= 2,
    };
    if !ok {
        return Err(format!(
            "`{label}: {}` is not a Slurm time limit; write minutes (`30`), \
             \"minutes:seconds\", \"hours:minutes:seconds\" or \"days-hours:minutes:seconds\" \
             (quoted, e.g. `time: \"1:30:00\"`)",
            shown(value)
        ));
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        let (Value::Map(map), _) =
            crate::pipeline_file::yaml::parse(&format!("v: {text}")).unwrap()
        else {
            panic!()
        };
        map.get("v").unwrap().clone()
    }

    #[test]
    fn every_key_is_read_and_checked() {
        let read = read_slurm(
            "slurm",
            &yaml(
                "{partition: debug, cpus: 2, mem: 4G, time: \"1:30:00\", chunk: 10, \
                 max_tasks: 3, extra_args: [--qos=low, 010]}",
            ),
        )
        .unwrap();
        let settings = read.over(None);
        assert_eq!(settings.partition.as_deref(), Some("debug"));
        assert_eq!(settings.cpus, Some(2));
        assert_eq!(settings.mem.as_deref(), Some("4G"));
        assert_eq!(settings.time.as_deref(), Some("1:30:00"));
        assert_eq!((settings.chunk, settings.max_tasks), (10, 3));
        assert_eq!(settings.extra_args, ["--qos=low", "010"]);

        let err = |text: &str| read_slurm("slurm", &yaml(text)).unwrap_err();
        assert!(err("{cpus: 0}").contains("`slurm.cpus: 0` must be a whole number from 1"));
        assert!(err("{chunk: -1}").contains("`slurm.chunk: -1`"));
        assert!(err("{max_tasks: 1.5}").contains("`slurm.max_tasks: 1.5`"));
        assert!(err("{mem: lots}").contains("not an amount of memory"));
        assert!(err("{time: 1h}").contains("not a Slurm time limit"));
        assert!(err("{time: \"1-\"}").contains("not a Slurm time limit"));
        assert!(err("{partiton: a}").contains("did you mean `partition`"));
        assert!(err("{extra_args: --qos}").contains("must be a list"));
        assert!(err("debug").contains("must be a mapping"));
        for ok in [
            "30",
            "\"5:00\"",
            "\"1:00:00\"",
            "\"2-12\"",
            "\"1-00:00:00\"",
        ] {
            assert!(
                read_slurm("s", &yaml(&format!("{{time: {ok}}}"))).is_ok(),
                "{ok}"
            );
        }
    }

    #[test]
    fn a_node_key_wins_over_the_default_key_by_key() {
        let node = read_slurm("slurm", &yaml("{cpus: 4}")).unwrap();
        let defaults = read_slurm("d", &yaml("{cpus: 1, partition: p, chunk: 7}")).unwrap();
        let s = node.over(Some(&defaults));
        assert_eq!(s.cpus, Some(4));
        assert_eq!(s.partition.as_deref(), Some("p"));
        assert_eq!((s.chunk, s.max_tasks), (7, 100));
    }

    #[test]
    fn executors_are_named() {
        assert_eq!(executor_of("executor", &yaml("slurm")), Ok(Executor::Slurm));
        assert!(executor_of("executor", &yaml("ray"))
            .unwrap_err()
            .contains("`executor: ray` is not an executor (expected local or slurm)"));
    }
}
