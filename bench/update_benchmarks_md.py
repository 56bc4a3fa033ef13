#!/usr/bin/env python3
"""Writes the latest results into BENCHMARKS.md (between its `<!-- begin: NAME -->` and
`<!-- end: NAME -->` markers): the machine, the target verdicts, the tables of
bench/results/pipeline.md and bench/results/reference.md, and the whole-process tables
of issue 15 from bench/results/cli.json (the latest `bench/run.sh --cli`) and
bench/results/cli-before.json (kept: the figures before the engine work), and the
function pipeline of issue 16 (case h) from bench/results/function.json (the latest
`bench/run.sh --function`) and bench/results/function-before.json (kept). Run by
bench/run.sh."""

import json
import platform
import re
from pathlib import Path

from compare_reference import human

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def rate(results, case, mode, rows):
    for r in results:
        if (r["case"], r["mode"], r["rows"]) == (case, mode, rows):
            return r
    return None


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"model name\s*:\s*(.*)", cpuinfo)
    cores = len(re.findall(r"^processor\s*:", cpuinfo, re.M))
    mem = re.search(r"MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text())
    return (
        f"{cores} cores, {model.group(1) if model else 'unknown CPU'}, "
        f"{int(mem.group(1)) / 1024 / 1024:.0f} GB RAM, Linux {platform.release()}"
    )


def verdicts(results) -> str:
    def row(target, value, met):
        return f"| {target} | {value} | {'met' if met else '**not met**'} |"

    lines = ["| target | measured (median) | verdict |", "|---|---|---|"]
    for case, need, label in [("a", 5e6, "(a) join ≥ 5 M input rows/s at 1M rows"),
                              ("b", 3e6, "(b) join → map → select ≥ 3 M rows/s at 1M rows")]:
        got = [rate(results, case, m, 1_000_000) for m in ("actors", "sync")]
        got = [g for g in got if g]
        if got:
            best = max(g["median_rows_per_sec"] for g in got)
            text = ", ".join(f"{g['mode']} {g['median_rows_per_sec'] / 1e6:.2f} M/s" for g in got)
            lines.append(row(label, text, best >= need))
    for case, need, label in [("c-first", 3e5, "(c) first run ≥ 300 k packets/s (storing results)"),
                              ("c-cached", 2e6, "(c) cached re-run ≥ 2 M packets/s"),
                              ("d-first", 1e6, "(d) whole pipeline with persistence ≥ 1 M rows/s")]:
        got = [r for r in results if r["case"] == case]
        if got:
            largest = max(r["rows"] for r in got)
            got = [r for r in got if r["rows"] == largest]
            best = max(g["median_rows_per_sec"] for g in got)
            text = ", ".join(f"{g['mode']} {g['median_rows_per_sec'] / 1e3:.0f} k/s" for g in got)
            lines.append(row(label, f"at {largest:,} rows: {text}", best >= need))
    streaming = sorted((r for r in results if r["case"] == "e" and r["mode"] == "actors"),
                       key=lambda r: r["rows"])
    if streaming:
        peaks = ", ".join(f"{r['rows']:,} rows: {r['median_peak_mb']:.0f} MB" for r in streaming)
        flat = streaming[-1]["median_peak_mb"] <= 1.5 * streaming[0]["median_peak_mb"] + 16
        lines.append(row("(e) streaming peak memory < 256 MB at 10M rows, flat as N grows",
                         f"actors, {peaks}", streaming[-1]["median_peak_mb"] < 256 and flat))
    first = [r for r in results if r["case"] == "latency-first-pair"]
    if first:
        ms = first[0]["median_first_output_ms"]
        worst = [r for r in results if r["case"] == "latency-worst-pair"]
        extra = f" (worst of 50 pairs {worst[0]['median_first_output_ms']:.2f} ms)" if worst else ""
        lines.append(row("first output < 10 ms after the first matching pair (trickling join)",
                         f"{ms:.2f} ms{extra}", ms < 10))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Whole-process runs (examples/cli_bench, issue 15)


def cli_find(results, case, fmt, rows, tool):
    for r in results:
        if (r["case"], r["format"], r["rows"], r["tool"]) == (case, fmt, rows, tool):
            return r
    return None


def figure(r) -> str:
    """`time s / peak MB`, or why there is none."""
    if r is None:
        return "–"
    if r["median_secs"] is None:
        return r["status"].split(":")[0]
    peak = f"{r['median_peak_mb']:.0f} MB" if r["median_peak_mb"] is not None else "? MB"
    return f"{r['median_secs']:.2f} s / {peak}"


def ratio(a, b) -> str:
    if a is None or b is None or a["median_secs"] is None or b["median_secs"] is None:
        return "–"
    return f"{a['median_secs'] / b['median_secs']:.1f}×"


def verdict(met: bool | None) -> str:
    return "–" if met is None else ("met" if met else "**not met**")


def cli_targets(results) -> list[tuple[str, str, str]]:
    """(target, measured, verdict) for each target of issue 15 that has figures."""
    rows = []

    def ok(r):
        return r is not None and r["median_secs"] is not None

    f100 = cli_find(results, "f", "csv", 100_000, "orcapod")
    ref = cli_find(results, "f", "csv", 100_000, "reference")
    if f100 is not None:
        text, met = figure(f100), None
        if ok(f100):
            met = f100["median_peak_mb"] < 100
            if ok(ref):
                speedup = ref["median_secs"] / f100["median_secs"]
                text += f"; reference {ref['median_secs']:.2f} s, {speedup:.1f}× faster"
                met = met and speedup >= 30
        rows.append(("(f) 100k join: ≥ 30× faster than the reference's fastest path, "
                     "< 100 MB peak", text, verdict(met)))
    f1m = cli_find(results, "f", "csv", 1_000_000, "orcapod")
    if f1m is not None:
        met = ok(f1m) and f1m["median_secs"] <= 1.5 and f1m["median_peak_mb"] <= 400
        rows.append(("(f) 1M join: ≤ 1.5 s, ≤ 400 MB peak", figure(f1m), verdict(met)))
    f10m = cli_find(results, "f", "csv", 10_000_000, "orcapod")
    if f10m is not None:
        met = ok(f10m) and f10m["median_peak_mb"] <= 2500
        rows.append(("(f) 10M join: completes, ≤ 2.5 GB peak", figure(f10m), verdict(met)))
    for fmt in ("csv", "parquet"):
        g10 = cli_find(results, "g", fmt, 10_000_000, "orcapod")
        if g10 is None:
            continue
        g1 = cli_find(results, "g", fmt, 1_000_000, "orcapod")
        pol = cli_find(results, "g", fmt, 10_000_000, "polars")
        text, met = figure(g10), False
        if ok(g10):
            met = g10["median_peak_mb"] <= 500
            if ok(pol):
                text += f"; {g10['median_secs'] / pol['median_secs']:.1f}× polars"
                met = met and g10["median_secs"] <= 4 * pol["median_secs"]
            if ok(g1):
                text += f"; peak {g10['median_peak_mb'] / g1['median_peak_mb']:.2f}× the 1M peak"
                met = met and g10["median_peak_mb"] <= 1.5 * g1["median_peak_mb"]
        rows.append((f"(g) 10M chain from {fmt.upper() if fmt == 'csv' else 'Parquet'}: "
                     "≤ 4× polars's time, ≤ 500 MB peak, peak ≤ 1.5× the 1M peak",
                     text, verdict(met)))
    return rows


def cli_tables(doc) -> str:
    results = doc["results"]
    version = {r["tool"]: r["tool_version"] for r in results if r.get("tool_version")}
    lines = [
        f"Binary: {doc.get('label') or doc['binary']}"
        + (f" ({doc['binary_version']})" if doc.get("binary_version") else "")
        + f"; median of {doc['reps']} run{'s' if doc['reps'] != 1 else ''} per figure, "
        + "each a whole process with a fresh `--db`; "
        + "time is wall time, peak is the process's peak RSS (GNU time)."
        + (f" Anchors: {version['polars']}" if "polars" in version else "")
        + (f", reference orcapod {version['reference'].split()[-1]} (PyPI)."
           if "reference" in version else "."),
    ]
    targets = cli_targets(results)
    if targets:
        lines += ["", "| target (issue 15) | measured | verdict |", "|---|---|---|"]
        lines += [f"| {t} | {m} | {v} |" for t, m, v in targets]
    for case, title in (("f", "(f) join of `left.csv` ⋈ `right.csv` on `k`, `--out --format arrow`"),
                        ("g", "(g) select → map → filter `value < 500`, `--out --format csv`")):
        mine = [r for r in results if r["case"] == case]
        if not mine:
            continue
        with_ref = any(r["tool"] == "reference" for r in mine)
        head = ["source", "rows", "out rows", "orcapod (time / peak)", "polars",
                "orcapod time / polars"]
        if with_ref:
            head += ["reference", "reference time / orcapod"]
        lines += ["", title, "", "| " + " | ".join(head) + " |",
                  "|---|---:|---:|---|---|---:|" + ("---|---:|" if with_ref else "")]
        keys = sorted({(r["format"], r["rows"]) for r in mine}, key=lambda k: (k[0] != "csv", k))
        for fmt, n in keys:
            o, p, ref = (cli_find(results, case, fmt, n, t) for t in ("orcapod", "polars", "reference"))
            out = (o or {}).get("output_rows") or (p or {}).get("output_rows")
            cells = [fmt, human(n), f"{out:,}" if out is not None else "–", figure(o),
                     figure(p), ratio(o, p)]
            if with_ref:
                cells += [figure(ref), ratio(ref, o)]
            lines.append("| " + " | ".join(cells) + " |")
        inner = [r for r in mine if r["tool"] == "reference" and r.get("median_inner_secs")]
        for r in inner:
            lines.append(f"\nThe reference's `Join` + `as_table` itself took "
                         f"{r['median_inner_secs']:.2f} s of its {r['median_secs']:.2f} s at "
                         f"{human(r['rows'])} rows; the rest is starting Python, importing "
                         f"orcapod, reading the CSVs and building the sources.")
    problems = [r for r in results if r["status"] != "ok" and r["case"] in ("f", "g")]
    if problems:
        lines.append("")
        lines += [f"- {r['case']} {r['format']} {human(r['rows'])} {r['tool']}: {r['status']}"
                  for r in problems]
    if doc.get("notes"):
        lines.append("")
        lines += [f"- {n}" for n in doc["notes"]]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------
# The function pipeline of issue 16 (examples/cli_bench case h)


def store(r, key="db_bytes_per_packet") -> str:
    """`1,259 B/packet (1.26 GB)`, or – when the run left no measurement."""
    if r is None or r.get(key) is None:
        return "–"
    total = r.get("median_db_bytes") or 0
    return f"{r[key]:,.0f} B/packet ({total / 1e9:.2f} GB)"


def counts(r) -> str:
    if r is None or not r.get("function_computed"):
        return "–"
    return f"{r['function_computed'][0]:,} / {r['function_cached'][0]:,}"


def function_targets(results) -> list[tuple[str, str, str]]:
    """(target, measured, verdict) for the whole-process targets of issue 16: at 10M
    packets when measured there (else at the largest size measured, without a verdict)."""
    sizes = sorted({r["rows"] for r in results if r["case"] in ("h-first", "h-rerun")})
    if not sizes:
        return []
    n = 10_000_000 if 10_000_000 in sizes else sizes[-1]
    at = f"at {human(n)}" + ("" if n == 10_000_000 else " (the targets are at 10M)")
    first = cli_find(results, "h-first", "csv", n, "orcapod")
    rerun = cli_find(results, "h-rerun", "csv", n, "orcapod")

    def ok(r):
        return r is not None and r["median_secs"] is not None

    def judged(met):
        return verdict(met if n == 10_000_000 else None)

    rows = [
        ("(h) first run ≤ 40 s", f"{at}: {figure(first)}",
         judged(ok(first) and first["median_secs"] <= 40)),
        ("(h) re-run (all cached) ≤ 8 s", f"{at}: {figure(rerun)}",
         judged(ok(rerun) and rerun["median_secs"] <= 8)),
        ("(h) peak ≤ 1 GB (first run and re-run)",
         f"{at}: first {figure(first)}, re-run {figure(rerun)}",
         judged(ok(first) and ok(rerun)
                and max(first["median_peak_mb"], rerun["median_peak_mb"]) <= 1024)),
    ]
    small = cli_find(results, "h-first", "csv", 1_000_000, "orcapod")
    small_re = cli_find(results, "h-rerun", "csv", 1_000_000, "orcapod")
    if n == 10_000_000 and small is not None:
        text, met = "–", False
        if all(ok(r) for r in (first, rerun, small, small_re)):
            big = max(first["median_peak_mb"], rerun["median_peak_mb"])
            little = max(small["median_peak_mb"], small_re["median_peak_mb"])
            text, met = f"{big:.0f} MB at 10M, {little:.0f} MB at 1M: {big / little:.2f}×", \
                big <= 1.5 * little
        elif not ok(first) or not ok(rerun):
            text = f"10M: {figure(first if not ok(first) else rerun)}"
        rows.append(("(h) peak at 10M within 1.5× of the peak at 1M", text, verdict(met)))
    per_first = (first or {}).get("db_bytes_per_packet")
    per_rerun = (rerun or {}).get("db_bytes_per_packet")
    text = (f"{at}: after the first run {store(first)}, after the re-run {store(rerun)}"
            if per_first is not None else f"{at}: {figure(first)}")
    rows.append(("(h) store ≤ 100 bytes per packet on disk (every file of the database, "
                 "sled's own included)", text,
                 judged(per_first is not None and per_rerun is not None
                        and max(per_first, per_rerun) <= 100)))
    if per_first is not None and per_rerun is not None:
        growth = per_rerun - per_first
        reruns = rerun.get("reruns", 1)
        met = judged(growth < 1) if reruns >= 10 else "– (needs `--function-reruns 10`)"
        rows.append(("(h) store does not grow when the pipeline is re-run ten times "
                     "(met when it grows by less than 1 byte per packet)",
                     f"{at}: {growth:+,.1f} bytes per packet after {reruns} "
                     f"re-run{'s' if reruns != 1 else ''}", met))
    return rows


def function_tables(doc) -> str:
    results = [r for r in doc["results"] if r["case"] in ("h-first", "h-rerun")]
    reruns = max((r.get("reruns", 1) for r in results if r["case"] == "h-rerun"), default=1)
    lines = [
        f"Binary: {doc.get('label') or doc['binary']}"
        + (f" ({doc['binary_version']})" if doc.get("binary_version") else "")
        + f"; median of {doc['reps']} run{'s' if doc['reps'] != 1 else ''} per figure, "
        + "each repetition a first run on a fresh `--db`, then "
        + (f"{reruns} re-runs on it (the re-run figures are medians over all of them); "
           if reruns > 1 else "a re-run on it; ")
        + "time is "
        + "wall time, peak is the process's peak RSS (GNU time); the store is every file "
        + "under the `--db` directory (sled's own included), measured after the first run "
        + "and after the last re-run.",
    ]
    if not results:
        return lines[0] + "\n\nCase (h) was not run.\n"
    lines += ["", "| target (issue 16, whole process) | measured | verdict |", "|---|---|---|"]
    lines += [f"| {t} | {m} | {v} |" for t, m, v in function_targets(results)]
    lines += ["", "(h) `scores.csv` → `map_packets {x: score}` → `letter_grade`, "
              "`--out --format arrow`", "",
              "| packets | out rows | first run (time / peak) | store after it | "
              "re-run (time / peak) | store after it | computed / cached (first; re-run) |",
              "|---:|---:|---|---|---|---|---|"]
    for n in sorted({r["rows"] for r in results}):
        first = cli_find(results, "h-first", "csv", n, "orcapod")
        rerun = cli_find(results, "h-rerun", "csv", n, "orcapod")
        out = (first or {}).get("output_rows") or (rerun or {}).get("output_rows")
        lines.append("| " + " | ".join([
            human(n), f"{out:,}" if out is not None else "–", figure(first), store(first),
            figure(rerun), store(rerun), f"{counts(first)}; {counts(rerun)}"]) + " |")
    problems = [f"- {r['case']} {human(r['rows'])}: {r['status']}"
                for r in results if r["status"] != "ok"]
    problems += [f"- h-rerun {human(r['rows'])}: a re-run computed packets "
                 f"({', '.join(map(str, r['function_computed']))}): not everything was cached"
                 for r in results
                 if r["case"] == "h-rerun" and any(c > 0 for c in r.get("function_computed", []))]
    if problems:
        lines += [""] + problems
    return "\n".join(lines) + "\n"


def splice(text: str, name: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- begin: {name} -->\n).*?(<!-- end: {name} -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"BENCHMARKS.md has no markers for {name}")
    return pattern.sub(lambda m: m.group(1) + body.rstrip() + "\n" + m.group(2), text)


def main():
    doc = ROOT / "BENCHMARKS.md"
    text = doc.read_text()
    results = json.loads((RESULTS / "pipeline.json").read_text())["results"]
    text = splice(text, "machine", machine())
    text = splice(text, "targets", verdicts(results))
    text = splice(text, "pipeline", (RESULTS / "pipeline.md").read_text())
    reference = RESULTS / "reference.md"
    if reference.exists():
        text = splice(text, "reference", reference.read_text())
    for name, path, missing in (
        ("cli", RESULTS / "cli.json",
         "Not measured since the engine work began: run `bench/run.sh --cli`."),
        ("cli-before", RESULTS / "cli-before.json", "Not measured."),
    ):
        if f"<!-- begin: {name} -->" in text:
            body = cli_tables(json.loads(path.read_text())) if path.exists() else missing
            text = splice(text, name, body)
    for name, path, missing in (
        ("function", RESULTS / "function.json",
         "Not measured since the engine work of issue 16 began: run "
         "`bench/run.sh --function`."),
        ("function-before", RESULTS / "function-before.json", "Not measured."),
    ):
        if f"<!-- begin: {name} -->" in text:
            body = function_tables(json.loads(path.read_text())) if path.exists() else missing
            text = splice(text, name, body)
    doc.write_text(text)
    print(f"updated {doc}")


if __name__ == "__main__":
    main()
