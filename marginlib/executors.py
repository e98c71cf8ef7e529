"""Where work runs: in this process, on a Dask cluster, or on Slurm through submitit.

``run_all(jobs, executor=...)`` returns training jobs' results in order. Jobs already in the cache load; the same
job asked for twice trains once; the others are submitted together and run in parallel. ``map_calls(fn, calls,
executor=...)`` is the one dispatcher behind it, ``[fn(**kwargs) for kwargs in calls]`` on an executor; the book
uses it to execute whole sections on workers (``python -m marginlib book --executor dask-local:2``). Executors:

``local``
    one after another in this process (the default).
``dask-local:N``
    a ``distributed.LocalCluster`` of ``N`` worker processes, one thread each, on this machine.
``dask://host:port``
    an existing Dask scheduler, e.g. one that ``dask-jobqueue`` started on Slurm, PBS or SGE.
``slurm``
    one Slurm job per training through ``submitit``; partition, GPUs, time limit, account and CPUs come from
    ``slurm=`` (a mapping, or the path of a YAML file with those keys: :data:`SLURM_KEYS`).

A section submits its trainings with :func:`train_all`, on the executor its run chose (``python -m marginlib run
NOTEBOOK --executor E`` puts ``E`` in ``$MARGINLIB_EXECUTOR`` and a Slurm configuration file in ``$MARGINLIB_SLURM``
for the kernel; ``local`` by default).

Workers need only the installed package and the shared cache folder (:func:`marginlib.jobs.default_cache`): a
worker trains a job into the cache and the caller loads the result from there (a section executed on a worker needs
the checkout too, on a shared file system: its notebooks, presets and ``results/``). A worker that dies mid-task
(killed, out of memory, preempted) is replaced and its task resubmitted by Dask (up to
``distributed.scheduler.allowed-failures`` times, 3 by default); a training job then resumes from the checkpoint its
last epoch left in the cache's ``<key>.partial/`` folder, to the weights of an uninterrupted run. The cluster
libraries are the ``cluster`` extra (``pip install 'marginlib[cluster]'``), imported only by the executors that need
them.
"""
from __future__ import annotations

import atexit
import os
import pathlib
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from marginlib.jobs import Job, Result, cached, default_cache
from marginlib.jobs import run as run_job

EXECUTORS = ("local", "dask-local:N", "dask://host:port", "slurm")
#: the keys of a Slurm configuration (submitit's names: ``slurm_partition``, ``gpus_per_node``, ...); ``cluster``
#: is submitit's backend, ``slurm`` by default (``local`` runs the jobs as local processes, for a test)
SLURM_KEYS = ("partition", "gpus_per_node", "timeout_min", "account", "cpus_per_task", "mem_gb", "cluster")
#: the environment variables that choose the executor (and Slurm configuration file) of a section's jobs
EXECUTOR_ENV, SLURM_ENV = "MARGINLIB_EXECUTOR", "MARGINLIB_SLURM"
_DASK_LOCAL = re.compile(r"^dask-local:([1-9][0-9]*)$")
T = TypeVar("T")
#: the local Dask clusters this process started, by executor name, with their clients
_clusters: dict[str, tuple[Any, Any]] = {}


def check_executor(executor: str) -> str:
    """``executor`` if it is one of :data:`EXECUTORS` (``N`` a positive count), else a ``ValueError`` listing
    them."""
    if executor in ("local", "slurm") or _DASK_LOCAL.match(executor) or (
            executor.startswith("dask://") and len(executor) > len("dask://")):
        return executor
    raise ValueError(f"executor={executor!r} is not valid; choose one of: {', '.join(EXECUTORS)}")


def run_all(jobs: Sequence[Job], *, executor: str = "local", cache: str | os.PathLike | None = None,
            slurm: Mapping[str, Any] | str | os.PathLike | None = None) -> list[Result]:
    """The results of ``jobs``, in order: cached ones loaded, the others trained on ``executor``."""
    check_executor(executor)
    folder = pathlib.Path(cache or default_cache()).absolute()
    options = _slurm_options(slurm) if executor == "slurm" else {}
    todo = {job.key(): job for job in jobs if cached(job, cache=folder) is None}
    map_calls(train_spec, [{"spec": job.to_dict(), "cache": str(folder)} for job in todo.values()],
              executor=executor, folder=folder, slurm=options)
    results = [cached(job, cache=folder) for job in jobs]
    missing = [job.key() for job, r in zip(jobs, results) if r is None]
    if missing:
        raise RuntimeError(f"jobs {missing} finished on {executor!r} but are not in the cache {folder}: the workers "
                           "must share that folder")
    return [r for r in results if r is not None]


def chosen() -> str:
    """The executor a run chose for its section's jobs: ``$MARGINLIB_EXECUTOR`` (checked), else ``local``."""
    return check_executor(os.environ.get(EXECUTOR_ENV) or "local")


