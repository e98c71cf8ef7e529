"""The trainer behind every section of the book: :func:`fit` trains a model with a method.

Conventions
-----------
* Epochs are 1-based; ``record_at`` may include 0 (the initial model). Metrics of epoch ``e`` describe the
  model after its ``e``-th pass over the training data.
* Shuffling uses an explicit generator seeded from ``(seed, epoch)``, so every epoch's order is known
  without replaying earlier epochs. The per-sample random draws, the ``augment`` hook's and the method's (random
  starts, TRADES' noise), are keyed by ``(seed, epoch, dataset position)`` (:class:`marginlib.rng.SampleDraws`), so
  a sample draws the same numbers whatever batch or rank it is in. Torch's global generator (dropout) is reseeded
  every epoch from ``(seed, epoch)`` inside a fork of the global random state (the caller's state is untouched), so
  two runs with the same ``seed`` draw the same dropout masks whatever ran before them (dropout is not keyed by
  sample: under DistributedDataParallel its masks depend on the number of ranks). A run killed after epoch ``k``
  and resumed ends with the same weights as one uninterrupted run (CPU, same threads).
* Under ``torchrun`` (a process group with several ranks) :func:`fit` trains with DistributedDataParallel
  (:mod:`marginlib.ddp`): each rank takes its share of every batch, the epoch statistics are summed over the ranks,
  per-sample memories (MMA's eps) are merged after every epoch, and only rank 0 writes checkpoints.
* Checkpoints hold only tensors, dicts, lists and numbers and load with ``torch.load(weights_only=True)``;
  they are written to a temporary file and moved into place (``os.replace``), so a kill never leaves a
  half-written checkpoint.
* ``train_error``/``train_loss`` are measured on the clean training set in eval mode after each epoch
  (``eval_train=True``); ``test_error``/``test_loss`` likewise on ``eval_data``.
"""
from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import io
import json
import os
import pathlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from marginlib import ddp, validate
from marginlib.context import eval_mode, model_device
from marginlib.data import Dataset
from marginlib.evaluate import batched
from marginlib.methods.base import Method
from marginlib.optim import multistep, sgd
from marginlib.rng import Draws, SampleDraws

CHECKPOINT = "checkpoint.pt"
#: a folder: when set and ``checkpoint_dir`` is not given, every :func:`fit` checkpoints into its own subfolder,
#: named by a digest of its configuration, epochs and initial weights, so a killed run resumes and a finished one
#: loads (``python -m marginlib run --profile paper`` sets it to ``checkpoints/<notebook>``)
CHECKPOINTS_ENV = "MARGINLIB_CHECKPOINTS"
Callback = Callable[[nn.Module, int], Any]
Augment = Callable[[torch.Tensor, Draws], torch.Tensor]


@dataclasses.dataclass
class EarlyStopping:
    """Model selection on a per-epoch metric (paper 002 keeps the model with the best validation robust
    accuracy). ``metric`` names a history column, e.g. ``"test_error"`` or a callback returning a number;
    with ``patience`` set, training stops after that many epochs without improvement. With
    ``restore_best`` the model ends with the weights of the best epoch."""

    metric: str = "test_error"
    mode: str = "min"
    patience: int | None = None
    restore_best: bool = True

    def __post_init__(self) -> None:
        validate.choice("mode", self.mode, ("min", "max"))
        if self.patience is not None:
            validate.positive("patience", self.patience)

    def better(self, value: float, best: float | None) -> bool:
        return best is None or (value < best if self.mode == "min" else value > best)


