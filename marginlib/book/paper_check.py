"""``make paper-check``: every section's paper profile, cut to a dry run, executed end to end, with its cost.

Each section's ``dry_run:`` block (``notebooks/params/<stem>.yaml``) cuts only sizes and lengths of its paper preset
(:func:`marginlib.book.params.dry_run_problems` refuses anything else), so the dry run executes every code path
of the paper profile on the offline data or the labelled CIFAR stand-in. Its record
(``results/<stem>/paper-dryrun.json``) carries ``metrics.paper_estimate``: the full paper profile's wall time on
the device it ran on, scaled from the measured work units (:mod:`marginlib.cost`). The summary of all sections
goes to ``book/data/paper_check.json``; the "Reproducing this book" appendix tables it.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import pathlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from marginlib.book import params as nb_params
from marginlib.book import results

#: seconds one section's dry run may take on 2 CPU cores
LIMIT_S = 90


def summary_path(root: pathlib.Path | None = None) -> pathlib.Path:
    return (root or results.repo_root()) / "book" / "data" / "paper_check.json"


def run(notebooks: Iterable[str], *, limit: float = LIMIT_S, strict: bool = False, timeout: int = 1800,
        executor: str = "local", slurm: Mapping[str, Any] | str | os.PathLike | None = None,
        log: Callable[[str], None] = print) -> dict[str, Any]:
    """Dry-run each notebook at the paper profile; return (and write) the summary. Raises ``RuntimeError`` naming
    every section whose dry run failed or whose ``dry_run:`` block is not a cut; a section that took over ``limit``
    seconds is marked ``over_limit`` in the summary and reported (an error too with ``strict``). The summary keeps
    every section that did run. On another ``executor`` than ``local`` the dry runs are submitted together
    (:func:`marginlib.book.build.execute_elsewhere`), and each is timed, and its cost estimated, on its worker."""
    from marginlib.book import build

    stems = [nb_params.find(nb).stem for nb in notebooks]
    problems = [p for stem in stems for p in nb_params.dry_run_problems(nb_params.spec(stem))]
    if problems:
        raise ValueError("dry_run: blocks that are not cuts of the paper preset:\n  " + "\n  ".join(problems))
    calls = [{"notebook": stem, "profile": "paper", "dry_run": True, "timeout": timeout} for stem in stems]
    if executor == "local":
        outcomes = []
        for options in calls:
            log(f"== dry run of {options['notebook']} (paper profile, sizes cut)")
            outcomes.append(build.execute_task(results=str(results.results_dir()), options=options))
    else:
        log(f"== dry runs of {len(stems)} section(s) (paper profile, sizes cut) on {executor}")
        outcomes = build.execute_elsewhere(calls, executor=executor, slurm=slurm)
    path = summary_path()
    old = json.loads(path.read_text()) if path.is_file() else {}
    sections = dict(old.get("sections", {}))
    failures = []
    for stem, outcome in zip(stems, outcomes):
        if outcome["error"]:
            failures.append(f"{stem}: the dry run failed ({outcome['error']})")
            log(f"   FAILED: {failures[-1]}")
            continue
        seconds = outcome["seconds"]
        record = results.load(stem, "paper", dry_run=True)
        sections[stem] = entry(record, seconds)
        log(f"   {stem}: {seconds:.1f} s; estimated full paper profile {sections[stem]['estimate_hours']:.1f} h "
            f"on {sections[stem]['device']}")
        sections[stem]["over_limit"] = seconds > limit
        if seconds > limit:
            log(f"   OVER the {limit:.0f} s limit")
            if strict:
                failures.append(f"{stem}: the dry run took {seconds:.0f} s, over the {limit:.0f} s limit")
    summary = {"limit_seconds": limit, "date": _dt.date.today().isoformat(), "sections": sections}
    results.write_json(path, summary)
    if failures:
        raise RuntimeError("paper-check failed:\n  " + "\n  ".join(failures))
    return summary


def entry(record: Mapping[str, Any], seconds: float) -> dict[str, Any]:
    """One section's line of the summary, from its dry run's record and wall time."""
    est = record["metrics"]["paper_estimate"]
    env = record["environment"]
    return {"seconds": round(seconds, 1), "estimate_seconds": round(est["seconds"]),
            "estimate_hours": round(est["seconds"] / 3600, 2), "device": est["device"], "threads": env.get("threads"),
            "commit": env.get("git commit"), "started": record["started"], "units": est["units"]}


def table_rows(summary: Mapping[str, Any] | None, stems: Iterable[str]) -> list[tuple[str, ...]]:
    """The appendix table: per section the dry run's seconds, the estimated full paper run in hours, the device
    and the date; "—" for a section without a dry run in the summary."""
    limit = (summary or {}).get("limit_seconds", LIMIT_S)
    rows: list[tuple[str, ...]] = [("section", "dry run (s)", f"within {limit:.0f} s", "paper profile, estimated (h)",
                                    "device", "measured")]
    sections = (summary or {}).get("sections", {})
    for stem in stems:
        e = sections.get(stem)
        if e is None:
            rows.append((stem, "—", "—", "—", "—", "—"))
        else:
            rows.append((stem, f"{e['seconds']:.0f}", "no" if e.get("over_limit") else "yes",
                         f"{e['estimate_hours']:.1f}", str(e["device"]), str(e["started"])[:10]))
    return rows
