"""Adaptive-norm PGD (AN-PGD), paper 001, Alg. 1: an approximate minimal perturbation with per-sample eps.

1. ``delta_1 = PGD(x, y, eps_init)``; ``u = delta_1 / ||delta_1||`` (paper; the released code divides by eps_init,
   the same whenever PGD reaches the sphere).
2. If ``x + delta_1`` is still classified correctly, search ``eta`` in ``[eps_init, min(eps_init + eps_inc, eps_max)]``,
   otherwise in ``[0, eps_init]``, for the zero crossing of the search loss ``L(x + eta u, y)`` by ``search_steps``
   bisection steps (paper 001, footnote 4). ``eps_new`` is the upper end of the final bracket: the shortest length
   found adversarial along ``u``, or the top of the interval when none is.
3. ``delta* = PGD(x, y, eps_new)`` (Alg. 1, line 8). The released code skips this and returns ``x + eps_new u``;
   ``final_pgd=False`` does that.

Defaults follow the released code (paper 001, ``config.py``): PGD from a random start with step ``2.5 * eps / steps``,
soft logit margin ``logsumexp_{j != y} z_j - z_y`` both as the PGD loss and for the bisection, 10 search steps,
and a search interval reaching ``eps_max`` (``eps_inc=None`` means ``eps_max - eps_init``).
"""
from __future__ import annotations

import torch
from torch import nn

from marginlib import validate
from marginlib.attacks import losses
from marginlib.attacks.gradient import check_inputs, pgd
from marginlib.attacks.projections import clip_to_box, fresh_generator, lp_norm, per_sample
from marginlib.context import noparamgrad_and_eval

SEARCH_LOSSES = ("soft_margin", "margin")


def an_pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps_init: float | torch.Tensor,
    eps_max: float | torch.Tensor,
    steps: int,
    norm: str,
    search_steps: int = 10,
    eps_inc: float | torch.Tensor | None = None,
    step_size: float | torch.Tensor | None = None,
    loss: str = "soft_margin",
    search_loss: str = "soft_margin",
    final_pgd: bool = True,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """AN-PGD (paper 001, Alg. 1). Returns ``(x_adv, eps)``: adversarial images in [0, 1] and the ``(N,)``
    per-sample perturbation length found (the margin estimate MMA training stores for the next epoch).

    ``eps_init``, ``eps_max``, ``eps_inc`` and ``step_size`` are numbers or per-sample tensors; ``step_size=None``
    scales with eps as ``2.5 * eps / steps``. Random starts come from ``generator`` (never the global RNG).
    """
    check_inputs(x, y, norm=norm, loss=loss)
    validate.choice("search_loss", search_loss, SEARCH_LOSSES)
    validate.positive("steps", steps)
    validate.nonnegative("search_steps", search_steps)
    eps0 = per_sample(eps_init, x, name="eps_init")
    top = per_sample(eps_max, x, name="eps_max")
    if bool((eps0 > top).any()):
        raise ValueError("eps_init must be <= eps_max for every sample")
    upper = top if eps_inc is None else torch.minimum(eps0 + per_sample(eps_inc, x, name="eps_inc"), top)
    gen = fresh_generator(generator)

    def attack(eps: torch.Tensor) -> torch.Tensor:
        step = 2.5 * eps / steps if step_size is None else step_size
        return pgd(model, x, y, eps=eps, step_size=step, steps=steps, norm=norm, random_start=True, loss=loss,
                   generator=gen)

    delta = attack(eps0) - x
    unit = delta / lp_norm(delta, norm).clamp_min(1e-12).view(-1, *([1] * (x.dim() - 1)))
    search = losses.get(search_loss)

    def along(eta: torch.Tensor) -> torch.Tensor:
        return x + clip_to_box(x, eta.view(-1, *([1] * (x.dim() - 1))) * unit)

    with noparamgrad_and_eval(model), torch.no_grad():
        correct = model(x + delta).argmax(1) == y
        lo = torch.where(correct, eps0, torch.zeros_like(eps0))
        hi = torch.where(correct, upper, eps0)
        for _ in range(search_steps):
            mid = (lo + hi) / 2
            adversarial = search(model(along(mid)), y) >= 0
            lo = torch.where(adversarial, lo, mid)
            hi = torch.where(adversarial, mid, hi)
    x_adv = attack(hi) if final_pgd else along(hi)
    return x_adv, hi