@dataclasses.dataclass
class History:
    """Per-epoch metrics (``rows``: one dict per epoch with ``epoch``, ``lr``, ``loss``, errors and method
    statistics) and callback outputs at the recorded epochs (``recorded[epoch][name]``)."""

    rows: list[dict[str, float]] = dataclasses.field(default_factory=list)
    recorded: dict[int, dict[str, Any]] = dataclasses.field(default_factory=dict)
    best_epoch: int | None = None
    stopped_early: bool = False

    def column(self, name: str) -> list[float]:
        """The values of metric ``name`` over the epochs that have it."""
        return [row[name] for row in self.rows if name in row]

    @property
    def epochs(self) -> list[int]:
        return [int(row["epoch"]) for row in self.rows]

    def to_dict(self) -> dict[str, Any]:
        return {"rows": [dict(r) for r in self.rows],
                "recorded": [[e, dict(v)] for e, v in sorted(self.recorded.items())],
                "best_epoch": self.best_epoch, "stopped_early": self.stopped_early}

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> History:
        return cls(rows=[dict(r) for r in state["rows"]], recorded={int(e): dict(v) for e, v in state["recorded"]},
                   best_epoch=state["best_epoch"], stopped_early=state["stopped_early"])


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@torch.no_grad()
def error_and_loss(model: nn.Module, data: Dataset, *, batch_size: int = 512) -> dict[str, float]:
    """Clean ``error`` (fraction misclassified) and mean cross-entropy ``loss`` of ``model`` in eval mode."""

    def sums(xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        logits = model(xb)
        return torch.stack([(logits.argmax(1) != yb).sum().float(),
                            F.cross_entropy(logits, yb, reduction="sum")]).view(1, 2)

    with eval_mode(model):
        per_batch = batched(sums, data.x, data.y, batch_size=batch_size, device=model_device(model))
    assert isinstance(per_batch, torch.Tensor)
    wrong = sum(float(v) for v in per_batch[:, 0])
    total_loss = sum(float(v) for v in per_batch[:, 1])
    n = len(data.y)
    return {"error": wrong / n, "loss": total_loss / n}


#: the optimizers :func:`fit` can train with
OPTIMIZERS = ("sgd", "adam")


def fit(model: nn.Module, method: Method, train_data: Dataset, *, epochs: int, batch_size: int = 128,
        lr: float = 0.01, momentum: float = 0.9, nesterov: bool = False, weight_decay: float = 0.0,
        milestones: Sequence[int] = (), gamma: float = 0.1, decay_regularizer: bool = False,
        device: torch.device | str | None = None, seed: int = 0, eval_data: Dataset | None = None,
        eval_train: bool = True, callbacks: Mapping[str, Callback] | None = None,
        record_at: Sequence[int] | None = None, checkpoint_dir: str | os.PathLike | None = None,
        resume: bool = True, progress: bool = True, early_stopping: EarlyStopping | None = None,
        augment: Augment | None = None, optimizer: str = "sgd") -> History:
    """Train ``model`` in place with ``method`` by SGD and return its :class:`History`.

    ``optimizer="adam"`` trains with Adam instead (``lr`` and ``weight_decay`` as given, PyTorch's default betas;
    ``momentum`` and ``nesterov`` unused): paper 001's released MNIST code trains with Adam at 1e-4.

    ``lr`` is multiplied by ``gamma`` after each epoch in ``milestones`` (:func:`marginlib.optim.multistep`);
    ``decay_regularizer=True`` scales the method's regularizer weights by the same factor (paper 002).
    ``callbacks`` maps names to ``fn(model, epoch)``, called (model in eval mode) at the epochs in
    ``record_at`` (default: every epoch; 0 = before training); their outputs go to ``history.recorded``,
    and numbers also to that epoch's row (so early stopping can select on them); NumPy and torch scalars are stored as
    Python numbers and NumPy arrays as tensors (so checkpoints load with ``weights_only=True``); an output that is
    not a number, string, tensor or ``None`` (or a dict, list or tuple of them) raises ``TypeError`` naming the
    callback.
    With ``checkpoint_dir``
    a checkpoint is written after every epoch and, with ``resume=True``, training continues from it.
    ``augment(x, draws)`` (e.g. :func:`marginlib.augment.random_crop_flip`) transforms every training batch on
    ``device`` before the method sees it, drawing from draws keyed by ``(seed, epoch)`` and each image's position, so
    a resumed run augments exactly as an uninterrupted one; the training and test errors are measured on the clean data.
    A non-finite loss raises ``FloatingPointError`` naming the epoch and batch.

    In a process group of several ranks (``torchrun``), the model trains wrapped in DistributedDataParallel on the
    ranks' shares of each batch (module docstring); every rank returns the same history and weights. The method must
    be ``shardable`` (:class:`~marginlib.methods.base.Method`), and every batch must have a sample per rank.
    """
    validate.positive("epochs", epochs)
    validate.positive("batch_size", batch_size)
    validate.batch(train_data.x, train_data.y, bounds=getattr(train_data, "bounds", (0.0, 1.0)))
    device = torch.device(device) if device is not None else default_device()
    callbacks = dict(callbacks or {})
    if early_stopping is not None and early_stopping.metric.startswith("test_") and eval_data is None:
        raise ValueError(f"early_stopping selects on {early_stopping.metric!r}, which needs eval_data")
    record_epochs = set(range(epochs + 1) if record_at is None else record_at)
    n = len(train_data.y)
    rank, ranks = ddp.world()
    if ranks > 1:
        if not method.shardable:
            raise ValueError(f"method {method!r} cannot train under DistributedDataParallel: its loss is not a mean "
                             "of per-sample terms, or it reads the model's parts past the wrapper (see its docstring)")
        if 0 < n % batch_size < ranks:
            raise ValueError(f"the last batch has {n % batch_size} samples (n={n}, batch_size={batch_size}), fewer "
                             f"than the {ranks} ranks: choose a batch_size that leaves none or at least {ranks}")
    was_training = model.training
    model.to(device)
    validate.choice("optimizer", optimizer, OPTIMIZERS)
    kind = optimizer
    opt: torch.optim.Optimizer = (
        sgd(model, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay) if kind == "sgd"
        else torch.optim.Adam(model.parameters(), lr=validate.positive("lr", lr), weight_decay=weight_decay))
    method.setup(device=device, seed=seed)
    net = ddp.wrap(model, device) if ranks > 1 else model
    history = History()
    best: dict[str, Any] = {"value": None, "model": None}
    start = 1
    config = _configuration(model, method, train_data, lr=lr, momentum=momentum, nesterov=nesterov,
                            weight_decay=weight_decay, milestones=list(milestones), gamma=gamma,
                            decay_regularizer=decay_regularizer, seed=seed, batch_size=batch_size,
                            augment=augment is not None, **({} if kind == "sgd" else {"optimizer": kind}))
    if checkpoint_dir is None and os.environ.get(CHECKPOINTS_ENV):
        checkpoint_dir = pathlib.Path(os.environ[CHECKPOINTS_ENV]) / _run_key(model, config, epochs=epochs)
    path = pathlib.Path(checkpoint_dir) / CHECKPOINT if checkpoint_dir is not None else None
    if path is not None:
        existing = next(f for f in (path.parent, *path.parent.parents) if f.exists())
        if not existing.is_dir():
            raise NotADirectoryError(f"checkpoint_dir={str(checkpoint_dir)!r} cannot be a folder: {existing} is a file")
    if path is not None and resume and path.exists():
        start = _restore(path, model, opt, method, history, best, device, config=config) + 1
    elif 0 in record_epochs:
        _record(model, 0, callbacks, history)

    progress = progress and rank == 0
    bar = _progress(range(start, epochs + 1), total=epochs, initial=start - 1, enabled=progress)
    with _own_global_rng():
        for epoch in bar:
            if history.stopped_early:
                break
            torch.manual_seed(_epoch_seed(seed, epoch, stream=2))   # dropout (and any other global draw)
            factor = multistep(epoch, milestones=milestones, gamma=gamma)
            for group in opt.param_groups:
                group["lr"] = lr * factor
            method.set_reg_scale(factor if decay_regularizer else 1.0)
            t0 = time.perf_counter()
            model.train()
            sums: dict[str, torch.Tensor] = {}
            order = torch.randperm(n, generator=torch.Generator().manual_seed(_epoch_seed(seed, epoch)))
            trained = []
            for b, index in enumerate(order.split(batch_size)):
                mine = ddp.share(index, rank=rank, ranks=ranks)
                trained.append(mine)
                keys = mine.to(device)
                x, y = train_data.x[mine].to(device), train_data.y[mine].to(device)
                if augment is not None:
                    x = augment(x, SampleDraws(seed=_epoch_seed(seed, epoch, stream=1), index=keys))
                method.draw_for(SampleDraws(seed=_epoch_seed(seed, epoch, stream=3), index=keys))
                loss, stats = method.loss(net, x, y, index=keys)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"non-finite loss ({float(loss.detach())}) at epoch {epoch}, batch {b} "
                                             f"(method {method!r}, lr {lr * factor:g})")
                opt.zero_grad(set_to_none=True)
                # DDP averages the ranks' gradients: weighting each share by its size gives the whole batch's mean
                (loss * (len(mine) * ranks / len(index)) if ranks > 1 else loss).backward()
                if method.max_grad_norm is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), method.max_grad_norm)
                opt.step()
                method.after_step(model)
                for key, value in {"loss": loss.detach(), **stats}.items():
                    sums[key] = sums.get(key, 0.0) + value.detach().float() * len(mine)
            if ranks > 1:
                sums = {key: ddp.all_sum(torch.as_tensor(sums[key]), device=device) for key in sorted(sums)}
                method.sync_samples(functools.partial(ddp.merge_rows, rows=torch.cat(trained), n=n, device=device))
            method.after_epoch(model, epoch)
            row: dict[str, float] = {"epoch": int(epoch), "lr": float(lr * factor), "seconds": time.perf_counter() - t0}
            row.update({key: float(total) / n for key, total in sums.items()})
            if eval_train:
                row.update({f"train_{k}": v for k, v in error_and_loss(model, train_data).items()})
            if eval_data is not None:
                row.update({f"test_{k}": v for k, v in error_and_loss(model, eval_data).items()})
            history.rows.append(row)
            if epoch in record_epochs:
                row.update(_record(model, epoch, callbacks, history))
            if early_stopping is not None:
                if early_stopping.metric not in row and early_stopping.metric not in callbacks:
                    raise ValueError(f"early_stopping selects on {early_stopping.metric!r}, which is neither a column "
                                     f"of the history ({', '.join(sorted(row))}) nor a callback")
                _select(early_stopping, model, epoch, row, history, best)
            if progress:
                bar.set_postfix({k: f"{row[k]:.4g}" for k in ("loss", "train_error", "test_error") if k in row})
            if path is not None and rank == 0:
                _save(path, model, opt, method, history, best, epoch, config=config)
    if early_stopping is not None and early_stopping.restore_best and best["model"] is not None:
        model.load_state_dict(best["model"])
    model.train(was_training)
    return history


