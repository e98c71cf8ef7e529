"""Spectral normalization (paper 004 App. B.4.2, Sedghi et al.'s clipping): bounds checked on explicit operators."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from marginlib import methods, models, spectrum
from marginlib.methods import spectral

from oracles import dense_circular


def explicit_norms(model: nn.Module, sizes: dict) -> list[float]:
    """Top singular value of every weight layer, from explicit matrices (independent of marginlib.spectrum)."""
    out = []
    for layer in methods.weight_layers(model):
        if isinstance(layer, nn.Linear):
            out.append(float(torch.linalg.matrix_norm(layer.weight.detach().double(), ord=2)))
        else:
            dense = dense_circular(layer.weight.detach().double(), sizes[layer], layer.stride[0])
            out.append(float(torch.linalg.matrix_norm(dense, ord=2)))
    return out


def conv_model(scale: float = 3.0) -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU(), nn.Conv2d(4, 3, 3, stride=2, padding=1), nn.ReLU(),
                          nn.Flatten(), nn.Linear(3 * 3 * 3, 5))
    with torch.no_grad():
        for layer in methods.weight_layers(model):
            layer.weight.mul_(scale)
    return model, torch.rand(2, 2, 8, 8)


def sizes_of(model, x):
    return spectrum.conv_input_sizes(model, x)


@pytest.mark.parametrize("mode", ["clip", "rescale"])
def test_every_operator_norm_is_at_most_the_target(mode):
    model, x = conv_model()
    sizes = sizes_of(model, x)
    assert sizes[model[0]] == (8, 8) and sizes[model[2]] == (6, 6)
    before = explicit_norms(model, sizes)
    assert min(before) > 1.0
    methods.spectral_normalize(model, target=1.0, mode=mode, x=x)
    after = explicit_norms(model, sizes)
    assert max(after) <= 1.0 + 1e-5
    assert min(after) > 0.9   # normalized, not destroyed
    assert spectrum.operator_norms(model, x) == pytest.approx(after, rel=1e-5)


def test_spectral_norm_method_bounds_operator_norms_after_an_epoch():
    """The default SpectralNorm clips the conv *operator* (the reshaped-kernel rescale leaves it 2-3x higher)."""
    model = models.build("lenet", seed=0, input_size=16)
    x, y = torch.rand(4, 1, 16, 16), torch.tensor([0, 1, 2, 3])
    sizes = sizes_of(model, x)
    assert max(explicit_norms(model, sizes)[:2]) > 1.5
    method = methods.SpectralNorm(target=1.0)
    method.loss(model, x, y)
    method.after_epoch(model, 1)
    norms = explicit_norms(model, sizes)
    assert max(norms) <= 1.0 + 1e-5
    assert norms[:3] == pytest.approx([1.0, 1.0, 1.0], abs=1e-4)   # the three layers that were above


@pytest.mark.parametrize("mode", ["clip", "rescale"])
def test_layers_below_the_target_are_unchanged_bit_for_bit(mode):
    model, x = conv_model(scale=1.0)
    with torch.no_grad():
        model[0].weight.mul_(0.01)      # far below the target
        model[5].weight.mul_(10.0)      # above it
    below = [w.detach().clone() for w in (model[0].weight, model[2].weight)]
    norms = spectrum.operator_norms(model, x)
    target = 0.5 * (max(norms[:2]) + norms[2]) if norms[2] > max(norms[:2]) else None
    assert target is not None and max(norms[:2]) < target < norms[2]
    methods.spectral_normalize(model, target=target, mode=mode, x=x)
    assert torch.equal(model[0].weight, below[0]) and torch.equal(model[2].weight, below[1])
    assert spectrum.operator_norms(model, x)[2] <= target * (1 + 1e-5)
    # and through the training hook, with a target above every layer: nothing moves at all
    state = {k: v.clone() for k, v in model.state_dict().items()}
    method = methods.SpectralNorm(target=100.0, mode=mode)
    method.loss(model, x, torch.zeros(2, dtype=torch.long))
    method.after_epoch(model, 1)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())


def test_clip_is_the_exact_projection_when_the_kernel_fills_the_grid():
    """With kernel size = input size there is nothing to truncate: every singular value becomes min(sigma, t)."""
    g = torch.Generator().manual_seed(1)
    weight = torch.randn(3, 2, 4, 4, generator=g, dtype=torch.float64)
    before = spectrum.conv_singular_values(weight, 4)
    target = float(before.median())
    clipped = spectrum.clip_conv_singular_values(weight, 4, target=target)
    after = torch.linalg.svdvals(dense_circular(clipped.double(), (4, 4))).sort(descending=True).values
    torch.testing.assert_close(after, before.clamp(max=target), rtol=1e-9, atol=1e-9)


def test_clip_of_a_strided_kernel_keeps_its_support_and_shrinks_its_norm():
    g = torch.Generator().manual_seed(2)
    weight = torch.randn(4, 3, 3, 3, generator=g, dtype=torch.float64)
    top = float(spectrum.conv_singular_values(weight, 6, stride=2)[0])
    clipped = spectrum.clip_conv_singular_values(weight, 6, target=0.5 * top, stride=2)
    assert clipped.shape == weight.shape
    new = float(torch.linalg.matrix_norm(dense_circular(clipped.double(), (6, 6), 2), ord=2))
    assert new < top


def test_rescale_keeps_the_shape_of_the_spectrum():
    model, x = conv_model()
    before = spectrum.layer_singular_values(model, x)
    methods.spectral_normalize(model, target=1.0, mode="rescale", x=x)
    for b, a in zip(before, spectrum.layer_singular_values(model, x)):
        torch.testing.assert_close(a, b / b[0], rtol=1e-5, atol=1e-6)


def test_kernel_mode_is_the_old_reshaped_rescale_to_the_target():
    model, _ = conv_model()
    methods.spectral_normalize(model, target=0.7, mode="kernel")
    assert spectral.spectral_norms(model) == pytest.approx([0.7] * 3, rel=1e-5)
    methods.spectral_normalize(model, target=2.0, mode="kernel")   # scales up as well
    assert spectral.spectral_norms(model) == pytest.approx([2.0] * 3, rel=1e-5)


def test_operator_modes_need_the_input_size():
    model, _ = conv_model()
    with pytest.raises(ValueError, match="input size"):
        methods.spectral_normalize(model, target=1.0)
    with pytest.raises(ValueError, match="mode='max'"):
        methods.spectral_normalize(model, target=1.0, mode="max")
    with pytest.raises(ValueError, match="one entry per weight layer"):
        methods.spectral_normalize(model, target=1.0, input_sizes=[(8, 8)])
    methods.spectral_normalize(model, target=1.0, input_sizes=[(8, 8), (6, 6), None])   # the list form
    assert max(spectrum.operator_norms(model, torch.rand(1, 2, 8, 8))) <= 1.0 + 1e-5
    with pytest.raises(RuntimeError, match="training batch"):
        methods.SpectralNorm(target=1.0).after_epoch(model, 1)
