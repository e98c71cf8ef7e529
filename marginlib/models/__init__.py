"""Every architecture the five papers train, built by name: ``build(name, **kw)`` -> :class:`Net` returning logits.

Each model takes inputs of shape ``(N, C, H, W)`` in ``[0, 1]`` and returns logits ``(N, num_classes)``;
``mean``/``std`` add a normalization layer inside the model so every eps stays in pixel units;
``features(x)`` gives the penultimate activations and ``classifier`` is the final ``nn.Linear``, with
``model(x) == model.classifier(model.features(x))``. :func:`weight_layers` lists the linear/conv layers.

Names, architectures and the papers that train them:

- ``logreg``: multi-class logistic regression; ``num_classes=1``: binary, one logit (paper 000 §3-4)
- ``mlp1x1024``, ``mlp4x1024``, ``mlp2x800``, ``mlp`` (``hidden=...``): ReLU MLPs (paper 000, 002, 003)
- ``cw_mnist``, ``cw_cifar``: Carlini-Wagner CNNs (paper 000 App. A)
- ``emr_cnn``: 4-conv CNN (paper 002 Table 5)
- ``lenet5_madry``: Madry et al.'s MNIST CNN (paper 001)
- ``lenet``, ``liunet``: Deep Defense LeNets, L-Softmax's CNN with GroupNorm (paper 003)
- ``resnet20``, ``resnet56``, ``resnet110``, ``resnet``: CIFAR ResNets, option A shortcuts (paper 003, 004)
- ``resnet18``: CIFAR ResNet-18 (paper 002)
- ``nin``: Network in Network (Lin et al.) for CIFAR/SVHN (paper 003)
- ``densenet40``, ``densenet`` (``depth``, ``growth``): DenseNet (Huang et al.), L = 40, k = 12 (paper 003)
- ``wrn28_4``, ``wrn34_10``, ``wrn`` (``depth``, ``width``): Wide ResNets (paper 001, 002)
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

import torch

from marginlib import validate

from .base import Net, Normalize, weight_layers
from .convnets import EMRCNN, CWNet, LeNet, LeNet5Madry, LiuNet
from .densenet import DenseNet
from .mlp import MLP
from .nin import NIN
from .resnets import BasicBlock, ResNet, WideBlock, WideResNet
from .small_cnn import SmallCNN

#: Keywords describing the data, accepted by every name (``input_size`` is unused by size-agnostic models).
DATA_KEYWORDS = ("in_channels", "num_classes", "input_size")
_MNIST = {"in_channels": 1, "input_size": 28}
_CIFAR = {"in_channels": 3, "input_size": 32}


@dataclass(frozen=True)
class _Spec:
    cls: type[Net]
    fixed: dict[str, Any] = field(default_factory=dict)  # set by the name, not overridable
    defaults: dict[str, Any] = field(default_factory=dict)  # overridable


def _cifar_resnet(depth: int) -> _Spec:
    return _Spec(ResNet, {"blocks": ((depth - 2) // 6,) * 3, "widths": (16, 32, 64)}, dict(_CIFAR))


_REGISTRY: dict[str, _Spec] = {
    "logreg": _Spec(MLP, {"hidden": ()}, dict(_MNIST)),
    "mlp": _Spec(MLP, {}, dict(_MNIST)),
    "mlp1x1024": _Spec(MLP, {"hidden": (1024,)}, dict(_MNIST)),
    "mlp4x1024": _Spec(MLP, {"hidden": (1024,) * 4}, dict(_MNIST)),
    "mlp2x800": _Spec(MLP, {"hidden": (800, 800)}, dict(_MNIST)),
    "cw_mnist": _Spec(CWNet, {"variant": "mnist"}, dict(_MNIST)),
    "cw_cifar": _Spec(CWNet, {"variant": "cifar"}, dict(_CIFAR)),
    "emr_cnn": _Spec(EMRCNN, {}, dict(_CIFAR)),
    "lenet5_madry": _Spec(LeNet5Madry, {}, dict(_MNIST)),
    "small_cnn": _Spec(SmallCNN, {}, dict(_MNIST)),
    "lenet": _Spec(LeNet, {}, dict(_MNIST)),
    "liunet": _Spec(LiuNet, {}, dict(_MNIST)),
    "resnet": _Spec(ResNet, {}, dict(_CIFAR)),
    "resnet18": _Spec(ResNet, {"blocks": (2, 2, 2, 2), "widths": (64, 128, 256, 512)},
                      {**_CIFAR, "shortcut": "B"}),
    "resnet20": _cifar_resnet(20),
    "resnet56": _cifar_resnet(56),
    "resnet110": _cifar_resnet(110),
    "wrn": _Spec(WideResNet, {}, dict(_CIFAR)),
    "wrn28_4": _Spec(WideResNet, {"depth": 28, "width": 4}, dict(_CIFAR)),
    "wrn34_10": _Spec(WideResNet, {"depth": 34, "width": 10}, dict(_CIFAR)),
    "nin": _Spec(NIN, {}, dict(_CIFAR)),
    "densenet": _Spec(DenseNet, {}, dict(_CIFAR)),
    "densenet40": _Spec(DenseNet, {"depth": 40, "growth": 12}, dict(_CIFAR)),
}


def names() -> list[str]:
    """Every name :func:`build` accepts."""
    return list(_REGISTRY)


def keywords(name: str) -> list[str]:
    """The keywords :func:`build` accepts for ``name`` (besides ``seed`` and ``generator``)."""
    spec = _REGISTRY[validate.choice("name", name, names())]
    own = [p for p in inspect.signature(spec.cls).parameters if p != "generator" and p not in spec.fixed]
    return own + [k for k in DATA_KEYWORDS if k not in own]


def build(name: str, *, seed: int | None = None, generator: torch.Generator | None = None, **kw: Any) -> Net:
    """Build model ``name`` (see :func:`names`) on the CPU, in train mode, initialized from ``generator`` or
    from ``torch.Generator().manual_seed(seed)`` (seed 0 when neither is given; not both).

    Keywords (:func:`keywords` lists them per name): ``in_channels``, ``num_classes``, ``input_size`` (an int
    or ``(H, W)``; defaults are MNIST's 1x28x28 or CIFAR's 3x32x32 per name, 10 classes), ``mean``/``std``
    (a normalization layer inside the model), and the architecture's own options (e.g. ``hidden``,
    ``dropout``, ``shortcut``, ``norm``, ``depth``, ``width``, ``groups``, ``variant``). The module is
    constructed on the meta device and then initialized, so torch's global RNG is never consumed.
    Raises ``ValueError`` naming the valid choices for an unknown name or keyword.
    """
    valid = keywords(name)
    for key in kw:
        validate.choice(f"{name} keyword", key, valid)
    for key in ("in_channels", "num_classes"):
        if key in kw and not (isinstance(kw[key], int) and kw[key] > 0):
            raise ValueError(f"{key} must be a positive int, got {kw[key]!r}")
    if seed is not None and generator is not None:
        raise ValueError("give seed or generator, not both")
    if generator is None:
        generator = torch.Generator().manual_seed(0 if seed is None else seed)
    spec = _REGISTRY[name]
    accepted = inspect.signature(spec.cls).parameters
    args = {k: v for k, v in {**spec.defaults, **kw, **spec.fixed}.items() if k in accepted}
    with torch.device("meta"):
        model = spec.cls(**args)
    model.to_empty(device="cpu")
    model.reset_parameters(generator)
    return model


__all__ = [
    "BasicBlock", "CWNet", "DATA_KEYWORDS", "EMRCNN", "LeNet", "LeNet5Madry", "LiuNet", "MLP", "Net", "Normalize",
    "DenseNet", "NIN",
    "ResNet", "SmallCNN", "WideBlock", "WideResNet", "build", "keywords", "names", "weight_layers",
]
