#!/usr/bin/env bash
# Watch mode (issue 18): what `orcapod run --watch` costs over a folder source of N small
# files (default 10,000; 100 directories) through one function node, with the release
# binary as a whole process. Prints the first round's summary line, the CPU time of the
# looks over unchanged files (from /proc: the process's user + system time over a
# number of intervals, divided by the number of looks), and the round lines of one file
# added and one file deleted (each line ends with the round's wall time).
#
#   bench/watch_rounds.sh [N]      (ORCAPOD_BIN=path: that binary instead of a release build)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
INTERVAL_MS=500
LOOKS=20
if [ -z "${ORCAPOD_BIN:-}" ]; then
  cargo build --release -p orcapod-actors --bin orcapod >&2
fi
BIN=${ORCAPOD_BIN:-$(realpath "${CARGO_TARGET_DIR:-target}")/release/orcapod}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/orcapod-watch-bench.XXXXXX")
PID=
trap '[ -n "$PID" ] && kill -INT "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT
. bench/files_workspace.sh
files_workspace "$WORK" "$N" watch_bench
# The first run fills the store, so the watch's first round is a re-run, as after a
# restart.
"$BIN" run "$WORK/p.yaml" --out "$WORK/out" >/dev/null 2>&1
"$BIN" run "$WORK/p.yaml" --out "$WORK/out" --watch --interval ${INTERVAL_MS}ms \
  >/dev/null 2>"$WORK/err" &
PID=$!
wait_for() { # waits (at most 10 min) for a line of stderr matching $1
  for _ in $(seq 6000); do grep -q "$1" "$WORK/err" && return 0; sleep 0.1; done
  echo "gave up waiting for $1" >&2; cat "$WORK/err" >&2; exit 1
}
cpu() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }
wait_for '^watching'
grep '^pipeline' "$WORK/err"
grep '^file hashes' "$WORK/err"
TICKS=$(getconf CLK_TCK)
before=$(cpu)
sleep "$(echo "$LOOKS * $INTERVAL_MS / 1000" | bc -l)"
after=$(cpu)
echo "idle: $((after - before)) ticks of CPU over $LOOKS looks of $N unchanged files" \
  "(≈ $(echo "($after - $before) * 1000 / $TICKS / $LOOKS" | bc -l | cut -c1-5) ms a look)"
echo "file 0" >"$WORK/data/d00/new.txt.tmp"
mv "$WORK/data/d00/new.txt.tmp" "$WORK/data/d00/$N.txt"
wait_for '^round 2'
grep '^round 2' "$WORK/err"
rm "$WORK/data/d01/1.txt"
wait_for '^round 3'
grep '^round 3' "$WORK/err"
kill -INT "$PID"
wait "$PID" || true
PID=
tail -1 "$WORK/err"
