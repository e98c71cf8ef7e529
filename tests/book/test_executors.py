"""Sections executed on an executor (issue 17 item 2: ``run``, ``book`` and ``paper-check`` take ``--executor``):
a worker writes the caller's record, a paper dry run is timed on its worker, and bad input is refused before a
cluster starts."""
from __future__ import annotations

import json
import os
import pathlib

import pytest

from marginlib import executors, jobs
from marginlib.book import build, cli, paper_check, results

NB = "01_minavg_linear"


@pytest.fixture
def results_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(results.RESULTS_ENV, str(tmp_path))
    return tmp_path


def test_map_calls_returns_every_call_in_order_on_each_executor(tmp_path):
    pytest.importorskip("distributed")
    pytest.importorskip("submitit")
    calls = [{"a": 1}, {"b": 2}, {"c": 3}]
    assert executors.map_calls(dict, calls, folder=tmp_path) == calls
    assert executors.map_calls(dict, calls, executor="dask-local:2", folder=tmp_path) == calls
    assert executors.map_calls(dict, calls[:2], executor="slurm", folder=tmp_path,
                               slurm={"cluster": "local", "timeout_min": 5}) == calls[:2]
    assert (tmp_path / "submitit").is_dir(), "submitit's logs go under the given folder"
    assert executors.map_calls(dict, [], executor="dask-local:2", folder=tmp_path) == []


def test_a_section_run_with_an_executor_trains_its_jobs_there_and_writes_the_record_here(results_dir, tmp_path,
                                                                                          monkeypatch, capsys):
    pytest.importorskip("distributed")
    monkeypatch.setenv(jobs.CACHE_ENV, str(tmp_path / "cache"))
    stem = "11_ar_regularization"
    assert cli.main(["run", stem, "--profile", "smoke", "--executor", "dask-local:2", "--tag", "remote"]) == 0
    record = json.loads((results_dir / stem / "smoke@remote.json").read_text())
    assert record["profile"] == "smoke" and record["claims"] and (results_dir / stem / "smoke@remote.ipynb").is_file()
    assert "executed" in capsys.readouterr().out
    workers = {json.loads(f.read_text())["environment"]["worker"] for f in (tmp_path / "cache").glob("*/result.json")}
    assert len(workers) == 2, f"the section's jobs were trained by the cluster's two workers: {workers}"


def test_a_paper_dry_run_on_a_worker_is_timed_there_and_summarized_here(results_dir, tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr(paper_check, "summary_path", lambda root=None: tmp_path / "paper_check.json")
    summary = paper_check.run([NB], executor="dask-local:1", log=lambda line: None)
    entry = summary["sections"][NB]
    assert entry["seconds"] > 0 and entry["estimate_seconds"] > 0
    assert json.loads((tmp_path / "paper_check.json").read_text())["sections"][NB] == entry
    assert (results_dir / NB / "paper-dryrun.json").is_file()


def test_bad_input_is_refused_before_a_cluster_starts(results_dir, monkeypatch, capsys):
    def no_cluster(*args, **kwargs):
        raise AssertionError("work was submitted")

    monkeypatch.setattr(executors, "map_calls", no_cluster)
    with pytest.raises(ValueError, match="epochs"):
        build.execute_elsewhere([{"notebook": NB, "profile": "smoke", "overrides": {"epochs": "-3"}}],
                                executor="dask-local:1")
    with pytest.raises(ValueError, match="choose one of: local, dask-local:N"):
        build.execute_elsewhere([{"notebook": NB, "profile": "smoke"}], executor="dask-local:0")
    for command in (["book", "--executor", "spark"], ["paper-check", NB, "--executor", "dask-local:x"],
                    ["run", NB, "--profile", "smoke", "--executor", "yarn"]):
        assert cli.main(command) == 2
        assert "choose one of: local, dask-local:N, dask://host:port, slurm" in capsys.readouterr().err
    assert not any(results_dir.iterdir()), "nothing was written"


def test_a_worker_writes_under_the_callers_results_whatever_its_own_environment(tmp_path, monkeypatch):
    """A worker on another machine does not inherit this process's ``$MARGINLIB_RESULTS``: the caller's folder
    travels with each call, made absolute, and the worker's own setting is put back afterwards, also on failure."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(build, "results_dir", lambda: pathlib.Path("caller"))   # relative, as a user may set it
    caller = str(tmp_path / "caller")
    sent, seen = [], []
    monkeypatch.setattr(executors, "map_calls",
                        lambda fn, calls, **kw: sent.extend(calls) or [fn(**c) for c in calls])

    def execute(**options):
        seen.append(os.environ[results.RESULTS_ENV])
        if options["profile"] == "broken":
            raise RuntimeError("the section failed\nand said more")
        return pathlib.Path(seen[-1]) / "x.ipynb", 1.0

    monkeypatch.setattr(build, "execute", execute)
    monkeypatch.setenv(results.RESULTS_ENV, str(tmp_path / "worker"))         # the worker's own setting
    call = {"notebook": NB, "profile": "smoke"}
    out = build.execute_elsewhere([call], executor="dask-local:1")
    assert sent == [{"results": caller, "options": call}]
    assert seen == [caller] and out[0]["error"] is None, "the worker wrote under its own results folder"
    assert os.environ[results.RESULTS_ENV] == str(tmp_path / "worker"), "the worker's setting was not put back"
    monkeypatch.delenv(results.RESULTS_ENV)
    failed = build.execute_task(results=caller, options={**call, "profile": "broken"})
    assert failed == {"out": None, "seconds": None, "error": "RuntimeError: the section failed"}
    assert results.RESULTS_ENV not in os.environ
