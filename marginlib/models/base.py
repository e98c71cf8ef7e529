"""The interface every model shares: ``[0, 1]`` input -> normalization layer -> ``features`` -> linear ``classifier``.

Pixel space is ``[0, 1]`` everywhere (DESIGN, Data); a dataset's mean/std normalization is the model's first
layer, so every eps stays in the papers' pixel units. ``features(x)`` is the penultimate activation
(paper 000 §4.3: the feature-space margin of AMR uses it with the last layer's weights) and
``model(x) == model.classifier(model.features(x))`` for every model.

Initialization never touches torch's global RNG: :meth:`Net.reset_parameters` draws every weight from an
explicit ``torch.Generator`` (seed 0 when none is given), walking the modules in registration order.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from marginlib import validate

Size = int | tuple[int, int]
Stat = float | Sequence[float] | None  # a normalization mean/std: one value or one per channel


def pair(name: str, size: int | Sequence[int]) -> tuple[int, int]:
    """``size`` as ``(height, width)``: an int is a square side."""
    hw = (size, size) if isinstance(size, int) else tuple(size)
    if len(hw) != 2 or not all(isinstance(s, int) and s > 0 for s in hw):
        raise ValueError(f"{name} must be a positive int or a (height, width) pair of them, got {size!r}")
    return hw[0], hw[1]


def check_spatial(hw: tuple[int, int], *, minimum: int, model: str) -> None:
    """Raise ``ValueError`` if an ``input_size`` is too small for ``model`` (some layer would get an empty map)."""
    if min(hw) < minimum:
        raise ValueError(f"input_size={hw} is too small for {model}: each side must be >= {minimum}")


def _per_channel(name: str, value: float | Sequence[float], channels: int) -> tuple[float, ...]:
    values = (float(value),) * channels if isinstance(value, (int, float)) else tuple(float(v) for v in value)
    if len(values) != channels:
        raise ValueError(f"{name} needs one value or {channels} (one per input channel), got {len(values)}")
    return values


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel: a dataset's standardization as the model's first layer.

    ``mean`` and ``std`` are a number or one value per channel. Attacks and margins still see ``[0, 1]`` inputs,
    so every eps is in pixel units; the layer is affine, so a distance ``r`` in pixel space is ``r / std`` after it.
    """

    mean: Tensor
    std: Tensor

    def __init__(self, *, mean: float | Sequence[float] = 0.0, std: float | Sequence[float] = 1.0, channels: int):
        super().__init__()
        self.values = (_per_channel("mean", mean, channels), _per_channel("std", std, channels))
        for s in self.values[1]:
            validate.positive("std", s)
        self.register_buffer("mean", torch.tensor(self.values[0]).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(self.values[1]).view(1, -1, 1, 1))

    def reset(self) -> None:
        """Refill the buffers from the stored values (needed after ``to_empty``)."""
        with torch.no_grad():
            self.mean.copy_(torch.tensor(self.values[0]).view(1, -1, 1, 1))
            self.std.copy_(torch.tensor(self.values[1]).view(1, -1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"mean={self.values[0]}, std={self.values[1]}"


def default_init_(layer: nn.Linear | nn.Conv2d, generator: torch.Generator) -> None:
    """PyTorch's default ``Linear``/``Conv2d`` init, ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` for weight and bias
    (``kaiming_uniform_(a=sqrt(5))``), drawn from ``generator``."""
    bound = 1.0 / math.sqrt(layer.weight[0].numel())
    layer.weight.uniform_(-bound, bound, generator=generator)
    if layer.bias is not None:
        layer.bias.uniform_(-bound, bound, generator=generator)


def he_normal_(layer: nn.Conv2d, generator: torch.Generator, *, scale: float = 1.0) -> None:
    """He et al. (2015, "MSRA") normal init in fan-out mode, ``N(0, 2 / (out_channels * kh * kw))`` times ``scale``;
    zero bias. The init of the CIFAR ResNets, WRNs and paper 003's LeNet/LiuNet."""
    fan_out = layer.weight.shape[0] * layer.weight[0, 0].numel()
    layer.weight.normal_(0.0, scale * math.sqrt(2.0 / fan_out), generator=generator)
    if layer.bias is not None:
        layer.bias.zero_()


class Net(nn.Module):
    """Base class: ``forward(x) = classifier(features(x))`` with ``features(x) = body(normalize(x))``.

    Subclasses build ``body`` (input ``(N, C, H, W)`` in ``[0, 1]`` -> penultimate ``(N, D)``) and the final
    ``nn.Linear(D, num_classes)``, then call :meth:`reset_parameters` last in ``__init__``.
    ``he_init`` selects :func:`he_normal_` for convolutions (linear layers always get :func:`default_init_`).
    """

    he_init: bool = False

    def __init__(self, body: nn.Module, classifier: nn.Linear, *, in_channels: int,
                 mean: Stat = None, std: Stat = None):
        super().__init__()
        if mean is None and std is None:
            self.normalize: nn.Module = nn.Identity()
        else:
            self.normalize = Normalize(mean=0.0 if mean is None else mean, std=1.0 if std is None else std,
                                       channels=in_channels)
        self.body = body
        self.classifier = classifier

    def features(self, x: Tensor) -> Tensor:
        """Penultimate activations ``(N, D)``: the input of ``classifier`` (paper 000 eq. (4)'s ``Phi(x)``)."""
        return self.body(self.normalize(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Re-initialize every layer from ``generator`` (``torch.Generator().manual_seed(0)`` when ``None``):
        weight layers per ``he_init``, norm layers to weight 1, bias 0 and fresh running statistics."""
        generator = torch.Generator().manual_seed(0) if generator is None else generator
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, nn.Conv2d) and self.he_init:
                    he_normal_(m, generator)
                elif isinstance(m, (nn.Linear, nn.Conv2d)):
                    default_init_(m, generator)
                elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)
                    if isinstance(m, nn.BatchNorm2d):
                        m.reset_running_stats()
                elif isinstance(m, Normalize):
                    m.reset()


def weight_layers(model: nn.Module) -> list[nn.Linear | nn.Conv2d]:
    """Every ``nn.Linear`` and ``nn.Conv2d`` of ``model`` in registration order, which for the models here is
    the forward order (a ResNet block's projection shortcut follows the block's two convolutions); the last
    entry is the classifier. For per-layer analysis (paper 004 Fig. 1a, 5c-d: singular values) and
    Parseval / spectral normalization."""
    return [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
