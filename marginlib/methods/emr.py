"""Effective margin regularization (paper 002): penalize the norms of each sample's effective weights.

The effective weight of class ``j`` at sample ``x_i`` is the input gradient of its logit,
``w_i^(j) = grad_x l_ij(x_i)`` (paper 002, eq. (3)). Conventions:

* Exact EMR (eq. (5)) is ``sum_j ||w_i^(j)||^2``; Approx-EMR (eq. (7)) is ``||grad_x sum_j p_ij l_ij||^2``
  with ``p_i = softmax(l_i / t)`` detached from the graph.
* Scaling: the paper's loss (eq. (5)) is ``lambda * (1/B) sum_i EMR(x_i)`` (``scaling="sample"``). The
  authors' released code differentiates the batch *mean* of the weighted logits, so each sample enters as
  ``lambda / B^2`` (``scaling="batch_mean"``: the paper's value divided by ``B``).
* The regularizer pass runs in eval mode (:class:`~marginlib.methods.base.Regularized`), on the clean batch by
  default (``on="clean"``, paper 002's "EMR-clean", Table 4) or, with ``on="adversarial"``, at the adversarial
  examples the base method trains on (Algorithm 1, "EMR-adv", the setting paper 002 adopts in §5), reusing them.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from marginlib import validate
from marginlib.methods.base import Method, Regularized


def emr_exact(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Exact EMR per sample (paper 002, eq. (5)): ``sum_j ||d logits[i, j] / d x_i||^2``, shape (B,).

    ``logits`` must have been computed from ``x`` (with ``requires_grad``) sample by sample (eval mode).
    All ``K`` effective weight rows come from one batched backward pass over the ``K`` one-hot cotangents
    (``is_grads_batched``), and the result stays differentiable in the parameters.
    """
    k = logits.shape[1]
    cotangents = torch.eye(k, dtype=logits.dtype, device=logits.device)[:, None, :].expand(k, *logits.shape)
    (w,) = torch.autograd.grad(logits, x, grad_outputs=cotangents, is_grads_batched=True, create_graph=True)
    return w.pow(2).flatten(2).sum(dim=2).sum(dim=0)


def emr_approx(x: torch.Tensor, logits: torch.Tensor, *, temperature: float = 1.0) -> torch.Tensor:
    """Approx-EMR per sample (paper 002, eq. (7)): ``||grad_x sum_j p_ij l_ij||^2`` with
    ``p_i = softmax(l_i / temperature)`` detached, shape (B,).

    Limits (derived from ``p_i``): as ``temperature -> 0``, ``p_i`` tends to the one-hot vector of the top
    logit and the value to ``||w_i^(argmax_j l_ij)||^2`` (the paper's ``max_j``); as ``temperature -> inf``,
    ``p_i -> 1/K`` and the value tends to ``||(1/K) sum_j w_i^(j)||^2``.
    """
    validate.positive("temperature", temperature)
    p = F.softmax(logits.detach() / temperature, dim=1)
    (g,) = torch.autograd.grad((p * logits).sum(), x, create_graph=True)
    return g.pow(2).flatten(1).sum(dim=1)


class EMR(Regularized):
    """``base`` objective (default: cross-entropy) plus ``weight * EMR`` (paper 002, eq. (5) / (7), Alg. 1).

    ``mode="exact"`` (eq. (5)) or ``"approx"`` (eq. (7), with ``temperature``); ``scaling`` and ``on`` as in the
    module docstring.
    """

    name = "emr"
    stat = "emr"

    def __init__(self, *, weight: float, mode: str = "exact", temperature: float = 1.0,
                 scaling: str = "sample", on: str = "clean", base: Method | None = None) -> None:
        super().__init__(weight=weight, on=on, scaling=scaling, base=base)
        self.mode = validate.choice("mode", mode, ("exact", "approx"))
        self.temperature = validate.positive("temperature", temperature)

    def values(self, model: nn.Module, x: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.mode == "exact":
            return emr_exact(x, logits)
        return emr_approx(x, logits, temperature=self.temperature)

    def __repr__(self) -> str:
        return (f"EMR(weight={self.weight}, mode={self.mode!r}, temperature={self.temperature}, "
                f"scaling={self.scaling!r}, on={self.on!r}, base={self.base!r})")
