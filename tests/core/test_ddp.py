"""DistributedDataParallel (issue 17, item 3) on the CPU with gloo: ``torchrun`` with 2 and 3 ranks trains the
weights one process trains with the same global batch and seed, for methods with random starts, double backward,
per-sample memories, batch-level selection and augmentation; a killed run resumes; ``marginlib train`` under torchrun
writes one cache entry from rank 0; methods whose loss cannot be split over ranks are refused before training. Also
the keyed per-sample draws (:mod:`marginlib.rng`) the rank invariance rests on, against scipy's distributions."""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest
import torch
from scipy import stats

from marginlib import ddp, jobs, models, rng

WORKER = str(pathlib.Path(__file__).with_name("ddp_worker.py"))
#: a BN-free MLP on the digits, 3 epochs of 3 batches of 32: every method the issue names, and MMA's memory,
#: AMM's batch-level MIN selection and keyed augmentation
METHODS = ["standard", "pgd_at", "emr", "igr", "amm", "mma", "pgd_at+augment"]


def _torchrun(ranks: int, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={ranks}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)


def _one(tmp: pathlib.Path, *args: str) -> dict:
    out = tmp / "one.pt"
    done = subprocess.run([sys.executable, WORKER, str(out), *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return torch.load(out, weights_only=True)


def _close(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for method in a:
        assert a[method].keys() == b[method].keys()
        for name in a[method]:
            assert torch.allclose(a[method][name], b[method][name], rtol=0, atol=1e-5), (method, name)


@pytest.fixture(scope="module")
def one_process(tmp_path_factory) -> dict:
    return _one(tmp_path_factory.mktemp("one"), *METHODS)


@pytest.mark.parametrize("ranks", [2, 3])   # 3 ranks: shares of 11, 11 and 10 samples
def test_torchrun_trains_the_weights_of_one_process(tmp_path, one_process, ranks):
    done = _torchrun(ranks, WORKER, str(tmp_path / "ddp.pt"), *METHODS)
    assert done.returncode == 0, done.stderr[-3000:]
    _close(one_process, torch.load(tmp_path / "ddp.pt", weights_only=True))


def test_a_killed_torchrun_run_resumes_to_the_uninterrupted_weights(tmp_path, one_process):
    names = ["pgd_at", "mma"]
    killed = _torchrun(2, WORKER, str(tmp_path / "x.pt"), *names, "--kill-at", "2", "--checkpoints", str(tmp_path))
    assert killed.returncode != 0 and "Killed" in killed.stderr
    assert not (tmp_path / "x.pt").exists()
    resumed = _torchrun(2, WORKER, str(tmp_path / "x.pt"), *names, "--checkpoints", str(tmp_path))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    _close({k: one_process[k] for k in names}, torch.load(tmp_path / "x.pt", weights_only=True))


def test_methods_that_cannot_be_split_over_ranks_are_refused_before_training(tmp_path):
    mail = _torchrun(2, WORKER, str(tmp_path / "x.pt"), "mail")
    assert mail.returncode != 0 and "cannot train under DistributedDataParallel" in mail.stderr
    short = _torchrun(2, WORKER, str(tmp_path / "x.pt"), "standard", "--samples", "97")
    assert short.returncode != 0 and "the last batch has 1 samples" in short.stderr


def test_marginlib_train_under_torchrun_writes_one_cache_entry_from_rank_0(tmp_path):
    from core.test_jobs import ISSUE_SPEC

    spec = tmp_path / "job.json"
    spec.write_text(json.dumps(ISSUE_SPEC))
    for name, ranks in (("one", 1), ("two", 2)):
        env = {**os.environ, jobs.CACHE_ENV: str(tmp_path / name)}
        cmd = ["-m", "marginlib", "train", str(spec), "--out", str(tmp_path / f"{name}-out")]
        done = (_torchrun(2, *cmd, env=env) if ranks == 2 else
                subprocess.run([sys.executable, *cmd], capture_output=True, text=True, timeout=600, env=env))
        assert done.returncode == 0, done.stderr[-3000:]
        assert done.stdout.count("job.json:") == 1, "rank 0 alone reports"
        entries = [p for p in (tmp_path / name).iterdir() if not p.name.startswith(".")]
        assert len(entries) == 1 and not list((tmp_path / name).glob("*.partial"))
        info = json.loads((entries[0] / "result.json").read_text())
        assert info["environment"]["ranks"] == ranks and len(info["history"]["rows"]) == 2
    assert entries[0].name == jobs.Job.from_dict(ISSUE_SPEC).key(), "the key does not depend on the ranks"
    one = torch.load(tmp_path / "one-out" / "job.pt", weights_only=True)
    two = torch.load(tmp_path / "two-out" / "job.pt", weights_only=True)
    models.build("mlp", input_size=8, hidden=[64]).load_state_dict(two)
    assert all(torch.allclose(one[k], two[k], rtol=0, atol=1e-5) for k in one)


def test_keyed_uniforms_and_normals_follow_their_distributions():
    draws = rng.SampleDraws(seed=11, index=torch.arange(400))
    u = rng.uniform((400, 250), draws)
    z = rng.normal((400, 250), draws)
    assert float(u.min()) >= 0 and float(u.max()) < 1
    assert stats.kstest(u.flatten().numpy(), "uniform").pvalue > 1e-3
    assert stats.kstest(z.flatten().numpy(), "norm").pvalue > 1e-3
    k = rng.integers(2, 11, (400, 250), draws)
    assert int(k.min()) == 2 and int(k.max()) == 10
    assert stats.chisquare(torch.bincount(k.flatten() - 2).numpy()).pvalue > 1e-3
    # neighbouring samples and neighbouring elements are uncorrelated (|r| < 4 standard errors)
    for a, b in ((u[:-1], u[1:]), (u[:, :-1], u[:, 1:])):
        assert abs(float(torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1])) < 4 / a.numel() ** 0.5


def test_a_sample_draws_the_same_numbers_in_any_batch():
    whole = rng.SampleDraws(seed=5, index=torch.tensor([7, 3, 9, 1]))
    first, second = rng.uniform((4, 6), whole), rng.uniform((4, 6), whole)
    part = rng.SampleDraws(seed=5, index=torch.tensor([9, 7]))
    assert torch.equal(rng.uniform((2, 6), part), first[[2, 0]])
    assert torch.equal(rng.uniform((2, 6), part), second[[2, 0]]), "the k-th draw of a batch, for each sample"
    assert not torch.equal(first, second), "each call is a new draw"
    rows = rng.SampleDraws(seed=5, index=torch.tensor([7, 3, 9, 1]))
    rng.uniform((4, 6), rows)
    subset = rows.rows(torch.tensor([False, True, False, True]))
    assert torch.equal(rng.uniform((2, 6), subset), second[[1, 3]]), "a subset shares the count of draws"
    assert not torch.equal(rng.uniform((4, 6), whole.child(1)), rng.uniform((4, 6), whole)), "a child is independent"
    assert not torch.equal(rng.uniform((4, 6), rng.SampleDraws(seed=6, index=whole.index)), first), "keyed by seed"


def test_keyed_draws_refuse_a_shape_that_is_not_one_row_per_sample():
    with pytest.raises(ValueError, match="shape\\[0\\] == the number of samples \\(4\\)"):
        rng.uniform((3, 2), rng.SampleDraws(seed=0, index=torch.arange(4)))


def test_one_process_is_the_one_rank_case():
    index = torch.arange(10)
    assert ddp.world() == (0, 1) and ddp.share(index, rank=0, ranks=1) is index
    assert [len(ddp.share(index, rank=r, ranks=3)) for r in range(3)] == [4, 3, 3]
    assert torch.equal(torch.cat([ddp.share(index, rank=r, ranks=3) for r in range(3)]), index), "in batch order"
    memory = torch.rand(6)
    assert torch.equal(ddp.merge_rows(memory, torch.arange(8), n=8, device=torch.device("cpu"))[:6], memory)


def test_a_job_asking_for_two_ranks_runs_them_under_torchrun(tmp_path):
    from core.test_jobs import ISSUE_SPEC

    one = jobs.run(jobs.Job.from_dict(ISSUE_SPEC), cache=tmp_path / "one")
    job = jobs.Job.from_dict({**ISSUE_SPEC, "ranks": 2})
    assert job.key() == one.path.name, "N ranks train one process's weights: the same entry"
    two = jobs.run(job, cache=tmp_path / "two")
    assert two.info["environment"]["ranks"] == 2 and two.info["spec"]["ranks"] == 2
    a, b = one.weights(), two.weights()
    assert all(torch.allclose(a[k], b[k], rtol=0, atol=1e-5) for k in a)
    assert not list((tmp_path / "two").glob(".*.spec.json")), "the spec handed to torchrun is removed"
    with pytest.raises(ValueError, match="ranks=0 must be a positive integer"):
        jobs.Job.from_dict({**ISSUE_SPEC, "ranks": 0})
