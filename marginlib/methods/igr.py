"""Input gradient regularization (Ross & Doshi-Velez 2018; paper 002's IGR baseline)."""
from __future__ import annotations

import torch
from torch.nn import functional as F

from marginlib.methods.base import Method, Regularized


class IGR(Regularized):
    """``base`` objective plus ``weight * mean_i ||grad_{x_i} CE(f(x_i), y_i)||^2``: the squared L2 norm of
    each sample's *loss* gradient with respect to its clean input (paper 002 contrasts it with EMR, which
    penalizes the logits' gradients). Computed in one backward pass of the summed per-sample losses."""

    name = "igr"
    stat = "igr"

    def __init__(self, *, weight: float, base: Method | None = None) -> None:
        super().__init__(weight=weight, base=base)

    def values(self, model, x, logits, y) -> torch.Tensor:
        (g,) = torch.autograd.grad(F.cross_entropy(logits, y, reduction="sum"), x, create_graph=True)
        return g.pow(2).flatten(1).sum(dim=1)

    def __repr__(self) -> str:
        return f"IGR(weight={self.weight}, base={self.base!r})"
