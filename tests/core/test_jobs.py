"""Training jobs (marginlib.jobs) and where they run (marginlib.executors): the spec of issue 17 trains as it is,
results are cached by content and never reused after the spec or the code changed, a killed job resumes to the
same weights, snapshots and selection keep the right epochs, and Dask and submitit give the local results."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from marginlib import executors, jobs, models, train

#: the spec issue 17 says must train as it is
ISSUE_SPEC = {"model": {"name": "mlp", "input_size": 8, "hidden": [64]}, "method": {"name": "pgd_at", "eps": 0.1,
              "steps": 3}, "data": {"name": "digits", "split": "train", "n": 512},
              "schedule": {"epochs": 2, "batch_size": 64, "lr": 0.05}, "seed": 0}
SMALL = {**ISSUE_SPEC, "data": {"name": "digits", "split": "train", "n": 128}, "schedule": {"epochs": 3,
         "batch_size": 64, "lr": 0.05}}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_the_issue_spec_trains_from_the_command_line_and_loads_from_the_cache(tmp_path):
    spec = tmp_path / "job.json"
    spec.write_text(json.dumps(ISSUE_SPEC))
    env = {**os.environ, jobs.CACHE_ENV: str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "marginlib", "train", str(spec), "--out", str(tmp_path / "out")]
    first = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert first.returncode == 0, first.stderr
    weights = torch.load(tmp_path / "out" / "job.pt", weights_only=True)
    model = models.build("mlp", input_size=8, hidden=[64])
    model.load_state_dict(weights)   # a plain state dict of the spec's model
    entry = tmp_path / "cache" / jobs.Job.from_dict(ISSUE_SPEC).key()
    info = json.loads((entry / "result.json").read_text())
    assert info["spec"]["method"] == {"name": "pgd_at", "eps": 0.1, "steps": 3} and len(info["history"]["rows"]) == 2
    stamp = (entry / "result.json").stat().st_mtime_ns
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0 and (entry / "result.json").stat().st_mtime_ns == stamp, "cached: not retrained"


def test_the_key_changes_with_the_spec_but_not_with_its_spelling():
    job = jobs.Job.from_dict(SMALL)
    reordered = json.loads(json.dumps(SMALL, sort_keys=True))
    assert job.key() == jobs.Job.from_dict(reordered).key()
    assert job.key() != jobs.Job.from_dict({**SMALL, "seed": 1}).key()
    assert job.key() != jobs.Job.from_dict({**SMALL, "method": {"name": "pgd_at", "eps": 0.2, "steps": 3}}).key()


def test_a_cached_result_is_not_reused_after_the_code_changed(tmp_path, monkeypatch):
    job = jobs.Job.from_dict(SMALL)
    before = job.key()
    monkeypatch.setattr(jobs, "code_digest", lambda: "the library after an edit")
    assert job.key() != before
    jobs.run(job, cache=tmp_path)
    assert jobs.cached(job, cache=tmp_path) is not None
    monkeypatch.undo()
    assert jobs.cached(job, cache=tmp_path) is None, "the entry of other code is not this code's result"


@pytest.mark.parametrize("change, message", [
    ({"optimiser": "sgd"}, "unknown field"),
    ({"schedule": {"epochs": 0}}, "schedule.epochs"),
    ({"schedule": {"epochs": 2, "augment": "mixup"}}, "choose one of: crop_flip"),
    ({"schedule": {"epochs": 2, "lrate": 0.1}}, "unknown key"),
    ({"snapshots": [5]}, "not epochs of the run"),
    ({"select": {"metric": "test_error"}}, "give eval_data"),
    ({"select": {"metric": "robust_accuracy"}, "eval_data": {"name": "digits", "split": "test"}}, "'attack' goes"),
    ({"data": {"name": "digits", "resize": 4}}, "unknown key"),
])
def test_a_bad_spec_is_refused_before_any_work_naming_the_field(change, message):
    with pytest.raises(ValueError, match=message):
        jobs.Job.from_dict({**SMALL, **change})


def test_a_killed_job_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path, monkeypatch):
    from marginlib import train

    job = jobs.Job.from_dict({**SMALL, "snapshots": [2]})
    whole = jobs.run(job, cache=tmp_path / "a").weights()
    real = jobs._Snapshot.__call__

    def killed_in_epoch_2(self, model, epoch):
        real(self, model, epoch)
        if epoch == 2:
            raise KeyboardInterrupt("killed")

    monkeypatch.setattr(jobs._Snapshot, "__call__", killed_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        jobs.run(job, cache=tmp_path / "b")
    partial = tmp_path / "b" / f"{job.key()}.partial"
    assert jobs.cached(job, cache=tmp_path / "b") is None and partial.is_dir()
    saved = train.load_checkpoint(partial / "checkpoint" / train.CHECKPOINT)
    assert saved["epoch"] == 1, "epoch 1 finished before the kill and is kept"
    monkeypatch.undo()
    resumed = jobs.run(job, cache=tmp_path / "b")
    assert resumed.history.rows[0]["seconds"] == saved["history"]["rows"][0]["seconds"], "epoch 1 was not retrained"
    assert len(resumed.history.rows) == 3 and _same(resumed.weights(), whole)
    assert not (tmp_path / "b" / f"{job.key()}.partial").exists()


def test_snapshots_and_the_selected_epoch_are_kept(tmp_path):
    job = jobs.Job.from_dict({**SMALL, "snapshots": [0, 1, 2, 3], "eval_data": {"name": "digits", "split": "test",
                              "n": 100}, "select": {"metric": "robust_accuracy", "mode": "max",
                              "attack": {"eps": 0.1, "steps": 3, "step_size": 0.05, "norm": "linf"}}})
    result = jobs.run(job, cache=tmp_path)
    rows = result.history.rows
    best = max(rows, key=lambda r: r["robust_accuracy"])["epoch"]   # first maximum, as EarlyStopping keeps it
    assert result.info["selected_epoch"] == best
    assert _same(result.weights("selected"), result.weights(best))
    assert _same(result.weights("final"), result.weights(3))
    assert not _same(result.weights(0), result.weights(3))
    with pytest.raises(ValueError, match="snapshots"):
        result.weights(7)
    assert isinstance(result.model("selected"), torch.nn.Module)


def test_a_data_transform_pools_images_and_an_invalid_size_lists_the_valid_ones():
    pooled = jobs.build_data({"name": "digits", "split": "train", "n": 32, "image_size": 4})
    assert tuple(pooled.x.shape[-2:]) == (4, 4) and "average-pooled to 4x4" in pooled.source
    with pytest.raises(ValueError, match=r"choose one of \[1, 2, 4, 8\]"):
        jobs.build_data({"name": "digits", "split": "train", "n": 32, "image_size": 3})


def test_a_method_with_a_base_method_is_built_from_nested_specs():
    method = jobs.build_method({"name": "emr", "weight": 0.1, "base": {"name": "pgd_at", "eps": 0.1, "steps": 2}})
    assert type(method).__name__ == "EMR" and type(method.base).__name__ == "PGDAT"


def test_executors_are_validated_before_any_work():
    for good in ("local", "dask-local:2", "dask://scheduler:8786", "slurm"):
        assert executors.check_executor(good) == good
    with pytest.raises(ValueError, match="choose one of: local, dask-local:N"):
        executors.check_executor("dask-local:0")
    with pytest.raises(ValueError, match="unknown key"):
        executors.run_all([], executor="slurm", slurm={"queue": "gpu"})
    if shutil.which("sbatch") is None:
        pytest.importorskip("submitit")
        with pytest.raises(RuntimeError, match="sbatch is not on PATH"):
            executors.map_calls(dict, [{}], executor="slurm", folder=".")


def test_dask_and_submitit_workers_give_the_local_results_and_duplicates_train_once(tmp_path):
    pytest.importorskip("distributed")
    pytest.importorskip("submitit")
    specs = [jobs.Job.from_dict({**SMALL, "seed": s}) for s in (0, 1)]
    local = executors.run_all(specs, executor="local", cache=tmp_path / "local")
    on_dask = executors.run_all([*specs, specs[0]], executor="dask-local:2", cache=tmp_path / "dask")
    assert len(on_dask) == 3 and on_dask[0].path == on_dask[2].path
    assert all(_same(a.weights(), b.weights()) for a, b in zip(local, on_dask))
    on_slurm = executors.run_all(specs[:1], executor="slurm", cache=tmp_path / "slurm",
                                 slurm={"cluster": "local", "timeout_min": 10})
    assert _same(on_slurm[0].weights(), local[0].weights())


def test_a_dask_worker_killed_in_the_middle_of_a_job_is_replaced_and_the_job_resumes_to_the_same_weights(tmp_path):
    """Issue 17: a worker killed (SIGKILL) mid-job; Dask's nanny starts a new worker, the scheduler resubmits the
    task, and the job resumes from its last epoch's checkpoint to the weights of an uninterrupted run."""
    import concurrent.futures
    import signal
    import time

    distributed = pytest.importorskip("distributed")
    from marginlib import train

    epochs = 60
    job = jobs.Job.from_dict({**ISSUE_SPEC, "schedule": {**ISSUE_SPEC["schedule"], "epochs": epochs}})
    whole = jobs.run(job, cache=tmp_path / "local")
    checkpoint = tmp_path / "dask" / f"{job.key()}.partial" / "checkpoint" / train.CHECKPOINT
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client, \
            concurrent.futures.ThreadPoolExecutor(1) as pool:
        (pid,) = client.run(os.getpid).values()
        running = pool.submit(executors.run_all, [job], executor=f"dask://{cluster.scheduler_address}",
                              cache=tmp_path / "dask")
        deadline = time.monotonic() + 120
        while not checkpoint.is_file() and time.monotonic() < deadline and not running.done():
            time.sleep(0.005)
        before = train.load_checkpoint(checkpoint)
        os.kill(pid, signal.SIGKILL)
        (resumed,) = running.result(timeout=300)
        assert client.run(os.getpid) and pid not in client.run(os.getpid).values(), "a new worker replaced it"
    assert before["epoch"] < epochs, "the worker was killed before the job finished"
    assert resumed.history.rows[0]["seconds"] == before["history"]["rows"][0]["seconds"], "epoch 1 was not retrained"
    assert len(resumed.history.rows) == epochs and _same(resumed.weights(), whole.weights())


