"""Accuracy under white-box and transfer attacks, the grid of paper 001's Table 1.

Adversarial examples are crafted on a **source** model and every **target** model is evaluated on them: when source
and target are the same model the attack is white-box, otherwise it is a transfer attack (Table 1: attacks from the
MMA model, the PGD-trained model and a standardly trained model, evaluated on both robust models).

Conventions: every radius in ``eps`` is attacked in one batched run (the batch is repeated once per radius, each copy
with its own radius); PGD starts at a random point of the ball and steps ``2.5 eps / steps`` (Madry et al.; paper 001's
evaluation) unless ``step_size`` is given, and keeps each sample's most adversarial iterate over steps and restarts on
the source model; FGSM is one step of length ``eps``. (The minimum-norm Boundary attack of the L2 grid is in
:mod:`marginlib.papers.p001_mma.boundary`.) A target is correct on a sample when it classifies the
adversarial image correctly (so a sample it misclassifies clean can still count when the source's perturbation happens
to fix it, as in the paper's transfer numbers). Accuracies are fractions in [0, 1]. Models are left in their mode.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from marginlib import attacks, evaluate, validate
from marginlib.context import model_device, noparamgrad_and_eval

__all__ = ["ATTACKS", "accuracy_under_attack", "attack_table"]

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
    k = len(radii)
    if attack == "fgsm":
        runs = evaluate.at_radii(lambda xs, ys, radius: attacks.fgsm(source, xs, ys, eps=radius, norm=norm),
                                 source, x, y, eps=radii, batch_size=batch_size)
    else:
        runs = evaluate.pgd_at_radii(source, x, y, eps=radii, norm=norm, steps=steps, step_size=step_size,
                                     random_start=True, restarts=restarts, generator=generator, batch_size=batch_size)
    correct = {name: torch.zeros(k, dtype=torch.long) for name in targets}
    for _, yb, x_adv in runs:
        for name, target in targets.items():
            device = model_device(target)
            with noparamgrad_and_eval(target), torch.no_grad():
                hit = target(x_adv.flatten(0, 1).to(device)).argmax(1).view(k, len(yb)) == yb.to(device)
            correct[name] += hit.sum(1).cpu()
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
