//! The arguments the commands share: output and show formats, the run mode, and the
//! arguments of `orcapod run`.
//!
//! Only declarations for clap: what the arguments do is up to each command.

use std::path::PathBuf;

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
    use super::parse_size;

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
