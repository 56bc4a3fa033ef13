"""A correct command function: {"x": int} -> {"out": x * 10 + 1}, one answer line per
packet, flushed. Extra arguments are ignored (the tests overwrite a faulty script with
this one and keep the pipeline file, command line included)."""
import json
import sys

for line in sys.stdin:
    x = json.loads(line)["x"]
    print(json.dumps({"out": x * 10 + 1}), flush=True)
