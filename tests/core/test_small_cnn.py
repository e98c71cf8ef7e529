"""SmallCNN: the demo-scale CNN of the MMA training section (paper 001 at CPU scale)."""
from __future__ import annotations

import torch

from marginlib.models.small_cnn import SmallCNN


def test_parameter_count_and_output_shapes():
    model = SmallCNN()
    assert sum(p.numel() for p in model.parameters()) == 16 * 26 + 32 * 16 * 25 + 32 + 32 * 49 * 100 + 100 + 1010
    assert model(torch.rand(3, 1, 28, 28)).shape == (3, 10)
    assert SmallCNN(in_channels=3, input_size=32, num_classes=5)(torch.rand(2, 3, 32, 32)).shape == (2, 5)


def test_features_feed_the_classifier_and_init_follows_the_generator():
    x = torch.rand(4, 1, 28, 28)
    a = SmallCNN(generator=torch.Generator().manual_seed(1))
    b = SmallCNN(generator=torch.Generator().manual_seed(1))
    c = SmallCNN(generator=torch.Generator().manual_seed(2))
    assert torch.equal(a(x), a.classifier(a.features(x)))
    assert torch.equal(a(x), b(x))
    assert not torch.equal(a(x), c(x))
