"""Adaptive-norm PGD (AN-PGD), paper 001, Alg. 1: an approximate minimal perturbation with per-sample eps.

1. ``delta_1 = PGD(x, y, eps_init)``; ``u = delta_1 / ||delta_1||`` (paper; the released code divides by eps_init,
   the same whenever PGD reaches the sphere).
2. The search loss ``L`` (``search_loss``) decides the branch and drives the bisection, one and the same criterion:
   if ``L(x + eps_init u, y) < 0`` (not yet adversarial at the end of the first PGD's direction), search ``eta`` in
   ``[eps_init, min(eps_init + eps_inc, eps_max)]``, otherwise in ``[0, eps_init]``, for the zero crossing of
   ``L(x + eta u, y)`` by ``search_steps`` bisection steps (paper 001, footnote 4). This is the released
   ``bisection_search``, which branches on the sign of the same loss at ``x + delta_1`` that it bisects on. With
   ``search_loss="margin"`` (the hard logit margin) ``L >= 0`` means misclassified, which is Alg. 1's test
   "prediction on ``x + delta_1`` is correct" (ties aside). The point is taken at ``eps_init u``, the bracket's end,
   rather than at ``delta_1`` itself: they agree whenever PGD reaches the sphere.
3. ``delta* = PGD(x, y, eps_new)`` (Alg. 1, line 8).

Options, with the released code's choice where it differs from the default:

* ``search_result``: ``"upper"`` (default) returns the upper end of the final bracket, the shortest length found
  adversarial along ``u`` (or the top of the interval when none is), the book's reading of Alg. 1's
  ``argmin |L|``; ``"midpoint"`` returns the midpoint of the final bracket, as the release does. The release returns
  its last bisection midpoint, whose loss it evaluates but never uses, so it equals ``"midpoint"`` with one search
  step fewer; the value may lie on the non-adversarial side of the boundary.
* ``final_pgd``: ``True`` (default, Alg. 1 line 8) runs PGD at ``eps_new``; the released code skips it and returns
  ``x + eps_new u`` (``final_pgd=False``). The release also does not clip that point to the image box ``[0, 1]``
  (it clips only the points it evaluates during the search); this function always returns valid images, so that
  difference is named, not an option.
* ``eps_max``: the release passes ``1.05 d_max`` (``train.py``: ``attack_maxeps = hinge_maxeps * 1.05``); the
  caller chooses (MMA's ``eps_max_factor``).

Other defaults follow the released code (paper 001, ``config.py``): PGD from a random start with step
``2.5 * eps / steps``, the soft logit margin ``logsumexp_{j != y} z_j - z_y`` both as the PGD loss and as the search
loss (the paper's Alg. 1 bisects on the hard margin ``L``: ``search_loss="margin"``), 10 search steps, and a search
interval reaching ``eps_max`` (``eps_inc=None`` means ``eps_max - eps_init``). The number of PGD steps, ``steps``,
has no default: the released MNIST configuration uses 40, CIFAR-10 10. Named, not options: this book's PGD returns
its most adversarial iterate, the release's (advertorch) its last one.
"""
from __future__ import annotations

import torch
from torch import nn

from marginlib import validate
from marginlib.attacks import losses
from marginlib.attacks.bisection import bisect
from marginlib.attacks.gradient import check_inputs, pgd
from marginlib.attacks.projections import clip_to_box, fresh_generator, lp_norm, per_sample
from marginlib.context import noparamgrad_and_eval
from marginlib.rng import Draws

SEARCH_LOSSES = ("soft_margin", "margin")
SEARCH_RESULTS = ("upper", "midpoint")


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
    search_result: str = "upper",
    final_pgd: bool = True,
    generator: Draws | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """AN-PGD (paper 001, Alg. 1). Returns ``(x_adv, eps)``: adversarial images in [0, 1] and the ``(N,)``
    per-sample perturbation length found (the margin estimate MMA training stores for the next epoch).

    ``eps_init``, ``eps_max``, ``eps_inc`` and ``step_size`` are numbers or per-sample tensors; ``step_size=None``
    scales with eps as ``2.5 * eps / steps``. ``search_result`` is ``"upper"`` or ``"midpoint"`` (see the module
    docstring). Random starts come from ``generator`` (never the global RNG).
    """
    check_inputs(x, y, norm=norm, loss=loss, model=model)
    validate.choice("search_loss", search_loss, SEARCH_LOSSES)
    validate.choice("search_result", search_result, SEARCH_RESULTS)
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

    def adversarial(eta: torch.Tensor) -> torch.Tensor:
        return search(model(along(eta)), y) >= 0

    with noparamgrad_and_eval(model), torch.no_grad():
        below = ~adversarial(eps0)  # the branch test: the search loss itself, at the end of the first direction
        lo = torch.where(below, eps0, torch.zeros_like(eps0))
        hi = torch.where(below, upper, eps0)
        lo, hi = bisect(adversarial, lo, hi, steps=search_steps)
    eps = hi if search_result == "upper" else (lo + hi) / 2
    x_adv = attack(eps) if final_pgd else along(eps)
    return x_adv, eps
