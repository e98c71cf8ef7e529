"""Gradient attacks in an Lp ball around each sample: FGSM and PGD over one shared ascent step.

Conventions (one each, stated here and in the book):

- Inputs are images in [0, 1]; every iterate is projected onto the ``norm`` ball of radius ``eps[i]`` and then
  clipped to [0, 1] (clipping only shrinks the perturbation, so the ball constraint still holds).
- ``eps`` and ``step_size`` are numbers or per-sample ``(N,)`` tensors (MMA training, paper 001, needs per-sample eps).
- ``targeted=True`` reads ``y`` as target labels and ascends ``-loss(z, y)`` (see :mod:`.losses`).
- PGD returns, per sample, the most adversarial point it visited over every iterate of every restart:
  a point that fools the model beats one that does not, and among equals the higher objective wins
  (``select="fooled"``). ``select="objective"`` keeps the highest objective alone, what a loss maximization asks
  for (paper 004, App. B.5: the largest loss change). Either way, more steps or more restarts (with the same
  generator) can never return a weaker point by that rule.
- The model runs in eval mode with parameter gradients off; its mode and parameter ``.grad`` are restored untouched.
"""
from __future__ import annotations

import torch
from torch import nn

from marginlib import validate
from marginlib.attacks import losses
from marginlib.attacks.projections import (
    clip_to_box,
    fresh_generator,
    linf_box,
    per_sample,
    projected_ascent,
)
from marginlib.attacks.projections import (
    random_start as draw_start,
)
from marginlib.context import noparamgrad_and_eval
from marginlib.rng import Draws

#: How PGD picks the point it returns among its iterates (see the module docstring).
SELECTIONS = ("fooled", "objective")


def check_inputs(x: torch.Tensor, y: torch.Tensor | None, *, norm: str, loss: str | None = None,
                 model: nn.Module | None = None) -> None:
    """Validate an attack's batch (``x`` in [0, 1], ``y`` long labels, the model's dtype), its norm and its loss."""
    validate.norm(norm)
    if loss is not None:
        validate.choice("loss", loss, losses.LOSSES)
    validate.batch(x, y)
    if model is not None:
        validate.same_dtype(model, x)


def _loss_and_grad(
    model: nn.Module, x_adv: torch.Tensor, y: torch.Tensor, *, loss: str, targeted: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Logits, per-sample objective and its input gradient at ``x_adv``: one forward and one backward pass."""
    with torch.enable_grad():
        x_adv = x_adv.detach().requires_grad_(True)
        logits = model(x_adv)
        obj = losses.objective(logits, y, loss, targeted=targeted)
        (grad,) = torch.autograd.grad(obj.sum(), x_adv)
    return logits.detach(), obj.detach(), grad


def fgsm(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float | torch.Tensor,
    norm: str = "linf",
    loss: str = "ce",
    targeted: bool = False,
) -> torch.Tensor:
    """Fast gradient (sign) method: one step of length ``eps`` from ``x`` (Goodfellow et al., 2015).

    Linf: ``x + eps * sign(grad)``; L2: ``x + eps * grad / ||grad||_2`` (the fast gradient method); clipped to [0, 1].
    """
    check_inputs(x, y, norm=norm, loss=loss, model=model)
    eps_t = per_sample(eps, x, name="eps")
    with noparamgrad_and_eval(model):
        _, _, grad = _loss_and_grad(model, x, y, loss=loss, targeted=targeted)
    return projected_ascent(x, x, grad, eps=eps_t, step_size=eps_t, norm=norm).detach()


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float | torch.Tensor,
    step_size: float | torch.Tensor,
    steps: int,
    norm: str = "linf",
    random_start: bool = False,
    restarts: int = 1,
    loss: str = "ce",
    generator: Draws | None = None,
    targeted: bool = False,
    select: str = "fooled",
) -> torch.Tensor:
    """Projected gradient ascent in the ``norm`` ball of radius ``eps`` (Madry et al., 2018), keeping the worst case.

    Each restart starts at ``x`` (or, with ``random_start``, at a point drawn uniformly from the ball with
    ``generator``; ``None`` means a fresh unseeded generator, never the global RNG) and takes ``steps`` steps of
    length ``step_size``. Returns per sample the most adversarial iterate over all steps and restarts (see the
    module docstring); costs ``restarts * (steps + 1)`` forward and ``restarts * steps`` backward passes.
    """
    check_inputs(x, y, norm=norm, loss=loss, model=model)
    validate.nonnegative("steps", steps)
    validate.positive("restarts", restarts)
    by_objective = validate.choice("select", select, SELECTIONS) == "objective"
    if restarts > 1 and not random_start:
        raise ValueError("restarts > 1 repeats the same attack unless random_start=True")
    eps_t = per_sample(eps, x, name="eps")
    step_t = per_sample(step_size, x, name="step_size")
    gen = fresh_generator(generator) if random_start else None

    best, best_fooled = x.clone(), torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    best_obj = torch.full((x.shape[0],), float("-inf"), dtype=x.dtype, device=x.device)

    def keep_worst(x_adv: torch.Tensor, logits: torch.Tensor, obj: torch.Tensor) -> None:
        fooled = torch.zeros_like(best_fooled) if by_objective else losses.fooled(logits, y, targeted=targeted)
        better = (fooled & ~best_fooled) | ((fooled == best_fooled) & (obj > best_obj))
        rows = better.nonzero().squeeze(1)
        best.index_copy_(0, rows, x_adv.index_select(0, rows))
        best_fooled.logical_or_(fooled)
        best_obj.copy_(torch.where(better, obj, best_obj))

    box = linf_box(x, eps_t) if norm == "linf" else None
    with noparamgrad_and_eval(model):
        for _ in range(restarts):
            x_adv = x + clip_to_box(x, draw_start(x, eps_t, norm, gen)) if gen is not None else x
            for _ in range(steps):
                logits, obj, grad = _loss_and_grad(model, x_adv, y, loss=loss, targeted=targeted)
                keep_worst(x_adv, logits, obj)
                x_adv = projected_ascent(x, x_adv, grad, eps=eps_t, step_size=step_t, norm=norm, box=box)
            with torch.no_grad():
                logits = model(x_adv)
                keep_worst(x_adv, logits, losses.objective(logits, y, loss, targeted=targeted))
    return best.detach()