def _own_global_rng() -> Any:
    """Fork torch's global random state (CPU and every CUDA device) while training: :func:`fit` seeds it every epoch
    from ``(seed, epoch)`` (dropout draws from it), and the caller finds it as it was."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    return torch.random.fork_rng(devices=devices)


def _epoch_seed(seed: int, epoch: int, *, stream: int = 0) -> int:
    """The seed of epoch ``epoch``'s random stream number ``stream`` (0: shuffling, 1: augmentation, 2: torch's global
    generator, which dropout uses, 3: the method's draws), distinct for the streams of one epoch (``stream < 8``)."""
    if not 0 <= stream < 8:
        raise ValueError(f"stream must be in 0..7, got {stream!r}")
    return ((seed * 1_000_003 + epoch) * 8 + stream) % (2**63)


def _plain(value: Any, where: str, when: str = "") -> Any:
    """``value`` in the types a ``weights_only`` checkpoint holds: NumPy and torch scalars (0-d arrays and
    tensors too) become Python ``bool``/``int``/``float``, other NumPy arrays torch tensors (detached), inside
    dicts, lists and tuples as well; anything else raises ``TypeError`` naming ``where`` (and ``when``)."""
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, torch.Tensor):
        value = value.detach()
        return value.item() if value.dim() == 0 else value
    if isinstance(value, (np.generic, np.ndarray)) and value.dtype.kind in "biuf":
        return value.item() if value.ndim == 0 else torch.from_numpy(np.array(value))
    for plain in (bool, int, float, str):  # subclasses, e.g. np.float64 (a float) or an IntEnum
        if isinstance(value, plain):
            return plain(value)
    if isinstance(value, Mapping):
        return {_plain(k, where, when): _plain(v, where, when) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v, where, when) for v in value)
    numpy = isinstance(value, (np.generic, np.ndarray))
    kind = f"a NumPy {value.dtype} value" if numpy else f"a {type(value).__name__}"
    raise TypeError(f"{where} returned {kind}{when}: return a number, a tensor, or a dict or list of them (the history "
                    "goes into checkpoints, which load with torch.load(weights_only=True))")


