"""{"x": int} -> {"out": x * 10 + 1}, with the common idiom that writes a blank line after
each answer: print(json.dumps(ans) + "\n", flush=True)."""
import json
import sys

for line in sys.stdin:
    x = json.loads(line)["x"]
    print(json.dumps({"out": x * 10 + 1}) + "\n", flush=True)
