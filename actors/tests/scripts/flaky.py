"""{"x": int} -> {"out": x * 10 + 1}, a flaky command. Each packet's calls are counted in
the file counts/<label>-<x> (locked while counted). How it fails, per argv[1]:
`error` fails every other call of a packet (calls 1, 3, 5, ...) with {"$error": ...};
`exit` exits with status 3, without answering, on the first call of each packet.
argv[2] is the label."""
import fcntl
import json
import os
import sys

how, label = sys.argv[1], sys.argv[2]
assert how in ("error", "exit"), how
os.makedirs("counts", exist_ok=True)


def count_call(x):
    with open(os.path.join("counts", f"{label}-{x}"), "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        calls = len(f.read()) + 1
        f.write(".")
        return calls


for line in sys.stdin:
    x = json.loads(line)["x"]
    calls = count_call(x)
    if how == "error" and calls % 2 == 1:
        print(json.dumps({"$error": f"flaky: call {calls} for x={x}"}), flush=True)
    elif how == "exit" and calls == 1:
        sys.exit(3)
    else:
        print(json.dumps({"out": x * 10 + 1}), flush=True)
