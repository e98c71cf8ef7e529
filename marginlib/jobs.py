"""A training run as a job: a serializable spec, and its result in a content-addressed cache.

A :class:`Job` names everything a training depends on (DESIGN.md, "Jobs and scale-out")::

    {"model": {"name": "mlp", "input_size": 8, "hidden": [64]},
     "method": {"name": "emr", "weight": 0.1, "base": {"name": "pgd_at", "eps": 0.1, "steps": 3}},
     "data": {"name": "digits", "split": "train", "n": 512},
     "schedule": {"epochs": 2, "batch_size": 64, "lr": 0.05},
     "seed": 0, "snapshots": [1], "select": {"metric": "test_error", "mode": "min"},
     "eval_data": {"name": "digits", "split": "test"}}

``model`` goes to :func:`marginlib.models.build` (initialized from ``seed``; or, with ``call``, to that function),
``method`` to :func:`marginlib.methods.build` (a nested ``base``/``attack``/``inner`` dict is built first), ``data`` and
``eval_data`` to :func:`marginlib.data.load` (plus ``image_size``: average pooling to that many pixels a side, as
paper 002's large-scale section does on CPU), or, with ``"call": "package.module:function"``, to that function
(its other keys are the function's keyword arguments): a section's own data set, such as a validation split or
noisy labels, loaded by the code the section measures it with; ``schedule`` to :func:`marginlib.train.fit` (its
epochs, batch size, optimizer, learning rate and milestones, weight decay, regularizer decay; ``augment:
"crop_flip"`` is :func:`marginlib.augment.random_crop_flip`). ``snapshots`` are the epochs whose weights are
kept; ``select`` is a model-selection rule on a per-epoch metric of the history
(:class:`marginlib.train.EarlyStopping`), e.g. paper 002's best validation robust accuracy with ``{"metric":
"robust_accuracy", "mode": "max", "attack": {...}}`` (its ``scales``, if given, make that measurement a
:func:`marginlib.cost.work` unit of its own). The history records the errors (on ``eval_data``, and with
``eval_train`` on the training set) at the kept epochs, or with ``"record": "every"`` after every epoch (a test-error
curve). A training that diverges (a non-finite loss) is a result too, with ``diverged`` set and no weights.

The result lives in ``<cache>/<key>/`` (``$MARGINLIB_CACHE``, default ``./results/cache``): ``weights.pt`` (the
final state dict), ``selected.pt`` (the selected epoch's, with ``select``), ``snapshots/epoch-<e>.pt``, and
``result.json`` (spec, history, selected epoch, environment, seconds). Every ``.pt`` loads with
``torch.load(weights_only=True)``. A job trains in ``<key>.partial/`` with a checkpoint after every epoch, so a
killed job resumes, and the finished folder is moved into place at once. The key is a digest of the canonical
spec, the torch version, the source of the core library (every module outside ``marginlib.book`` and
``marginlib.papers``) and the source of the module whose function a data or model spec calls: a cached result is never
reused after the code that trains it changed, even by a comment
(conservative by design: a stale model costs a retraining, a wrongly reused one a wrong number).
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import pathlib
import platform
import shutil
import time
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from marginlib import ddp

CACHE_ENV = "MARGINLIB_CACHE"
SPEC_KEYS = ("model", "method", "data", "schedule", "seed", "snapshots", "select", "eval_data", "record",
             "eval_train", "ranks")
#: the epochs whose errors (and losses) the history records: the kept ones (``snapshots`` and the last), or every one
RECORDS = ("kept", "every")
#: the options of :func:`marginlib.train.fit` a schedule may set (``augment`` names a transform)
SCHEDULE_KEYS = ("epochs", "batch_size", "lr", "momentum", "nesterov", "weight_decay", "milestones", "gamma",
                 "decay_regularizer", "optimizer", "augment")
DATA_KEYS = ("name", "split", "n", "seed", "source", "image_size")
#: a data spec with this key names a loader ``"module:function"`` instead (its other keys are the arguments)
CALL = "call"
AUGMENTS = ("crop_flip",)
#: options of ``method`` that are methods themselves (built first from their own dicts)
METHOD_ARGUMENTS = ("base", "attack", "inner")
#: a selection metric that is not a history column: robust accuracy of the epoch's model under ``select.attack``
ROBUST_METRIC = "robust_accuracy"


@dataclasses.dataclass(frozen=True)
class Job:
    """One training run (see the module docstring for the fields)."""

    model: Mapping[str, Any]
    method: Mapping[str, Any]
    data: Mapping[str, Any]
    schedule: Mapping[str, Any]
    seed: int = 0
    snapshots: tuple[int, ...] = ()
    select: Mapping[str, Any] | None = None
    eval_data: Mapping[str, Any] | None = None
    record: str = "kept"
    eval_train: bool = True
    ranks: int = 1

    def __post_init__(self) -> None:
        if self.record not in RECORDS:
            raise ValueError(f"job record={self.record!r}; choose one of: {', '.join(RECORDS)}")
        if not isinstance(self.eval_train, bool):
            raise ValueError(f"job eval_train={self.eval_train!r} must be true or false")
        if not isinstance(self.ranks, int) or isinstance(self.ranks, bool) or self.ranks < 1:
            raise ValueError(f"job ranks={self.ranks!r} must be a positive integer (the processes of one DDP run)")
        for name in ("model", "method"):
            spec = getattr(self, name)
            if isinstance(spec, Mapping) and name == "model" and CALL in spec:
                _loader(spec[CALL])
            elif not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
                raise ValueError(f"job {name}={spec!r} must be a mapping with a 'name'"
                                 + (" (or a 'call')" if name == "model" else ""))
        _check_data("data", self.data)
        if self.eval_data is not None:
            _check_data("eval_data", self.eval_data)
        _check_keys("schedule", self.schedule, SCHEDULE_KEYS)
        epochs = self.schedule.get("epochs")
        if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
            raise ValueError(f"job schedule.epochs={epochs!r} must be a positive integer")
        if self.schedule.get("augment") not in (None, *AUGMENTS):
            raise ValueError(f"job schedule.augment={self.schedule['augment']!r}; choose one of: {', '.join(AUGMENTS)}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ValueError(f"job seed={self.seed!r} must be an integer")
        bad = [e for e in self.snapshots if not isinstance(e, int) or not 0 <= e <= epochs]
        if bad:
            raise ValueError(f"job snapshots {bad} are not epochs of the run (0 to {epochs})")
        if self.select is not None:
            _check_keys("select", self.select, ("metric", "mode", "attack", "patience", "scales"))
            metric = self.select.get("metric")
            if not isinstance(metric, str):
                raise ValueError(f"job select={dict(self.select)!r} needs a 'metric'")
            if metric.startswith("test_") or metric == ROBUST_METRIC:
                if self.eval_data is None:
                    raise ValueError(f"job select.metric={metric!r} is measured on eval_data: give eval_data")
            if (metric == ROBUST_METRIC) != ("attack" in self.select):
                raise ValueError(f"job select: 'attack' goes with metric {ROBUST_METRIC!r} (and only with it)")

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> Job:
        """A job from its JSON form; unknown or missing fields are a ``ValueError`` naming them."""
        if not isinstance(spec, Mapping):
            raise ValueError(f"a job spec is a JSON object, not {type(spec).__name__}")
        unknown = sorted(set(spec) - set(SPEC_KEYS))
        missing = [k for k in ("model", "method", "data", "schedule") if k not in spec]
        if unknown or missing:
            raise ValueError(f"job spec: unknown field(s) {unknown}, missing {missing}; fields: {', '.join(SPEC_KEYS)}")
        return cls(**{**spec, "snapshots": tuple(spec.get("snapshots", ()))})

    @classmethod
    def read(cls, path: str | os.PathLike) -> Job:
        """A job from a JSON file."""
        try:
            spec = json.loads(pathlib.Path(path).read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not valid JSON ({err})") from err
        return cls.from_dict(spec)

    def to_dict(self) -> dict[str, Any]:
        """The canonical JSON form (what the key digests)."""
        return json.loads(json.dumps(dataclasses.asdict(self), sort_keys=True))

    def key(self) -> str:
        """The cache key: a digest of the canonical spec (without ``ranks``: N ranks train one process's weights),
        the torch version, the core library's source and the source of every module the spec calls."""
        spec = {k: v for k, v in self.to_dict().items() if k != "ranks"}
        digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode())
        digest.update(torch.__version__.encode() + b"\0" + code_digest().encode())
        for spec in (self.model, self.data, self.eval_data):  # type: ignore[assignment]  # TODO: own name
            if spec is not None and CALL in spec:
                digest.update(b"\0" + _module_file(spec[CALL]).read_bytes())
        return digest.hexdigest()[:20]


