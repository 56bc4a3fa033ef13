#!/usr/bin/env bash
# The Slurm executor's throughput (issue 17): N packets (default 10,000) of a trivial
# command (`{x}` -> `{y: 2x}`, a Python script speaking JSON Lines) through one function
# node, run by the release `orcapod` binary as a whole process, on the local executor
# and on the single-node Slurm of scripts/slurm-local.sh with chunks of 1000 and of 100
# packets (the default). Prints a Markdown table of wall time and peak memory (GNU time)
# and checks that every run wrote the same output bytes as the local one.
#
#   bench/slurm_throughput.sh [N]        as root (it starts Slurm when it is not running)
#
# Slurm costs about 1.25 s per array task on a 2-CPU machine, so chunks of 100 take about
# two minutes at 10,000 packets.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
BIN=${CARGO_TARGET_DIR:-target}/release/orcapod
cargo build --release -p orcapod-actors --bin orcapod >&2
scripts/slurm-local.sh start >&2
BIN=$(realpath "$BIN")

# The work directory must be one the compute nodes see: on this single node, any.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/orcapod-slurm-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
python3 - "$N" >"$WORK/xs.csv" <<'PY'
import sys
n = int(sys.argv[1])
print("k,x")
for k in range(n):
    print(f"{k},{k}")
PY
cat >"$WORK/double.py" <<'PY'
import json, sys
for line in sys.stdin:
    p = json.loads(line)
    sys.stdout.write(json.dumps({"y": p["x"] * 2}) + "\n")
    sys.stdout.flush()
PY
pipeline() { # $1: the node's extra settings
  cat <<YAML
pipeline: slurm_throughput
sources:
  xs: {csv: xs.csv, tags: [k]}
nodes:
  f:
    op: function
    input: xs
    command: [python3, double.py]
    output_keys: [y]
    output_types: {y: int}
$1
outputs: [f]
YAML
}

echo "| executor | packets | wall time | peak memory of orcapod | per packet |"
echo "|---|---:|---:|---:|---:|"
measure() { # $1: label, $2: settings
  local dir="$WORK/$(echo "$1" | tr -c 'a-z0-9' '_')"
  mkdir -p "$dir"
  cp "$WORK/xs.csv" "$WORK/double.py" "$dir/"
  pipeline "$2" >"$dir/p.yaml"
  local timing
  timing=$(cd "$dir" && /usr/bin/time -f '%e %M' "$BIN" run p.yaml --db db --out out -q \
    2>&1 >/dev/null | tail -1)
  local seconds=${timing% *} kb=${timing#* }
  if [ -n "${REFERENCE:-}" ] && ! cmp -s "$REFERENCE" "$dir/out/f.all_info.json"; then
    echo "the output of '$1' differs from the local run's" >&2
    exit 1
  fi
  REFERENCE=${REFERENCE:-$dir/out/f.all_info.json}
  printf '| %s | %s | %.1f s | %d MB | %.2f ms |\n' "$1" "$N" "$seconds" $((kb / 1024)) \
    "$(echo "$seconds * 1000 / $N" | bc -l)"
}
measure "local" "    executor: local"
measure "Slurm, chunk: 1000" "    executor: slurm
    slurm: {chunk: 1000}"
measure "Slurm, chunk: 100 (default)" "    executor: slurm"
