#!/usr/bin/env bash
# Refreshes every figure of BENCHMARKS.md: the pipeline benchmarks (bench/results/pipeline.*),
# the comparison with the reference (bench/results/reference.*) and the whole-process runs
# of the `orcapod` binary beside polars and the reference (bench/results/cli.*), and the
# function pipeline of issue 16 (bench/results/function.*). Takes about an hour on a
# 2-core machine. Then writes them into BENCHMARKS.md
# (bench/update_benchmarks_md.py). The criterion benches are separate: cargo bench.
#
#   bench/run.sh [ARGS]         everything; ARGS go to pipeline_bench (e.g. --reps 5)
#   bench/run.sh --cli [ARGS]   only the whole-process runs; ARGS go to cli_bench
#                               (e.g. --cases f --sizes 100k,1M --reps 1)
#   bench/run.sh --function [ARGS]
#                               only the function pipeline of issue 16 (cli_bench case h,
#                               bench/results/function.*); ARGS go to cli_bench
#                               (e.g. --function-sizes 1M --reps 1)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/results

REFERENCE_VERSION=0.1.4
VENV=target/bench-venv

# The virtual environment of the anchors: the reference orcapod and polars from PyPI
# (compare_reference.py uses the same one, and its marker file).
venv() {
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  if ! "$VENV/bin/python" -c 'import orcapod, polars' 2>/dev/null; then
    "$VENV/bin/python" -m pip install --quiet "orcapod==$REFERENCE_VERSION" polars
  fi
  touch "$VENV/.orcapod-$REFERENCE_VERSION"
}

# Whole-process runs (examples/cli_bench): the release binary on generated files, kept
# in target/cli-bench-data between runs.
cli() {
  venv
  cargo build --release -p orcapod-actors --bin orcapod
  cargo run --release --example cli_bench -- \
    --bin "${CARGO_TARGET_DIR:-target}/release/orcapod" \
    --python "$VENV/bin/python" --keep-data target/cli-bench-data \
    --label "commit $(git rev-parse --short HEAD)" \
    --json bench/results/cli.json --markdown bench/results/cli.md "$@"
}

# The function pipeline of issue 16 (examples/cli_bench case h): a first run, then ten
# re-runs, of the release binary on one database, with the database's size. No anchors.
function_pipeline() {
  cargo build --release -p orcapod-actors --bin orcapod
  cargo run --release --example cli_bench -- \
    --bin "${CARGO_TARGET_DIR:-target}/release/orcapod" --cases h --function-reruns 10 \
    --keep-data target/cli-bench-data \
    --label "commit $(git rev-parse --short HEAD)" \
    --json bench/results/function.json --markdown bench/results/function.md "$@"
}

if [ "${1:-}" = "--function" ]; then
  shift
  function_pipeline "$@"
  python3 bench/update_benchmarks_md.py
  exit 0
fi

if [ "${1:-}" = "--cli" ]; then
  shift
  cli "$@"
  python3 bench/update_benchmarks_md.py
  exit 0
fi

cargo run --release --example pipeline_bench -- \
  --json bench/results/pipeline.json --markdown bench/results/pipeline.md "$@"
python3 bench/compare_reference.py --rust-json bench/results/pipeline.json \
  --sizes 10k,100k,1M --cases a,b,c --timeout 120 \
  --json bench/results/reference.json --markdown bench/results/reference.md
cli
function_pipeline
python3 bench/update_benchmarks_md.py