def _check_data(where: str, spec: Any) -> None:
    """A data spec names a data set of :func:`marginlib.data.load` or a loader to ``call``."""
    if not isinstance(spec, Mapping):
        raise ValueError(f"job {where}={spec!r} must be a mapping")
    if CALL in spec:
        _loader(spec[CALL])   # importable now, so a bad name fails before any work
    elif isinstance(spec.get("name"), str):
        _check_keys(where, spec, DATA_KEYS)
    else:
        raise ValueError(f"job {where}={dict(spec)!r} must have a 'name' (marginlib.data.load) or a "
                         "'call' ('package.module:function')")


def _split_call(call: Any) -> tuple[str, str]:
    if not isinstance(call, str) or call.count(":") != 1 or not all(call.split(":")):
        raise ValueError(f"data call={call!r} must be 'package.module:function'")
    module, function = call.split(":")
    return module, function


def _loader(call: Any) -> Any:
    """The function a data or model spec's ``call`` names."""
    import importlib

    module, function = _split_call(call)
    try:
        fn = getattr(importlib.import_module(module), function)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"data call={call!r}: {err}") from err
    if not callable(fn):
        raise ValueError(f"data call={call!r} is not a function")
    return fn


def _module_file(call: str) -> pathlib.Path:
    """The source file of the module a data or model spec's ``call`` names (part of the cache key)."""
    import importlib.util

    found = importlib.util.find_spec(_split_call(call)[0])
    if found is None or found.origin is None:
        raise ValueError(f"data call={call!r}: no source file for its module")
    return pathlib.Path(found.origin)


