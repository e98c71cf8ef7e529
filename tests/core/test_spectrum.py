"""Singular values of layers (marginlib.spectrum): Sedghi et al.'s FFT method against explicit operator matrices."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from marginlib import models, spectrum

from oracles import dense_circular


@pytest.mark.parametrize("shape,size,stride", [
    ((3, 2, 3, 3), (5, 5), 1),
    ((2, 3, 2, 3), (4, 6), 1),   # even kernel, non-square input
    ((4, 2, 3, 3), (6, 6), 2),   # strided: polyphase reduction
    ((2, 1, 5, 5), (6, 8), 2),
])
def test_conv_singular_values_match_dense_operator(shape, size, stride, generator):
    weight = torch.randn(shape, generator=generator, dtype=torch.float64)
    dense = torch.linalg.svdvals(dense_circular(weight, size, stride))
    fast = spectrum.conv_singular_values(weight, size, stride=stride)
    assert fast.shape == dense.shape
    torch.testing.assert_close(fast, dense, rtol=1e-9, atol=1e-9)


def test_conv_singular_values_differ_from_reshaped_kernel(generator):
    """The operator's spectrum is not the reshaped kernel's (the convention of methods.spectral_norms)."""
    weight = torch.randn(3, 2, 3, 3, generator=generator, dtype=torch.float64)
    reshaped = torch.linalg.svdvals(weight.reshape(3, -1))
    fast = spectrum.conv_singular_values(weight, 5)
    assert len(fast) == 25 * 2 and len(reshaped) == 3
    assert not torch.allclose(fast[0], reshaped[0])
    # the zero frequency's block is the kernel summed over space: its singular values are among the operator's
    dc = torch.linalg.svdvals(weight.sum((2, 3)))
    assert all(torch.isclose(fast, v).any() for v in dc)


def test_conv_singular_values_errors():
    with pytest.raises(ValueError, match="stride"):
        spectrum.conv_singular_values(torch.ones(1, 1, 3, 3), 5, stride=2)
    with pytest.raises(ValueError, match="larger than input_size"):
        spectrum.conv_singular_values(torch.ones(1, 1, 5, 5), 4)
    with pytest.raises(ValueError, match="weight"):
        spectrum.conv_singular_values(torch.ones(3, 3), 4)


def test_layer_singular_values_of_a_model(generator):
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Conv2d(3, 4, 3, stride=2, padding=1),
                          nn.Flatten(), nn.Linear(4 * 3 * 3, 5)).double()
    model.train()
    x = torch.rand(2, 1, 6, 6, generator=generator, dtype=torch.float64)
    values = spectrum.layer_singular_values(model, x)
    assert model.training and all(p.grad is None for p in model.parameters())
    assert [len(v) for v in values] == [36, 9 * 4, 5]
    strided = dense_circular(model[2].weight.detach(), (6, 6), stride=2)
    torch.testing.assert_close(values[1], torch.linalg.svdvals(strided))
    torch.testing.assert_close(values[2], torch.linalg.svdvals(model[4].weight.detach()))


def test_layer_singular_values_of_lenet_match_layers():
    model = models.build("lenet", seed=0, input_size=16)
    values = spectrum.layer_singular_values(model, torch.rand(1, 1, 16, 16))
    # conv1 on 16x16: one singular value per frequency; conv2 (20 -> 50) on the 6x6 pooled map: 20 per frequency
    assert [len(v) for v in values] == [256, 36 * 20, 50, 10]
