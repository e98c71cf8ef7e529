"""Parseval networks / Lipschitz constant regularization (Cisse et al. 2017; paper 000's LCR baseline)."""
from __future__ import annotations

import torch
from torch import nn

from marginlib import validate
from marginlib.methods.base import Extends, Method, as_matrix, weight_layers


@torch.no_grad()
def parseval_retraction(model: nn.Module, *, beta: float) -> None:
    """One orthogonality retraction step on every Linear/Conv2d layer (Cisse et al. 2017, eq. (3)):
    ``W <- (1 + beta) W - beta W W^T W`` on the layer's matrix view (out, in * kh * kw). It is a gradient
    step of size ``beta`` on ``||W W^T - I||_F^2 / 4`` that drives the singular values towards 1.
    (All rows are retracted each step; Cisse et al. optionally subsample rows for speed.)"""
    for layer in weight_layers(model):
        w = as_matrix(layer.weight)
        layer.weight.copy_(((1 + beta) * w - beta * (w @ w.T @ w)).view_as(layer.weight))


class Parseval(Extends):
    """``base`` objective (default cross-entropy) with a Parseval retraction after every optimizer step.
    Cisse et al. use ``beta = 3e-4``; paper 000 (App. A) follows them."""

    name = "parseval"

    def __init__(self, *, beta: float = 3e-4, base: Method | None = None) -> None:
        super().__init__(base)
        self.beta = validate.positive("beta", beta)

    def loss(self, model, x, y, *, index=None):
        return self.base.loss(model, x, y, index=index)

    def after_step(self, model: nn.Module) -> None:
        super().after_step(model)
        parseval_retraction(model, beta=self.beta)

    def __repr__(self) -> str:
        return f"Parseval(beta={self.beta}, base={self.base!r})"
