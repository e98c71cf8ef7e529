"""Independent reference computations shared by the tests: written out directly, sample by sample or column by
column, so that they share no code with the library they check."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def linear_minimal_perturbation(model: nn.Module, x: torch.Tensor, norm: str,
                                classes: torch.Tensor | None = None) -> torch.Tensor:
    """Minimal perturbation of a linear model ``Sequential(Flatten, Linear)`` to its nearest boundary, computed
    independently per sample: min_j (f_c - f_j) / ||w_j - w_c||_q along w_j - w_c (L2) or sign(w_j - w_c) (Linf,
    q = 1); ``classes`` restricts the j searched."""
    w, b = model[1].weight.detach(), model[1].bias.detach()
    out = []
    for xi in x.flatten(1):
        f = w @ xi + b
        c = int(f.argmax())
        js = [j for j in (range(len(f)) if classes is None else classes.tolist()) if j != c]
        q = 2 if norm == "l2" else 1
        dists = [float((f[c] - f[j]) / (w[j] - w[c]).norm(p=q)) for j in js]
        j = js[dists.index(min(dists))]
        dw = w[j] - w[c]
        step = dw / dw.norm() ** 2 if norm == "l2" else dw.sign() / dw.norm(p=1)
        out.append((f[c] - f[j]) * step)
    return torch.stack(out).view_as(x)


def dense_circular(weight: torch.Tensor, size: tuple[int, int], stride: int = 1) -> torch.Tensor:
    """The explicit matrix of x -> conv2d(circular pad of x, weight, stride), one column per input basis image, in
    ``weight``'s dtype."""
    c_in, (h, w) = weight.shape[1], size
    kh, kw = weight.shape[2:]
    basis = torch.eye(c_in * h * w, dtype=weight.dtype).view(-1, c_in, h, w)
    out = F.conv2d(F.pad(basis, (0, kw - 1, 0, kh - 1), mode="circular"), weight, stride=stride)
    return out.flatten(1).T  # (outputs, inputs)
