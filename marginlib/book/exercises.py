"""The sections' exercises: the rerun each one asks for, and how long that rerun took when it was measured.

A section's preset file lists its exercises under ``exercises:`` (``notebooks/params/<stem>.yaml``), each label
mapped to the reruns it asks for, written as the arguments of ``python -m marginlib run <stem>`` at the demo
profile; an empty list means the exercise is answered from the section's own run (or from code on the page)::

    exercises:
      ex-01-1: ["-p lr 10", "-p lr 0.1"]
      ex-01-3: []

``python -m marginlib exercises NOTEBOOK... --measure`` (``make exercises``: every section) executes each rerun once
and keeps its wall time, with the machine, thread count, commit and date, in ``book/data/exercises.json`` (written
after every run, so a killed measurement resumes; ``--force`` measures again). The staged book prints under each
exercise its commands and their measured runtimes from that file (:func:`annotate`).
"""
from __future__ import annotations

import datetime as _dt
import json
import pathlib
import re
import shlex
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import yaml

from marginlib.book import params as nb_params
from marginlib.book import results

#: an exercise directive of a section's markdown: its fence, body (with ``:label: ex-...``) and closing fence
EXERCISE = re.compile(r"^(?P<fence>`{3,})\{exercise\}[^\n]*\n(?P<body>.*?)^(?P=fence)[ \t]*$", re.M | re.S)
LABEL = re.compile(r"^:label:\s*(ex-[\w-]+)\s*$", re.M)


def ledger_path(root: pathlib.Path | None = None) -> pathlib.Path:
    """``<repo root>/book/data/exercises.json``."""
    return (root or results.repo_root()) / "book" / "data" / "exercises.json"


def load_ledger(root: pathlib.Path | None = None) -> dict[str, Any]:
    path = ledger_path(root)
    return json.loads(path.read_text()) if path.is_file() else {}


def labels(source: pathlib.Path) -> list[str]:
    """The exercise labels of a section's notebook, in page order."""
    cells = json.loads(source.read_text())["cells"]
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return [LABEL.search(m.group("body")).group(1) for m in EXERCISE.finditer(text)  # type: ignore[union-attr]
            if LABEL.search(m.group("body"))]


def overrides(arguments: str) -> dict[str, str]:
    """The ``-p NAME VALUE`` pairs of a rerun's arguments, as the command line gives them (strings); anything else
    is a ``ValueError`` quoting the arguments."""
    words = shlex.split(arguments)
    if len(words) % 3 or any(flag not in ("-p", "--param") for flag in words[::3]):
        raise ValueError(f"exercise rerun {arguments!r}: write it as -p NAME VALUE pairs")
    return {name: value for name, value in zip(words[1::3], words[2::3])}


def reruns(notebook: str | pathlib.Path) -> dict[str, list[str]]:
    """``label -> [run arguments, ...]`` from the section's ``exercises:``, checked: every exercise of the page is
    listed, no other label is, and every rerun's parameters resolve at the demo profile (names, types, the section's
    own checks), so a command printed under an exercise runs."""
    source = nb_params.find(notebook)
    preset = source.parent / "params" / f"{source.stem}.yaml"
    listed = (yaml.safe_load(preset.read_text()) or {}).get("exercises") or {}
    on_page = labels(source)
    if set(listed) != set(on_page):
        raise ValueError(f"{preset}: exercises: lists {sorted(listed)}, the page has {on_page}")
    for label, runs in listed.items():
        if not isinstance(runs, list) or not all(isinstance(r, str) for r in runs):
            raise ValueError(f"{preset}: exercises: {label} must be a list of run arguments (strings)")
        for arguments in runs:
            values = nb_params.resolve(source, "demo", overrides(arguments))
            nb_params.check_section(source, values)
    return {label: list(listed[label]) for label in on_page}


def command(stem: str, arguments: str) -> str:
    return f"python -m marginlib run {stem} {arguments}"


def measure(notebooks: Iterable[str], *, force: bool = False, timeout: int = 1800,
            log: Callable[[str], None] = print) -> dict[str, Any]:
    """Execute every exercise rerun of ``notebooks`` not in the ledger yet (all with ``force``) at the demo profile,
    one after another, and write its wall time to the ledger after each; returns the ledger.

    A rerun that fails is logged and left out of the ledger, the others still run, and a ``RuntimeError`` naming
    every failed command (with its error's last line) ends the measurement: a printed command must run.
    """
    from marginlib.book import build

    planned = {nb_params.find(nb).stem: reruns(nb) for nb in notebooks}   # every command checked before any work
    ledger = load_ledger()
    failed: list[str] = []
    for stem, exercises in planned.items():
        for label, runs in exercises.items():
            for arguments in runs:
                if not force and arguments in ledger.get(stem, {}).get(label, {}):
                    continue
                log(f"== {label}: {command(stem, arguments)}")
                try:
                    out, seconds = build.execute(stem, profile="demo", overrides=overrides(arguments),
                                                 timeout=timeout, progress=False)
                except Exception as err:  # noqa: BLE001 - reported below, with every other failure
                    last = (str(err).strip().splitlines() or [type(err).__name__])[-1]
                    failed.append(f"{label}: {command(stem, arguments)}: {last}")
                    log(f"   failed: {last}")
                    continue
                env = json.loads(out.with_suffix(".json").read_text())["environment"]
                entry = {"seconds": round(seconds, 1), "device": env.get("device"), "threads": env.get("threads"),
                         "commit": env.get("git commit"), "date": _dt.date.today().isoformat()}
                ledger.setdefault(stem, {}).setdefault(label, {})[arguments] = entry
                results.write_json(ledger_path(), ledger)
                log(f"   {seconds:.0f} s")
    if failed:
        raise RuntimeError("exercise reruns that failed (fix the rerun in the preset's exercises: or the page):\n"
                           + "\n".join(failed))
    return ledger


def duration(seconds: float) -> str:
    """A runtime for a reader: seconds under two minutes, else minutes."""
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def rerun_note(stem: str, runs: list[str], measured: Mapping[str, Any]) -> str:
    """The paragraph under an exercise: its commands with their measured runtimes, or that none is needed."""
    if not runs:
        return "*Rerun:* none; this page's run (or its code) answers it."
    lines = []
    for arguments in runs:
        m = measured.get(arguments)
        when = (f"measured {duration(m['seconds'])} on {m['device']}, {m['threads']} threads, {m['date']}" if m
                else f"runtime not measured yet: `python -m marginlib exercises {stem} --measure`")
        lines.append(f"* `{command(stem, arguments)}` ({when})")
    return "*Rerun at the demo profile:*\n\n" + "\n".join(lines)


def annotate(markdown: str, stem: str, runs: Mapping[str, list[str]], ledger: Mapping[str, Any]) -> str:
    """``markdown`` with each exercise's :func:`rerun_note` appended to its body (before the closing fence)."""
    def add(match: re.Match[str]) -> str:
        found = LABEL.search(match.group("body"))
        if found is None or found.group(1) not in runs:
            return match.group(0)
        label = found.group(1)
        note = rerun_note(stem, runs[label], ledger.get(stem, {}).get(label, {}))
        body = match.group("body").rstrip("\n")
        return f"{match.group(0)[:match.start('body') - match.start()]}{body}\n\n{note}\n{match.group('fence')}"

    return EXERCISE.sub(add, markdown)
