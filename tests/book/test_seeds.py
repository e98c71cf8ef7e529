"""The seeds runner and its records (issue 15 items 2-3): resumable runs, the summary's counts and spreads, stale
records detected, and the policy that a claim is required at demo only if it held on every one of >= 5 seeds of
the current code."""
from __future__ import annotations

import json
import threading
import types

import pytest

from marginlib import papers
from marginlib.book import params as notebook
from marginlib.book import results, seeds

NB = "04_mma_margins"
FILES = ["marginlib/validate.py", "marginlib/book/results.py"]


def _record(seed, *, holds, value, files=FILES):
    params = results.jsonable(notebook.resolve(NB, "demo", {"seed": seed}))
    code = {"digest": results.code_digest(NB, files, profile="demo"), "files": files}
    return {"notebook": NB, "profile": "demo", "params": params, "metrics": {"x": value},
            "claims": {"c": {"holds": holds, "required_at": ["demo"], "detail": f"x={value}", "paper": "§1: x"}},
            "environment": {"device": "cpu", "python": "3", "torch": "t", "git commit": "abc", "code": code},
            "started": "2026-12-02T00:00:00+00:00", "seconds": 1.0}


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """Records under tmp_path, a section whose headline is its metric x, and a runner that writes the record
    instead of executing the notebook (counting its calls)."""
    monkeypatch.setenv(results.RESULTS_ENV, str(tmp_path))
    monkeypatch.setattr(papers, "section", lambda stem: types.SimpleNamespace(headline=lambda m: {"x": m["x"]}))
    calls = []
    # the real runner starts a subprocess per run; this fake parses sources in the pool's threads, and two ast.parse
    # calls at once in CPython 3.11.7 failed here once with "SystemError: AST constructor recursion depth mismatch"
    parsing = threading.Lock()

    def run_one(stem, profile, seed, *, threads, timeout):
        calls.append(seed)
        with parsing:
            record = _record(seed, holds=seed != 3, value=seed)
        results.write_json(seeds.seed_record_path(stem, profile, seed), record)
        return stem, seed, 0, ""

    monkeypatch.setattr(seeds, "_run_one", run_one)
    monkeypatch.setattr(seeds, "summary_path", lambda stem, root=None: tmp_path / "seeds" / f"{stem}.json")
    return tmp_path, calls


def test_seed_runs_are_kept_apart_and_resumed(fake):
    tmp_path, calls = fake
    assert seeds.seed_record_path(NB, "demo", 0) == tmp_path / NB / "demo.json"        # the preset's own seed
    assert seeds.seed_record_path(NB, "demo", 3) == tmp_path / NB / "demo@seed=3.json"
    seeds.run([NB], profile="demo", seeds=[0, 1, 2, 3, 4], jobs=2, log=lambda line: None)
    assert sorted(calls) == [0, 1, 2, 3, 4]
    calls.clear()
    seeds.run([NB], profile="demo", seeds=[0, 1, 2, 3, 4, 5], jobs=1, log=lambda line: None)
    assert calls == [5], "seeds already recorded with the current code are not rerun"


def test_summary_counts_holds_and_spreads(fake):
    tmp_path, _ = fake
    seeds.run([NB], profile="demo", seeds=[0, 1, 2, 3, 4], log=lambda line: None)
    summary = json.loads((tmp_path / "seeds" / f"{NB}.json").read_text())
    assert summary["claims"]["c"]["holds_on"] == [0, 1, 2, 4] and summary["claims"]["c"]["fails_on"] == [3]
    assert summary["claims"]["c"]["paper"] == "§1: x" and summary["claims"]["c"]["detail"]["3"] == "x=3"
    x = summary["metrics"]["x"]
    assert x["values"] == [0, 1, 2, 3, 4] and x["mean"] == 2.0 and x["std"] == pytest.approx(2.5 ** 0.5)
    assert seeds.hold_text(summary, "c") == "4 of 5" and seeds.hold_text(summary, "nope") == "—"
    assert seeds.hold_text(summary, "c", digest="other") == "stale"
    assert {"machine", "torch", "git commit"} <= set(summary["environment"]) and summary["date"]
    assert not seeds.stale(summary)


def test_changed_code_makes_records_and_summaries_stale(fake, tmp_path, monkeypatch):
    record = _record(0, holds=True, value=0)
    assert seeds.is_current(record)
    monkeypatch.setattr(results, "code_digest", lambda notebook, files, **_: "changed")
    assert not seeds.is_current(record)
    assert seeds.stale({"notebook": NB, "profile": "demo", "code": record["environment"]["code"]})


