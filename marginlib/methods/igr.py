"""Input gradient regularization (Ross & Doshi-Velez 2018; paper 002's IGR baseline)."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from marginlib.methods.base import Method, Regularized


class IGR(Regularized):
    """``base`` objective plus ``weight * mean_i ||grad_{x_i} CE(f(x_i), y_i)||^2``: the squared L2 norm of
    each sample's *loss* gradient with respect to its input (paper 002 contrasts it with EMR, which
    penalizes the logits' gradients). Computed in one backward pass of the summed per-sample losses.

    ``scaling`` and ``on`` as for :class:`~marginlib.methods.EMR` (:class:`~marginlib.methods.base.Regularized`):
    ``scaling="batch_mean"`` puts ``weight`` on the scale of paper 002's released code (``weight / B^2`` per
    sample), ``on="adversarial"`` takes the gradient at the base method's adversarial examples.
    """

    name = "igr"
    stat = "igr"

    def __init__(self, *, weight: float, scaling: str = "sample", on: str = "clean",
                 base: Method | None = None) -> None:
        super().__init__(weight=weight, on=on, scaling=scaling, base=base)

    def values(self, model: nn.Module, x: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        (g,) = torch.autograd.grad(F.cross_entropy(logits, y, reduction="sum"), x, create_graph=True)
        return g.pow(2).flatten(1).sum(dim=1)

    def __repr__(self) -> str:
        return f"IGR(weight={self.weight}, scaling={self.scaling!r}, on={self.on!r}, base={self.base!r})"
