"""Per-sample bisection on a perturbation length: the one search loop behind AN-PGD's line search (paper 001,
Alg. 1 footnote 4), the bisection of :func:`marginlib.margins.attack_margin` and paper 001's Fig. 2 example."""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from marginlib import validate


def bisect(succeeds: Callable[[Tensor], Tensor], lo: Tensor, hi: Tensor, *, steps: int) -> tuple[Tensor, Tensor]:
    """The final bracket ``(lo, hi)`` after ``steps`` halvings: each step evaluates ``succeeds(mid)`` (a boolean
    tensor shaped like ``mid = (lo + hi) / 2``) and keeps ``[lo, mid]`` where it holds, ``[mid, hi]`` elsewhere.

    With ``succeeds`` false at ``lo`` and true at ``hi`` (elementwise) the threshold stays inside the bracket,
    whose width shrinks to ``(hi - lo) / 2**steps``.
    """
    validate.nonnegative("steps", steps)
    for _ in range(steps):
        mid = (lo + hi) / 2
        ok = succeeds(mid)
        lo, hi = torch.where(ok, lo, mid), torch.where(ok, mid, hi)
    return lo, hi
