"""Non-finite floats across the boundary, as Python's json module reads and writes them.

`make`: {"k": int, "v": float} -> {"kk": int, "w": float}. It checks that v arrived as
the CSV had it (k 0: inf, k 1: -inf, k 2: 2.5, k 3: -0.5) and answers w = v, except for
k 2 where w is NaN.
`check`: {"kk": int, "w": float} -> {"back": float}. It checks that w is +inf, -inf, NaN or
-0.5 for kk 0, 1, 2, 3 and answers back = w.
A check that fails answers {"$error": ...}, which fails the run."""
import json
import math
import sys

role = sys.argv[1]
assert role in ("make", "check"), role


def is_pos_inf(v):
    return isinstance(v, float) and math.isinf(v) and v > 0


def is_neg_inf(v):
    return isinstance(v, float) and math.isinf(v) and v < 0


def is_nan(v):
    return isinstance(v, float) and math.isnan(v)


EXPECTED = {
    0: ("+inf", is_pos_inf),
    1: ("-inf", is_neg_inf),
    2: ("2.5", lambda v: v == 2.5),
    3: ("-0.5", lambda v: v == -0.5),
}

for line in sys.stdin:
    packet = json.loads(line)
    if role == "make":
        k, v = packet["k"], packet["v"]
        name, ok = EXPECTED[k]
        if not ok(v):
            answer = {"$error": f"make: k={k}: expected v {name}, received {v!r} in {line.strip()}"}
        else:
            answer = {"kk": k, "w": float("nan") if k == 2 else v}
    else:
        k, w = packet["kk"], packet["w"]
        name, ok = ("NaN", is_nan) if k == 2 else EXPECTED[k]
        if not ok(w):
            answer = {"$error": f"check: kk={k}: expected w {name}, received {w!r} in {line.strip()}"}
        else:
            answer = {"back": w}
    # json.dumps writes NaN, Infinity and -Infinity as bare tokens.
    print(json.dumps(answer), flush=True)
