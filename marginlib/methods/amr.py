"""Average margin regularization (paper 000, §4.3, eq. (4)) and the authors' released logit-space variant.

Eq. (4) trains on ``CE - lambda * mean_i min(min_{k != y_i} (w_{y_i} - w_k)^T Phi(x_i), tau)
+ beta * sum_l ||W_l W_l^T - I||_F^2``, where ``Phi`` is the penultimate representation
(``model.features``) and ``w_k`` the rows of the final layer (``model.classifier``; its bias is not part of
eq. (4) and is left out). Conventions: the sums over samples are batch means; ``tau`` truncates the margin
so that outliers cannot dominate; the orthogonality penalty is :func:`orthogonality_penalty`.
The paper's App. A sets lambda = 0.1 and tau = 5 (MNIST LR/MLP, CIFAR LR) or 10 (MNIST CNN, CIFAR MLP/CNN);
its value of beta is garbled in our copy ("3 = 103"). The default ``beta = 1e-3`` is the authors' released
``train.sh`` value (``-beta 1e-3`` on every AMR run) and the book's reading of "103" as 10^-3, not a legible
paper value.
"""
from __future__ import annotations

from typing import cast

import torch
from torch import nn
from torch.nn import functional as F

from marginlib import validate
from marginlib.methods.base import Method, Stats, as_matrix, weight_layers
from marginlib.models.base import Net


def orthogonality_penalty(model: nn.Module) -> torch.Tensor:
    """``sum_l ||G_l - I||_F^2`` over every Linear/Conv2d layer, ``G_l`` the Gram matrix of the layer's
    matrix view on its smaller side (``W W^T`` for wide, ``W^T W`` for tall matrices), so a layer scores 0
    exactly when its rows or its columns are orthonormal. (The released code adds each layer twice.)"""
    total = torch.zeros((), device=next(model.parameters()).device)
    for layer in weight_layers(model):
        w = as_matrix(layer.weight)
        gram = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
        total = total + (gram - torch.eye(len(gram), device=w.device, dtype=w.dtype)).pow(2).sum()
    return total


def feature_margin(features: torch.Tensor, weight: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``min_{k != y_i} (w_{y_i} - w_k)^T Phi(x_i)`` per sample (paper 000, eq. (4)), shape (B,)."""
    scores = features @ weight.T
    true = scores.gather(1, y[:, None]).squeeze(1)
    other = scores.scatter(1, y[:, None], float("-inf")).amax(dim=1)
    return true - other


class AMR(Method):
    """Average margin regularizer, paper 000 eq. (4): ``CE - lam * mean(min(margin, tau)) + beta * ortho``.

    Needs a model with ``features(x)`` and a final ``classifier`` (``nn.Linear``), as every
    :func:`marginlib.models.build` model has; the logits are ``classifier(features(x))``, one forward pass.
    Defaults: ``lam = 0.1`` and ``tau = 5`` (App. A; 10 for CNNs), ``beta = 1e-3`` (the released code's value;
    the paper's is garbled, module docstring)."""

    name = "amr"
    shardable = False   # reads model.features and model.classifier, past a DistributedDataParallel wrapper

    def __init__(self, *, lam: float = 0.1, tau: float = 5.0, beta: float = 1e-3) -> None:
        super().__init__()
        self.lam = validate.nonnegative("lam", lam)
        self.tau = validate.positive("tau", tau)
        self.beta = validate.nonnegative("beta", beta)

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *,
             index: torch.Tensor | None = None) -> tuple[torch.Tensor, Stats]:
        features = cast(Net, model).features(x)
        ce = F.cross_entropy(cast(Net, model).classifier(features), y)
        margin = feature_margin(features, cast(Net, model).classifier.weight, y)
        average = margin.clamp(max=self.tau).mean()
        ortho = orthogonality_penalty(model) if self.beta else torch.zeros((), device=x.device)
        loss = ce + self.reg_scale * (self.beta * ortho - self.lam * average)
        return loss, {"ce": ce.detach(), "feature_margin": margin.mean().detach(), "ortho": ortho.detach()}

    def __repr__(self) -> str:
        return f"AMR(lam={self.lam}, tau={self.tau}, beta={self.beta})"


class AMRLogit(Method):
    """The regularizer of paper 000's *released code* (not eq. (4)): ``CE + mu * mean(clamp(max_j f_j - f_y,
    0, tau))`` on the logits ``f``, optionally with ``beta * ortho``. The hinge is nonzero only on
    misclassified samples (``max_j`` includes ``j = y``, so it equals ``max_{j != y}`` after the clamp)."""

    name = "amr_logit"

    def __init__(self, *, mu: float = 0.1, tau: float = 5.0, beta: float = 0.0) -> None:
        super().__init__()
        self.mu = validate.nonnegative("mu", mu)
        self.tau = validate.positive("tau", tau)
        self.beta = validate.nonnegative("beta", beta)

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *,
             index: torch.Tensor | None = None) -> tuple[torch.Tensor, Stats]:
        logits = model(x)
        ce = F.cross_entropy(logits, y)
        hinge = (logits.amax(dim=1) - logits.gather(1, y[:, None]).squeeze(1)).clamp(0, self.tau).mean()
        ortho = orthogonality_penalty(model) if self.beta else torch.zeros((), device=x.device)
        loss = ce + self.reg_scale * (self.mu * hinge + self.beta * ortho)
        return loss, {"ce": ce.detach(), "logit_hinge": hinge.detach(), "ortho": ortho.detach()}

    def __repr__(self) -> str:
        return f"AMRLogit(mu={self.mu}, tau={self.tau}, beta={self.beta})"
