#!/usr/bin/env python3
"""Runs workloads (a), (b) and (c) of `examples/pipeline_bench.rs` with the reference
Python library (`orcapod` from PyPI) on the same generated data, and prints the
throughputs side by side with orcapod-rs.

    python3 bench/compare_reference.py [--sizes 10k,100k,1M] [--cases a,b,c]
                                       [--reps 3] [--timeout 300]

What it does, from a clean checkout:
1. creates a virtual environment (default `target/bench-venv`) and installs
   `orcapod==<--reference-version>` from PyPI into it (once);
2. writes the generated sources as CSV with
   `cargo run --release --example pipeline_bench -- --write-data DIR --sizes ...`;
3. runs orcapod-rs on the same workloads
   (`pipeline_bench --cases a,b,c --json ...`, actors and sync modes);
4. runs each reference workload `--reps` times, each in its own process killed after
   `--timeout` seconds (a size the reference cannot finish in time is reported as such and
   larger sizes of that case are skipped);
5. prints rows per second (medians) and the ratios, and writes them as JSON
   (`--json`, default `target/bench-compare.json`).

Workloads (input rows per second; packets for (c)), timed after the sources are built:
  a  Join()(left, right) materialised with as_table()
  b  SelectDataColumns(["value", "y"])(MapData({"x": "value"})(Join()(left, right)))
  c  a function pod x -> x + 1 over `numbers` with a DeltaTableDatabase in a temporary
     directory (the reference's on-disk store): first run, then a re-run (all cached)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VERSION = "0.1.4"


def parse_size(s: str) -> int:
    s = s.strip()
    scale = {"k": 1_000, "K": 1_000, "M": 1_000_000, "m": 1_000_000}.get(s[-1:], 1)
    return int(s[:-1] if scale != 1 else s) * scale


def human(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1_000 and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


# ---------------------------------------------------------------------------------------
# Worker: one reference workload in this process (run inside the venv)


def worker(case: str, data: Path) -> dict:
    import pyarrow.csv as pacsv

    from orcapod import function_pod
    from orcapod.databases import DeltaTableDatabase
    from orcapod.operators import Join, MapData, SelectDataColumns
    from orcapod.sources import ArrowTableSource

    def load(name: str, source_id: str) -> ArrowTableSource:
        table = pacsv.read_csv(data / f"{name}.csv")
        return ArrowTableSource(
            table, tag_columns=["id"], source_id=source_id, infer_nullable=True
        )

    if case in ("a", "b"):
        left, right = load("left", "left"), load("right", "right")
        rows_in = left.as_table().num_rows + right.as_table().num_rows
        start = time.perf_counter()
        stream = Join()(left, right)
        if case == "b":
            stream = SelectDataColumns(["value", "y"])(MapData({"x": "value"})(stream))
        rows_out = stream.as_table().num_rows
        return {"secs": time.perf_counter() - start, "rows_in": rows_in, "rows_out": rows_out}

    if case in ("c-first", "c-cached"):
        numbers = load("numbers", "numbers")
        rows_in = numbers.as_table().num_rows
        with tempfile.TemporaryDirectory() as tmp:
            database = DeltaTableDatabase(tmp)

            @function_pod(output_keys="y", result_database=database)
            def plus_one(x: int) -> int:
                return x + 1

            def run() -> tuple[float, int]:
                start = time.perf_counter()
                rows = plus_one.pod(numbers).as_table().num_rows
                return time.perf_counter() - start, rows

            secs, rows_out = run()
            if case == "c-cached":
                secs, rows_out = run()
        return {"secs": secs, "rows_in": rows_in, "rows_out": rows_out}

    raise SystemExit(f"unknown case {case}")


# ---------------------------------------------------------------------------------------
# Driver


def ensure_venv(venv: Path, version: str) -> Path:
    python = venv / "bin" / "python"
    marker = venv / f".orcapod-{version}"
    if not marker.exists():
        print(f"creating {venv} with orcapod=={version} from PyPI", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", f"orcapod=={version}"],
            check=True,
        )
        marker.touch()
    return python


def cargo_example(args: list[str]) -> None:
    subprocess.run(
        ["cargo", "run", "--quiet", "--release", "--example", "pipeline_bench", "--", *args],
        cwd=ROOT,
        check=True,
    )


def run_reference(python: Path, case: str, data: Path, timeout: float) -> dict | None:
    try:
        out = subprocess.run(
            [str(python), __file__, "--worker", case, str(data)],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return None
    if out.returncode != 0:
        raise RuntimeError(f"reference {case} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        print(json.dumps(worker(sys.argv[2], Path(sys.argv[3]))))
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="10k,100k,1M")
    p.add_argument("--cases", default="a,b,c")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per reference run")
    p.add_argument("--reference-version", default=DEFAULT_VERSION)
    p.add_argument("--venv", type=Path, default=ROOT / "target" / "bench-venv")
    p.add_argument("--data", type=Path, default=ROOT / "target" / "bench-data")
    p.add_argument("--rust-json", type=Path, help="reuse pipeline_bench results instead of running it")
    p.add_argument("--json", type=Path, default=ROOT / "target" / "bench-compare.json")
    p.add_argument("--markdown", type=Path, help="also write the table as Markdown")
    args = p.parse_args()

    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    python = ensure_venv(args.venv, args.reference_version)
    version = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('orcapod'))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()

    size_list = ",".join(str(n) for n in sizes)
    cargo_example(["--write-data", str(args.data), "--sizes", size_list])
    labels = []
    for case in cases:
        labels += ["c-first", "c-cached"] if case == "c" else [case]
    reference: dict[tuple[str, int], float | None] = {}
    # Why a size has no reference figure: "timeout" (it ran out of time) or "skipped"
    # (a smaller size already had).
    missing: dict[tuple[str, int], str] = {}
    for label in labels:
        gave_up = False
        for n in sizes:
            if gave_up:
                reference[(label, n)] = None
                missing[(label, n)] = "skipped"
                continue
            rates = []
            for rep in range(args.reps):
                print(f"reference {label} {human(n)} (run {rep + 1}/{args.reps})", file=sys.stderr)
                r = run_reference(python, label, args.data / str(n), args.timeout)
                if r is None:
                    print(f"  timed out after {args.timeout:.0f}s", file=sys.stderr)
                    gave_up = True
                    missing[(label, n)] = "timeout"
                    break
                rates.append(r["rows_in"] / r["secs"])
            reference[(label, n)] = statistics.median(rates) if rates and not gave_up else None

    # orcapod-rs on the same data (after the reference, so neither disturbs the other).
    rust_json = args.rust_json
    if rust_json is None:
        rust_json = args.data / "rust.json"
        cargo_example([
            "--cases", ",".join(cases), "--sizes", size_list, "--modes", "actors,sync",
            "--reps", str(args.reps), "--json", str(rust_json),
        ])
    rust = {}
    for r in json.loads(rust_json.read_text())["results"]:
        rust[(r["case"], r["mode"], r["rows"])] = r["median_rows_per_sec"]

    print()
    print(f"reference: orcapod {version} (PyPI); medians of {args.reps} runs; rows/s (packets/s for c)")
    header = f"{'case':<9} {'rows':>5} {'rust actors':>12} {'rust sync':>12} {'reference':>12} {'actors/ref':>10} {'sync/ref':>9}"
    print(header)
    print("-" * len(header))
    table = []
    md = [
        f"orcapod-rs against the reference, orcapod {version} from PyPI; medians of {args.reps} "
        f"runs; input rows/s (packets/s for c); a reference run is stopped after "
        f"{args.timeout:.0f} s.\n",
        "| case | rows | rust actors | rust sync | reference | actors / reference | sync / reference |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label in labels:
        for n in sizes:
            a = rust.get((label, "actors", n))
            s = rust.get((label, "sync", n))
            ref = reference.get((label, n))
            why = {
                "timeout": f"did not finish in {args.timeout:.0f} s",
                "skipped": "not run (a smaller size did not finish)",
            }.get(missing.get((label, n), ""), "—")
            fmt = lambda v: f"{v:>12,.0f}" if v else f"{'—':>12}"
            ratio = lambda v: f"{v / ref:>9.1f}x" if v and ref else f"{'—':>10}"
            md.append(
                f"| {label} | {human(n)} | {fmt(a).strip()} | {fmt(s).strip()} | "
                f"{fmt(ref).strip() if ref else why} | {ratio(a).strip()} | {ratio(s).strip()} |"
            )
            ref_s = fmt(ref) if ref else f"{missing.get((label, n), '—'):>12}"
            print(f"{label:<9} {human(n):>5} {fmt(a)} {fmt(s)} {ref_s} {ratio(a)} {ratio(s):>9}")
            table.append({"case": label, "rows": n, "rust_actors": a, "rust_sync": s,
                          "reference": ref, "reference_missing": missing.get((label, n))})
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"reference_version": version, "results": table}, indent=2))
    print(f"\nwrote {args.json}", file=sys.stderr)
    if args.markdown:
        args.markdown.write_text("\n".join(md) + "\n")
        print(f"wrote {args.markdown}", file=sys.stderr)


if __name__ == "__main__":
    main()
