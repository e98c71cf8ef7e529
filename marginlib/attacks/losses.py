"""Per-sample attack objectives on logits: larger means more adversarial for an untargeted attack.

- ``ce``: cross-entropy of the label, the usual PGD objective (Madry et al.).
- ``margin``: the Carlini-Wagner logit margin ``max_{j != y} z_j - z_y`` (paper 001's "logit margin loss"
  L, §1.1: negative while ``y`` wins, positive once the input is misclassified).
- ``soft_margin``: ``logsumexp_{j != y} z_j - z_y``, the smooth upper bound of ``margin`` that the released MMA
  code (paper 001) uses for its AN-PGD attack and bisection ("slm").

A targeted attack towards class ``t`` maximizes ``-loss(z, t)``: it lowers the target's cross-entropy or
raises the target's own margin over every other class.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from marginlib import validate

#: the per-sample losses an attack can ascend, by name
LOSSES = ("ce", "margin", "soft_margin")


def _others(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The logits with the column of each sample's label ``y`` set to -inf."""
    return logits.scatter(1, y[:, None], float("-inf"))


def _label_logit(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return logits.gather(1, y[:, None]).squeeze(1)


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample cross-entropy ``-log softmax(z)_y``."""
    return F.cross_entropy(logits, y, reduction="none")


def margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample logit margin loss ``max_{j != y} z_j - z_y`` (paper 001, §1.1; Carlini & Wagner)."""
    return _others(logits, y).amax(1) - _label_logit(logits, y)


def soft_margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample soft logit margin ``logsumexp_{j != y} z_j - z_y`` (paper 001, released code)."""
    return torch.logsumexp(_others(logits, y), 1) - _label_logit(logits, y)


_BY_NAME: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "ce": cross_entropy,
    "margin": margin,
    "soft_margin": soft_margin,
}


def get(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The per-sample loss called ``name`` (one of :data:`LOSSES`)."""
    return _BY_NAME[validate.choice("loss", name, LOSSES)]


def check_logits(logits: torch.Tensor, y: torch.Tensor) -> None:
    """Refuse what would make an attack silently wrong: logits that are not ``(N, K)`` with ``K >= 2`` (a one-logit
    binary model has no other class to move to; :class:`marginlib.margins.TwoLogits` reads it as ``(0, f)``, as the
    margins do) and labels outside ``0..K-1``."""
    if logits.dim() != 2 or logits.shape[1] < 2:
        raise ValueError(f"the model returns logits of shape {tuple(logits.shape)}; attacks need (N, K) with K >= 2 "
                         "classes (wrap a one-logit binary model as marginlib.margins.TwoLogits(model))")
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= logits.shape[1]):
        raise ValueError(f"labels range over {int(y.min())}..{int(y.max())}, outside the model's classes "
                         f"0..{logits.shape[1] - 1}")


def objective(logits: torch.Tensor, y: torch.Tensor, loss: str, *, targeted: bool = False) -> torch.Tensor:
    """Per-sample quantity an attack ascends: ``loss(z, y)``, or ``-loss(z, y)`` when ``y`` is a target."""
    check_logits(logits, y)
    value = get(loss)(logits, y)
    return -value if targeted else value


def fooled(logits: torch.Tensor, y: torch.Tensor, *, targeted: bool = False) -> torch.Tensor:
    """Boolean mask of attack success: prediction differs from ``y`` (or equals the target ``y``)."""
    pred = logits.argmax(1)
    return pred == y if targeted else pred != y
