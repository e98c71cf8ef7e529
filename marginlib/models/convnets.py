"""Plain (non-residual) convolutional networks of papers 000, 001, 002 and 003.

Each class works for any input size large enough for its layers: the flattened width is computed from
``input_size``. The papers' own input sizes are 28x28 (MNIST) and 32x32 (CIFAR-10/100).
"""
from __future__ import annotations

import torch
from torch import nn

from marginlib import validate

from .base import Net, Size, Stat, check_spatial, pair


def _conv_relu(c_in: int, c_out: int, kernel: int | tuple[int, int], *, padding: int = 0) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, kernel, padding=padding), nn.ReLU()]


def _side(n: int) -> int:
    """Side of the map after twice (lose 4 pixels to unpadded convolutions, then 2x2 max pool): the CW nets'
    two 3x3 convs and the Caffe LeNet's one 5x5 conv per stage."""
    return ((n - 4) // 2 - 4) // 2


class CWNet(Net):
    """The Carlini-Wagner MNIST and CIFAR-10 CNNs (Carlini & Wagner 2017, Table 1; used by Weng et al. 2018),
    paper 000 App. A "MNIST-CNN/CIFAR-CNN".

    ``conv3x3(a) -> conv3x3(a) -> maxpool2 -> conv3x3(b) -> conv3x3(b) -> maxpool2 -> fc(c) -> dropout ->
    fc(c) -> fc(num_classes)``, ReLU after every conv and hidden fc, "valid" (unpadded) convolutions, with
    ``(a, b, c) = (32, 64, 200)`` for ``variant="mnist"`` and ``(64, 128, 256)`` for ``"cifar"``.
    Dropout 0.5 after the first fc as in Carlini & Wagner's training script (paper 000 says its models are
    "exactly the same" as theirs). Paper 000's *released* models differ: MNISTCNN has no dropout (``dropout=0``
    here) and CIFARCNN has dropout 0.5 after both hidden fcs, which this class does not offer. It only acts
    in train mode. ``features(x)`` is the second fc's ReLU output. PyTorch's default init (Keras'
    Glorot-uniform in the original; assumption).
    Parameters: 312,202 (MNIST, 28x28x1) and 1,147,978 (CIFAR, 32x32x3) for 10 classes. Paper 000 App. A
    writes "MNIST-CNN and MNIST-CNN" (read as the MNIST and the CIFAR model).
    """

    WIDTHS = {"mnist": (32, 64, 200), "cifar": (64, 128, 256)}

    def __init__(self, *, variant: str = "mnist", in_channels: int = 1, input_size: Size = 28,
                 num_classes: int = 10, dropout: float = 0.5, mean: Stat = None, std: Stat = None,
                 generator: torch.Generator | None = None):
        a, b, c = self.WIDTHS[validate.choice("variant", variant, self.WIDTHS)]
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        h, w = pair("input_size", input_size)
        check_spatial((h, w), minimum=16, model="CWNet")
        body = nn.Sequential(
            *_conv_relu(in_channels, a, 3), *_conv_relu(a, a, 3), nn.MaxPool2d(2),
            *_conv_relu(a, b, 3), *_conv_relu(b, b, 3), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(b * _side(h) * _side(w), c), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(c, c), nn.ReLU(),
        )
        super().__init__(body, nn.Linear(c, num_classes), in_channels=in_channels, mean=mean, std=std)
        self.reset_parameters(generator)


class EMRCNN(Net):
    """Paper 002's 4-conv CIFAR CNN (App. "Model Architecture", Table 5).

    ``conv5x5(32) -> conv5x5(64) -> avgpool2 -> conv3x3(128) -> conv3x3(128) -> global average pool ->
    Linear(128, num_classes)``, stride 1, no padding ("padding=None"), ReLU after every conv ("we use ReLU as
    the activation function"). ``features(x)`` is the pooled 128-vector. PyTorch's default init (the paper is
    silent). Parameters: 276,426 for 32x32x3 inputs and 10 classes.
    """

    def __init__(self, *, in_channels: int = 3, input_size: Size = 32, num_classes: int = 10, mean: Stat = None,
                 std: Stat = None, generator: torch.Generator | None = None):
        check_spatial(pair("input_size", input_size), minimum=18, model="EMRCNN")
        body = nn.Sequential(
            *_conv_relu(in_channels, 32, 5), *_conv_relu(32, 64, 5), nn.AvgPool2d(2),
            *_conv_relu(64, 128, 3), *_conv_relu(128, 128, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        super().__init__(body, nn.Linear(128, num_classes), in_channels=in_channels, mean=mean, std=std)
        self.reset_parameters(generator)


class LeNet5Madry(Net):
    """Madry et al.'s MNIST network: the layer layout of advertorch's ``LeNet5Madry``, which paper 001's released
    code (BorealisAI/mma_training) trains on MNIST; the preprint itself names no architecture.

    ``conv5x5(32, same) -> ReLU -> maxpool2 -> conv5x5(64, same) -> ReLU -> maxpool2 -> fc(1024) -> ReLU ->
    fc(num_classes)``; ``features(x)`` is the 1024-unit ReLU output. PyTorch's default init (Madry's
    TensorFlow code draws truncated normals with std 0.1 and biases 0.1; the MMA code uses PyTorch's
    defaults). Parameters: 3,274,634 for 28x28x1 inputs and 10 classes.
    """

    def __init__(self, *, in_channels: int = 1, input_size: Size = 28, num_classes: int = 10, mean: Stat = None,
                 std: Stat = None, generator: torch.Generator | None = None):
        h, w = pair("input_size", input_size)
        check_spatial((h, w), minimum=4, model="LeNet5Madry")
        body = nn.Sequential(
            *_conv_relu(in_channels, 32, 5, padding=2), nn.MaxPool2d(2),
            *_conv_relu(32, 64, 5, padding=2), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * (h // 4) * (w // 4), 1024), nn.ReLU(),
        )
        super().__init__(body, nn.Linear(1024, num_classes), in_channels=in_channels, mean=mean, std=std)
        self.reset_parameters(generator)


def _default_variant(variant: str | None, in_channels: int, choices: tuple[str, ...]) -> str:
    """``variant``, or the MNIST one for 1-channel input and the CIFAR one otherwise."""
    if variant is None:
        return choices[0] if in_channels == 1 else choices[1]
    return validate.choice("variant", variant, choices)


class LeNet(Net):
    """Paper 003's "LeNet" (taken from Deep Defense, its ref. [11]); He-normal ("MSRA", §4.1) conv init.

    - ``variant="mnist"`` (Table 3): the Caffe/MatConvNet LeNet of the Deep Defense code,
      ``conv5x5(20) -> maxpool2 -> conv5x5(50) -> maxpool2 -> fc(500) -> ReLU -> fc(num_classes)``, with no
      ReLU after the convolutions (as in that code). 431,080 parameters for 28x28x1 and 10 classes.
    - ``variant="cifar"`` (Tables 4-6, "LeNet" = the DisturbLabel/MatConvNet CIFAR net of the Deep Defense
      code): ``conv5x5(32, pad 2) -> maxpool2 -> ReLU -> conv5x5(32, pad 2) -> ReLU -> avgpool2 ->
      conv5x5(64, pad 2) -> ReLU -> avgpool2 -> conv(64) over the whole remaining map (4x4 at 32x32) -> ReLU ->
      1x1 conv(num_classes)``; the last 1x1 convolution is the linear ``classifier``. 145,578 parameters for
      32x32x3 and 10 classes.

    ``variant=None`` picks ``"mnist"`` for 1 input channel and ``"cifar"`` otherwise.
    """

    he_init = True

    def __init__(self, *, variant: str | None = None, in_channels: int = 1, input_size: Size = 28,
                 num_classes: int = 10, mean: Stat = None, std: Stat = None, generator: torch.Generator | None = None):
        variant = _default_variant(variant, in_channels, ("mnist", "cifar"))
        h, w = pair("input_size", input_size)
        if variant == "mnist":
            check_spatial((h, w), minimum=16, model="LeNet (mnist)")
            body = nn.Sequential(
                nn.Conv2d(in_channels, 20, 5), nn.MaxPool2d(2), nn.Conv2d(20, 50, 5), nn.MaxPool2d(2),
                nn.Flatten(), nn.Linear(50 * _side(h) * _side(w), 500), nn.ReLU(),
            )
            width = 500
        else:
            check_spatial((h, w), minimum=8, model="LeNet (cifar)")
            body = nn.Sequential(
                nn.Conv2d(in_channels, 32, 5, padding=2), nn.MaxPool2d(2), nn.ReLU(),
                *_conv_relu(32, 32, 5, padding=2), nn.AvgPool2d(2),
                *_conv_relu(32, 64, 5, padding=2), nn.AvgPool2d(2),
                *_conv_relu(64, 64, (h // 8, w // 8)), nn.Flatten(),
            )
            width = 64
        super().__init__(body, nn.Linear(width, num_classes), in_channels=in_channels, mean=mean, std=std)
        self.reset_parameters(generator)


class LiuNet(Net):
    """The L-Softmax paper's deep CNN (Liu et al. 2016, Table 1) as used by paper 003 (§4.4.1-4.4.3), with every
    batch norm replaced by GroupNorm so a sample's output never depends on its batch (paper 003 §4.4.1).

    ``conv0 = [3x3, c0] x 1``, then three stages ``[3x3, c_i] x k`` each followed by ``maxpool2``, then
    ``fc(d) -> ReLU -> fc(num_classes)``; every conv is ``conv -> GroupNorm -> ReLU`` with padding 1:

    - ``variant="mnist"``: ``c = 64, 64, 64, 64``, ``k = 3``, ``d = 256`` (12 weight layers, paper 003 §4.1);
    - ``variant="cifar10"``: ``c = 64, 64, 96, 128``, ``k = 4``, ``d = 256``;
    - ``variant="cifar100"``: ``c = 96, 96, 192, 384``, ``k = 4``, ``d = 512``.

    ``variant=None`` picks ``"mnist"`` for 1 input channel and ``"cifar10"`` otherwise. ReLU rather than the
    L-Softmax paper's PReLU and floor-mode pooling (a 3x3 map before the fc on MNIST) follow the AMM
    authors' released code. ``groups`` is the number of GroupNorm groups: the paper writes "group size 32",
    read here as GroupNorm's own default G = 32 groups (Wu & He 2018); the released code's default is 16.
    He-normal conv init (paper 003 §4.1 "MSRA").
    """

    he_init = True
    VARIANTS = {"mnist": ((64, 64, 64, 64), 3, 256), "cifar10": ((64, 64, 96, 128), 4, 256),
                "cifar100": ((96, 96, 192, 384), 4, 512)}

    def __init__(self, *, variant: str | None = None, in_channels: int = 1, input_size: Size = 28,
                 num_classes: int = 10, groups: int = 32, mean: Stat = None, std: Stat = None,
                 generator: torch.Generator | None = None):
        variant = _default_variant(variant, in_channels, tuple(self.VARIANTS))
        channels, repeats, width = self.VARIANTS[variant]
        if not all(c % groups == 0 for c in channels):
            raise ValueError(f"groups={groups!r} must divide every width of LiuNet {variant!r}: {channels}")
        h, w = pair("input_size", input_size)
        check_spatial((h, w), minimum=8, model="LiuNet")
        layers: list[nn.Module] = []
        c_in = in_channels
        for stage, c_out in enumerate(channels):
            for _ in range(1 if stage == 0 else repeats):
                layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.GroupNorm(groups, c_out), nn.ReLU()]
                c_in = c_out
            if stage > 0:
                layers.append(nn.MaxPool2d(2))
        flat = channels[-1] * (h // 8) * (w // 8)
        body = nn.Sequential(*layers, nn.Flatten(), nn.Linear(flat, width), nn.ReLU())
        super().__init__(body, nn.Linear(width, num_classes), in_channels=in_channels, mean=mean, std=std)
        self.reset_parameters(generator)
