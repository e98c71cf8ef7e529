"""Margin tracking during training: paper 000 §4.1-4.3, Figs. 2, 5-7.

* :func:`margin_tracker` is a :func:`marginlib.train.fit` callback that measures the Lipschitz lower bound on the
  margin (paper 000, §4.1, eq. (3)) of a fixed subset at chosen epochs;
* :func:`margin_curves` turns the recorded margins into minimum / average margin curves (Figs. 2 and 6) and
  histograms (Figs. 5 and 7).

Used by sections 02 (:mod:`marginlib.papers.p000_minavg.s02_deep`) and 03 (:mod:`marginlib.papers.p000_minavg.s03_amr`).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from marginlib import margins, validate
from marginlib.context import model_device

__all__ = ["MarginCurves", "margin_curves", "margin_tracker"]


def margin_tracker(x: Tensor, y: Tensor, *, radius: float = 5.0, n_samples: int = 1024, n_batches: int = 50,
                   seed: int = 0) -> Callable[[nn.Module, int], Tensor]:
    """A :func:`marginlib.train.fit` callback ``fn(model, epoch) -> margins`` (1-D, on the CPU): the Lipschitz lower
    bound (:func:`marginlib.margins.lipschitz_lower_bound`, paper 000 eq. (3)) of the fixed points ``(x, y)``.

    The sampling generator is reseeded with ``seed`` at every call, so every epoch (and every model) is measured
    with the same random points in the ball: changes between epochs come from the model, not from the sampling.
    """
    validate.batch(x, y, bounds=None)

    def measure(model: nn.Module, epoch: int) -> Tensor:
        device = model_device(model)
        generator = torch.Generator(device=device).manual_seed(seed)
        return margins.lipschitz_lower_bound(model, x.to(device), y.to(device), radius=radius, n_samples=n_samples,
                                             n_batches=n_batches, generator=generator).cpu()

    return measure


@dataclass(frozen=True)
class MarginCurves:
    """Margins recorded at ``epochs``: ``minimum[i]`` and ``average[i]`` summarize ``margins[i]`` (all samples)."""

    epochs: list[int]
    minimum: list[float]
    average: list[float]
    margins: list[np.ndarray]

    def at(self, epoch: int) -> np.ndarray:
        """The margins recorded at ``epoch``."""
        validate.choice("epoch", epoch, self.epochs)
        return self.margins[self.epochs.index(epoch)]


def margin_curves(recorded: Mapping[int, Mapping[str, Tensor]], key: str) -> MarginCurves:
    """Minimum and average margin over the epochs of ``recorded`` (``History.recorded``) under callback ``key``."""
    epochs = sorted(e for e, outputs in recorded.items() if key in outputs)
    if not epochs:
        raise ValueError(f"key={key!r} was not recorded at any epoch; recorded callbacks: "
                         f"{sorted({k for outputs in recorded.values() for k in outputs})}")
    values = [torch.as_tensor(recorded[e][key]).double().numpy() for e in epochs]
    return MarginCurves(epochs, [float(v.min()) for v in values], [float(v.mean()) for v in values], values)
