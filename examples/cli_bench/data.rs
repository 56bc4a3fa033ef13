//! The generated inputs of the whole-process benchmark and the pipeline files that read
//! them. Everything is deterministic (a fixed seed), written through `BufWriter`s, and
//! reused when a directory already holds the files of the same size, seed and version
//! (a `.complete` marker written last).
//!
//! - (f) `f-N/left.csv` (`k,x`) and `f-N/right.csv` (`k,y`): `k` unique in each file, both
//!   files shuffled; the right file's keys are `N/10 .. N/10 + N`, so the join has
//!   `N - N/10` rows. `x` is an integer, `y` a float with one decimal.
//! - (g) `g-N/chain.csv` (`id,x,s`): `id` is `0..N` in order, `x` an integer in
//!   `0..1000`, `s` one of eight short words; optionally the same rows as
//!   `g-N/chain.parquet` (Snappy, row groups of 2^18 rows, like polars's default).
//! - (h) `h-N/scores.csv` (`k,x`): `k` is `0..N` in order, `x = k * 7919 mod N` (7919 is
//!   prime and divides neither 1M nor 10M, so every `x` differs: each packet is new to
//!   the function, which computes and stores N results).

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

pub type BoxError = Box<dyn std::error::Error>;

/// The seed of every generated file; changing it (or the layout) changes `VERSION`.
pub const SEED: u64 = 0x0c0a_90d5_15be_7c11;
/// Bumped whenever the generated content changes, so that kept data is regenerated.
const VERSION: u32 = 1;

/// The words of column `s` (average length 4, so a 10M-row `chain.csv` is about 167 MB).
const WORDS: [&str; 8] = [
    "red", "green", "blue", "cyan", "gold", "pink", "teal", "gray",
];

/// Rows per Parquet row group (polars's default).
const ROW_GROUP: usize = 1 << 18;

/// SplitMix64: a small, fast, seeded generator (reproducible across platforms).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `start..start + n` in a seeded random order (Fisher–Yates).
fn shuffled(start: u64, n: usize, rng: &mut Rng) -> Vec<u64> {
    let mut keys: Vec<u64> = (start..start + n as u64).collect();
    for i in (1..n).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        keys.swap(i, j);
    }
    keys
}

fn marker(dir: &Path, what: &str, n: usize) -> PathBuf {
    dir.join(format!(".complete-{what}-{n}-seed{SEED:x}-v{VERSION}"))
}

