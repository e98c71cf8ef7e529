"""Network in Network (Lin, Chen & Yan, ICLR 2014, §3-4.2), the CIFAR/SVHN "NIN" of paper 003 (§4.1.2, Tables 4-6).

Three "mlpconv" blocks, each a spatial convolution followed by two 1x1 convolutions ("cccp" layers), ReLU after
every convolution, padding that keeps the map size:

``conv5x5(192) -> cccp(160) -> cccp(96) -> maxpool2 -> dropout -> conv5x5(192) -> cccp(192) -> cccp(192) ->
avgpool2 -> dropout -> conv3x3(192) -> cccp(192) -> cccp(num_classes) -> global average pool``.

Layer widths and order are Lin et al.'s CIFAR-10 network; the 2x2 stride-2 pools (Lin et al.'s Caffe model pools
3x3 with stride 2, same output size 16 and 8 for 32x32 inputs) and the dropout rate, 0 by default, follow the
AMM authors' released code (``models/cifar/nin.py``, ``--dropout-p 0``), which paper 003 says is copied from
Deep Defense. Lin et al. use dropout 0.5.

The last 1x1 convolution followed by global average pooling equals average pooling followed by a linear map
(both are linear), so here ``features(x)`` is the average-pooled 192-vector of the last hidden cccp layer and
``classifier`` the ``Linear(192, num_classes)`` that plays the last cccp layer: the same function with the
book's ``features``/``classifier`` interface. He-normal ("MSRA", paper 003 §4.2) convolution init.
966,986 parameters for 3 input channels and 10 classes (Lin et al. give no count; about 0.97M).
"""
from __future__ import annotations

import torch
from torch import nn

from .base import Net, Size, Stat, check_spatial, pair


def _mlpconv(c_in: int, c_out: int, kernel: int, cccp: tuple[int, ...]) -> list[nn.Module]:
    """An mlpconv block of Lin et al. (§3.1): a ``kernel``-size convolution, then 1x1 convolutions of widths
    ``cccp``, each followed by a ReLU."""
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2), nn.ReLU()]
    for a, b in zip((c_out, *cccp), cccp):
        layers += [nn.Conv2d(a, b, 1), nn.ReLU()]
    return layers


class NIN(Net):
    """See the module docstring. ``dropout`` is the rate of the two dropout layers (0 in the AMM code, 0.5 in
    Lin et al.); ``input_size`` only checks that the two 2x2 pools leave a map (any side >= 4 works)."""

    he_init = True

    def __init__(self, *, in_channels: int = 3, input_size: Size = 32, num_classes: int = 10, dropout: float = 0.0,
                 mean: Stat = None, std: Stat = None, generator: torch.Generator | None = None):
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        check_spatial(pair("input_size", input_size), minimum=4, model="NIN")
        body = nn.Sequential(
            *_mlpconv(in_channels, 192, 5, (160, 96)), nn.MaxPool2d(2), nn.Dropout(dropout),
            *_mlpconv(96, 192, 5, (192, 192)), nn.AvgPool2d(2), nn.Dropout(dropout),
            *_mlpconv(192, 192, 3, (192,)), nn.AdaptiveAvgPool2d(1), nn.Flatten(),  # last cccp: the classifier
        )
        super().__init__(body, nn.Linear(192, num_classes), in_channels=in_channels, mean=mean, std=std)
        self.reset_parameters(generator)