# --- data specs that call a section's loader; diverged trainings; per-epoch records -------------------------------

LOADER = '''
import dataclasses

from marginlib import data


def digits(*, n, flip):
    d = data.load("digits", split="train", n=n, verbose=False)
    return dataclasses.replace(d, x=d.x.flip(-1), source="flipped") if flip else d
'''


def _loader_module(tmp_path, monkeypatch, body=LOADER):
    (tmp_path / "my_loader.py").write_text(body)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("my_loader", None)
    return {**SMALL, "data": {"call": "my_loader:digits", "n": 128, "flip": True}}


def test_a_data_spec_calls_its_loader_and_its_source_is_part_of_the_key(tmp_path, monkeypatch):
    spec = _loader_module(tmp_path, monkeypatch)
    job = jobs.Job.from_dict(spec)
    result = jobs.run(job, cache=tmp_path / "cache")
    assert result.info["data"]["train"] == "flipped", "the loader's data set trained the model"
    same = jobs.Job.from_dict({**spec, "data": {**spec["data"], "flip": False}})
    assert same.key() != job.key(), "the loader's arguments are part of the key"
    before = job.key()
    (tmp_path / "my_loader.py").write_text(LOADER + "\n# a changed loader\n")
    assert jobs.Job.from_dict(spec).key() != before, "a change to the loader's module invalidates its entries"
    assert jobs.cached(jobs.Job.from_dict(spec), cache=tmp_path / "cache") is None


