"""DenseNet for CIFAR/SVHN (Huang, Liu, van der Maaten & Weinberger, CVPR 2017, §3-4), paper 003's "DenseNet-40"
(§4.1.2, Tables 4-6): the basic network with depth ``L = 40`` and growth rate ``k = 12``, no bottleneck and no
compression.

``conv3x3(16) -> [dense block -> transition] x 2 -> dense block -> BN -> ReLU -> global average pool ->
Linear(num_classes)``. Each dense block has ``(depth - 4) / 3`` layers ``BN -> ReLU -> conv3x3(k)`` whose outputs
are concatenated to their inputs; a transition is ``BN -> ReLU -> conv1x1 (same width) -> avgpool2``. Widths for
``depth=40, k=12``: 16 -> 160 -> 304 -> 448. ``features(x)`` is the pooled 448-vector. No dropout (Huang et al.
drop only without data augmentation; paper 003 augments). Convolutions have no bias (a BN follows each input);
He-normal init, BN at 1/0. 1,019,722 parameters for 3 input channels and 10 classes (Huang et al. Table 2: 1.0M).

Paper 003 freezes every batch norm of its DenseNets and ResNets while AMM fine-tunes them (§4.4.2), so that a
sample's DeepFool perturbation does not depend on its batch:
:func:`marginlib.papers.p003_amm.frozen_bn.frozen_batchnorm`.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .base import Net, Stat


class DenseLayer(nn.Module):
    """``cat([x, conv3x3(relu(bn(x)))])``: one layer of a dense block, adding ``growth`` channels."""

    def __init__(self, c_in: int, growth: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(c_in)
        self.conv = nn.Conv2d(c_in, growth, 3, padding=1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([x, self.conv(torch.relu(self.bn(x)))], dim=1)


def _transition(channels: int) -> nn.Sequential:
    """BN -> ReLU -> conv1x1 (width kept: no compression) -> 2x2 average pool, between two dense blocks."""
    return nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(), nn.Conv2d(channels, channels, 1, bias=False),
                         nn.AvgPool2d(2))


class DenseNet(Net):
    """See the module docstring: ``depth = 3 n + 4`` (``n`` layers per block), growth rate ``growth``."""

    he_init = True

    def __init__(self, *, depth: int = 40, growth: int = 12, in_channels: int = 3, num_classes: int = 10,
                 mean: Stat = None, std: Stat = None, generator: torch.Generator | None = None):
        if not isinstance(depth, int) or depth < 7 or (depth - 4) % 3:
            raise ValueError(f"depth must be 3n + 4 with n >= 1 (7, 10, ..., 40, ...), got {depth!r}")
        if not isinstance(growth, int) or growth < 1:
            raise ValueError(f"growth must be a positive int, got {growth!r}")
        n = (depth - 4) // 3
        channels = 16
        layers: list[nn.Module] = [nn.Conv2d(in_channels, channels, 3, padding=1, bias=False)]
        for block in range(3):
            for _ in range(n):
                layers.append(DenseLayer(channels, growth))
                channels += growth
            if block < 2:
                layers.append(_transition(channels))
        layers += [nn.BatchNorm2d(channels), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        super().__init__(nn.Sequential(*layers), nn.Linear(channels, num_classes), in_channels=in_channels,
                         mean=mean, std=std)
        self.reset_parameters(generator)
