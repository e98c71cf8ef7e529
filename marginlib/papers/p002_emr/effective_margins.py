"""Effective margins of the points a model classifies correctly, and paper 002's Table 1 row.

Paper 002 (§3, Tables 1-2, Figs. 1b-d and 2) reports the effective margin (eq. (3),
:func:`marginlib.margins.effective`) only over *correctly classified* points, "since those images are the
targets of adversarial attacks", as mean +- standard deviation on the training and test sets, and tracks the
test mean during training. Conventions: ``l2`` effective margins (the paper's definition); standard deviation
with Bessel's correction (``torch.std``); mean and std are NaN when no point is correct; accuracies are
fractions in [0, 1].
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from marginlib import cost, evaluate, margins, validate
from marginlib.context import model_device
from marginlib.data import Dataset

__all__ = ["correct_effective", "effective_tracker", "summary", "table_row"]


def correct_effective(model: nn.Module, x: Tensor, y: Tensor, *, batch_size: int = 500) -> Tensor:
    """Effective margins (paper 002, eq. (3), l2) of the points of ``(x, y)`` that ``model`` classifies correctly,
    in their order in ``x``, on the CPU; evaluated in chunks of ``batch_size`` points."""
    keep = evaluate.correct(model, x, y, batch_size=batch_size)
    if not keep.any():
        return torch.empty(0)
    values = evaluate.batched(lambda xb, yb: margins.effective(model, xb, yb), x[keep], y[keep],
                              batch_size=batch_size, device=model_device(model))
    assert isinstance(values, Tensor)
    return values


def summary(values: Tensor) -> tuple[float, float]:
    """``(mean, std)`` of ``values`` (NaN for an empty tensor; std 0 for one value)."""
    if values.numel() == 0:
        return float("nan"), float("nan")
    return float(values.mean()), float(values.std()) if values.numel() > 1 else 0.0


def effective_tracker(x: Tensor, y: Tensor) -> Callable[[nn.Module, int], float]:
    """A :func:`marginlib.train.fit` callback ``fn(model, epoch) -> mean effective margin`` of the correctly
    classified points of ``(x, y)`` (paper 002, Figs. 1b-d and 2: the test-set curves during training)."""
    validate.batch(x, y, bounds=None)
    return lambda model, epoch: summary(correct_effective(model, x, y))[0]


def table_row(model: nn.Module, train: Dataset, test: Dataset, *, eps: float, step_size: float,
              steps: int, sizes: tuple[str, str] = ("n_train", "n_test")) -> dict[str, float]:
    """One row of paper 002's Tables 1-2 for ``model``: ``clean_acc`` and PGD ``robust_acc`` (l-inf, radius
    ``eps``, ``steps`` steps of ``step_size``, no random start, as in the paper's PGD20) on
    ``test``, and the mean and std of the effective margins of the correctly classified points of ``train``
    and ``test`` (``eff_margin_{train,test}_{mean,std}``). ``sizes`` names the parameters of the training and
    test set sizes, the work units' scales (:func:`marginlib.cost.work`)."""
    with cost.work(sizes[1]):
        row = {"clean_acc": evaluate.accuracy(model, test.x, test.y),
               "robust_acc": evaluate.robust_accuracy(model, test.x, test.y, eps=[eps], norm="linf",
                                                      step_size=step_size, steps=steps)[float(eps)]}
    for split, data in (("train", train), ("test", test)):
        with cost.work(sizes[0] if split == "train" else sizes[1]):
            row[f"eff_margin_{split}_mean"], row[f"eff_margin_{split}_std"] = summary(
                correct_effective(model, data.x, data.y))
    return row
