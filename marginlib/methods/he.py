"""Hypersphere embedding (HE; Pang, Yang, Dong, Xu, Zhu & Su, "Boosting adversarial training with hypersphere
embedding", NeurIPS 2020), the baseline of paper 002's Tables 3 and 10 ("AT+HE", "TRADES+HE").

HE changes the model's head and its training loss (Pang et al. §3):

* feature normalization (FN) and weight normalization (WN): the logit of class ``j`` is ``s * cos(theta_j)``, with
  ``cos(theta_j) = <z / ||z||, W_j / ||W_j||>``, ``z`` the penultimate features and ``W_j`` the ``j``-th row of the
  final linear layer (no bias). :class:`HEHead` computes it; :func:`hypersphere` puts one on a model.
* an additive margin ``m`` on the true-class cosine during training (their angular margin, "AM"):
  ``L^m(x, y) = CE(s * (cos(theta) - m * onehot(y)), y)`` (:func:`he_cross_entropy`).

Conventions. The model keeps the head at inference: it returns ``s * cos(theta)`` (no margin), so every attack and
evaluation sees the model that was trained, normalization included (the inference cost paper 002 notes in its
Table 10 discussion). The training adversary is the base method's own (PGD on the cross-entropy of these logits for
AT, TRADES' KL adversary for TRADES); the margin enters the training loss only, in the clean cross-entropy for
TRADES+HE (the KL term compares the margin-free distributions). Defaults ``s = 15``, ``m = 0.2`` are the HE code's
CIFAR-10 defaults (``--s_FN 15 --m_FN 0.2``), which paper 002 uses ("their default training parameters", §5.1).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from marginlib import validate
from marginlib.methods.adversarial import PGDAT, TRADES, trades_objective
from marginlib.methods.base import Adversarial, Extends, Method, Stats


class HEHead(nn.Module):
    """``s * cos(theta)``: normalized features times normalized class weights, no bias (Pang et al. 2020, FN + WN)."""

    def __init__(self, weight: torch.Tensor, *, scale: float = 15.0) -> None:
        super().__init__()
        if weight.dim() != 2:
            raise ValueError(f"weight must be (num_classes, in_features), got shape {tuple(weight.shape)}")
        self.scale = float(validate.positive("scale", scale))
        self.weight = nn.Parameter(weight.detach().clone())

    @classmethod
    def from_linear(cls, linear: nn.Linear, *, scale: float = 15.0) -> HEHead:
        """A head whose class directions are the rows of ``linear.weight`` (its bias is dropped)."""
        return cls(linear.weight, scale=scale)

    def cosines(self, features: torch.Tensor) -> torch.Tensor:
        """``cos(theta_ij)`` between sample ``i``'s features and class ``j``'s weight, shape (N, K), in [-1, 1]."""
        return F.normalize(features, dim=1) @ F.normalize(self.weight, dim=1).T

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.scale * self.cosines(features)

    def extra_repr(self) -> str:
        return f"in_features={self.weight.shape[1]}, num_classes={self.weight.shape[0]}, scale={self.scale}"


def hypersphere(model: nn.Module, *, scale: float = 15.0) -> nn.Module:
    """Give ``model`` a hypersphere-embedding head, in place, and return it: ``model.classifier`` (an ``nn.Linear``)
    becomes :meth:`HEHead.from_linear`, so ``model(x) = s * cos(theta(features(x)))`` in training and at inference.

    Works with every :mod:`marginlib.models` network (``forward(x) = classifier(features(x))``).
    """
    classifier = getattr(model, "classifier", None)
    if not isinstance(classifier, nn.Linear) or not callable(getattr(model, "features", None)):
        raise ValueError("hypersphere needs a marginlib model with features(x) and an nn.Linear classifier, got "
                         f"{type(model).__name__} with classifier {type(classifier).__name__}")
    model.classifier = HEHead.from_linear(classifier, scale=scale)
    return model


def he_cross_entropy(logits: torch.Tensor, y: torch.Tensor, *, scale: float, margin: float) -> torch.Tensor:
    """HE's training loss (Pang et al. 2020, FN + WN + AM): ``CE(logits - s * m * onehot(y), y)`` for logits
    ``s * cos(theta)``, i.e. the true-class cosine lowered by ``m`` before scaling by ``s``; mean over the batch."""
    shift = F.one_hot(y, logits.shape[1]).to(logits.dtype) * (scale * margin)
    return F.cross_entropy(logits - shift, y)


class HE(Extends, Adversarial):
    """AT+HE or TRADES+HE (paper 002, Table 3): ``base``'s objective with the true-class cosine margin ``m``.

    ``base`` is a :class:`~marginlib.methods.PGDAT` (``pgd_at`` / ``fgsm_at``: ``L^m`` at its adversary) or a
    :class:`~marginlib.methods.TRADES` (``L^m`` on the clean batch plus ``beta`` times its KL term). The model must
    carry an :class:`HEHead` (:func:`hypersphere`), whose ``s`` the loss uses. The adversarial batch is ``base``'s
    (``adversary`` delegates to it, with its generator).
    """

    name = "he"
    shardable = False   # reads model.classifier (its HEHead), past a DistributedDataParallel wrapper

    def __init__(self, *, base: Method, margin: float = 0.2) -> None:
        if not isinstance(base, (PGDAT, TRADES)):
            raise ValueError(f"base must be pgd_at, fgsm_at or trades (a PGDAT or TRADES method), got {base!r}")
        super().__init__(base)
        self.margin = validate.nonnegative("margin", margin)

    @staticmethod
    def head(model: nn.Module) -> HEHead:
        head = getattr(model, "classifier", None)
        if not isinstance(head, HEHead):
            raise ValueError("HE needs a model with an HEHead classifier: call marginlib.methods.he.hypersphere(model)")
        return head

    def adversary(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.head(model)
        assert isinstance(self.base, Adversarial)   # checked in __init__
        return self.base.adversary(model, x, y)

    def loss_at(self, model: nn.Module, x: torch.Tensor, x_adv: torch.Tensor, y: torch.Tensor, *,
                index: torch.Tensor | None = None) -> tuple[torch.Tensor, Stats]:
        head = self.head(model)
        if isinstance(self.base, TRADES):
            logits, logits_adv = model(x), model(x_adv)
            ce = he_cross_entropy(logits, y, scale=head.scale, margin=self.margin)
            return trades_objective(ce, logits, logits_adv, beta=self.base.beta)
        logits_adv = model(x_adv)
        adv = he_cross_entropy(logits_adv, y, scale=head.scale, margin=self.margin)
        return adv, {"adv_ce": adv.detach(), "adv_error": (logits_adv.argmax(1) != y).float().mean().detach()}

    def __repr__(self) -> str:
        return f"HE(margin={self.margin}, base={self.base!r})"
