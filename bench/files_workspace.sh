# Sourced by bench/file_values.sh and bench/watch_rounds.sh: the workspace both measure.
#
#   files_workspace DIR N PIPELINE_NAME
#
# writes N small files under DIR/data (100 directories), DIR/size.py (a command answering
# each file's size) and DIR/p.yaml (a folder source over them through one function node).
files_workspace() {
  local work=$1 n=$2 name=$3
  python3 - "$n" "$work" <<'PY'
import os, sys
n, work = int(sys.argv[1]), sys.argv[2]
for i in range(n):
    d = os.path.join(work, "data", f"d{i % 100:02}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"{i}.txt"), "w") as f:
        f.write(f"file {i}\n" * 8)
PY
  cat >"$work/size.py" <<'PY'
import json, os, sys
for line in sys.stdin:
    p = json.loads(line)
    sys.stdout.write(json.dumps({"size": os.path.getsize(p["path"])}) + "\n")
    sys.stdout.flush()
PY
  cat >"$work/p.yaml" <<YAML
pipeline: $name
sources:
  data: {files: "data/*/*.txt", match: "data/(?P<dir>[^/]+)/(?P<file>\\\\d+)\\\\.txt\$"}
nodes:
  sized:
    op: function
    input: data
    command: [python3, size.py]
    output_keys: [size]
    output_types: {size: int}
YAML
}
