#!/usr/bin/env bash
# Watch mode over one large CSV file (issue 18): `orcapod run --watch` over N rows
# (default 1,000,000) of `k,x` through `map_packets {x: score}` and the `letter_grade`
# builtin, `--out DIR --format arrow`, with the release binary as a whole process. A
# plain run fills the store first; the watch's first round is then a re-run. Prints the
# first round's summary line, the round lines of one row appended and of that row
# removed (each ends with the round's wall time), and the watching process's peak RSS.
#
#   bench/watch_csv.sh [N]      (ORCAPOD_BIN=path: that binary instead of a release build)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
if [ -z "${ORCAPOD_BIN:-}" ]; then
  cargo build --release -p orcapod-actors --bin orcapod >&2
fi
BIN=${ORCAPOD_BIN:-$(realpath "${CARGO_TARGET_DIR:-target}")/release/orcapod}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/orcapod-watch-csv.XXXXXX")
PID=
trap '[ -n "$PID" ] && kill -INT "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT
python3 - "$N" "$WORK" <<'PY'
import sys
n, work = int(sys.argv[1]), sys.argv[2]
with open(f"{work}/scores.csv", "w") as f:
    f.write("k,x\n")
    f.writelines(f"{k},{(k * 7919) % n}\n" for k in range(n))
PY
cat >"$WORK/p.yaml" <<'YAML'
pipeline: watch_csv
sources:
  scores: {csv: scores.csv, tags: [k]}
nodes:
  renamed: {op: map_packets, input: scores, name_map: {x: score}}
  graded:  {op: function, input: renamed, builtin: letter_grade}
outputs: [graded]
YAML
"$BIN" run "$WORK/p.yaml" --out "$WORK/out" --format arrow --quiet >/dev/null 2>&1
"$BIN" run "$WORK/p.yaml" --out "$WORK/out" --format arrow --watch --interval 500ms \
  >/dev/null 2>"$WORK/err" &
PID=$!
wait_for() { # waits (at most 10 min) for a line of stderr matching $1
  for _ in $(seq 6000); do grep -q "$1" "$WORK/err" && return 0; sleep 0.1; done
  echo "gave up waiting for $1" >&2; cat "$WORK/err" >&2; exit 1
}
wait_for '^watching'
grep '^pipeline' "$WORK/err"
echo "$N,5" >>"$WORK/scores.csv"
wait_for '^round 2'
grep '^round 2' "$WORK/err"
head -n -1 "$WORK/scores.csv" >"$WORK/scores.tmp"
mv "$WORK/scores.tmp" "$WORK/scores.csv"
wait_for '^round 3'
grep '^round 3' "$WORK/err"
echo "peak RSS of the watching process: $(awk '/VmHWM/ { print $2, $3 }' "/proc/$PID/status")"
kill -INT "$PID"
wait "$PID" || true
PID=
