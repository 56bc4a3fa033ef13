"""Letter grade and grade points for one score.

Speaks orcapod's JSON Lines protocol: each input line is a packet
{"score": int, "credits": int}; each output line is {"grade": str, "points": float},
where points are grade points weighted by the course's credits.
"""
import json
import sys

BANDS = ((90, "A", 4.0), (80, "B", 3.0), (70, "C", 2.0), (60, "D", 1.0))


def grade(score):
    for bound, letter, points in BANDS:
        if score >= bound:
            return letter, points
    return "F", 0.0


for line in sys.stdin:
    packet = json.loads(line)
    letter, points = grade(packet["score"])
    answer = {"grade": letter, "points": points * packet["credits"]}
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
