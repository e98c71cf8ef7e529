"""Accuracy under white-box and transfer attacks, the grid of paper 001's Table 1.

Adversarial examples are crafted on a **source** model and every **target** model is evaluated on them: when source
and target are the same model the attack is white-box, otherwise it is a transfer attack (Table 1: attacks from the
MMA model, the PGD-trained model and a standardly trained model, evaluated on both robust models).

Conventions: every radius in ``eps`` is attacked in one batched run (the batch is repeated once per radius, each copy
with its own radius); PGD starts at a random point of the ball and steps ``2.5 eps / steps`` (Madry et al.; paper 001's
evaluation) unless ``step_size`` is given, and keeps each sample's most adversarial iterate over steps and restarts on
the source model; FGSM is one step of length ``eps``. A minimum-norm attack (paper 001 evaluates its L2 MNIST models
with the decision-based Boundary attack) runs once per model, unbounded, and a sample counts as correct at ``eps``
while the perturbation it found is longer than ``eps``. A target is correct on a sample when it classifies the
adversarial image correctly (so a sample it misclassifies clean can still count when the source's perturbation happens
to fix it, as in the paper's transfer numbers). Accuracies are fractions in [0, 1]. Models are left in their mode.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from marginlib import attacks, validate
from marginlib.attacks.projections import lp_norm
from marginlib.context import model_device, noparamgrad_and_eval

__all__ = ["ATTACKS", "accuracy_under_attack", "attack_table", "minimum_norm_accuracy", "nearest_other_label"]

ATTACKS = ("pgd", "fgsm")


def accuracy_under_attack(source: nn.Module, targets: Mapping[str, nn.Module], x: Tensor, y: Tensor, *,
                          eps: Sequence[float], norm: str = "linf", attack: str = "pgd", steps: int = 100,
                          restarts: int = 1, step_size: float | None = None,
                          generator: torch.Generator | None = None,
                          batch_size: int = 500) -> dict[str, dict[float, float]]:
    """``{target: {eps: accuracy}}`` of every target on the examples crafted on ``source`` (paper 001, Table 1).

    ``attack="pgd"`` runs ``restarts`` random starts of ``steps`` steps (cross-entropy; ``step_size`` default
    ``2.5 eps / steps`` per radius); ``attack="fgsm"`` ignores ``steps``, ``restarts`` and ``step_size``.
    ``batch_size`` counts original samples; each batch is repeated ``len(eps)`` times.
    """
    validate.batch(x, y, bounds=(0.0, 1.0))
    validate.norm(norm)
    validate.choice("attack", attack, ATTACKS)
    validate.positive("steps", steps)
    validate.positive("restarts", restarts)
    validate.positive("batch_size", batch_size)
    if not targets:
        raise ValueError("targets must name at least one model")
    radii = [float(validate.nonnegative("eps", e)) for e in eps]
    if not radii:
        raise ValueError("eps must hold at least one radius")
    device = model_device(source)
    k = len(radii)
    correct = {name: torch.zeros(k, dtype=torch.long) for name in targets}
    for xb, yb in zip(x.split(batch_size), y.split(batch_size)):
        xb, yb = xb.to(device), yb.to(device)
        xs, ys = xb.repeat(k, *([1] * (xb.dim() - 1))), yb.repeat(k)
        radius = torch.tensor(radii, dtype=xb.dtype, device=device).repeat_interleave(len(yb))
        if attack == "fgsm":
            x_adv = attacks.fgsm(source, xs, ys, eps=radius, norm=norm)
        else:
            step = 2.5 * radius / steps if step_size is None else step_size
            x_adv = attacks.pgd(source, xs, ys, eps=radius, step_size=step, steps=steps, norm=norm,
                                random_start=True, restarts=restarts, generator=generator)
        for name, target in targets.items():
            with noparamgrad_and_eval(target), torch.no_grad():
                hit = (target(x_adv.to(model_device(target))).argmax(1) == ys.to(model_device(target)))
            correct[name] += hit.view(k, len(yb)).sum(1).cpu()
    return {name: {e: int(c) / len(y) for e, c in zip(radii, counts)} for name, counts in correct.items()}


def attack_table(sources: Mapping[str, nn.Module], targets: Mapping[str, nn.Module], x: Tensor, y: Tensor, *,
                 eps: Sequence[float], norm: str = "linf", steps: Sequence[int] = (40, 100),
                 restarts: Sequence[int] = (1, 50), fgsm: bool = True, seed: int = 0,
                 batch_size: int = 500) -> list[dict]:
    """Paper 001's Table 1 as rows ``{"attack", "eps", "steps", "restarts", "source", <target>: accuracy, ...}``:
    for every source, FGSM (``steps``/``restarts`` None) and PGD with every ``steps`` x ``restarts``, at every eps.

    Each PGD setting draws its random starts from a generator seeded with ``seed`` (the same starts for every
    source), so a row never depends on the order in which the others were computed.
    """
    rows = []
    settings = ([("fgsm", None, None)] if fgsm else []) + [("pgd", s, r) for s in steps for r in restarts]
    for source_name, source in sources.items():
        for attack, n_steps, n_restarts in settings:
            generator = torch.Generator(device=model_device(source)).manual_seed(seed)
            acc = accuracy_under_attack(source, targets, x, y, eps=eps, norm=norm, attack=attack,
                                        steps=n_steps or 1, restarts=n_restarts or 1, generator=generator,
                                        batch_size=batch_size)
            for e in acc[next(iter(targets))]:
                rows.append({"attack": attack.upper(), "eps": e, "steps": n_steps, "restarts": n_restarts,
                             "source": source_name, **{name: acc[name][e] for name in targets}})
    return rows


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

        def run(self, model, inputs, criterion, *, early_stop=None, **kwargs):
            return ep.astensor(points.to(ep.astensor(inputs).raw.device))

    return FixedStart()
