"""Sections run at several seeds: the measurement of record behind "holds on k of n seeds".

``python -m marginlib seeds NOTEBOOK... --profile demo --seeds 0 1 2 3 4 --jobs 2`` (``make seeds``: every
section) runs each section once per seed, overriding only its ``seed`` parameter, and writes
``book/data/seeds/<stem>.json``:

- ``claims``: per claim, the paper statement it tests and the seeds where it holds and where it fails;
- ``metrics``: per headline number (the section module's ``headline(metrics)``), the per-seed values, mean and
  sample standard deviation;
- ``code``: the fingerprint of the code the runs executed (:func:`marginlib.book.results.code_digest` over the
  library files they loaded); with ``environment`` (machine, python, torch, commit) and ``date``.

Runs are resumable: a seed whose record exists, was run at the preset with that seed, and whose code fingerprint
still matches the checkout is not rerun (the profile's own record counts for the preset's seed). A summary is
**stale** when its fingerprint, recomputed now over the same files, differs: the code that produced it changed,
so its hold rates no longer describe this code (:func:`stale`; ``tests/book/test_seeds.py`` fails on it).
"""
from __future__ import annotations

import concurrent.futures
import datetime as _dt
import json
import math
import os
import pathlib
import platform
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from marginlib import papers, validate
from marginlib.book import params as nb_params
from marginlib.book import results
from marginlib.book.params import THREADS_ENV


def seeds_dir(root: pathlib.Path | None = None) -> pathlib.Path:
    """``<repo root>/book/data/seeds``."""
    return (root or results.repo_root()) / "book" / "data" / "seeds"


def summary_path(stem: str, root: pathlib.Path | None = None) -> pathlib.Path:
    return seeds_dir(root) / f"{stem}.json"


def seed_record_path(stem: str, profile: str, seed: int) -> pathlib.Path:
    """Where the run of ``stem`` at ``profile`` with ``seed`` keeps its record: the profile's own record when
    ``seed`` is the preset's, else ``<profile>@seed=<seed>.json``."""
    preset = nb_params.spec(stem).profile(profile)
    if "seed" not in preset:
        raise ValueError(f"notebook {stem!r} has no 'seed' parameter, so it cannot be run at several seeds")
    tag = None if preset["seed"] == seed else results.override_tag({"seed": seed})
    return results.record_path(stem, profile, tag=tag)


def is_current(record: Mapping[str, Any]) -> bool:
    """Whether a record's code fingerprint still matches the checkout (same files, same contents)."""
    code = record.get("environment", {}).get("code") or {}
    files = code.get("files") or []
    return bool(files) and code.get("digest") == results.code_digest(
        record["notebook"], files, profile=record["profile"], dry_run=bool(record.get("dry_run")))


def _usable(stem: str, profile: str, seed: int) -> dict[str, Any] | None:
    """The record of this seed's run if it exists, is well formed, ran the preset with this seed and is current."""
    path = seed_record_path(stem, profile, seed)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if results.record_problems(record, notebook=stem, profile=profile):
        return None
    expected = results.jsonable(nb_params.resolve(stem, profile, {"seed": seed}))
    if record["params"] != expected or not is_current(record):
        return None
    return record


def _run_one(stem: str, profile: str, seed: int, *, threads: int, timeout: int) -> tuple[str, int, int, str]:
    env = {**os.environ, THREADS_ENV: str(threads)}
    cmd = [sys.executable, "-m", "marginlib", "run", stem, "--profile", profile, "-p", "seed", str(seed), "--quiet",
           "--timeout", str(timeout)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=results.repo_root())
    return stem, seed, done.returncode, (done.stdout + done.stderr)[-2000:]


def run(notebooks: Sequence[str], *, profile: str, seeds: Sequence[int], jobs: int = 1, timeout: int = 1800,
        log: Any = print) -> list[pathlib.Path]:
    """Run every (notebook, seed) not already recorded and current, ``jobs`` at a time (each with
    ``cpu_count // jobs`` torch threads), then write each notebook's summary; returns the summary paths.

    A failed run is reported and its notebook gets no summary (the others still do); raises ``RuntimeError``
    at the end if any run failed.
    """
    validate.choice("profile", profile, results.PROFILES)
    validate.positive("jobs", jobs)
    if len(set(seeds)) != len(seeds) or not seeds:
        raise ValueError(f"seeds={list(seeds)}: give one or more distinct seeds")
    stems = [nb_params.find(n).stem for n in notebooks]
    todo = [(stem, seed) for stem in stems for seed in seeds if _usable(stem, profile, seed) is None]
    log(f"{len(stems) * len(seeds) - len(todo)} of {len(stems) * len(seeds)} runs already recorded and current; "
        f"running {len(todo)}, {jobs} at a time")
    threads = max(1, (os.cpu_count() or 1) // jobs)
    failed: dict[str, str] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(_run_one, stem, profile, seed, threads=threads, timeout=timeout) for stem, seed in todo]
        for future in concurrent.futures.as_completed(futures):
            stem, seed, rc, tail = future.result()
            log(f"{'ok  ' if rc == 0 else 'FAIL'} {stem} seed {seed}")
            if rc != 0:
                failed[f"{stem} seed {seed}"] = tail
    written = []
    for stem in stems:
        if any(key.startswith(f"{stem} ") for key in failed):
            continue
        written.append(results.write_json(summary_path(stem), summarize(stem, profile, seeds)))
        log(f"wrote {written[-1]}")
    if failed:
        raise RuntimeError("seed runs failed:\n" + "\n".join(f"--- {k}\n{v}" for k, v in failed.items()))
    return written


