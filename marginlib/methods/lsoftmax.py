"""Large-margin softmax (L-Softmax, Liu et al. 2016), paper 002's large-margin-loss baseline.

Liu et al.'s L-Softmax layer has no bias: its logits are ``||w_j|| ||phi|| cos(theta_j)`` (their eqs. (3)-(5)), and
their Caffe ``LargeMarginInnerProduct`` layer holds a weight blob only. The book's models end in an ``nn.Linear`` with
a bias, so :class:`LSoftmax` zeroes ``model.classifier.bias`` (in place, before each loss) and trains bias-free; the
bias then never enters a loss, gets no gradient and stays 0 (PyTorch's SGD skips a parameter without a gradient,
weight decay included). The model evaluated afterwards, ``model(x) = phi W^T``, is the function L-Softmax trained:
with ``margin=1`` and any ``lam`` the L-Softmax logits equal ``model(x)`` exactly.
"""
from __future__ import annotations

import math
from typing import cast

import torch
from torch import nn
from torch.nn import functional as F

from marginlib import validate
from marginlib.methods.base import Method, Stats
from marginlib.models.base import Net


def lsoftmax_logits(features: torch.Tensor, weight: torch.Tensor, y: torch.Tensor, *, margin: int,
                    lam: float = 0.0) -> torch.Tensor:
    """L-Softmax logits (Liu et al. 2016, eqs. (4)-(6)): ``||w_j|| ||phi|| cos(theta_j)`` for ``j != y`` and
    ``||w_y|| ||phi|| psi(theta_y)`` for the true class, ``psi(theta) = (-1)^k cos(m theta) - 2k`` on
    ``[k pi / m, (k + 1) pi / m]``. ``cos(m theta)`` is the Chebyshev polynomial ``T_m(cos theta)`` (no
    arccos, so the gradient stays finite); ``lam`` blends in the plain logit as in their annealing,
    ``(lam * cos + psi) / (1 + lam)``. No bias enters (L-Softmax has none; see the module docstring)."""
    scores = features @ weight.T
    norms = features.norm(dim=1, keepdim=True) * weight.norm(dim=1)[None, :]
    target_norm = norms.gather(1, y[:, None]).squeeze(1)
    cos = (scores.gather(1, y[:, None]).squeeze(1) / target_norm.clamp_min(1e-12)).clamp(-1, 1)
    t_prev, t_cur = torch.ones_like(cos), cos
    for _ in range(margin - 1):
        t_prev, t_cur = t_cur, 2 * cos * t_cur - t_prev
    k = sum((cos <= math.cos(j * math.pi / margin)).to(cos.dtype) for j in range(1, margin))
    psi = (1 - 2 * (k % 2)) * t_cur - 2 * k
    target = target_norm * (lam * cos + psi) / (1 + lam)
    return scores.scatter(1, y[:, None], target[:, None])


def zero_classifier_bias(model: nn.Module) -> None:
    """Set ``model.classifier.bias`` to 0 in place if the classifier has a nonzero one (L-Softmax has no bias)."""
    bias = getattr(model.classifier, "bias", None)
    if bias is not None and bool(bias.detach().ne(0).any()):
        with torch.no_grad():
            bias.zero_()


class LSoftmax(Method):
    """Cross-entropy on :func:`lsoftmax_logits` of ``model.features`` and ``cast(Net, model).classifier.weight``
    (paper 002 uses margin 4 on its MLP and 1 on its CNN; ``margin=1`` is plain bias-free softmax). The
    classifier's bias is zeroed and stays 0 (:func:`zero_classifier_bias`, module docstring), so training and
    evaluation (``model(x)``) use the same bias-free layer."""

    name = "lsoftmax"
    shardable = False   # reads model.features and model.classifier, past a DistributedDataParallel wrapper

    def __init__(self, *, margin: int = 4, lam: float = 0.0) -> None:
        super().__init__()
        if not isinstance(margin, int) or margin < 1:
            raise ValueError(f"margin must be an integer >= 1, got {margin!r}")
        self.margin = margin
        self.lam = validate.nonnegative("lam", lam)

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *,
             index: torch.Tensor | None = None) -> tuple[torch.Tensor, Stats]:
        zero_classifier_bias(model)
        net = cast(Net, model)
        logits = lsoftmax_logits(net.features(x), net.classifier.weight, y, margin=self.margin, lam=self.lam)
        loss = F.cross_entropy(logits, y)
        return loss, {"lsoftmax_ce": loss.detach()}

    def __repr__(self) -> str:
        return f"LSoftmax(margin={self.margin}, lam={self.lam})"
