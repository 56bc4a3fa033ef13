"""A command that never answers: `line` (argv[1]) reads one packet and then sleeps;
`eof` reads until end of input (which never comes while the run goes on) before it
would answer. Either way it exits on its own once its parent is gone, so a run that hangs
(and is killed by the test's watchdog) leaves nothing behind."""
import json
import os
import sys
import time

how = sys.argv[1]
assert how in ("line", "eof"), how
parent = os.getppid()


def sleep_while_parent_lives():
    while os.getppid() == parent:
        time.sleep(0.2)
    sys.exit(0)


if how == "line":
    if sys.stdin.readline():
        sleep_while_parent_lives()
else:
    packets = [json.loads(line) for line in sys.stdin.read().splitlines() if line]
    for p in packets:
        print(json.dumps({"out": p["x"] * 10 + 1}), flush=True)
