"""Runs neither lose nor mix up records (issue 18 items 1, 4, 9, 11): override runs are kept apart from the
profile's record, a failed run leaves the previous record and executed notebook as they were, concurrent runs
do not share temporary files, a relative ``$MARGINLIB_RESULTS`` is one folder for the CLI and the kernel, and bad
values are refused before the kernel starts."""
from __future__ import annotations

import json

import pytest

from marginlib.book import build, results
from marginlib.book import params as notebook

NB = "01_minavg_linear"


@pytest.fixture
def results_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(results.RESULTS_ENV, str(tmp_path))
    return tmp_path


def _fake_papermill(monkeypatch, *, fail_after_save: bool = False, save: bool = True):
    """Replace the kernel by a stand-in that writes the record the way a notebook does (``Run.save`` under the
    environment ``execute`` prepared) and the executed notebook, then optionally fails."""
    import papermill

    calls = []

    def run(source, output, *, parameters, **kw):
        calls.append(output)
        if save:
            run_ = notebook.start_run(NB, parameters)
            run_.required = {"c": ["demo"]}
            run_.save(metrics={"ran": True}, claims={"c": results.claim(True, detail="", paper="p")})
        with open(output, "w") as f:
            json.dump({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, f)
        if fail_after_save:
            raise RuntimeError("a later cell failed")

    monkeypatch.setattr(papermill, "execute_notebook", run)
    return calls


def test_override_run_is_kept_apart_from_the_profiles_record(results_dir, monkeypatch):
    _fake_papermill(monkeypatch)
    own, _ = build.execute(NB, profile="smoke", progress=False)
    before = (results_dir / NB / "smoke.json").read_text()
    tagged, _ = build.execute(NB, profile="smoke", overrides={"epochs": "150"}, progress=False)
    assert own == results_dir / NB / "smoke.ipynb"
    assert tagged == results_dir / NB / "smoke@epochs=150.ipynb" and tagged.with_suffix(".json").is_file()
    assert (results_dir / NB / "smoke.json").read_text() == before
    assert json.loads(tagged.with_suffix(".json").read_text())["params"]["epochs"] == 150
    named, _ = build.execute(NB, profile="smoke", overrides={"epochs": "150"}, tag="long", progress=False)
    assert named.name == "smoke@long.ipynb"
    assert sorted(p.name for p in (results_dir / NB).iterdir()) == [
        "smoke.ipynb", "smoke.json", "smoke@epochs=150.ipynb", "smoke@epochs=150.json", "smoke@long.ipynb",
        "smoke@long.json"], "no staging folder or temporary file is left behind"


def test_failed_run_leaves_the_previous_record_and_notebook(results_dir, monkeypatch):
    _fake_papermill(monkeypatch)
    build.execute(NB, profile="smoke", progress=False)
    record, executed = results_dir / NB / "smoke.json", results_dir / NB / "smoke.ipynb"
    old = record.read_text(), executed.read_text()
    _fake_papermill(monkeypatch, fail_after_save=True)
    with pytest.raises(RuntimeError, match="later cell"):
        build.execute(NB, profile="smoke", progress=False)
    assert (record.read_text(), executed.read_text()) == old
    assert sorted(p.name for p in (results_dir / NB).iterdir()) == ["smoke.ipynb", "smoke.json"]


def test_a_notebook_that_writes_no_record_is_an_error(results_dir, monkeypatch):
    _fake_papermill(monkeypatch, save=False)
    with pytest.raises(RuntimeError, match="wrote no record"):
        build.execute(NB, profile="smoke", progress=False)
    assert not (results_dir / NB / "smoke.ipynb").exists()


def test_concurrent_runs_write_to_their_own_temporary_notebooks(results_dir, monkeypatch):
    calls = _fake_papermill(monkeypatch)
    build.execute(NB, profile="smoke", progress=False)
    build.execute(NB, profile="smoke", progress=False)
    assert len(set(calls)) == 2, "each run has its own staging folder"


def test_relative_results_folder_is_one_folder_for_cli_and_kernel(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(results.RESULTS_ENV, "rel")
    _fake_papermill(monkeypatch)
    build.execute(NB, profile="smoke", progress=False)
    assert (tmp_path / "rel" / NB / "smoke.json").is_file() and (tmp_path / "rel" / NB / "smoke.ipynb").is_file()


@pytest.mark.parametrize(("overrides", "timeout", "match"), [
    ({"epochs": "0"}, 600, "epochs must be > 0"),
    ({"lr": "-1"}, 600, "lr must be > 0"),
    ({}, 0, "timeout must be > 0"),
])
def test_bad_values_are_refused_before_the_kernel_starts(results_dir, monkeypatch, overrides, timeout, match):
    calls = _fake_papermill(monkeypatch)
    with pytest.raises(ValueError, match=match):
        build.execute(NB, profile="smoke", overrides=overrides, timeout=timeout, progress=False)
    assert calls == []


def test_tags_are_readable_and_safe():
    assert results.override_tag({"lr": 0.5, "epochs": 2000}) == "epochs=2000,lr=0.5"
    assert results.override_tag({"models": ["mlp", "cnn"], "path": "/etc/x y"}) == "models=_mlp_,_cnn_,path=_etc_xy"
    assert results.override_tag({"x": "y" * 100}).startswith("overrides-")
    with pytest.raises(ValueError, match="tag="):
        results.run_name("demo", "../escape")


def test_up_to_date_when_inputs_and_preset_match_the_record(results_dir, monkeypatch):
    """`book` skips a section whose record was made from the same inputs at the preset (issue 18, up-to-date)."""
    assert not build.up_to_date(NB, "smoke")                       # no record yet
    _fake_papermill(monkeypatch)
    build.execute(NB, profile="smoke", progress=False)
    assert build.up_to_date(NB, "smoke")
    record = json.loads((results_dir / NB / "smoke.json").read_text())
    assert record["environment"]["inputs"] == results.inputs_digest(NB)
    monkeypatch.setattr(results, "inputs_digest", lambda notebook: "changed")
    assert not build.up_to_date(NB, "smoke")                       # notebook, presets, tables or library changed


def test_inputs_digest_follows_the_notebook_and_the_library(tmp_path, monkeypatch):
    import shutil

    root = tmp_path / "repo"                     # a checkout: _toc.yml, notebooks/ and marginlib/
    (root / "notebooks" / "params").mkdir(parents=True)
    (root / "marginlib").mkdir()
    (root / "book" / "data").mkdir(parents=True)
    shutil.copy2(results.repo_root() / "_toc.yml", root / "_toc.yml")
    (root / "marginlib" / "__init__.py").write_text("x = 1\n")
    (root / "notebooks" / f"{NB}.ipynb").write_text("{}")
    monkeypatch.chdir(root)
    first = results.inputs_digest(NB)
    (root / "marginlib" / "__init__.py").write_text("x = 2\n")
    second = results.inputs_digest(NB)
    (root / "notebooks" / f"{NB}.ipynb").write_text('{"cells": []}')
    assert len({first, second, results.inputs_digest(NB)}) == 3