@pytest.mark.parametrize("call, message", [
    ("my_loader", "must be 'package.module:function'"),
    ("no_such_module_here:f", "No module named 'no_such_module_here'"),
    ("my_loader:nothing", "has no attribute 'nothing'"),
])
def test_a_bad_loader_is_refused_before_any_work(tmp_path, monkeypatch, call, message):
    spec = _loader_module(tmp_path, monkeypatch)
    with pytest.raises(ValueError, match=message):
        jobs.Job.from_dict({**spec, "data": {"call": call}})
    with pytest.raises(ValueError, match="must have a 'name'"):
        jobs.Job.from_dict({**spec, "data": {"split": "train"}})


def test_a_diverged_training_is_a_cached_result_without_weights(tmp_path, monkeypatch):
    job = jobs.Job.from_dict({**SMALL, "schedule": {"epochs": 2, "batch_size": 64, "lr": 1e30}})
    result = jobs.run(job, cache=tmp_path)
    assert result.diverged and "epoch 1" in result.diverged, result.diverged
    with pytest.raises(ValueError, match="diverged, so it has no weights"):
        result.model()
    with pytest.raises(ValueError, match="diverged"):
        result.history
    monkeypatch.setattr(train, "fit", lambda *a, **k: pytest.fail("a cached divergence trained again"))
    assert jobs.run(job, cache=tmp_path).diverged == result.diverged


def test_record_every_epoch_keeps_the_test_error_curve(tmp_path):
    spec = {**SMALL, "eval_data": {"name": "digits", "split": "test", "n": 100}}
    kept = jobs.run(jobs.Job.from_dict(spec), cache=tmp_path).history
    every = jobs.run(jobs.Job.from_dict({**spec, "record": "every", "eval_train": False}), cache=tmp_path).history
    assert len(every.column("test_error")) == SMALL["schedule"]["epochs"]
    assert every.column("test_error")[-1] == kept.column("test_error")[-1], "the same training, recorded more often"
    assert "train_error" not in every.rows[-1] and "train_error" in kept.rows[-1]
    with pytest.raises(ValueError, match="record='all'; choose one of: kept, every"):
        jobs.Job.from_dict({**spec, "record": "all"})
