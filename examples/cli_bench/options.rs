//! The command-line options of the whole-process benchmark (`cli_bench --help`): what
//! they are, their defaults and their parsing. It only reads arguments; it never runs
//! or measures anything.

use std::path::PathBuf;
use std::time::Duration;

use super::args::{list, sizes};
use super::data::BoxError;
use super::measure::Limits;

const USAGE: &str = "\
usage: cli_bench [OPTIONS]
  --bin PATH             the orcapod binary (default: $CARGO_TARGET_DIR or target, /release/orcapod)
  --cases LIST           of f,g,h (default: f,g; h is run by `bench/run.sh --function`)
  --sizes LIST           rows per file for (f) (default: 100k,1M,10M)
  --chain-sizes LIST     rows for (g) (default: 1M,10M)
  --function-sizes LIST  packets for (h), the function pipeline of issue 16 (default: 1M,10M)
  --function-reruns N    re-runs of (h) on each fresh database (default: 1; the issue's
                         store target asks for 10)
  --formats LIST         source formats of (g), of csv,parquet (default: csv,parquet)
  --reps N               runs per configuration (default: 3)
  --python PATH          Python with polars and orcapod (the bench venv) for the anchors;
                         without it the anchors are skipped
  --anchors LIST         of polars,reference (default: both)
  --reference-sizes LIST (f) sizes the reference runs (default: 100k)
  --timeout SECS         a run is killed after this (default: 600)
  --max-rss-mb MB        a run is killed when its resident memory passes this (default: 8192)
  --orcapod-args ARGS    extra arguments for `orcapod run` (split on whitespace)
  --work DIR             scratch directory for databases and outputs (default: a new
                         directory under the system's temporary directory, removed at the end)
  --keep-data DIR        keep the generated inputs here and reuse them when present
  --label TEXT           what the binary is (e.g. a commit), recorded in the results
  --json PATH            write the results as JSON
  --markdown PATH        write the results as a Markdown table
Sizes accept k and M suffixes (100k, 1M).";

pub struct Options {
    pub bin: PathBuf,
    pub cases: Vec<String>,
    pub sizes: Vec<usize>,
    pub chain_sizes: Vec<usize>,
    /// Packets of case (h).
    pub function_sizes: Vec<usize>,
    /// Re-runs of case (h) after each first run.
    pub function_reruns: usize,
    pub formats: Vec<String>,
    pub reps: usize,
    pub python: Option<PathBuf>,
    pub anchors: Vec<String>,
    pub reference_sizes: Vec<usize>,
    pub limits: Limits,
    pub orcapod_args: Vec<String>,
    pub work: Option<PathBuf>,
    pub keep_data: Option<PathBuf>,
    pub label: Option<String>,
    pub json: Option<PathBuf>,
    pub markdown: Option<PathBuf>,
}

fn default_bin() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("release").join("orcapod")
}

pub fn parse_args() -> Result<Option<Options>, BoxError> {
    let mut o = Options {
        bin: default_bin(),
        cases: list("f,g"),
        sizes: sizes("100k,1M,10M")?,
        chain_sizes: sizes("1M,10M")?,
        function_sizes: sizes("1M,10M")?,
        function_reruns: 1,
        formats: list("csv,parquet"),
        reps: 3,
        python: None,
        anchors: list("polars,reference"),
        reference_sizes: sizes("100k")?,
        limits: Limits {
            timeout: Duration::from_secs(600),
            max_rss_mb: 8192,
        },
        orcapod_args: Vec::new(),
        work: None,
        keep_data: None,
        label: None,
        json: None,
        markdown: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .map(String::as_str)
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--bin" => o.bin = PathBuf::from(value()?),
            "--cases" => o.cases = list(value()?),
            "--sizes" => o.sizes = sizes(value()?)?,
            "--chain-sizes" => o.chain_sizes = sizes(value()?)?,
            "--function-sizes" => o.function_sizes = sizes(value()?)?,
            "--function-reruns" => o.function_reruns = value()?.parse::<usize>()?.max(1),
            "--formats" => o.formats = list(value()?),
            "--reps" => o.reps = value()?.parse::<usize>()?.max(1),
            "--python" => o.python = Some(PathBuf::from(value()?)),
            "--anchors" => o.anchors = list(value()?),
            "--reference-sizes" => o.reference_sizes = sizes(value()?)?,
            "--timeout" => o.limits.timeout = Duration::from_secs_f64(value()?.parse()?),
            "--max-rss-mb" => o.limits.max_rss_mb = value()?.parse()?,
            "--orcapod-args" => {
                o.orcapod_args = value()?.split_whitespace().map(String::from).collect()
            }
            "--work" => o.work = Some(PathBuf::from(value()?)),
            "--keep-data" => o.keep_data = Some(PathBuf::from(value()?)),
            "--label" => o.label = Some(value()?.to_string()),
            "--json" => o.json = Some(PathBuf::from(value()?)),
            "--markdown" => o.markdown = Some(PathBuf::from(value()?)),
            "--help" | "-h" => {
                println!("{USAGE}");
                return Ok(None);
            }
            other => return Err(format!("unknown argument {other}\n{USAGE}").into()),
        }
    }
    Ok(Some(o))
}
