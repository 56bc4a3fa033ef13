"""{"x": int} -> {"out": x * 10 + 1}, answering every packet twice with the same line:
`two-writes` (two flushed prints), `one-write` (both lines in a single write) or `sleep`
(a short pause between the two lines), per argv[1]."""
import json
import sys
import time

how = sys.argv[1]
assert how in ("two-writes", "one-write", "sleep"), how
for line in sys.stdin:
    x = json.loads(line)["x"]
    answer = json.dumps({"out": x * 10 + 1}) + "\n"
    if how == "one-write":
        sys.stdout.write(answer + answer)
        sys.stdout.flush()
    else:
        sys.stdout.write(answer)
        sys.stdout.flush()
        if how == "sleep":
            time.sleep(0.02)
        sys.stdout.write(answer)
        sys.stdout.flush()
