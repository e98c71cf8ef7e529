"""Sections ask for their models as cached training jobs (issue 17, item 1): a second run with a warm cache trains
nothing and measures the same numbers, and a section's jobs trained on a 2-worker Dask cluster have the in-process
weights, bit for bit. Sections 09 and 11 are the ones that submit jobs so far."""
from __future__ import annotations

import dataclasses
import os

import pytest
import torch

from marginlib import executors, jobs, train
from marginlib.papers.p003_amm import s09_mnist as s09
from marginlib.papers.p004_ar import s11_regularization as s11
from tests.sections import preset_params


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_second_run_with_a_warm_cache_trains_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv(jobs.CACHE_ENV, str(tmp_path))
    p = preset_params(s11, "smoke")
    train_data, test_data = s11.load_data(p)
    first = s11.train_strengths(p, train_data, test_data)
    cross = s11.train_spectral_cross(p, first, train_data, test_data)
    entries = sorted(f.name for f in tmp_path.iterdir())
    assert len(entries) == len(p.strengths) + len(cross.runs), "one cache entry per trained network"
    monkeypatch.setattr(train, "fit", lambda *a, **k: pytest.fail("a warm cache trained a model"))
    again = s11.train_strengths(p, train_data, test_data)
    assert {s: n.scalars for s, n in again.networks.items()} == {s: n.scalars for s, n in first.networks.items()}
    assert s11.train_spectral_cross(p, again, train_data, test_data).runs == cross.runs
    assert sorted(f.name for f in tmp_path.iterdir()) == entries


def test_changing_only_an_evaluation_parameter_retrains_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv(jobs.CACHE_ENV, str(tmp_path))
    p = preset_params(s11, "smoke")
    train_data, test_data = s11.load_data(p)
    s11.train_strengths(p, train_data, test_data)
    monkeypatch.setattr(train, "fit", lambda *a, **k: pytest.fail("an evaluation parameter retrained a model"))
    s11.train_strengths(dataclasses.replace(p, eval_steps=2, variation_steps=2), train_data, test_data)
    monkeypatch.undo()
    assert s11.job(p, train_data, 0.0).key() != s11.job(dataclasses.replace(p, epochs=2), train_data, 0.0).key()


@pytest.mark.parametrize("section", ["s09", "s11"])
def test_a_sections_jobs_on_a_two_worker_dask_cluster_have_the_in_process_weights(tmp_path, section):
    pytest.importorskip("distributed")
    if section == "s11":
        p = preset_params(s11, "smoke")
        train_data, _ = s11.load_data(p)
        todo = [s11.job(p, train_data, s) for s in p.strengths] + [s11.job(p, train_data, p.high, target=1.0)]
    else:
        p = preset_params(s09, "smoke", epochs=1)
        d = s09.load_data(p)
        todo = [s09.job(p, d, name, 0) for name in ("reference", "MIN+EXP")]
        todo.append(s09.job(p, d, "reference", 0, data_spec=s09.train_spec(p, n_clean=100)))
    here = executors.run_all(todo, cache=tmp_path / "here")
    there = executors.run_all(todo, executor="dask-local:2", cache=tmp_path / "there")
    assert all(_same(a.weights(), b.weights()) for a, b in zip(here, there))
    assert all(b.info["environment"]["worker"] != f"{os.uname().nodename}:{os.getpid()}" for b in there), \
        "the cluster's workers trained them"
    assert [a.history.rows[-1]["loss"] for a in here] == [b.history.rows[-1]["loss"] for b in there]


def test_fig5s_noisy_labels_are_the_jobs_training_set():
    p = preset_params(s09, "smoke")
    noisy = jobs.build_data(s09.train_spec(p, n_clean=50))
    clean = jobs.build_data(s09.train_spec(p))
    assert torch.equal(noisy.x, clean.x) and len(noisy) == len(clean)
    assert int((noisy.y == clean.y).sum()) >= 50 and int((noisy.y != clean.y).sum()) > 0, "50 kept, the rest random"