def _spread(values: Sequence[float]) -> dict[str, Any]:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    mean = sum(finite) / len(finite) if finite else None
    std = (math.sqrt(sum((v - mean) ** 2 for v in finite) / (len(finite) - 1))
           if mean is not None and len(finite) > 1 else None)
    return {"values": list(values), "mean": mean, "std": std}


def summarize(stem: str, profile: str, seeds: Sequence[int]) -> dict[str, Any]:
    """The seeds summary of ``stem`` from its current records at ``seeds`` (every one must exist and be current,
    and all must share one code fingerprint)."""
    records = {}
    for seed in seeds:
        record = _usable(stem, profile, seed)
        if record is None:
            raise RuntimeError(f"{stem}: no current record of seed {seed} at {seed_record_path(stem, profile, seed)}; "
                               f"run: python -m marginlib seeds {stem} --profile {profile} --seeds {seed}")
        records[seed] = record
    codes = {json.dumps(r["environment"]["code"], sort_keys=True) for r in records.values()}
    if len(codes) != 1:
        raise RuntimeError(f"{stem}: the seed runs loaded different library files; rerun them together")
    section = papers.section(stem)
    names = list(dict.fromkeys(name for r in records.values() for name in r["claims"]))
    claims = {}
    for name in names:
        held = {seed: r["claims"].get(name, {}).get("holds") for seed, r in records.items()}
        first = next(r["claims"][name] for r in records.values() if name in r["claims"])
        claims[name] = {"paper": first.get("paper", ""),
                        "holds_on": [s for s, h in held.items() if h is True],
                        "fails_on": [s for s, h in held.items() if h is not True],
                        "detail": {str(s): r["claims"].get(name, {}).get("detail", "") for s, r in records.items()}}
    heads = {seed: section.headline(r["metrics"]) for seed, r in records.items()}
    metrics = {name: _spread([heads[seed].get(name) for seed in seeds]) for name in dict.fromkeys(
        n for h in heads.values() for n in h)}
    last = records[seeds[0]]
    return {
        "notebook": stem, "profile": profile, "seeds": list(seeds),
        "code": last["environment"]["code"],
        "environment": {"machine": f"{platform.machine()} {platform.system()}, {os.cpu_count()} cores",
                        "device": last["environment"].get("device"), "python": last["environment"].get("python"),
                        "torch": last["environment"].get("torch"), "git commit": last["environment"].get("git commit"),
                        "git dirty": last["environment"].get("git dirty")},
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "claims": claims,
        "metrics": metrics,
        "runs": {str(s): {"seconds": r["seconds"], "started": r["started"]} for s, r in records.items()},
    }


def load(stem: str, *, root: pathlib.Path | None = None) -> dict[str, Any] | None:
    """The seeds summary of ``stem``, or None when it has none."""
    path = summary_path(stem, root)
    return json.loads(path.read_text()) if path.is_file() else None


def stale(summary: Mapping[str, Any]) -> bool:
    """Whether the code behind a summary changed since its runs (its fingerprint no longer matches)."""
    code = summary.get("code") or {}
    return not code.get("files") or code.get("digest") != results.code_digest(
        summary["notebook"], code["files"], profile=summary["profile"])


def hold_text(summary: Mapping[str, Any] | None, claim: str, *, digest: str | None = None) -> str:
    """``"5 of 5"`` (the seeds where ``claim`` holds, of the seeds run); ``"—"`` without a summary or claim;
    ``"stale"`` when ``digest`` (the page's own run) is given and the summary is of other code."""
    if summary is None or claim not in summary.get("claims", {}):
        return "—"
    if digest is not None and summary.get("code", {}).get("digest") != digest:
        return "stale"
    c = summary["claims"][claim]
    return f"{len(c['holds_on'])} of {len(c['holds_on']) + len(c['fails_on'])}"
