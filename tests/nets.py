"""Small models the tests share (advertorch's ``test_utils`` idea): one definition each."""
from __future__ import annotations

import torch
from torch import nn


class TinyNet(nn.Module):
    """MLP exposing ``features`` (penultimate activations) and a final ``classifier``, like every marginlib model."""

    def __init__(self, d: int = 4, h: int = 8, k: int = 3, *, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(d, h), nn.ReLU())
        self.classifier = nn.Linear(h, k)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def random_linear(d: int, k: int, generator: torch.Generator, *, bias: str = "random",
                  dtype: torch.dtype = torch.float32) -> nn.Sequential:
    """``Sequential(Flatten, Linear(d, k))`` with ``N(0, 1)`` weights drawn from ``generator``; ``bias``:
    ``"random"`` (``N(0, 1)`` from the generator), ``"centred"`` (``-sum_j w_ij / 2``: every boundary passes through
    the centre of the box ``[0, 1]^d``), ``"zero"``, or ``"default"`` (PyTorch's initialization)."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(d, k)).to(dtype)
    layer = model[1]
    with torch.no_grad():
        layer.weight.copy_(torch.randn(k, d, generator=generator, dtype=dtype))
        if bias == "random":
            layer.bias.copy_(torch.randn(k, generator=generator, dtype=dtype))
        elif bias == "centred":
            layer.bias.copy_(-layer.weight.sum(1) / 2)
        elif bias == "zero":
            layer.bias.zero_()
        elif bias != "default":
            raise ValueError(f"bias={bias!r}; choose random, centred, zero or default")
    return model


def central_points(generator: torch.Generator, n: int = 64) -> torch.Tensor:
    """``n`` 2x2 one-channel images with pixels in [0.45, 0.55], near the centre of the box (where
    :func:`random_linear` with ``bias="centred"`` puts its boundaries)."""
    return 0.45 + 0.1 * torch.rand(n, 1, 2, 2, generator=generator)