def _record(model: nn.Module, epoch: int, callbacks: Mapping[str, Callback], history: History) -> dict[str, float]:
    """Run the callbacks at ``epoch``; return their numeric outputs (for the epoch's row).

    Outputs are stored as plain Python numbers and tensors (:func:`_plain`), so checkpoints stay loadable."""
    if not callbacks:
        return {}
    with eval_mode(model):
        outputs = {name: _plain(fn(model, epoch), f"callback {name!r}", f" at epoch {epoch}")
                   for name, fn in callbacks.items()}
    history.recorded[epoch] = outputs
    return {k: float(v) for k, v in outputs.items()
            if isinstance(v, (int, float)) or (isinstance(v, torch.Tensor) and v.numel() == 1)}


def _select(rule: EarlyStopping, model: nn.Module, epoch: int, row: Mapping[str, float], history: History,
            best: dict[str, Any]) -> None:
    if rule.metric not in row:
        return
    if rule.better(row[rule.metric], best["value"]):
        best["value"] = row[rule.metric]
        history.best_epoch = epoch
        if rule.restore_best:
            best["model"] = copy.deepcopy({k: v.detach().clone() for k, v in model.state_dict().items()})
    elif rule.patience is not None and history.best_epoch is not None and epoch - history.best_epoch >= rule.patience:
        history.stopped_early = True


