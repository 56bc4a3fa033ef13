#!/usr/bin/env bash
# Files as values (issue 18): the release `orcapod` binary, as a whole process, over a
# folder source of N small files (default 10,000; 100 directories) through one function
# node (a Python script answering each file's size). Prints GNU time's wall time and peak
# memory of the first run (every file hashed, every packet computed) and of three
# re-runs over the unchanged files (every hash from the database, nothing computed), the
# median of those, and the re-runs' file-hash line (which must say 0 bytes read). Then
# the hashing throughput of a few large files (examples/file_hashing.rs).
#
#   bench/file_values.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
cargo build --release -p orcapod-actors --bin orcapod >&2
cargo build --release -p orcapod --example file_hashing >&2
TARGET=$(realpath "${CARGO_TARGET_DIR:-target}")
BIN=$TARGET/release/orcapod

WORK=$(mktemp -d "${TMPDIR:-/tmp}/orcapod-files-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
. bench/files_workspace.sh
files_workspace "$WORK" "$N" files_bench
run() { # prints "wall_s peak_kib", the run's file-hash line on stderr
  /usr/bin/time -f '%e %M' -o "$WORK/time" "$BIN" run "$WORK/p.yaml" --out "$WORK/out" \
    >/dev/null 2>"$WORK/err"
  grep '^file hashes' "$WORK/err" >&2
  cat "$WORK/time"
}
echo "| run | wall (s) | peak RSS (MiB) |"
echo "|---|---|---|"
read -r wall kib < <(run)
echo "| first ($N files hashed, $N packets computed) | $wall | $((kib / 1024)) |"
walls=()
for i in 1 2 3; do
  read -r wall kib < <(run)
  walls+=("$wall")
  echo "| re-run $i (unchanged) | $wall | $((kib / 1024)) |"
done
median=$(printf '%s\n' "${walls[@]}" | sort -g | sed -n 2p)
echo "| re-run, median of 3 | $median | |"
"$TARGET/release/examples/file_hashing"
