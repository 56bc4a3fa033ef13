"""Summary and plot of one recording.

Speaks orcapod's JSON Lines protocol: each input line is a packet {"path": "<absolute
path of a recording CSV with columns t, value>"}; each output line is
{"readings": int, "mean": float, "peak": float, "plot": "<path>"}, where the plot is a
small SVG line chart written under the directory orcapod gives in ORCAPOD_OUT_DIR
(fresh and empty for every packet). orcapod moves the file into its store and keeps it
by content. Standard library only.
"""
import csv
import json
import os
import sys

WIDTH, HEIGHT, PAD = 240, 80, 6


def svg(values):
    top = max(values) or 1.0
    step = (WIDTH - 2 * PAD) / max(len(values) - 1, 1)
    points = " ".join(
        "%.1f,%.1f" % (PAD + i * step, HEIGHT - PAD - (v / top) * (HEIGHT - 2 * PAD))
        for i, v in enumerate(values)
    )
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d">'
        '<rect width="100%%" height="100%%" fill="white"/>'
        '<polyline fill="none" stroke="steelblue" stroke-width="2" points="%s"/>'
        "</svg>\n" % (WIDTH, HEIGHT, points)
    )


out_dir = os.environ["ORCAPOD_OUT_DIR"]
for line in sys.stdin:
    packet = json.loads(line)
    with open(packet["path"], newline="") as f:
        values = [float(row["value"]) for row in csv.DictReader(f)]
    plot = os.path.join(out_dir, "plot.svg")
    with open(plot, "w") as f:
        f.write(svg(values))
    answer = {
        "readings": len(values),
        "mean": round(sum(values) / len(values), 3),
        "peak": max(values),
        "plot": plot,
    }
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
