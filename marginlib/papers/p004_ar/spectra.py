"""Paper 004's summaries of the layers' singular values (Fig. 1a, 5c-d, App. B.2), over the core
:func:`marginlib.spectrum.layer_singular_values`. Used by section 11 (``s11_regularization``)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from marginlib.spectrum import layer_singular_values


def singular_value_std(model: nn.Module, x: Tensor) -> list[float]:
    """Per weight layer, the standard deviation (population, ``1/n``) of its singular values (paper 004, Fig. 1a)."""
    return [float(v.double().std(correction=0)) for v in layer_singular_values(model, x)]


def std_change_sums(low: Sequence[float], high: Sequence[float]) -> dict[str, float]:
    """Paper 004, App. B.2: split the layers by whether the singular-value STD falls (``low > high``; ``low`` =
    network trained at the lower AR strength) or rises, and return per group the number of layers, the sum and the
    mean of the absolute STD differences: ``{"falls_n", "falls_sum", "falls_mean", "rises_n", ...}`` (mean 0 for
    an empty group)."""
    a = torch.as_tensor(list(low), dtype=torch.float64)
    b = torch.as_tensor(list(high), dtype=torch.float64)
    if a.shape != b.shape:
        raise ValueError(f"low and high must have one STD per layer each, got {len(a)} and {len(b)}")
    out: dict[str, float] = {}
    for group, diff in (("falls", a - b), ("rises", b - a)):
        part = diff[diff > 0]
        out[f"{group}_n"] = int(part.numel())
        out[f"{group}_sum"] = float(part.sum())
        out[f"{group}_mean"] = float(part.mean()) if part.numel() else 0.0
    return out
