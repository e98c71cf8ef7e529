"""Lipschitz constant regularization (LCR), paper 000's baseline, in the two forms it takes.

Paper 000 (§4.3, App. A) names LCR after Parseval networks (Cisse et al. 2017) and sets its weight to a value that
is garbled in our copy ("B = 1072 as suggested in [26]"; plausibly 10^-2, uncertain). Two implementations:

* ``mode="retraction"`` (default): Cisse et al.'s Parseval retraction, a projection step toward orthogonality
  after every optimizer step, ``W <- (1 + beta) W - beta W W^T W`` (:func:`parseval_retraction`). This is what
  ``notebooks/03_amr`` runs as "LCR" at every profile, with ``beta = 1e-3``.
* ``mode="penalty"``: the authors' *released* LCR (watml/rob-margin, the ``*_Constraint`` runs of ``train.sh``):
  cross-entropy plus ``beta * sum_l c_l ||W_l W_l^T - I||_F^2`` added to every batch's loss
  (:func:`parseval_penalty`), with the released ``-beta 1e-3`` (the MNIST-LR line passes no ``-beta`` and so
  gets ``trainModel.py``'s default 1.0). ``c_l = 2`` for a layer with a bias: the released
  ``orthogonal_constraint`` loops over all named parameters and, on a bias, adds the layer's weight term a second
  time. Its gradient is ``4 beta c_l W_l (W_l^T W_l - I)``, i.e. ``8 beta W (W^T W - I)`` per biased layer.

The matrix view of a convolution is its kernel reshaped to ``(out, in * kh * kw)`` in both (as in the release
and in Cisse et al.), not the convolution operator.
"""
from __future__ import annotations

import torch
from torch import nn

from marginlib import validate
from marginlib.methods.base import Extends, Method, Stats, as_matrix, weight_layers

MODES = ("retraction", "penalty")


@torch.no_grad()
def parseval_retraction(model: nn.Module, *, beta: float) -> None:
    """One orthogonality retraction step on every Linear/Conv2d layer (Cisse et al. 2017, eq. (3)):
    ``W <- (1 + beta) W - beta W W^T W`` on the layer's matrix view (out, in * kh * kw). It is a gradient
    step of size ``beta`` on ``||W W^T - I||_F^2 / 4`` that drives the singular values towards 1.
    (All rows are retracted each step; Cisse et al. optionally subsample rows for speed.)"""
    for layer in weight_layers(model):
        w = as_matrix(layer.weight)
        layer.weight.copy_(((1 + beta) * w - beta * (w @ w.T @ w)).view_as(layer.weight))


def parseval_penalty(model: nn.Module) -> torch.Tensor:
    """The released LCR term before ``beta``: ``sum_l c_l ||W_l W_l^T - I||_F^2`` over every Linear/Conv2d layer,
    with the output-side Gram ``W W^T`` as released (``(out, out)``; for a tall matrix it exceeds the smaller-side
    form of :func:`marginlib.methods.orthogonality_penalty` by the constant ``out - in``, same gradient) and
    ``c_l = 2`` for layers with a bias, 1 without (the release's double count, module docstring)."""
    total = torch.zeros((), device=next(model.parameters()).device)
    for layer in weight_layers(model):
        w = as_matrix(layer.weight)
        term = (w @ w.T - torch.eye(w.shape[0], device=w.device, dtype=w.dtype)).pow(2).sum()
        total = total + (2 if layer.bias is not None else 1) * term
    return total


class Parseval(Extends):
    """LCR: ``base`` objective (default cross-entropy) with Parseval orthogonality, as a retraction after every
    optimizer step (``mode="retraction"``, Cisse et al.; default) or as the released penalty
    ``base + beta * parseval_penalty`` (``mode="penalty"``); module docstring. ``beta = 1e-3`` is the book's
    value (03) and the release's ``-beta``; paper 000's own value is garbled in our copy."""

    name = "parseval"

    def __init__(self, *, beta: float = 1e-3, mode: str = "retraction", base: Method | None = None) -> None:
        super().__init__(base)
        self.beta = validate.positive("beta", beta)
        self.mode = validate.choice("mode", mode, MODES)

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *,
             index: torch.Tensor | None = None) -> tuple[torch.Tensor, Stats]:
        loss, stats = self.base.loss(model, x, y, index=index)
        if self.mode == "penalty":
            ortho = parseval_penalty(model)
            loss = loss + self.reg_scale * self.beta * ortho
            stats = {**stats, "ortho": ortho.detach()}
        return loss, stats

    def after_step(self, model: nn.Module) -> None:
        super().after_step(model)
        if self.mode == "retraction":
            parseval_retraction(model, beta=self.beta)

    def __repr__(self) -> str:
        return f"Parseval(beta={self.beta}, mode={self.mode!r}, base={self.base!r})"
