"""Binary linear classifiers under the AMM regularizer: the closed form of paper 003 §3.2 and the geometry of
the 2-D toy experiment (§3.3.3, Fig. 1).

Conventions: a binary classifier ``f(x) = w·x + b`` predicts class 1 iff ``f(x) > 0``; a two-logit affine
model ``(f_0, f_1)`` is read as ``w = w_1 - w_0``, ``b = b_1 - b_0``. Angles are in degrees.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from marginlib import validate
from marginlib.margins import affine_weights


def hyperplane(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(w, b)`` of the decision boundary ``{w·x + b = 0}`` of an affine binary ``model`` (one or two logits),
    read off by probing it on inputs shaped like ``x`` (checked against its logits on ``x``)."""
    weight, bias = affine_weights(model, x)
    if weight.shape[0] == 1:
        return weight[0], bias[0]
    if weight.shape[0] != 2:
        raise ValueError(f"model must be binary (1 or 2 logits), got {weight.shape[0]} logits")
    return weight[1] - weight[0], bias[1] - bias[0]


def avg_lin_solution(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The minimizer of the AVG+LIN regularizer for a linear binary classifier, paper 003 eqs. (11)-(12).

    With ``lambda = c = d = 1``, ``R(t) = t`` and ``||w|| = 1``, eq. (11) equals ``-sum_k s_k (w·x_k + b)``
    (``s_k = +1`` for class 1, ``-1`` for class 0) whichever points are misclassified; with balanced classes ``b``
    cancels (eq. (12)) and the minimizer is ``w* = (sum_{k in S+} x_k - sum_{k in S-} x_k) / Z``: the normal of the
    boundary is the line joining the class centres. Eq. (12) leaves ``b`` free; by convention the boundary here
    passes through the midpoint of the two centres, ``b = -w*·(mu_+ + mu_-) / 2``. Classes must be balanced
    (otherwise the objective is unbounded in ``b``).
    """
    validate.batch(x, y, bounds=None)
    counts = torch.bincount(y, minlength=2)
    if len(counts) != 2 or counts[0] != counts[1] or counts[0] == 0:
        raise ValueError("y must hold balanced binary labels 0/1 (eq. (12) assumes |S+| = |S-|), "
                         f"got counts {counts.tolist()}")
    xf = x.flatten(1).double()
    mu_pos, mu_neg = xf[y == 1].mean(0), xf[y == 0].mean(0)
    w = (mu_pos - mu_neg) / (mu_pos - mu_neg).norm()
    return w.to(x.dtype), (-w @ (mu_pos + mu_neg) / 2).to(x.dtype)


def angle_to_line(w: torch.Tensor, direction: torch.Tensor) -> float:
    """Angle in degrees, in [0, 90], between the hyperplane with normal ``w`` and a line along ``direction``:
    ``asin(|cos(w, direction)|)``; 90 means the boundary is orthogonal to the line."""
    w, direction = w.flatten().double(), direction.flatten().double()
    if w.shape != direction.shape:
        raise ValueError(f"w and direction must have the same size, got {tuple(w.shape)} and {tuple(direction.shape)}")
    if float(w.norm()) == 0 or float(direction.norm()) == 0:
        raise ValueError("w and direction must be nonzero")
    cosine = (w @ direction).abs() / (w.norm() * direction.norm())
    return math.degrees(math.asin(min(1.0, float(cosine))))


def class_centres(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The centres of mass ``(mu_0, mu_1)`` of the two classes (labels 0/1) of ``x``."""
    validate.batch(x, y, bounds=None)
    xf = x.flatten(1)
    return xf[y == 0].mean(0), xf[y == 1].mean(0)
