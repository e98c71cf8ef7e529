"""Minimum-norm attacks on paper 001's L2 MNIST models: robust accuracy at every radius from one unbounded run.

Paper 001 §3 benchmarks its L2 MNIST models with the decision-based Boundary attack of Brendel et al. (2018).
Conventions: a minimum-norm attack runs once per model, unbounded, and a sample counts as correct at ``eps`` while
the perturbation it found is longer than ``eps`` (0 for a misclassified sample, ``inf`` where the attack found none);
the decision-based Boundary attack starts from the nearest (L2) image of the batch that the model labels otherwise
(:func:`nearest_other_label`). Accuracies are fractions in [0, 1]. Models are left in their mode. Used by
:mod:`marginlib.papers.p001_mma.s05_training` (notebooks/05_mma_training.ipynb).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from marginlib import attacks, validate
from marginlib.attacks.projections import lp_norm
from marginlib.context import noparamgrad_and_eval

__all__ = ["minimum_norm_accuracy", "nearest_other_label"]


def minimum_norm_accuracy(model: nn.Module, x: Tensor, y: Tensor, *, eps: Sequence[float], norm: str = "l2",
                          attack: str = "boundary", generator: torch.Generator | None = None,
                          **options: Any) -> tuple[dict[float, float], Tensor]:
    """``({eps: accuracy}, distances)`` of ``model`` under one unbounded run of a foolbox minimum-norm ``attack``
    (:func:`marginlib.attacks.foolbox_attack`; paper 001 §3 benchmarks its L2 MNIST models with the Boundary attack
    of Brendel et al.).

    ``distances[i]`` is the ``norm`` length of the adversarial perturbation found for sample ``i``: 0 where the model
    misclassifies ``x[i]``, ``inf`` where the attack found none. Each is an upper bound on the sample's margin in
    the image box, and the sample counts as correct at radius ``e`` when ``distances[i] > e``, so one run gives every
    radius. ``options`` go to the foolbox attack (e.g. ``steps=``). The decision-based Boundary attack needs an
    adversarial starting point: each sample starts from the nearest (L2) image of the batch that the model does not
    label ``y[i]`` (:func:`nearest_other_label`), and a sample with none keeps ``inf`` (foolbox's own start, blended
    uniform noise, fails for every sample of a class that the model assigns to noise).
    """
    validate.batch(x, y, bounds=(0.0, 1.0))
    validate.choice("attack", attack, sorted({name for name, _ in attacks.FOOLBOX_ATTACKS}))
    radii = [float(validate.nonnegative("eps", e)) for e in eps]
    if not radii:
        raise ValueError("eps must hold at least one radius")
    with noparamgrad_and_eval(model), torch.no_grad():
        pred = model(x).argmax(1)
    correct = pred == y
    distances = torch.full_like(y, math.inf, dtype=x.dtype)
    runs = correct                                   # only correctly classified samples need an attack
    if attack == "boundary":
        start, found = nearest_other_label(x, y, pred)
        runs = correct & found
        options = {**options, "init_attack": _fixed_start(start[runs])}
    if runs.any():
        x_adv = attacks.foolbox_attack(model, x[runs], y[runs], eps=math.inf, norm=norm, attack=attack,
                                       generator=generator, **options)
        with noparamgrad_and_eval(model), torch.no_grad():
            fooled = model(x_adv).argmax(1) != y[runs]
        distances[runs] = torch.where(fooled, lp_norm(x_adv - x[runs], norm), distances[runs])
    distances = torch.where(correct, distances, torch.zeros_like(distances))
    return {e: float((distances > e).double().mean()) for e in radii}, distances.cpu()


def nearest_other_label(x: Tensor, y: Tensor, pred: Tensor) -> tuple[Tensor, Tensor]:
    """``(start, found)``: for each sample the nearest (L2) image of the batch ``x`` whose predicted label ``pred``
    (the model's, shape ``(N,)``) is not ``y[i]`` (the sample itself when it is misclassified), and whether there is
    one. Starting points for the decision-based Boundary attack (Brendel et al., 2018), which walks from any
    adversarial point towards ``x[i]``."""
    flat = x.flatten(1)
    dist = torch.cdist(flat, flat).masked_fill(pred[None, :] == y[:, None], math.inf)
    nearest = dist.argmin(1)
    return x[nearest], torch.isfinite(dist.gather(1, nearest[:, None]).squeeze(1))


def _fixed_start(points: Tensor) -> Any:
    """A foolbox ``MinimizationAttack`` that returns ``points``: the Boundary attack's ``init_attack``."""
    import eagerpy as ep
    from foolbox.attacks.base import MinimizationAttack
    from foolbox.distances import l2

    class FixedStart(MinimizationAttack):
        distance = l2

        def run(self, model: Any, inputs: Any, criterion: Any, *, early_stop: float | None = None,
                **kwargs: Any) -> Any:
            return ep.astensor(points.to(ep.astensor(inputs).raw.device))

    return FixedStart()
