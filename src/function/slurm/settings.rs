//! How a command function node asks Slurm for resources ([`SlurmSettings`]) and which
//! executor runs its packets ([`Executor`]).
//!
//! Plain values: nothing here enters any hash, submits or reads anything.

/// Packets per array task when `chunk` is not given.
pub const DEFAULT_CHUNK: usize = 100;

/// Array tasks in flight per node when `max_tasks` is not given.
pub const DEFAULT_MAX_TASKS: usize = 100;

/// The most packets one array task may take.
pub const MAX_CHUNK: usize = 1_000_000;

/// The most array tasks in flight per node.
pub const MAX_TASKS: usize = 10_000;

/// Where a function node's packets are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Executor {
    /// On worker threads of this process (the default).
    #[default]
    Local,
    /// As Slurm job arrays (command functions only).
    Slurm,
}

impl Executor {
    /// The name used in pipeline files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Executor::Local => "local",
            Executor::Slurm => "slurm",
        }
    }

    /// The executor called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "local" => Some(Executor::Local),
            "slurm" => Some(Executor::Slurm),
            _ => None,
        }
    }
}

/// What a node asks of Slurm: `sbatch` options and how packets are cut into array tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlurmSettings {
    /// `--partition`, if given.
    pub partition: Option<String>,
    /// `--cpus-per-task`, if given.
    pub cpus: Option<u32>,
    /// `--mem` (e.g. `4G`), if given.
    pub mem: Option<String>,
    /// `--time` (e.g. `10:00`, `1-00:00:00`), if given.
    pub time: Option<String>,
    /// Packets per array task.
    pub chunk: usize,
    /// Array tasks of the node in flight at once (submitted and not ended).
    pub max_tasks: usize,
    /// More arguments for `sbatch`, as given.
    pub extra_args: Vec<String>,
}

impl Default for SlurmSettings {
    fn default() -> Self {
        SlurmSettings {
            partition: None,
            cpus: None,
            mem: None,
            time: None,
            chunk: DEFAULT_CHUNK,
            max_tasks: DEFAULT_MAX_TASKS,
            extra_args: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executors_by_name_and_defaults() {
        assert_eq!(Executor::from_name("slurm"), Some(Executor::Slurm));
        assert_eq!(Executor::from_name("local"), Some(Executor::Local));
        assert_eq!(Executor::from_name("ray"), None);
        assert_eq!(Executor::Slurm.name(), "slurm");
        let s = SlurmSettings::default();
        assert_eq!((s.chunk, s.max_tasks), (100, 100));
    }
}