def test_a_run_that_changed_other_parameters_is_not_a_seed_run(fake):
    tmp_path, calls = fake
    record = _record(1, holds=True, value=1)
    record["params"]["epochs"] = 1
    results.write_json(seeds.seed_record_path(NB, "demo", 1), record)
    seeds.run([NB], profile="demo", seeds=[1], log=lambda line: None)
    assert calls == [1]


def test_bad_requests_are_refused_before_any_run(fake):
    _, calls = fake
    for kwargs, words in [({"seeds": []}, "distinct"), ({"seeds": [1, 1]}, "distinct"), ({"jobs": 0}, "jobs"),
                          ({"profile": "fast"}, "profile")]:
        with pytest.raises(ValueError, match=words):
            seeds.run([NB], **{"profile": "demo", "seeds": [0], **kwargs}, log=lambda line: None)
    assert calls == []


# ----------------------------------------------------------------------- the measurement of record, and the policy


SECTIONS = [p.stem for p in notebook.toc_notebooks()]


@pytest.mark.parametrize("stem", SECTIONS)
def test_every_section_has_a_current_record_of_five_seeds_and_demo_claims_hold_on_all(stem):
    """A claim may be required at demo only if it held on every one of >= 5 recorded seeds of this code; the
    record is stale (rerun ``make seeds``) when the code its runs loaded, the notebook's code cells, the presets
    or the paper tables changed since."""
    summary = seeds.load(stem)
    assert summary is not None, f"book/data/seeds/{stem}.json is missing: run make seeds"
    assert len(summary["seeds"]) >= 5 and summary["profile"] == "demo"
    assert not seeds.stale(summary), f"book/data/seeds/{stem}.json is of older code: rerun make seeds"
    required = notebook.spec(stem).required
    assert set(summary["claims"]) <= set(required), "every recorded claim is listed in the preset file"
    for name, profiles in required.items():
        if "demo" in profiles:
            c = summary["claims"].get(name)
            assert c is not None, f"{name} is required at demo but was not recorded"
            assert not c["fails_on"], f"{name} is required at demo but fails on seeds {c['fails_on']}"


def test_fingerprint_ignores_docstrings_and_comments_but_not_code(tmp_path, monkeypatch):
    root = tmp_path / "repo"
    for folder in ("notebooks/params", "marginlib", "book/data"):
        (root / folder).mkdir(parents=True)
    (root / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    (root / "marginlib" / "__init__.py").write_text("")
    module = root / "marginlib" / "m.py"
    monkeypatch.chdir(root)

    def digest(source):
        module.write_text(source)
        return results.code_digest(NB, ["marginlib/m.py"], profile="demo")

    base = digest('"""Doc."""\ndef f():\n    """Says 1."""\n    return 1  # one\n')
    assert digest('"""New doc."""\ndef f():\n    # a comment\n    return 1\n') == base
    assert digest('def f():\n    return 2\n') != base
    (root / "notebooks" / "params" / f"{NB}.yaml").write_text("profiles: {smoke: {n: 1}}\nrequired: {c: [demo]}\n")
    with_preset = digest('def f():\n    return 1\n')
    (root / "notebooks" / "params" / f"{NB}.yaml").write_text("# policy change only\nprofiles: {smoke: {n: 1}}\n"
                                                              "required: {c: []}\n")
    assert digest('def f():\n    return 1\n') == with_preset, "the required: policy is not part of the code"
    (root / "notebooks" / "params" / f"{NB}.yaml").write_text("profiles: {smoke: {n: 2}, paper: {n: 9}}\n"
                                                              "dry_run: {n: 3}\n")
    assert digest('def f():\n    return 1\n') == with_preset, "other profiles' presets do not make demo runs stale"
    (root / "notebooks" / "params" / f"{NB}.yaml").write_text("profiles: {smoke: {n: 1}, demo: {n: 2}}\n")
    assert digest('def f():\n    return 1\n') != with_preset, "the run's own profile's preset is part of it"


def test_cli_names_what_to_run_and_runs_through_the_same_runner(fake, capsys):
    from marginlib.book import cli

    assert cli.main(["seeds"]) == 2
    assert "name the notebooks" in capsys.readouterr().err
    _, calls = fake
    assert cli.main(["seeds", NB, "--seeds", "0", "1", "--jobs", "2"]) == 0
    assert sorted(calls) == [0, 1] and "wrote" in capsys.readouterr().out
