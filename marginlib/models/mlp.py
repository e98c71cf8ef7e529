"""Fully connected models: logistic regression (no hidden layer) and ReLU MLPs."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .base import Net, Size, Stat, pair


class MLP(Net):
    """``Flatten -> [Linear -> ReLU] * len(hidden) -> Linear(num_classes)``, PyTorch's default init.

    - ``hidden=()``: logistic regression (papers 000 §3-4 "MNIST-LR/CIFAR-LR"); ``features(x)`` is the flattened
      (normalized) input. ``num_classes=1`` is the binary model with one logit ``f``, predicting class 1 iff
      ``f > 0``, so the margin of a label-1 sample has the sign of ``f`` (paper 000 §3, MNIST 0 vs 1);
      ``num_classes=2`` is the same model with two logits.
    - ``hidden=(1024,)``: paper 000 App. A "MNIST-MLP/CIFAR-MLP", one hidden layer of 1024 ReLU units.
    - ``hidden=(1024,) * 4``: paper 002 §3 and App. "Model Architecture", 4 hidden layers of 1024.
    - ``hidden=(800, 800)``: paper 003 §4.4.1 "MLP (800)", two hidden layers of 800.
    """

    def __init__(self, *, hidden: Sequence[int] = (1024,), in_channels: int = 1, input_size: Size = 28,
                 num_classes: int = 10, mean: Stat = None, std: Stat = None, generator: torch.Generator | None = None):
        h, w = pair("input_size", input_size)
        widths = [in_channels * h * w, *hidden]
        if any(not isinstance(n, int) or n <= 0 for n in widths[1:]):
            raise ValueError(f"hidden must be a sequence of positive ints, got {hidden!r}")
        layers: list[nn.Module] = [nn.Flatten()]
        for n_in, n_out in zip(widths, widths[1:]):
            layers += [nn.Linear(n_in, n_out), nn.ReLU()]
        super().__init__(nn.Sequential(*layers), nn.Linear(widths[-1], num_classes),
                         in_channels=in_channels, mean=mean, std=std)
        self.reset_parameters(generator)
