"""The CIFAR/SVHN models of paper 003 §4.4 that section 10 adds (NIN, DenseNet-40); their frozen batch norm (§4.4.2)
is tested in tests/papers/test_frozen_bn.py."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from marginlib import models


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _x(n: int, c: int = 3, side: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, c, side, side, generator=torch.Generator().manual_seed(seed))


def _nin_count(num_classes: int, in_channels: int = 3) -> int:
    """Hand sum of Lin et al.'s CIFAR NIN: weights + biases of each conv, the last cccp as a Linear(192, K)."""
    convs = [(in_channels, 192, 5), (192, 160, 1), (160, 96, 1), (96, 192, 5), (192, 192, 1), (192, 192, 1),
             (192, 192, 3), (192, 192, 1)]
    return sum(a * b * k * k + b for a, b, k in convs) + 192 * num_classes + num_classes


def _densenet_count(depth: int, growth: int, num_classes: int, in_channels: int = 3) -> int:
    """Hand sum of Huang et al.'s basic DenseNet: conv weights (no bias), BN scale and shift, the final Linear."""
    n, c = (depth - 4) // 3, 16
    total = in_channels * 16 * 9
    for block in range(3):
        for _ in range(n):
            total += 2 * c + c * growth * 9  # BN(c) + conv3x3(c -> k)
            c += growth
        if block < 2:
            total += 2 * c + c * c  # transition: BN(c) + conv1x1(c -> c)
    return total + 2 * c + c * num_classes + num_classes


@pytest.mark.parametrize("num_classes", [10, 100])
def test_parameter_counts_match_the_published_sizes(num_classes):
    nin = models.build("nin", num_classes=num_classes)
    dense = models.build("densenet40", num_classes=num_classes)
    assert _count(nin) == _nin_count(num_classes)
    assert _count(dense) == _densenet_count(40, 12, num_classes)
    if num_classes == 10:
        assert _count(nin) == 966_986  # about 0.97M (Lin et al. give no count)
        assert _count(dense) == 1_019_722  # Huang et al. Table 2: DenseNet (L=40, k=12) 1.0M
        assert dense.classifier.in_features == 16 + 3 * 12 * 12  # 448 channels after the third block


@pytest.mark.parametrize("name", ["nin", "densenet40"])
@pytest.mark.parametrize("channels,side,classes", [(3, 32, 10), (3, 32, 100), (1, 28, 10)])
def test_shapes_and_features_interface(name, channels, side, classes):
    model = models.build(name, in_channels=channels, input_size=side, num_classes=classes, seed=1).eval()
    x = _x(3, channels, side)
    logits = model(x)
    assert logits.shape == (3, classes) and torch.isfinite(logits).all()
    feats = model.features(x)
    assert feats.shape == (3, model.classifier.in_features)
    assert torch.equal(model.classifier(feats), logits)


def test_nin_classifier_is_the_last_cccp_layer_before_global_pooling():
    """avgpool(cccp(h)) == Linear(avgpool(h)): the classifier plays Lin et al.'s last 1x1 conv + global pool."""
    model = models.build("nin", seed=2).eval()
    x = _x(2)
    hidden = model.body[:-2](model.normalize(x))  # the last cccp's input map, (N, 192, 8, 8)
    assert hidden.shape == (2, 192, 8, 8)
    w, b = model.classifier.weight, model.classifier.bias
    cccp = F.conv2d(hidden, w[:, :, None, None], b)
    torch.testing.assert_close(cccp.mean(dim=(2, 3)), model(x), rtol=1e-5, atol=1e-5)


def test_densenet_depth_must_be_3n_plus_4():
    with pytest.raises(ValueError, match="3n \\+ 4"):
        models.build("densenet", depth=41)
    assert _count(models.build("densenet", depth=10, growth=4)) == _densenet_count(10, 4, 10)
