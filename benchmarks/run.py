"""Run every ``benchmarks/bench_*.py`` and print one table of measured ratios against their targets.

Each benchmark module defines ``run() -> list[dict]`` with rows
``{"name", "ratio", "target", "better": "lower"|"higher", "detail"}``; ratios are measured in one run
on the same model and batch. The table is also written to ``results/bench/bench.json`` and, for the book's
benchmark appendix, to ``book/data/benchmarks.csv`` (committed: the measurement of record, with its machine).
"""
from __future__ import annotations

import csv
import datetime
import importlib
import json
import os
import pathlib
import platform
import sys

import torch

HERE = pathlib.Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    sys.path.insert(0, str(HERE.parent))
    # Ratios are measured single-threaded: with intra-op threads they swing with whatever else the machine runs.
    torch.set_num_threads(1)
    torch.manual_seed(0)
    rows = []
    for path in sorted(HERE.glob("bench_*.py")):
        if argv and not any(a in path.stem for a in argv):
            continue
        module = importlib.import_module(f"benchmarks.{path.stem}")
        for row in module.run():
            if row["target"] is None:  # informational row: printed, not judged
                ok = True
            elif row["better"] == "lower":
                ok = row["ratio"] <= row["target"]
            else:
                ok = row["ratio"] >= row["target"]
            rows.append({**row, "module": path.stem, "ok": bool(ok)})
    width = max((len(r["name"]) for r in rows), default=10)
    print(f"{'benchmark':<{width}}  {'ratio':>8}  {'target':>10}  ok   detail")
    for r in rows:
        sign = "<=" if r["better"] == "lower" else ">="
        target = "-" if r["target"] is None else sign + format(r["target"], ".2f")
        met = "yes" if r["ok"] else "NO "
        print(f"{r['name']:<{width}}  {r['ratio']:>8.3f}  {target:>10}  {met:<4} {r.get('detail', '')}")
    out = HERE.parent / "results" / "bench" / "bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "rows": rows}, indent=2))
    tmp.replace(out)
    print(f"wrote {out.relative_to(HERE.parent)}")
    if not argv:  # only a full run replaces the book's table
        table = HERE.parent / "book" / "data" / "benchmarks.csv"
        machine = f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, 1 thread"
        day = datetime.date.today().isoformat()
        with open(table.with_suffix(".tmp"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["benchmark", "ratio", "target", "met", "detail", "machine", "date"])
            for r in rows:
                sign = "<= " if r["better"] == "lower" else ">= "
                target = "—" if r["target"] is None else sign + f"{r['target']:g}"
                met = "yes" if r["ok"] else "no"
                w.writerow([r["name"], f"{r['ratio']:.2f}", target, met, r.get("detail", ""), machine, day])
        table.with_suffix(".tmp").replace(table)
        print(f"wrote {table.relative_to(HERE.parent)}")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