def _check_keys(where: str, spec: Mapping[str, Any], valid: Sequence[str]) -> None:
    if not isinstance(spec, Mapping):
        raise ValueError(f"job {where}={spec!r} must be a mapping")
    unknown = sorted(set(spec) - set(valid))
    if unknown:
        raise ValueError(f"job {where}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(valid)}")


def code_digest() -> str:
    """A digest of the core library's source files (every module outside ``marginlib.book`` and
    ``marginlib.papers``): what a training's result depends on besides its spec and torch."""
    package = pathlib.Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        if relative.parts[0] in ("book", "papers"):
            continue
        digest.update(str(relative).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def default_cache(results: str | os.PathLike | None = None) -> pathlib.Path:
    """``$MARGINLIB_CACHE``, else ``<results>/cache``, ``results`` defaulting to ``results`` under the working
    directory (the book's command line passes its own results folder)."""
    return pathlib.Path(os.environ.get(CACHE_ENV) or pathlib.Path(results or "results") / "cache").absolute()


# --- building what a spec names ---------------------------------------------------------------------------------

def build_model(job: Job) -> nn.Module:
    """The job's model, its initial weights drawn from the job's seed: :func:`marginlib.models.build`, or the function
    a ``call`` names (given ``seed`` and the spec's other keys)."""
    from marginlib import models

    if CALL in job.model:
        return _loader(job.model[CALL])(seed=job.seed, **{k: v for k, v in job.model.items() if k != CALL})
    options = {k: v for k, v in job.model.items() if k != "name"}
    return models.build(job.model["name"], seed=job.seed, **options)


def build_method(spec: Mapping[str, Any]) -> Any:
    """The method a spec names; ``base``/``attack``/``inner`` given as specs are built first."""
    from marginlib import methods

    options = {k: build_method(v) if k in METHOD_ARGUMENTS and isinstance(v, Mapping) else v
               for k, v in spec.items() if k != "name"}
    return methods.build(spec["name"], **options)


def build_data(spec: Mapping[str, Any]) -> Any:
    """The data set a spec names (:func:`marginlib.data.load`), average-pooled to ``image_size`` if given; or what
    the function its ``call`` names returns for its other keys. The last :data:`LOADED` data sets built in this
    process are kept and returned again (the same object: treat it as read-only), because a section's jobs share
    their data and some sets are slow to read (the offline MNIST is parsed from text)."""
    return _build_data(json.dumps(spec, sort_keys=True))


#: how many data sets :func:`build_data` keeps in memory
LOADED = 4


@functools.lru_cache(maxsize=LOADED)
def _build_data(canonical: str) -> Any:
    from marginlib import data

    spec = json.loads(canonical)
    if CALL in spec:
        return _loader(spec[CALL])(**{k: v for k, v in spec.items() if k != CALL})
    options = {k: v for k, v in spec.items() if k not in ("name", "image_size")}
    loaded = data.load(spec["name"], **options, verbose=False)
    size = spec.get("image_size")
    if size is None:
        return loaded
    native = loaded.x.shape[-1]
    if not isinstance(size, int) or size < 1 or native % size:
        divisors = [d for d in range(1, native + 1) if native % d == 0]
        raise ValueError(f"data image_size={size!r}: {spec['name']} images are {native} pixels a side; choose one "
                         f"of {divisors}")
    pooled = F.avg_pool2d(loaded.x, native // size) if size != native else loaded.x
    return dataclasses.replace(loaded, x=pooled, source=f"{loaded.source}; average-pooled to {size}x{size}")


# --- results ----------------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Result:
    """A finished job in the cache: its folder and what ``result.json`` says."""

    path: pathlib.Path
    info: Mapping[str, Any]

    @property
    def job(self) -> Job:
        return Job.from_dict(self.info["spec"])

    @property
    def diverged(self) -> str | None:
        """The error of a training that diverged (a non-finite loss: cached too, the same spec diverges again), or
        ``None``."""
        return self.info.get("diverged")

    @property
    def history(self) -> Any:
        from marginlib.train import History

        self._trained()
        return History.from_dict(self.info["history"])

    def _trained(self) -> None:
        if self.diverged:
            raise ValueError(f"job {self.path.name} diverged, so it has no weights or history: {self.diverged}")

    def weights(self, which: str | int = "final") -> dict[str, torch.Tensor]:
        """A state dict: ``"final"``, ``"selected"`` (the ``select`` rule's epoch) or a snapshot epoch."""
        self._trained()
        names = {"final": "weights.pt", "selected": "selected.pt"}
        named = isinstance(which, str) and which in names
        file = self.path / (names[str(which)] if named else f"snapshots/epoch-{which}.pt")
        if not file.is_file():
            kept = sorted(p.stem.removeprefix("epoch-") for p in (self.path / "snapshots").glob("epoch-*.pt"))
            raise ValueError(f"weights {which!r} are not in {self.path}: final, "
                             f"{'selected, ' if (self.path / 'selected.pt').is_file() else ''}snapshots {kept}")
        return dict(torch.load(file, map_location="cpu", weights_only=True))

    def model(self, which: str | int = "final") -> nn.Module:
        """The job's model with the given weights loaded."""
        model = build_model(self.job)
        model.load_state_dict(self.weights(which))
        return model


def cached(job: Job, *, cache: str | os.PathLike | None = None) -> Result | None:
    """The job's result if the cache holds it."""
    folder = pathlib.Path(cache or default_cache()) / job.key()
    info = folder / "result.json"
    return Result(folder, json.loads(info.read_text())) if info.is_file() else None


def run(job: Job, *, cache: str | os.PathLike | None = None, device: torch.device | str | None = None,
        progress: bool = False, checkpoint: bool | None = None) -> Result:
    """The job's result: loaded from the cache, or trained now (resuming a killed attempt) and stored there.

    ``checkpoint`` (default: unless ``$MARGINLIB_CHECKPOINTS`` is set to the empty string, as a paper dry run sets
    it) writes a checkpoint after every epoch, from which a killed job resumes; a dry run measures without them (a
    save costs per epoch, not per image)."""
    found = cached(job, cache=cache)
    if found is not None:
        return found
    if job.ranks > 1 and not ddp.launched():
        return _run_under_torchrun(job, cache=pathlib.Path(cache or default_cache()))
    from marginlib import augment, train

    if checkpoint is None:
        checkpoint = os.environ.get(train.CHECKPOINTS_ENV) != ""

    folder = pathlib.Path(cache or default_cache()) / job.key()
    partial = folder.with_name(folder.name + ".partial")
    (partial / "snapshots").mkdir(parents=True, exist_ok=True)
    model, method = build_model(job), build_method(job.method)
    train_data = build_data(job.data)
    eval_data = build_data(job.eval_data) if job.eval_data is not None else None
    schedule = dict(job.schedule)
    epochs = schedule.pop("epochs")
    transform = augment.random_crop_flip if schedule.pop("augment", None) == "crop_flip" else None
    keep = set(job.snapshots)
    snapshot = _Snapshot(partial, keep)
    callbacks: dict[str, Any] = {"snapshot": snapshot}
    rule = None
    if job.select is not None:
        select = dict(job.select)
        attack = select.pop("attack", None)
        scales = select.pop("scales", ())
        if attack is not None:
            callbacks[ROBUST_METRIC] = _RobustAccuracy(eval_data, attack, scales=scales)
        rule = train.EarlyStopping(**select, restore_best=True)
    t0 = time.perf_counter()
    try:
        history = train.fit(model, method, train_data, epochs=epochs, **schedule, device=device, seed=job.seed,
                            eval_data=eval_data, eval_train=job.eval_train, callbacks=callbacks,
                            record_at=None if job.select or job.record == "every" else sorted(keep | {epochs}),
                            checkpoint_dir=partial / "checkpoint" if checkpoint else None, progress=progress,
                            early_stopping=rule,
                            augment=transform)
    except FloatingPointError as err:   # a result too: kept, so that the same spec is not trained again
        history, diverged = None, str(err)
    else:
        diverged = None  # type: ignore[assignment]  # TODO: annotate str | None
    if ddp.world()[0] != 0:   # under torchrun rank 0 writes the entry; the others wait for it and read it
        ddp.barrier()
        return Result(folder, json.loads((folder / "result.json").read_text()))
    if history is not None:
        _save(snapshot.last if rule is not None and snapshot.last is not None else model.state_dict(),
              partial / "weights.pt")
    if rule is not None and history is not None:
        _save(model.state_dict(), partial / "selected.pt")
    info = {"key": folder.name, "spec": job.to_dict(), "history": history and history.to_dict(), "selected_epoch":
            history and history.best_epoch, "seconds": round(time.perf_counter() - t0, 2),
            "environment": _environment(device), "data": {"train": train_data.source,
                                                          "eval": getattr(eval_data, "source", None)}}
    if diverged is not None:
        info["diverged"] = diverged
    (partial / "result.json").write_text(json.dumps(info, indent=1, default=str))
    shutil.rmtree(partial / "checkpoint", ignore_errors=True)
    if folder.exists():   # another worker finished the same job first: keep theirs
        shutil.rmtree(partial, ignore_errors=True)
    else:
        os.replace(partial, folder)
    ddp.barrier()
    return Result(folder, json.loads((folder / "result.json").read_text()))


def _run_under_torchrun(job: Job, *, cache: pathlib.Path) -> Result:
    """Train ``job`` with DistributedDataParallel on ``job.ranks`` processes of this node (``torchrun
    --standalone``: one GPU each with CUDA, gloo ranks on the CPU otherwise) and return the entry rank 0 wrote."""
    import subprocess
    import sys

    if torch.cuda.is_available() and torch.cuda.device_count() < job.ranks:
        raise ValueError(f"job ranks={job.ranks} needs {job.ranks} GPUs on this node; it has "
                         f"{torch.cuda.device_count()}")
    cache.mkdir(parents=True, exist_ok=True)
    spec = cache / f".{job.key()}.spec.json"
    spec.write_text(json.dumps(job.to_dict()))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={job.ranks}",
           "-m", "marginlib", "train", str(spec), "--cache", str(cache)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    spec.unlink(missing_ok=True)
    found = cached(job, cache=cache)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"the {job.ranks}-rank run of job {job.key()} failed (exit {done.returncode}):\n"
                           f"{done.stderr[-3000:]}")
    return found


class _Snapshot:
    """A ``fit`` callback (recording nothing): the latest epoch's weights kept in memory (``last``: the final ones
    when training ends, early or not, also when a selection rule restores another epoch's) and the kept epochs'
    written to ``snapshots/epoch-<e>.pt``."""

    def __init__(self, folder: pathlib.Path, epochs: set[int]) -> None:
        self.folder, self.epochs = folder, epochs
        self.last: dict[str, torch.Tensor] | None = None

    def __call__(self, model: nn.Module, epoch: int) -> None:
        if ddp.world()[0] != 0:   # every rank holds the same weights: rank 0 writes them
            return
        self.last = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        if epoch in self.epochs:
            _save(model.state_dict(), self.folder / "snapshots" / f"epoch-{epoch}.pt")


class _RobustAccuracy:
    """A ``fit`` callback: the model's accuracy on ``data`` under the PGD attack ``spec`` (selection metric)."""

    def __init__(self, data: Any, spec: Mapping[str, Any], *, scales: Sequence[str] = ()) -> None:
        _check_keys("select.attack", spec, ("eps", "norm", "steps", "step_size"))
        missing = [k for k in ("eps", "steps", "step_size") if k not in spec]
        if missing:
            raise ValueError(f"job select.attack needs {', '.join(missing)} (PGD from the clean point)")
        self.data, self.spec, self.scales = data, dict(spec), tuple(scales)

    def __call__(self, model: nn.Module, epoch: int) -> float:
        from marginlib import cost, evaluate

        eps = float(self.spec["eps"])
        options = {k: v for k, v in self.spec.items() if k != "eps"}
        device = next(model.parameters()).device
        with cost.work(*self.scales) if self.scales else contextlib.nullcontext():
            return evaluate.robust_accuracy(model, self.data.x.to(device), self.data.y.to(device), eps=[eps],
                                            **options)[eps]


def _save(state: Mapping[str, torch.Tensor], path: pathlib.Path) -> None:
    """Write a state dict atomically (temporary file, then rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save({k: v.detach().cpu() for k, v in state.items()}, tmp)
    os.replace(tmp, path)


def _environment(device: torch.device | str | None) -> dict[str, Any]:
    return {"python": platform.python_version(), "torch": torch.__version__, "device": str(device or "default"),
            "worker": f"{platform.node()}:{os.getpid()}",
            "threads": torch.get_num_threads(), "ranks": ddp.world()[1], "code": code_digest()}
