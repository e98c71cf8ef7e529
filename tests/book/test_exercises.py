"""Exercises with their rerun commands and measured runtimes (issue 19 item 4): every exercise of every section
lists the reruns it asks for, each one runs (its parameters resolve at demo), the page's text names no parameter
its command leaves out, measurements resume, and the staged page shows each command with its runtime."""
from __future__ import annotations

import json
import re

import pytest

from marginlib.book import build, exercises, results
from marginlib.book.params import toc_notebooks

PAGE = """Text before.

````{exercise} Step size
:label: ex-01-1

Rerun with `-p lr 10`.
````

````{solution} ex-01-1
:class: dropdown

Faster.
````

````{exercise} Test margins
:label: ex-01-3

Why?
````
"""


def test_every_exercise_lists_reruns_that_resolve_and_match_its_text():
    total = 0
    for path in toc_notebooks():
        runs = exercises.reruns(path)            # raises when a label is missing or a rerun does not resolve
        assert runs, path.stem
        cells = json.loads(path.read_text())["cells"]
        text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
        for match in exercises.EXERCISE.finditer(text):
            label = exercises.LABEL.search(match.group("body")).group(1)
            named = set(re.findall(r"-p (\w+) ", match.group("body")))
            given = {name for arguments in runs[label] for name in exercises.overrides(arguments)}
            assert named <= given, f"{path.stem} {label}: the text sets {sorted(named - given)}, its command does not"
        total += sum(len(r) for r in runs.values())
    assert total >= 25


def test_rerun_arguments_are_parameter_pairs():
    assert exercises.overrides("-p lr 10 -p models '[cw_mnist]'") == {"lr": "10", "models": "[cw_mnist]"}
    for bad in ("--profile smoke", "-p lr", "lr 10 x"):
        with pytest.raises(ValueError, match="-p NAME VALUE"):
            exercises.overrides(bad)


def test_each_exercise_shows_its_commands_with_their_measured_runtimes():
    runs = {"ex-01-1": ["-p lr 10", "-p lr 0.1"], "ex-01-3": []}
    ledger = {"01_minavg_linear": {"ex-01-1": {"-p lr 10": {"seconds": 23.4, "device": "cpu (2 cores)",
                                                           "threads": 2, "date": "2026-12-03"}}}}
    page = exercises.annotate(PAGE, "01_minavg_linear", runs, ledger)
    first, solution, third = (m.group(0) for m in re.finditer(r"````\{\w+\}.*?\n````\n", page, re.S))
    assert "* `python -m marginlib run 01_minavg_linear -p lr 10` (measured 23 s on cpu (2 cores), 2 threads" in first
    assert "`python -m marginlib run 01_minavg_linear -p lr 0.1` (runtime not measured yet: " in first
    assert "Rerun" not in solution and "none; this page's run (or its code) answers it" in third
    assert page.startswith("Text before.") and page.count("````") == PAGE.count("````")
    assert exercises.annotate(PAGE, "01_minavg_linear", {}, ledger) == PAGE, "unlisted exercises are left alone"
    assert exercises.duration(59.6) == "60 s" and exercises.duration(900) == "15 min"


def test_measuring_writes_each_runtime_resumes_and_checks_every_command_first(tmp_path, monkeypatch):
    monkeypatch.setattr(exercises, "ledger_path", lambda root=None: tmp_path / "exercises.json")
    ran = []

    def execute(stem, *, profile, overrides, timeout, progress):
        ran.append(overrides)
        out = tmp_path / f"{len(ran)}.ipynb"
        out.with_suffix(".json").write_text(json.dumps({"environment": {"device": "cpu (2 cores)", "threads": 2,
                                                                        "git commit": "abc1234"}}))
        return out, 12.3

    monkeypatch.setattr(build, "execute", execute)
    ledger = exercises.measure(["01_minavg_linear"], log=lambda line: None)
    assert ran == [{"lr": "10"}, {"lr": "0.1"}]
    assert ledger["01_minavg_linear"]["ex-01-1"]["-p lr 10"]["seconds"] == 12.3
    assert json.loads((tmp_path / "exercises.json").read_text()) == ledger
    exercises.measure(["01_minavg_linear"], log=lambda line: None)
    assert len(ran) == 2, "measured reruns are not run again"
    exercises.measure(["01_minavg_linear"], force=True, log=lambda line: None)
    assert len(ran) == 4

    def broken(notebook):
        raise ValueError("exercises: ex-01-9")

    def diverging(stem, *, profile, overrides, timeout, progress):
        if overrides == {"lr": "10"}:
            raise RuntimeError("Traceback ...\nFloatingPointError: non-finite loss (inf) at epoch 6")
        return execute(stem, profile=profile, overrides=overrides, timeout=timeout, progress=progress)

    monkeypatch.setattr(build, "execute", diverging)
    (tmp_path / "exercises.json").unlink()
    with pytest.raises(RuntimeError, match=r"ex-01-1: python -m marginlib run 01_minavg_linear -p lr 10: "
                                           r"FloatingPointError: non-finite loss"):
        exercises.measure(["01_minavg_linear"], log=lambda line: None)
    kept = json.loads((tmp_path / "exercises.json").read_text())["01_minavg_linear"]["ex-01-1"]
    assert list(kept) == ["-p lr 0.1"], "the rerun after a failed one still ran, and only it was recorded"
    ran.clear()
    monkeypatch.setattr(build, "execute", execute)

    monkeypatch.setattr(exercises, "reruns", broken)
    with pytest.raises(ValueError, match="ex-01-9"):
        exercises.measure(["01_minavg_linear"], force=True, log=lambda line: None)
    assert not ran, "nothing ran before every command was checked"


def test_the_ledger_holds_only_commands_the_presets_list():
    ledger = exercises.load_ledger()
    for stem, by_label in ledger.items():
        runs = exercises.reruns(stem)
        for label, measured in by_label.items():
            assert set(measured) <= set(runs[label]), f"{stem} {label}: measured commands no preset lists"
            assert all(m["seconds"] > 0 and m["device"] and m["date"] for m in measured.values())
    assert results.repo_root() / "book" / "data" / "exercises.json" == exercises.ledger_path()
