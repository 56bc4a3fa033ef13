"""{"x": int} -> {"out": x * 10 + 1}, with a stray JSON debug line on stdout for every
packet: `before` the answer or `after` it (argv[1])."""
import json
import sys

where = sys.argv[1]
assert where in ("before", "after"), where
for line in sys.stdin:
    x = json.loads(line)["x"]
    debug = json.dumps({"debug": "checkpoint", "x": x})
    answer = json.dumps({"out": x * 10 + 1})
    if where == "before":
        print(debug, flush=True)
    print(answer, flush=True)
    if where == "after":
        print(debug, flush=True)
