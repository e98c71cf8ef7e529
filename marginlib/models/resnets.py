"""Residual networks: He et al.'s CIFAR ResNets (20/56/110), the CIFAR ResNet-18, and Wide ResNets.

All end in global average pooling, so they accept any input size (the papers use 32x32; MNIST's 28x28 works).
Convolutions have no bias (a norm layer follows each one); He-normal fan-out init, norm layers at 1/0.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from marginlib import validate

from .base import Net, Stat


def _conv3x3(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)


def _norm(norm: str, channels: int) -> nn.Module:
    return nn.BatchNorm2d(channels) if norm == "batch" else nn.Identity()


class PadShortcut(nn.Module):
    """He et al. (2016) option A shortcut: subsample by ``stride``, then append ``extra`` all-zero channels.
    Parameter-free, so the CIFAR ResNets keep their published sizes (0.27M / 0.85M / 1.7M)."""

    def __init__(self, extra: int, stride: int):
        super().__init__()
        self.extra, self.stride = extra, stride

    def forward(self, x: Tensor) -> Tensor:
        return F.pad(x[:, :, ::self.stride, ::self.stride], (0, 0, 0, 0, 0, self.extra))


class BasicBlock(nn.Module):
    """Post-activation basic block (He et al. 2016, Fig. 2 left):
    ``relu(norm(conv3x3(relu(norm(conv3x3(x))))) + shortcut(x))``.

    When the shape changes the shortcut is option ``"A"`` (:class:`PadShortcut`) or ``"B"`` (1x1 projection
    conv + norm); otherwise it is the identity. ``norm="none"`` leaves the norm layers out (Fixup networks).
    """

    def __init__(self, c_in: int, c_out: int, *, stride: int, shortcut: str, norm: str):
        super().__init__()
        self.conv1, self.bn1 = _conv3x3(c_in, c_out, stride), _norm(norm, c_out)
        self.conv2, self.bn2 = _conv3x3(c_out, c_out), _norm(norm, c_out)
        if stride == 1 and c_in == c_out:
            self.shortcut: nn.Module = nn.Identity()
        elif shortcut == "A":
            if c_out < c_in:
                raise ValueError(f"shortcut='A' cannot reduce channels ({c_in} -> {c_out}); use shortcut='B'")
            self.shortcut = PadShortcut(c_out - c_in, stride)
        else:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), _norm(norm, c_out))

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet(Net):
    """ResNet of :class:`BasicBlock` stages: ``conv3x3(widths[0]) -> norm -> ReLU -> stages -> global average
    pool -> Linear(widths[-1], num_classes)``; stage ``i`` has ``blocks[i]`` blocks of width ``widths[i]``,
    the first of every stage after the first with stride 2. ``features(x)`` is the pooled vector.

    - CIFAR ResNet-``6n+2`` (He et al. 2016 §4.2; papers 003 Tables 4-6 and 004 §4): ``blocks=(n, n, n)``,
      ``widths=(16, 32, 64)``, option A shortcuts as in He et al.'s CIFAR experiments. ResNet-20/56/110
      have 269,722 / 853,018 / 1,727,962 parameters (He et al. Table 6: 0.27M / 0.85M / 1.7M).
    - ResNet-18 for CIFAR (paper 002 §4, as in the adversarial-training literature it follows): ``blocks=(2, 2,
      2, 2)``, ``widths=(64, 128, 256, 512)``, a 3x3 stride-1 stem without max pooling, option B (projection)
      shortcuts; 11,173,962 parameters for 10 classes.

    ``norm="batch"`` is the standard network. ``norm="none"`` is paper 004's BN-free network (App. B.3/D.3):
    Fixup initialization (Zhang et al. 2019): the residual branches' first convs are He-normal scaled by
    ``L ** -0.5`` (``L`` = number of blocks, two layers per branch), their last convs and the classifier start
    at zero; the Fixup scalar multipliers and scalar biases are omitted, as paper 004 says ("the scalar layers
    ... are also omitted"), so the convolutions have no bias at all. (Paper 003 instead *freezes* BN in its
    ResNets, §4.4.2: a training choice, not an architecture.)
    """

    he_init = True

    def __init__(self, *, blocks: Sequence[int] = (3, 3, 3), widths: Sequence[int] = (16, 32, 64),
                 shortcut: str = "A", norm: str = "batch", in_channels: int = 3, num_classes: int = 10,
                 mean: Stat = None, std: Stat = None, generator: torch.Generator | None = None):
        validate.choice("shortcut", shortcut, ("A", "B"))
        validate.choice("norm", norm, ("batch", "none"))
        if len(blocks) != len(widths) or not blocks or min(blocks) < 1:
            raise ValueError(f"blocks and widths need the same positive length and blocks >= 1 each, "
                             f"got blocks={tuple(blocks)}, widths={tuple(widths)}")
        layers: list[nn.Module] = [_conv3x3(in_channels, widths[0]), _norm(norm, widths[0]), nn.ReLU()]
        c_in = widths[0]
        for stage, (n, c_out) in enumerate(zip(blocks, widths)):
            for j in range(n):
                stride = 2 if stage > 0 and j == 0 else 1
                layers.append(BasicBlock(c_in, c_out, stride=stride, shortcut=shortcut, norm=norm))
                c_in = c_out
        body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        super().__init__(body, nn.Linear(c_in, num_classes), in_channels=in_channels, mean=mean, std=std)
        self.fixup = norm == "none"
        self.reset_parameters(generator)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """He-normal init (:meth:`~marginlib.models.base.Net.reset_parameters`), then the Fixup rescaling when
        ``norm="none"``."""
        super().reset_parameters(generator)
        if not self.fixup:
            return
        blocks = [m for m in self.modules() if isinstance(m, BasicBlock)]
        with torch.no_grad():
            for block in blocks:
                block.conv1.weight.mul_(len(blocks) ** -0.5)
                block.conv2.weight.zero_()
            self.classifier.weight.zero_()
            self.classifier.bias.zero_()


class WideBlock(nn.Module):
    """Pre-activation wide basic block (Zagoruyko & Komodakis 2016, "B(3,3)"):
    ``conv3x3(dropout(relu(bn(conv3x3(a))))) + shortcut``, ``a = relu(bn(x))``; the shortcut is ``x`` when the
    shape is kept and a 1x1 projection conv of ``a`` otherwise."""

    def __init__(self, c_in: int, c_out: int, *, stride: int, dropout: float):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(c_in), _conv3x3(c_in, c_out, stride)
        self.bn2, self.conv2 = nn.BatchNorm2d(c_out), _conv3x3(c_out, c_out)
        self.dropout = nn.Dropout(dropout)
        self.shortcut = (nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False)
                         if stride != 1 or c_in != c_out else None)

    def forward(self, x: Tensor) -> Tensor:
        a = F.relu(self.bn1(x))
        out = self.conv2(self.dropout(F.relu(self.bn2(self.conv1(a)))))
        return out + (x if self.shortcut is None else self.shortcut(a))


class WideResNet(Net):
    """WRN-``depth``-``width`` (Zagoruyko & Komodakis 2016): ``conv3x3(16)``, three groups of
    ``n = (depth - 4) / 6`` :class:`WideBlock` s of widths ``16k, 32k, 64k`` (strides 1, 2, 2), then
    ``BN -> ReLU -> global average pool -> Linear(64k, num_classes)``; ``features(x)`` is the pooled vector.

    WRN-28-4 is paper 001's CIFAR-10 model (§5), WRN-34-10 paper 002's (§4, Madry et al.'s and TRADES'
    network); WRN-28-10 has 36,479,194 parameters (the WRN paper's 36.5M). ``dropout`` between the
    convolutions of each block is 0 by default, as in those papers' adversarial-training code.
    """

    he_init = True

    def __init__(self, *, depth: int = 28, width: int = 10, dropout: float = 0.0, in_channels: int = 3,
                 num_classes: int = 10, mean: Stat = None, std: Stat = None, generator: torch.Generator | None = None):
        if depth < 10 or (depth - 4) % 6:
            raise ValueError(f"depth must be 6n + 4 with n >= 1 (10, 16, 22, 28, 34, ...), got {depth!r}")
        if not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be a positive int, got {width!r}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        n = (depth - 4) // 6
        layers: list[nn.Module] = [_conv3x3(in_channels, 16)]
        c_in = 16
        for group, c_out in enumerate((16 * width, 32 * width, 64 * width)):
            for j in range(n):
                stride = 2 if group > 0 and j == 0 else 1
                layers.append(WideBlock(c_in, c_out, stride=stride, dropout=dropout))
                c_in = c_out
        layers += [nn.BatchNorm2d(c_in), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        super().__init__(nn.Sequential(*layers), nn.Linear(c_in, num_classes), in_channels=in_channels,
                         mean=mean, std=std)
        self.reset_parameters(generator)