/// Writes `rows` rows through `row` into `path` with a header line.
fn write_csv(
    path: &Path,
    header: &str,
    rows: usize,
    mut row: impl FnMut(usize, &mut String),
) -> Result<(), BoxError> {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    writeln!(out, "{header}")?;
    let mut line = String::with_capacity(64);
    for i in 0..rows {
        line.clear();
        row(i, &mut line);
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    out.flush()?;
    Ok(())
}

/// `root/WHAT-N`, filled by `write` unless a previous call completed it.
fn generated(
    root: &Path,
    what: &str,
    n: usize,
    write: impl FnOnce(&Path) -> Result<(), BoxError>,
) -> Result<PathBuf, BoxError> {
    let dir = root.join(format!("{what}-{n}"));
    let done = marker(&dir, what, n);
    if !done.exists() {
        std::fs::create_dir_all(&dir)?;
        write(&dir)?;
        File::create(done)?;
    }
    Ok(dir)
}

/// The directory of case (f) at `n` rows (`left.csv`, `right.csv`, `join.yaml`).
pub fn join_data(root: &Path, n: usize) -> Result<PathBuf, BoxError> {
    generated(root, "f", n, |dir| {
        let mut rng = Rng(SEED ^ n as u64);
        let left = shuffled(0, n, &mut rng);
        write_csv(&dir.join("left.csv"), "k,x", n, |i, line| {
            let k = left[i];
            let _ = write!(line, "{k},{}", (k * 7919) % 100_000);
        })?;
        drop(left);
        let right = shuffled(n as u64 / 10, n, &mut rng);
        write_csv(&dir.join("right.csv"), "k,y", n, |i, line| {
            let k = right[i];
            let tenths = (k * 104_729) % 1_000_000;
            let _ = write!(line, "{k},{}.{}", tenths / 10, tenths % 10);
        })?;
        std::fs::write(dir.join("join.yaml"), JOIN_YAML)?;
        Ok(())
    })
}

/// The `x` and word index of row `i` of case (g).
fn chain_row(rng: &mut Rng) -> (i64, usize) {
    let r = rng.next();
    ((r % 1000) as i64, ((r >> 32) % WORDS.len() as u64) as usize)
}

/// The directory of case (g) at `n` rows (`chain.csv` and its pipeline files).
pub fn chain_data(root: &Path, n: usize) -> Result<PathBuf, BoxError> {
    generated(root, "g", n, |dir| {
        let mut rng = Rng(SEED ^ n as u64);
        write_csv(&dir.join("chain.csv"), "id,x,s", n, |i, line| {
            let (x, w) = chain_row(&mut rng);
            let _ = write!(line, "{i},{x},{}", WORDS[w]);
        })?;
        std::fs::write(dir.join("chain.yaml"), chain_yaml("csv: chain.csv"))?;
        std::fs::write(
            dir.join("chain-parquet.yaml"),
            chain_yaml("parquet: chain.parquet"),
        )?;
        Ok(())
    })
}

/// The directory of case (h) at `n` rows (`scores.csv` and `function.yaml`).
pub fn function_data(root: &Path, n: usize) -> Result<PathBuf, BoxError> {
    generated(root, "h", n, |dir| {
        let modulus = n.max(1) as u64;
        write_csv(&dir.join("scores.csv"), "k,x", n, |k, line| {
            let _ = write!(line, "{k},{}", (k as u64 * 7919) % modulus);
        })?;
        std::fs::write(dir.join("function.yaml"), FUNCTION_YAML)?;
        Ok(())
    })
}

/// The rows of `chain.csv` (same generator) as `chain.parquet` in `dir`, unless there.
pub fn chain_parquet(dir: &Path, n: usize) -> Result<PathBuf, BoxError> {
    let path = dir.join("chain.parquet");
    let done = marker(dir, "g-parquet", n);
    if done.exists() {
        return Ok(path);
    }
    write_parquet(&path, n)?;
    File::create(done)?;
    Ok(path)
}

/// Writes the first `n` rows of case (g) as Parquet (`id`, `x` Int64; `s` Utf8).
pub fn write_parquet(path: &Path, n: usize) -> Result<(), BoxError> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("x", DataType::Int64, false),
        Field::new("s", DataType::Utf8, false),
    ]));
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_size(ROW_GROUP)
        .build();
    let file = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(props))?;
    let mut rng = Rng(SEED ^ n as u64);
    let mut start = 0;
    while start < n {
        let len = ROW_GROUP.min(n - start);
        let (xs, ws): (Vec<i64>, Vec<&str>) = (0..len)
            .map(|_| {
                let (x, w) = chain_row(&mut rng);
                (x, WORDS[w])
            })
            .unzip();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from_iter_values(
                    (start..start + len).map(|i| i as i64),
                )),
                Arc::new(Int64Array::from(xs)),
                Arc::new(StringArray::from(ws)),
            ],
        )?;
        writer.write(&batch)?;
        start += len;
    }
    writer.close()?;
    Ok(())
}

/// Case (f): the join of the two files on `k`.
const JOIN_YAML: &str = "\
# cli_bench case (f): a 2-way join on the integer key k.
pipeline: cli_bench_join
sources:
  left:  {csv: left.csv, tags: [k]}
  right: {csv: right.csv, tags: [k]}
nodes:
  joined: {op: join, inputs: [left, right]}
outputs: [joined]
";

/// Case (h): the function pipeline of issue 16, a builtin over every packet.
const FUNCTION_YAML: &str = "\
# cli_bench case (h): map_packets {x: score} -> the letter_grade builtin.
pipeline: cli_bench_function
sources:
  scores: {csv: scores.csv, tags: [k]}
nodes:
  renamed: {op: map_packets, input: scores, name_map: {x: score}}
  graded:  {op: function, input: renamed, builtin: letter_grade}
outputs: [graded]
";

/// Case (g): select → rename → filter over one source (`source` is its YAML body).
fn chain_yaml(source: &str) -> String {
    format!(
        "\
# cli_bench case (g): select_packet_columns -> map_packets -> filter value < 500.
pipeline: cli_bench_chain
sources:
  rows: {{{source}, tags: [id]}}
nodes:
  selected: {{op: select_packet_columns, input: rows, columns: [x, s]}}
  renamed:  {{op: map_packets, input: selected, name_map: {{x: value}}}}
  kept:
    op: polars_filter
    input: renamed
    predicates: [{{col: value, op: \"<\", value: 500}}]
outputs: [kept]
"
    )
}

/// A tiny Parquet source and pipeline in `dir`, to ask the binary whether it reads
/// Parquet (`orcapod validate`).
pub fn parquet_probe(dir: &Path) -> Result<PathBuf, BoxError> {
    std::fs::create_dir_all(dir)?;
    write_parquet(&dir.join("chain.parquet"), 10)?;
    let yaml = dir.join("chain-parquet.yaml");
    std::fs::write(&yaml, chain_yaml("parquet: chain.parquet"))?;
    Ok(yaml)
}