def _configuration(model: nn.Module, method: Method, train_data: Dataset, **options: Any) -> dict[str, Any]:
    """What a checkpoint must have been trained with to be resumed: the trainer's options, the method (its repr),
    the model's parameter names and shapes, and a digest of the training data (labels and every 64th input)."""
    step = max(1, len(train_data.y) // 64)
    digest = hashlib.sha256(train_data.y.cpu().numpy().tobytes())
    digest.update(train_data.x[::step].detach().cpu().float().numpy().tobytes())
    digest.update(str(tuple(train_data.x.shape)).encode())
    return {**options, "method": _describe(method), "data": digest.hexdigest()[:16],
            "model": [[name, list(p.shape)] for name, p in model.state_dict().items()]}


def _raw_bytes(tensor: torch.Tensor) -> bytes:
    """The bytes of ``tensor``'s values, whatever its dtype (for digests)."""
    return bytes(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())


def _describe(value: Any, depth: int = 0) -> Any:
    """A JSON-able description of a method's settings (its public attributes, nested methods included; tensors by
    shape, dtype and digest; the random draws left out), for the checkpoint configuration."""
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, torch.Tensor):
        return ["tensor", list(value.shape), str(value.dtype), hashlib.sha256(_raw_bytes(value)).hexdigest()[:12]]
    if isinstance(value, (list, tuple)):
        return [_describe(v, depth + 1) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _describe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, Method) and depth < 8:
        return {"class": type(value).__name__,
                **{k: _describe(v, depth + 1) for k, v in sorted(vars(value).items())
                   if not k.startswith("_") and not isinstance(v, (torch.Generator, SampleDraws))}}
    return getattr(value, "__qualname__", type(value).__name__)


