#!/usr/bin/env bash
# Refreshes every figure of BENCHMARKS.md: the pipeline benchmarks (bench/results/pipeline.*)
# and the comparison with the reference (bench/results/reference.*). Takes about half an
# hour on a 2-core machine. Arguments are passed to pipeline_bench (e.g. --reps 5).
# Then writes them into BENCHMARKS.md (bench/update_benchmarks_md.py). The criterion
# benches are separate: cargo bench.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/results
cargo run --release --example pipeline_bench -- \
  --json bench/results/pipeline.json --markdown bench/results/pipeline.md "$@"
python3 bench/compare_reference.py --rust-json bench/results/pipeline.json \
  --sizes 10k,100k,1M --cases a,b,c --timeout 120 \
  --json bench/results/reference.json --markdown bench/results/reference.md
python3 bench/update_benchmarks_md.py
