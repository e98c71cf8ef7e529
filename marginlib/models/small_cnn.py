"""A small strided CNN for CPU-scale experiments (the book's ``demo`` stand-in for paper 001's LeNet-5).

``conv5x5(c1, stride 2, pad 2) -> ReLU -> conv5x5(c2, stride 2, pad 2) -> ReLU -> fc(hidden) -> ReLU ->
fc(num_classes)``: the layout of Madry et al.'s MNIST network with its max-pools replaced by strides and its widths
divided by 2 (convolutions) and 10 (fully connected), about 17x cheaper per image than ``lenet5_madry``.
171,158 parameters for 28x28x1 inputs and 10 classes with the defaults.
"""
from __future__ import annotations

import torch
from torch import nn

from .base import Net, Size, Stat, check_spatial, pair


class SmallCNN(Net):
    """See the module docstring; ``channels = (c1, c2)`` and ``hidden`` set the widths."""

    def __init__(self, *, in_channels: int = 1, input_size: Size = 28, num_classes: int = 10,
                 channels: tuple[int, int] = (16, 32), hidden: int = 100, mean: Stat = None, std: Stat = None,
                 generator: torch.Generator | None = None):
        h, w = pair("input_size", input_size)
        check_spatial((h, w), minimum=4, model="SmallCNN")
        c1, c2 = channels
        side = lambda n: (n + 1) // 2  # noqa: E731  (stride 2, kernel 5, padding 2)
        body = nn.Sequential(
            nn.Conv2d(in_channels, c1, 5, stride=2, padding=2), nn.ReLU(),
            nn.Conv2d(c1, c2, 5, stride=2, padding=2), nn.ReLU(),
            nn.Flatten(), nn.Linear(c2 * side(side(h)) * side(side(w)), hidden), nn.ReLU(),
        )
        super().__init__(body, nn.Linear(hidden, num_classes), in_channels=in_channels, mean=mean, std=std)
        self.reset_parameters(generator)