def _run_key(model: nn.Module, config: dict[str, Any], *, epochs: int) -> str:
    """The automatic checkpoint folder of a training run: a digest of its configuration, its number of epochs and
    the model's initial weights (two runs that differ only in their initialization get different folders)."""
    digest = hashlib.sha256(json.dumps({**config, "epochs": epochs}, sort_keys=True, default=str).encode())
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(_raw_bytes(tensor))
    return digest.hexdigest()[:20]


def load_checkpoint(path: str | os.PathLike, *, map_location: torch.device | str | None = None) -> dict[str, Any]:
    """The training state in a checkpoint written by :func:`fit`, after checking its SHA-256 digest; a file that is
    unreadable, truncated or altered raises ``RuntimeError`` naming it (delete it to train from the start).

    The file holds the serialized state as bytes beside their digest, so a flipped byte anywhere is caught before
    a tensor is loaded; both levels load with ``weights_only=True``."""
    try:
        outer = torch.load(path, map_location="cpu", weights_only=True)
        payload = bytes(outer["payload"].numpy().tobytes())
        if hashlib.sha256(payload).hexdigest() != outer["sha256"]:
            raise ValueError("its SHA-256 digest does not match its contents")
        return dict(torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True))
    except Exception as err:  # any failure here means the file cannot be trusted
        raise RuntimeError(f"checkpoint {path} is unreadable or corrupted ({type(err).__name__}: {err}); "
                           "delete it to train from the start") from err


def _save(path: pathlib.Path, model: nn.Module, optimizer: torch.optim.Optimizer, method: Method,
          history: History, best: dict[str, Any], epoch: int, *, config: dict[str, Any]) -> None:
    state = {
        "epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
        "method": method.state_dict(), "history": history.to_dict(), "best": best, "config": config,
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"sha256": hashlib.sha256(payload).hexdigest(),
                "payload": torch.frombuffer(bytearray(payload), dtype=torch.uint8)}, tmp)
    os.replace(tmp, path)


def _restore(path: pathlib.Path, model: nn.Module, optimizer: torch.optim.Optimizer, method: Method,
             history: History, best: dict[str, Any], device: torch.device, *, config: dict[str, Any]) -> int:
    """Load a checkpoint written by :func:`_save` into the given objects; return its epoch. A checkpoint of
    another configuration (options, method, model or data) raises ``ValueError`` naming what differs."""
    state = load_checkpoint(path, map_location=device)
    saved = state.get("config", {})
    differs = sorted(k for k in set(saved) | set(config) if saved.get(k) != config.get(k))
    if differs:
        shown = "; ".join(f"{k}: checkpoint {saved.get(k)!r}, now {config.get(k)!r}" for k in differs)
        raise ValueError(f"checkpoint {path} was written by another training configuration ({shown[:600]}); "
                         "use another checkpoint_dir, resume=False, or the original settings")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    method.load_state_dict(state["method"])
    restored = History.from_dict(state["history"])
    history.rows, history.recorded = restored.rows, restored.recorded
    history.best_epoch, history.stopped_early = restored.best_epoch, restored.stopped_early
    best.update(state["best"])
    return int(state["epoch"])


def _progress(iterable: Iterable[int], *, total: int, initial: int, enabled: bool) -> Any:
    if not enabled:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, initial=initial, unit="epoch", leave=False)
