#!/usr/bin/env python3
"""The anchors of the whole-process benchmark (`examples/cli_bench`): the same work as
`orcapod run` on the same generated files, done by polars and by the reference Python
orcapod. `cli_bench` runs each as a whole process under GNU time (wall time, peak RSS),
with the Python of the benchmark virtual environment (`--python target/bench-venv/bin/python`,
created by bench/run.sh). Each prints one JSON line: what it did and its in-process time.

    cli_anchors.py polars-join LEFT.csv RIGHT.csv OUT.arrow   # (f), streaming, sink_ipc
    cli_anchors.py polars-chain SRC.csv|SRC.parquet OUT.csv   # (g), streaming, sink_csv
    cli_anchors.py reference-join LEFT.csv RIGHT.csv          # (f), eager Join + as_table
"""

import json
import sys
import time


def polars_join(left, right, out):
    import polars as pl

    start = time.perf_counter()
    pl.scan_csv(left).join(pl.scan_csv(right), on="k", how="inner").sink_ipc(out)
    return {"tool": f"polars {pl.__version__}", "inner_secs": time.perf_counter() - start}


def polars_chain(src, out):
    import polars as pl

    start = time.perf_counter()
    scan = pl.scan_parquet(src) if src.endswith(".parquet") else pl.scan_csv(src)
    (
        scan.select(["id", "x", "s"])
        .rename({"x": "value"})
        .filter(pl.col("value") < 500)
        .sink_csv(out)
    )
    return {"tool": f"polars {pl.__version__}", "inner_secs": time.perf_counter() - start}


def reference_join(left, right):
    """The reference's fastest path for a join (issue 15): sources from tables read
    eagerly with pyarrow, `Join()` and `as_table()`."""
    import importlib.metadata

    import pyarrow.csv as pacsv
    from orcapod.operators import Join
    from orcapod.sources import ArrowTableSource

    start = time.perf_counter()
    sources = [
        ArrowTableSource(pacsv.read_csv(path), tag_columns=["k"], source_id=name,
                         infer_nullable=True)
        for name, path in (("left", left), ("right", right))
    ]
    loaded = time.perf_counter()
    rows = Join()(*sources).as_table().num_rows
    end = time.perf_counter()
    return {
        "tool": f"orcapod {importlib.metadata.version('orcapod')}",
        "rows": rows,
        "load_secs": loaded - start,
        "inner_secs": end - loaded,
    }


def main():
    what, *args = sys.argv[1:]
    work = {"polars-join": polars_join, "polars-chain": polars_chain,
            "reference-join": reference_join}.get(what)
    if work is None:
        raise SystemExit(__doc__)
    print(json.dumps(work(*args)))


if __name__ == "__main__":
    main()
