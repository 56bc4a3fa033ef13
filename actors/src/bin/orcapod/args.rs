//! The arguments the commands share: output and show formats, the run mode, and the
//! arguments of `orcapod run`.
//!
//! Only declarations for clap: what the arguments do is up to each command.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

// The arguments of `orcapod run` (no doc comment: the subcommand's own is its help).
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The pipeline file (YAML or JSON).
    pub file: PathBuf,
    /// The database directory (default: `.orcapod/` beside the pipeline file).
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Write each output node's rows to this directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The format of the files `--out` writes.
    #[arg(long, value_enum, default_value_t = OutFormat::Json)]
    pub format: OutFormat,
    /// How to run: on the actor runtime, or synchronously (same results).
    #[arg(long, value_enum, default_value_t = Mode::Actors)]
    pub mode: Mode,
    /// Print no result tables (the summary still goes to stderr).
    #[arg(long, short)]
    pub quiet: bool,
    /// How much memory `--out` may use to sort each output; beyond it, sorted runs are
    /// spilled to a temporary directory inside `--out` and merged at the end. A number
    /// of bytes, or with a suffix K, M or G (powers of 1024).
    #[arg(long, value_name = "SIZE", default_value = "256M", value_parser = parse_size)]
    pub memory_limit: usize,
    /// Run every command function node on this executor (default: each node's own
    /// `executor:`, else local).
    #[arg(long, value_enum)]
    pub executor: Option<ExecutorArg>,
    /// Where nodes on Slurm keep their chunks, answers and logs (default: `slurm/` in the
    /// database directory). On a cluster it must be on a filesystem the compute nodes see.
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Keep running: look at the sources' files every `--interval`, and run the pipeline
    /// again when one changed (only new or changed packets are computed; `--out` is
    /// rewritten). Ctrl-C stops.
    #[arg(long)]
    pub watch: bool,
    /// How often `--watch` looks at the sources: e.g. `2s`, `500ms`, `1m`.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_interval, requires = "watch")]
    pub interval: Duration,
}

/// A watch interval such as `2s`, `500ms`, `1m` or `1.5` (seconds), more than zero.
fn parse_interval(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let scale = match unit.trim() {
        "" | "s" => 1.0,
        "ms" => 0.001,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}`; write e.g. 2s, 500ms or 1m"
            ))
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration; write e.g. 2s, 500ms or 1m"))?;
    let seconds = value * scale;
    if seconds <= 0.0 {
        return Err("the interval must be more than zero; write e.g. 2s or 500ms".to_string());
    }
    if seconds > 365.0 * 24.0 * 3600.0 {
        return Err(format!("`{text}` is longer than a year"));
    }
    Ok(Duration::from_secs_f64(seconds).max(Duration::from_millis(1)))
}

/// A size such as `512M`, `2G`, `64K` or `1000` (bytes), at least one byte.
fn parse_size(text: &str) -> Result<usize, String> {
    let trimmed = text.trim();
    let (digits, unit) = match trimmed.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => trimmed.split_at(at),
        None => (trimmed, ""),
    };
    let scale: usize = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}`; write a number of bytes, or one with K, M or G"
            ))
        }
    };
    let value: usize = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size; write e.g. 512M, 2G or 65536"))?;
    match value.checked_mul(scale) {
        Some(0) => Err("the memory limit must be at least one byte".to_string()),
        Some(bytes) => Ok(bytes),
        None => Err(format!("`{text}` is too large")),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutFormat {
    Json,
    Csv,
    Arrow,
    Parquet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    Actors,
    Sync,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExecutorArg {
    Local,
    Slurm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    Dot,
    Mermaid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShowFormat {
    Table,
    Json,
    Csv,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{parse_interval, parse_size};

    #[test]
    fn intervals_take_units_and_are_more_than_zero() {
        assert_eq!(parse_interval("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_interval("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_interval("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_interval("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_interval("0").unwrap_err().contains("more than zero"));
        assert!(parse_interval("0ms")
            .unwrap_err()
            .contains("more than zero"));
        assert!(parse_interval("2x")
            .unwrap_err()
            .contains("unknown unit `x`"));
        assert!(parse_interval("s").unwrap_err().contains("not a duration"));
    }

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert!(parse_size("0").is_err());
        assert!(parse_size("12X").unwrap_err().contains("unknown unit `X`"));
        assert!(parse_size("M").is_err());
    }
}