def train_all(jobs: Sequence[Job], *, cache: str | os.PathLike | None = None) -> list[Result]:
    """A section's trainings: :func:`run_all` on the :func:`chosen` executor (Slurm options from
    ``$MARGINLIB_SLURM``), every job not in the cache submitted at once."""
    return run_all(jobs, executor=chosen(), cache=cache, slurm=os.environ.get(SLURM_ENV) or None)


def train_spec(spec: Mapping[str, Any], cache: str) -> str:
    """What a worker runs: train the job ``spec`` into ``cache``; returns its result's folder."""
    return str(run_job(Job.from_dict(spec), cache=cache).path)


def map_calls(fn: Callable[..., T], calls: Sequence[Mapping[str, Any]], *, executor: str = "local",
              folder: str | os.PathLike, slurm: Mapping[str, Any] | str | os.PathLike | None = None) -> list[T]:
    """``[fn(**kwargs) for kwargs in calls]``, computed on ``executor`` and returned in order.

    ``local`` calls ``fn`` here, one call after another; the other executors submit every call at once and wait for
    all of them; a call that fails raises its error here. ``fn`` must be importable on the workers (a
    module-level function of the installed package) and its keyword arguments and result picklable; ``folder``
    (shared with the workers) receives submitit's logs under ``submitit/``. ``slurm`` as in :func:`run_all`.
    """
    check_executor(executor)
    if not calls:
        return []
    if executor == "local":
        return [fn(**kwargs) for kwargs in calls]
    if executor.startswith("dask"):
        return _on_dask(executor, fn, calls)
    return _on_slurm(_slurm_options(slurm), fn, calls, pathlib.Path(folder))


def call(fn: Callable[..., T], kwargs: Mapping[str, Any]) -> T:
    """``fn(**kwargs)``: the task a worker runs for :func:`map_calls`."""
    return fn(**kwargs)


def _on_dask(executor: str, fn: Callable[..., T], calls: Sequence[Mapping[str, Any]]) -> list[T]:
    try:
        from distributed import Client, LocalCluster
    except ImportError as err:   # pragma: no cover - the test environment has the cluster extra
        raise RuntimeError(f"executor={executor!r} needs Dask: pip install 'marginlib[cluster]' ({err})") from err
    n = len(calls)
    local = _DASK_LOCAL.match(executor)
    if local:   # one cluster per process, kept for its later submissions (a section submits several times)
        if executor not in _clusters:
            cluster = LocalCluster(n_workers=int(local.group(1)), threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            _clusters[executor] = (cluster, Client(cluster))
            atexit.register(_close, executor)
        client = _clusters[executor][1]
        return list(client.gather(client.map(call, [fn] * n, [dict(c) for c in calls], pure=False)))
    with Client(executor.removeprefix("dask://")) as client:
        return list(client.gather(client.map(call, [fn] * n, [dict(c) for c in calls], pure=False)))


def _close(executor: str) -> None:
    """Shut down the local cluster of ``executor`` (at exit)."""
    cluster, client = _clusters.pop(executor, (None, None))
    if client is not None:
        client.close()
        cluster.close()


def _on_slurm(options: Mapping[str, Any], fn: Callable[..., T], calls: Sequence[Mapping[str, Any]],
              folder: pathlib.Path) -> list[T]:
    try:
        import submitit
    except ImportError as err:   # pragma: no cover
        raise RuntimeError(f"executor='slurm' needs submitit: pip install 'marginlib[cluster]' ({err})") from err
    settings = dict(options)
    cluster = settings.pop("cluster", None)
    if cluster in (None, "slurm") and shutil.which("sbatch") is None:   # submitit would fall back to local processes
        raise RuntimeError("executor='slurm' needs Slurm: sbatch is not on PATH here (run from a Slurm login node; "
                           "`cluster: local` in the configuration runs the jobs as local processes, for a test)")
    executor = submitit.AutoExecutor(folder=str(folder / "submitit"), cluster=cluster)
    names = {"partition": "slurm_partition", "account": "slurm_account"}
    executor.update_parameters(**{names.get(k, k): v for k, v in settings.items()})
    submitted = executor.map_array(call, [fn] * len(calls), [dict(c) for c in calls])
    return [job.result() for job in submitted]


def _slurm_options(slurm: Mapping[str, Any] | str | os.PathLike | None) -> dict[str, Any]:
    """A Slurm configuration from a mapping or a YAML file, checked against :data:`SLURM_KEYS`."""
    if slurm is None:
        return {}
    if not isinstance(slurm, Mapping):
        import yaml

        slurm = yaml.safe_load(pathlib.Path(slurm).read_text()) or {}
        if not isinstance(slurm, Mapping):
            raise ValueError("a Slurm configuration file holds a mapping of " + ", ".join(SLURM_KEYS))
    unknown = sorted(set(slurm) - set(SLURM_KEYS))
    if unknown:
        raise ValueError(f"Slurm configuration: unknown key(s) {', '.join(unknown)}; valid: {', '.join(SLURM_KEYS)}")
    return dict(slurm)
